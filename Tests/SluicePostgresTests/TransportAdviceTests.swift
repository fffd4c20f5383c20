import SluicePostgres
import Testing

/// Which connection strings get the "verify the server over TLS" advice.
@Suite struct TransportAdviceTests {
    static func advice(_ conninfo: String, _ environment: [String: String] = [:]) -> String? {
        PostgresConnection.transportAdvice(for: conninfo, environment: environment)
    }

    @Test func aRemoteHostWithoutVerificationIsAdvised() {
        let secret = "pw-in-url-991"
        for conninfo in [
            "postgresql://enricher:\(secret)@db.internal/music", "host=db.internal dbname=music password=\(secret)",
            "postgresql://db.internal/music?sslmode=prefer", "postgresql://db.internal/music?sslmode=disable",
        ] {
            let text = Self.advice(conninfo)
            #expect(text?.contains("db.internal") == true, "\(conninfo)")
            #expect(text?.contains("may travel unencrypted") == true, "\(conninfo)")
            #expect(text?.contains("sslmode=verify-full") == true)
            #expect(text?.contains(secret) != true)
        }
        #expect(Self.advice("postgresql://db.internal/music")?.contains("libpq's default is prefer") == true)
        #expect(Self.advice("host=10.0.0.5 sslmode=require")?.contains("certificate is never checked") == true)
        #expect(
            Self.advice("postgresql://10.1.2.3/music?sslmode=verify-ca")?.contains(
                "not that it was issued for this host")
                == true)
    }

    /// A URL libpq will read otherwise than meant (a password holding a character a URL must
    /// encode, no scheme, an unquoted space) is said to be misread, without quoting any of it:
    /// libpq's "host" would be part of the password.
    @Test(arguments: [
        ("postgresql://enricher:S3CRET/pw-uat10@db.internal:5432/music", "percent-encode"),
        ("postgresql://enricher:S3C@RETpw-uat10@db.internal/music", "percent-encode"),
        ("postgres://enricher:S3C RETpw-uat10@db.internal/music", "percent-encode"),
        ("enricher:S3CRETpw-uat10@db.internal:5432/music", "no postgresql:// scheme"),
        ("postgre://enricher:S3CRETpw-uat10@db.internal:5432/music", "does not start with postgresql://"),
        ("jdbc:postgresql://enricher:S3CRETpw-uat10@db.internal/music", "does not start with postgresql://"),
        ("host=db.internal password=S3CRET pw-uat10 dbname=music", "single quotes"),
        ("host=db.internal password=S3CRET pw-uat10=x dbname=music", "single quotes"),
    ])
    func aMisreadURLIsSaidToBeWithoutQuotingIt(conninfo: String, said: String) {
        let text = PostgresConnection.misreading(of: conninfo)
        #expect(text?.contains(said) == true, "\(text ?? "nil")")
        #expect(Self.advice(conninfo) == text)
        for piece in ["S3C", "RET", "pw-uat10", "S3CRET"] { #expect(text?.contains(piece) != true) }
    }

    @Test func wellFormedURLsAreNotMisread() {
        for conninfo in [
            "postgresql://enricher:S3CRET%2Fpw@db.internal/music", "postgresql://u@h/db?options=-c%20a@b",
            "postgresql:///music?host=/var/run/postgresql", "host=h password='two words' dbname=d", "dbname=music",
            "postgres://u@h/db", "host=h application_name='http://x'",
            "music", "host=db dbnam=music", "host=db password='S3CRET pw' pw=x",
        ] {
            #expect(PostgresConnection.misreading(of: conninfo) == nil, "\(conninfo)")
        }
    }

    /// An sslmode libpq does not know (`""` and `REQUIRE` too), from the URL or, when it sets none,
    /// `PGSSLMODE`, fails every connection, to any host: it is a refusal (an error where the plan
    /// gives the URL), not advice about a weak one. A value that may be the password is not shown.
    @Test func anUnknownSSLModeIsARefusalNotAdvice() {
        func refusal(_ conninfo: String, _ environment: [String: String] = [:]) -> String? {
            PostgresConnection.refusal(of: conninfo, environment: environment)
        }
        let known = "not one libpq knows: it knows disable, allow, prefer, require, verify-ca, verify-full"
        for conninfo in [
            "postgresql://enricher:S3CRETpw@db.internal/music?sslmode=verify",
            "host=localhost dbname=music sslmode=verify",
        ] {
            #expect(Self.advice(conninfo) == nil, "\(conninfo)")
            #expect(refusal(conninfo) == "its sslmode 'verify' is \(known)", "\(conninfo)")
        }
        #expect(refusal("postgresql://db.internal/music?sslmode=") == "its sslmode '' is \(known)")
        #expect(
            refusal("host=db.internal sslmode=REQUIRE")
                == "its sslmode 'REQUIRE' is not one libpq knows: write require (libpq's are lower case)")
        #expect(
            refusal("host=db.internal password=verify sslmode=verify")
                == "its sslmode (not shown: it may be part of the password) is \(known)")
        for given in ["bogus", ""] {
            let environment = ["PGSSLMODE": given]
            #expect(
                refusal("host=db.internal", environment)
                    == "it sets no sslmode, and PGSSLMODE in the environment, '\(given)', is \(known)")
            #expect(Self.advice("host=db.internal", environment) == nil)
            #expect(refusal("host=db.internal sslmode=verify-full", environment) == nil, "the URL's wins")
        }
        #expect(refusal("host=db.internal", ["PGSSLMODE": "require"]) == nil)
        #expect(refusal("postgresql://db.internal/music?sslmode=verify-ca") == nil)
    }

    @Test func verifiedLocalOrSocketConnectionsAreNot() {
        #expect(Self.advice("postgresql://db.internal/music?sslmode=verify-full") == nil)
        #expect(Self.advice("host=/var/run/postgresql dbname=music") == nil)
        #expect(Self.advice("postgresql://127.0.0.1:5432/music") == nil)
        #expect(Self.advice("postgresql://localhost/music") == nil)
        #expect(Self.advice("dbname=music") == nil, "no host: the default Unix socket")
        #expect(Self.advice("not a conninfo") == nil, "unparsable: connecting reports it")
    }

    @Test func theEnvironmentCountsAsPsqlCountsIt() {
        #expect(Self.advice("dbname=music", ["PGHOST": "db.internal"]) != nil)
        #expect(Self.advice("host=db.internal", ["PGSSLMODE": "verify-full"]) == nil)
        #expect(Self.advice("host=db.internal sslmode=require", ["PGSSLMODE": "verify-full"]) != nil, "the URL wins")
        #expect(Self.advice("host=localhost,db.internal")?.contains("db.internal") == true, "any remote host of a list")
    }
}
