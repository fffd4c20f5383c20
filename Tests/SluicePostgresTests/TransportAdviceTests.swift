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
            "music",
        ] {
            #expect(PostgresConnection.misreading(of: conninfo) == nil, "\(conninfo)")
        }
    }

    /// An sslmode libpq does not know fails every connection: said of any host, not as weak.
    @Test func anUnknownSSLModeIsSaidToBeOne() {
        let expected = "sslmode=verify is not one libpq knows: disable, allow, prefer, require, verify-ca, verify-full"
        #expect(Self.advice("postgresql://db.internal/music?sslmode=verify") == expected)
        #expect(Self.advice("host=localhost dbname=music sslmode=verify") == expected)
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
