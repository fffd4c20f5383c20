import SluiceCore
import SluicePlan
import Testing

@testable import Sluice

/// What `check` says about how an http connection's credentials travel and where its URL's
/// password goes.
@Suite struct HTTPConnectionSecurityTests {
    static func plan(_ connection: String, environment: [String: String] = [:]) throws -> Plan {
        try TestPlans.load(
            """
            version: 1
            name: http-security
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1:1/none" }
              api: \(connection)
            stages:
              - { name: query, kind: query, connection: db, sql: "SELECT 1 AS id" }
              - { name: fetch, kind: fetch, connection: api, path: "/x/{id}" }
            """, environment: environment)
    }

    static func advice(_ connection: String) throws -> [String] {
        try plan(connection, environment: ["API_TOKEN": "tok-12345678"]).transportWarnings(environment: [:])
            .map(\.message)
    }

    @Test func credentialsOverPlainHTTPToAnotherMachineAreWarnedAbout() throws {
        let bearer = #"auth: { kind: bearer, token: "${API_TOKEN}" }"#
        #expect(
            try Self.advice("{ kind: http, base_url: \"http://api.example.com/v1\", \(bearer) }") == [
                "connection 'api': its credentials go to api.example.com over plain http, where anyone on the way "
                    + "can read them; use https://"
            ])
        #expect(
            try Self.advice(#"{ kind: http, base_url: "http://api.example.com", headers: { X-Api-Key: k3y-123456 } }"#)
                .count == 1, "a header that reads as a credential")
        #expect(try Self.advice("{ kind: http, base_url: \"https://api.example.com/v1\", \(bearer) }").isEmpty)
        #expect(try Self.advice("{ kind: http, base_url: \"http://127.0.0.1:8080/v1\", \(bearer) }").isEmpty)
        #expect(try Self.advice("{ kind: http, base_url: \"http://localhost/v1\", \(bearer) }").isEmpty)
        #expect(try Self.advice(#"{ kind: http, base_url: "http://api.example.com/v1" }"#).isEmpty, "nothing to read")
    }

    /// `https://user:PASSWORD@host` as a base_url is refused (no request sent it: they went
    /// without a credential), and what check prints of it, the plan's line included, never shows
    /// the password.
    @Test func aPasswordInABaseURLIsRefusedWithoutShowingIt() throws {
        let error = #expect(throws: PlanError.self) {
            try Self.plan(#"{ kind: http, base_url: "https://u:pw-secret-991@api.example.com/v1" }"#)
        }
        let said = error.map(\.description) ?? ""
        #expect(said.contains("error: base_url holds a user name or password"), "\(said)")
        #expect(!said.contains("pw-secret-991"), "\(said)")
    }

    /// A database's advice is at its url: at the `--set` that gave it, not at the plan's line.
    @Test func aDatabaseURLsAdviceIsWhereTheURLWasGiven() throws {
        let yaml = """
            version: 1
            name: set-url
            connections:
              db: { kind: postgres, url: "postgresql://127.0.0.1:1/none" }
            stages:
              - { name: query, kind: query, connection: db, sql: "SELECT 1 AS id" }
            """
        let plan = try PlanLoader(environment: [:]).load(
            bytes: Array(yaml.utf8), path: "plan.yaml", overrides: ["connections.db.url=postgresql://db.example.com/m"])
        let warnings = plan.transportWarnings(environment: [:])
        #expect(warnings.map { $0.location.map { "\($0)" } } == ["--set:1:20"], "\(warnings)")
    }
}
