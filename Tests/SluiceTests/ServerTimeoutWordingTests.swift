import SluicePostgres
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

    /// A timeout is told by its SQLSTATE first: 55P03 is a lock_timeout (or a NOWAIT, said so in
    /// English), 57014 a statement_timeout or a cancel, which English words tell apart; in another
    /// language (`lc_messages`) the words cannot, and the session's setting decides (`find`: a
    /// timeout only when that setting is on).
    /// Before, only the English words were recognised: a German server's timeout went unexplained.
    @Test func tellsATimeoutByItsSQLStateInAnyLanguage() {
        func classify(_ sqlState: String, _ message: String) -> String {
            ServerTimeout.setting(of: PostgresError(kind: .server, message: message, sqlState: sqlState))?.rawValue
                ?? "none"
        }
        let told = [
            classify("55P03", "canceling statement due to lock timeout"),
            classify("55P03", "Abbruch des Befehls wegen Zeitüberschreitung einer Sperre"),
            classify("55P03", "could not obtain lock on row in relation \"tracks\""),
            classify("57014", "canceling statement due to statement timeout"),
            classify("57014", "Abbruch des Befehls wegen Zeitüberschreitung"),
            classify("57014", "canceling statement due to user request"),
            classify("42P01", "relation \"tracks\" does not exist"),
        ]
        #expect(
            told == [
                "lock_timeout", "lock_timeout", "none", "statement_timeout", "statement_timeout", "none", "none",
            ])
    }
}
