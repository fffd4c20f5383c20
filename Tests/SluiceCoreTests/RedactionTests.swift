import SluiceCore
import Testing

@Suite struct RedactionTests {
    @Test(arguments: [
        ("postgresql://u:pw@h:5432/db", "postgresql://u:***@h:5432/db"),
        // User info ends at the last '@' of the authority: the password is 'p@ss'.
        ("postgres://u:p@ss@h/db", "postgres://u:***@h/db"),
        ("postgresql://u@h/db?password=pw&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("https://user:tok@api.example.com/v1?x=1", "https://user:***@api.example.com/v1?x=1"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("host=h password='p w' dbname=d", "host=h password='***' dbname=d"),
        ("host=h password = it\\'s dbname=d", "host=h password = *** dbname=d"),
        ("could not parse password=pw here", "could not parse password=*** here"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
    ])
    func masksEveryPassword(input: String, expected: String) {
        #expect(Redaction.maskingPasswords(input) == expected)
    }

    @Test func aSecretWithoutAPasswordPartIsHiddenWhole() {
        #expect(Redaction.redact("opaque-token") == "***")
        #expect(Redaction.redact("host=h dbname=d") == "***")
        #expect(Redaction.redact("https://api.example.com/v1") == "https://api.example.com/v1")
        #expect(Redaction.secretParts(of: "opaque-token") == ["opaque-token"])
        #expect(Redaction.secretParts(of: "postgres://u:p@ss@h/db") == ["p@ss"])
        #expect(Redaction.secretParts(of: "https://api.example.com/v1").isEmpty)
    }

    /// Every secret is masked, a longer one whole even when a shorter one is inside it.
    @Test func maskingHidesEverySecretLongestFirst() {
        #expect(Redaction.masking(["abc", "xxabcxx", ""], in: "1 xxabcxx 2 abc 3") == "1 *** 2 *** 3")
        #expect(Redaction.masking([String](), in: "plain") == "plain")
    }

    /// A short secret is masked where it stands alone, not inside a longer word, where masking it
    /// would tell it to whoever knows the word (`/tmp/***b` for a password `explore35`) and break
    /// the path; a long one everywhere.
    @Test func aShortSecretIsMaskedOnlyWhereItStandsAlone() {
        let text = "sluice replay /tmp/explore35b/runs/1 --from apply; password explore35 (explore35)"
        #expect(
            Redaction.masking(["explore35"], in: text)
                == "sluice replay /tmp/explore35b/runs/1 --from apply; password *** (***)")
        #expect(
            Redaction.masking(["spotify"], in: "SELECT spotify_id FROM t -- spotify")
                == "SELECT spotify_id FROM t -- ***")
        // In a URL, its user info, a query or after an escape, it is a word of its own.
        #expect(
            Redaction.masking(["s3cret"], in: "postgres://u:s3cret@h/db?password=s3cret&x=1 Bearer%20s3cret")
                == "postgres://u:***@h/db?password=***&x=1 Bearer%20***")
        // Found inside a word first, then alone.
        #expect(Redaction.masking(["abc"], in: "xabc abc") == "xabc ***")
        // A secret that starts or ends with a symbol has no word to be part of on that side.
        #expect(Redaction.masking(["-key1"], in: "a-key1 b") == "a*** b")
        let long = "0123456789abcdefXYZ"
        #expect(Redaction.masking([long], in: "id\(long)x") == "id***x")
        #expect(Redaction.masking(["abcd"], in: "abcd") { String(repeating: "*", count: $0.count) } == "****")
        // Text another party wrote (an API's answer, a server's error) is masked everywhere.
        #expect(Redaction.masking(["s3cret"], in: "xs3cretx s3cret", anywhere: true) == "x***x ***")
    }

    @Test func userInfoIsRemovedUpToTheLastAt() {
        #expect(Redaction.removingUserInfo("https://u:p@ss@h/x?ids=a@b") == "https://h/x?ids=a@b")
        #expect(Redaction.removingUserInfo("https://h/x") == "https://h/x")
    }

    @Test func likelySecretsInALineOfAPlan() {
        #expect(Redaction.likelySecrets(inLine: "    client_secret: abc123 # x") == ["abc123"])
        #expect(Redaction.likelySecrets(inLine: "    client_secret: \"${SECRET}\"").isEmpty)
        // An apply stage's key column, on one line with its table, is no secret; auth's key is.
        #expect(Redaction.likelySecrets(inLine: "  - { kind: apply, table: t, key: k, columns: { j: {} } }").isEmpty)
        #expect(Redaction.likelySecrets(inLine: "  - { kind: apply, key: kid, table: t }").isEmpty)
        // On a line of its own, beside a `table` key: the same.
        #expect(Redaction.likelySecrets(inLine: "    key: isbn", siblingKeys: ["kind", "table", "key"]).isEmpty)
        #expect(
            Redaction.likelySecrets(inLine: "      key: sk_live_9", siblingKeys: ["kind", "header", "key"]) == [
                "sk_live_9"
            ])
        #expect(
            Redaction.likelySecrets(inLine: "    auth: { kind: api-key, key: sk_live_123 }").contains("sk_live_123"))
        #expect(Redaction.likelySecrets(inLine: "    url: postgres://u:pw@h/db") == ["pw"])
        #expect(Redaction.likelySecrets(inLine: "    token_url: https://h/token").isEmpty)
        // A variable's default: the URL begins at its scheme; the variable's name is no secret.
        #expect(Redaction.likelySecrets(inLine: "    base_url: \"${API_URL:-https://api.example.com/v1}\"").isEmpty)
        #expect(Redaction.likelySecrets(inLine: "    url: ${DB_URL:-postgres://u:pw@h/db}") == ["pw"])
    }

    /// What ``Redaction/redact(_:)`` leaves is known for a stand-in; a real secret is not.
    @Test func aRedactedValueIsToldFromASecret() {
        for secret in ["postgresql://app:pw@db/music", "host=db password='it''s'", "sk_live_123"] {
            #expect(!Redaction.isRedacted(secret), "\(secret)")
            #expect(Redaction.isRedacted(Redaction.redact(secret)), "\(Redaction.redact(secret))")
        }
        #expect(!Redaction.isRedacted("postgresql://db/music"))
        #expect(!Redaction.isRedacted("${DATABASE_URL}"))
    }
}
