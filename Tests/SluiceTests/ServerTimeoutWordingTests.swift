import Testing

@testable import Sluice

/// How a timeout the server fired is told (no server: what `pg_settings` said).
@Suite struct ServerTimeoutWordingTests {
    /// Each place a setting comes from is named with the statement that sets it there.
    @Test func namesWhereTheSettingWasSetWithTheStatementThatSetsIt() {
        func origin(_ source: String, file: String = "", byPlan: Bool = false) -> String {
            ServerTimeout.origin(
                of: .lock, source: source, file: file, role: "etl", database: "shop", byPlan: byPlan)
        }
        #expect(origin("user") == "set for role 'etl' (ALTER ROLE \"etl\" SET lock_timeout)")
        #expect(
            origin("database user")
                == "set for role 'etl' in database 'shop' (ALTER ROLE \"etl\" IN DATABASE \"shop\" SET lock_timeout)")
        #expect(origin("client") == "set when sluice connected (PGOPTIONS, or options in the database URL)")
        #expect(
            origin("configuration file", file: "/etc/pg/postgresql.conf:12").hasSuffix("(/etc/pg/postgresql.conf:12)"))
        #expect(
            ServerTimeout.origin(
                of: .statement, source: "session", file: "", role: "etl", database: "shop", byPlan: true)
                == "set by the plan (its connection's statement_timeout)")
    }

    /// A statement timeout the plan set is met again by a resume: not resumable, and the advice
    /// is the plan's setting; one set elsewhere is, with PGOPTIONS.
    @Test func aStatementTimeoutThePlanSetIsNotResumableAndSaysToRaiseIt() {
        var timeout = ServerTimeout(
            setting: .statement, value: "1s", origin: "set by the plan", setByPlan: true, connection: "db",
            table: "tracks", holders: [])
        #expect(!timeout.isResumable)
        #expect(timeout.explanation.hasSuffix("(--set connections.db.statement_timeout=10min)"))
        timeout.setByPlan = false
        #expect(timeout.isResumable)
        #expect(timeout.explanation.contains("PGOPTIONS='-c statement_timeout=10min'"))
    }
}
