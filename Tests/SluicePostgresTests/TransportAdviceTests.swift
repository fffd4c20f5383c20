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
    }

    @Test func verifiedLocalOrSocketConnectionsAreNot() {
        #expect(Self.advice("postgresql://db.internal/music?sslmode=verify-full") == nil)
        #expect(Self.advice("host=db.internal sslmode=verify-ca") == nil)
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
