import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluicePostgres

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FailureTests {
    /// Whether the server session `pid` runs a statement (it is `active`) before long, as
    /// `monitor` sees it.
    static func eventuallyActive(_ pid: Int, seenBy monitor: PostgresConnection) async throws -> Bool {
        try await eventually {
            try await monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [.int(Int64(pid))]
            ).scalar == .int(1)
        }
    }

    /// Against a server this suite started (it has a role with a password); an external
    /// server given by `SLUICE_TEST_DATABASE_URL` has none, and the test shows as skipped.
    @Test(.enabled(if: TestPostgres.externalURL == nil, "needs the suite's own server, which has a password role"))
    func wrongPasswordFailsFastAndNeverShowsThePassword() async throws {
        let server = try await TestPostgres.shared()
        let secret = "wrong-secret-9137"
        let keyValue = try #require(server.tcpConninfo(user: TestPostgres.passwordRole, password: secret))
        let uri = "postgresql://\(TestPostgres.passwordRole):\(secret)@127.0.0.1:\(server.port!)/postgres"
        for conninfo in [keyValue, uri] {
            let start = ContinuousClock.now
            let error = try await #require(throws: PostgresError.self) {
                try await PostgresConnection.connect(conninfo, connectTimeout: .seconds(5), logger: TestPostgres.logger)
            }
            #expect(ContinuousClock.now - start < .seconds(60), "a refused password must not hang")
            #expect(error.kind == .connect)
            #expect(error.message.contains("password authentication failed"))
            #expect(error.message.contains("127.0.0.1"))
            #expect(error.message.contains("user=\(TestPostgres.passwordRole)"))
            #expect(!String(reflecting: error).contains(secret))
            #expect(!error.description.contains(secret))
        }
        // The right password works.
        let good = try #require(
            server.tcpConninfo(user: TestPostgres.passwordRole, password: TestPostgres.passwordRolePassword))
        let connection = try await PostgresConnection.connect(good, logger: TestPostgres.logger)
        #expect(try await connection.execute("SELECT current_user").scalar == .string(TestPostgres.passwordRole))
    }

    /// Parameters the SQL does not take (08P01, a protocol violation) are the plan's mistake:
    /// not a lost connection, not worth a retry or a resume; the connection goes on.
    @Test func parametersTheSQLDoesNotTakeAreNoConnectionFailure() async throws {
        let db = try await Scratch.make()
        let error = try await #require(throws: PostgresError.self) {
            try await db.connection.execute("SELECT $1::int", [1, 2])
        }
        #expect(error.sqlState == "08P01", "\(error)")
        #expect(error.kind == .server)
        #expect(!error.isTransient)
        #expect(try await db.connection.execute("SELECT 1").scalar == .int(1))
    }

    @Test func refusedPortFailsWithinTheTimeoutNamingHostAndPort() async throws {
        let port = try TestPostgres.freePort()
        let start = ContinuousClock.now
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(
                "host=127.0.0.1 port=\(port) user=nobody password=hunter2-secret dbname=x",
                connectTimeout: .seconds(2), logger: TestPostgres.logger)
        }
        #expect(ContinuousClock.now - start < .seconds(60), "a refused port must not wait for anything")
        #expect(error.kind == .connect)
        #expect(error.message.contains("127.0.0.1"))
        #expect(error.message.contains("\(port)"))
        #expect(!error.description.contains("hunter2-secret"))
    }

    @Test func unresponsiveServerTimesOut() async throws {
        let listener = try SilentListener()
        let start = ContinuousClock.now
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(
                "postgresql://u:s3cret-pw@127.0.0.1:\(listener.port)/db", connectTimeout: .milliseconds(700),
                logger: TestPostgres.logger)
        }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(700), "gave up before the timeout: \(elapsed)")
        #expect(elapsed < .seconds(60), "the timeout did not bound the wait: \(elapsed)")
        #expect(error.message.contains("timed out"))
        #expect(error.message.contains("port=\(listener.port)"))
        #expect(!error.message.hasSuffix(":"), "libpq's reasonless 'failed:' is not left dangling: \(error.message)")
        #expect(!error.description.contains("s3cret-pw"))
    }

    @Test func malformedConninfoDoesNotEchoThePassword() async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(
                "host=127.0.0.1 password=leaky-secret bogus_option=1", logger: TestPostgres.logger)
        }
        #expect(error.message.contains("bogus_option"))
        #expect(!error.description.contains("leaky-secret"))
        #expect(!error.message.contains("()"), "\(error.message)")
    }

    /// A URL libpq misreads puts pieces of the password in its host, port or database, which the
    /// connect error names: none of them is shown, and the hint says what is wrong with the URL.
    @Test(arguments: [
        "enricher:S3CRETpw-uat10@127.0.0.1:1/music",
        "postgresql://enricher:S3CRET/pw-uat10@127.0.0.1:1/music",
        "host=127.0.0.1 port=1 password=S3CRET pw-uat10 dbname=music",
    ])
    func aMisreadURLNeverShowsPiecesOfThePassword(conninfo: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(conninfo, logger: TestPostgres.logger)
        }
        for piece in ["S3CRET", "pw-uat10"] { #expect(!error.description.contains(piece), "\(error.description)") }
        #expect(error.hint == PostgresConnection.misreading(of: conninfo))
    }

    /// Pieces too short to mask (`ab/cd`: port "ab", database "cd@..."): what libpq made of the
    /// URL is not shown at all (it was `port=ab dbname=cd@127.0.0.1:1/music`, and `invalid integer
    /// value "ab"`).
    @Test(arguments: [
        "postgresql://enricher:ab/cd@127.0.0.1:1/music", "enricher:ab@127.0.0.1:1/music",
        "host=127.0.0.1 port=1 password=ab cd dbname=music",
    ])
    func aMisreadURLWithShortPiecesShowsNothingLibpqMadeOfIt(conninfo: String) async throws {
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(conninfo, logger: TestPostgres.logger)
        }
        #expect(
            error.message
                == "could not connect to PostgreSQL: libpq misread the connection settings (not shown: see the hint)")
        #expect(error.hint == PostgresConnection.misreading(of: conninfo))
    }

    /// A URL whose query holds an `@` after its user info (`?application_name=a@b`) is read as
    /// libpq reads it: a failed connection names its host and database, not `***` as if they were
    /// pieces of a misread password, and never shows the password.
    @Test func aURLWithAnAtSignInItsQueryNamesItsHostAndDatabase() async throws {
        let port = try TestPostgres.freePort()
        let error = try await #require(throws: PostgresError.self) {
            try await PostgresConnection.connect(
                "postgresql://enricher:S3CRETpw@127.0.0.1:\(port)/music?application_name=sluice@host1",
                connectTimeout: .seconds(2), logger: TestPostgres.logger)
        }
        #expect(
            error.message.hasPrefix(
                "could not connect to PostgreSQL (host=127.0.0.1 port=\(port) dbname=music user=enricher): "
                    + "connection to server at \"127.0.0.1\", port \(port) failed"), "\(error.message)")
        #expect(!error.description.contains("S3CRETpw"))
        #expect(error.hint == nil)
    }

    /// What libpq says about a password with an unencoded `@`: its second half as the host.
    @Test func aPasswordCutAtAnAtSignIsHiddenInPieces() {
        let message = #"could not translate host name "RETpw-uat10@127.0.0.1" to address"#
        let scrubbed = PostgresError.scrub(message, conninfo: "postgresql://enricher:S3C@RETpw-uat10@127.0.0.1/music")
        #expect(!scrubbed.contains("RETpw-uat10"), "\(scrubbed)")
    }

    @Test func cancellingTheTaskCancelsTheServerQuery() async throws {
        let db = try await Scratch.make()
        let monitor = try await db.connect()
        let pid = db.connection.backendPID
        let connection = db.connection
        let task = Task { try await connection.execute("SELECT pg_sleep(300)") }
        let running = try await eventually {
            try await monitor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
                [.int(Int64(pid))]
            ).scalar == .int(1)
        }
        #expect(running)
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(120), "the 300 s query was not cancelled")
        #expect(throws: CancellationError.self) { try result.get() }
        let state = try await monitor.execute("SELECT state FROM pg_stat_activity WHERE pid = $1", [.int(Int64(pid))])
        #expect(state.scalar == .string("idle"))
        #expect(try await connection.execute("SELECT 'usable'").scalar == .string("usable"))
    }

    /// A server that answers nothing at all, not even the cancel request (its postmaster stopped
    /// too, or a host dropping packets: libpq's cancel then waits for ever): cancelling the task
    /// returns at once, since the blocking cancel runs on a thread of its own (the canceller may
    /// be the signal handler's queue, which must still see a second Ctrl-C), and the connection
    /// is cut after the grace period.
    @Test(.timeLimit(.minutes(3)))
    func cancellingWhenEvenTheCancelRequestHangsReturnsAtOnceAndCuts() async throws {
        let server = try await TestPostgres.shared()
        let db = try await Scratch.make()
        let proxy = FaultProxy(targetPort: try #require(server.port))
        let port = try proxy.start()
        let name = try #require(db.conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }).dropFirst(7)
        let through = try PostgresConnection.conninfo(
            try #require(
                server.tcpConninfo(
                    database: String(name), user: TestPostgres.passwordRole,
                    password: TestPostgres.passwordRolePassword)), setting: ["port": "\(port)"])
        let connection = try await PostgresConnection.connect(through, logger: TestPostgres.logger)
        let monitor = try await db.connect()
        let pid = connection.backendPID
        let task = Task { try await connection.execute("SELECT pg_sleep(600)") }
        #expect(try await Self.eventuallyActive(pid, seenBy: monitor))
        // Nothing through the proxy is answered from now on, the cancel's own connection included.
        proxy.setMode(.stall)
        let cancelled = try await BlockingIO.runOnOwnThread { () -> Duration in
            let start = ContinuousClock.now
            task.cancel()
            return ContinuousClock.now - start
        }
        #expect(cancelled < .seconds(5), "task.cancel() waited for the cancel request: \(cancelled)")
        let start = ContinuousClock.now
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(120), "the connection was not cut")
        #expect(throws: (any Error).self) { try result.get() }
        _ = try await monitor.execute("SELECT pg_terminate_backend($1)", [.int(Int64(pid))])
        await proxy.stop()
    }

    /// A server that answers neither the query nor the cancel (its backend stopped, as by a hung
    /// host): the connection is cut after the grace period instead of holding the task for ever.
    @Test(
        .enabled(if: TestPostgres.externalURL == nil, "stops a backend of the suite's own server"),
        .timeLimit(.minutes(3)))
    func cancellingAQueryOnAServerThatDoesNotAnswerCutsTheConnection() async throws {
        let db = try await Scratch.make()
        let monitor = try await db.connect()
        let pid = db.connection.backendPID
        let connection = db.connection
        let task = Task { try await connection.execute("SELECT pg_sleep(600)") }
        #expect(try await Self.eventuallyActive(pid, seenBy: monitor))
        kill(pid_t(pid), SIGSTOP)
        defer { kill(pid_t(pid), SIGCONT) }
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        let waited = ContinuousClock.now - start
        #expect(waited >= PostgresConnection.cancelGrace, "cut before the grace period: \(waited)")
        #expect(waited < .seconds(120), "the cancel was not followed by a cut: \(waited)")
        #expect(throws: (any Error).self) { try result.get() }
        kill(pid_t(pid), SIGCONT)
        // The cut connection is done with; the server ends the stopped session once it runs again.
        await #expect(throws: PostgresError.self) { try await connection.execute("SELECT 1") }
        #expect(
            try await eventually {
                try await monitor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [.int(Int64(pid))])
                    .scalar == .int(0)
            })
    }

    @Test func cancellingAStreamStopsIt() async throws {
        let db = try await Scratch.make()
        let connection = db.connection
        let task = Task {
            try await connection.stream("SELECT g, pg_sleep(0.01) FROM generate_series(1, 100000) AS g", batchSize: 10)
            {
                _ in
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let start = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - start < .seconds(60), "the 1,000 s stream was not cancelled")
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(try await connection.execute("SELECT 1").scalar == .int(1))
    }
}

@Suite struct RedactionTests {
    @Test(arguments: [
        ("postgres://u:secret@h/db", "postgres://u:***@h/db"),
        (
            "postgresql://u:se%40cret@h1:5432,h2:5433/db?sslmode=require",
            "postgresql://u:***@h1:5432,h2:5433/db?sslmode=require"
        ),
        ("postgresql://u@h/db?password=secret&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("host=h password=secret dbname=x", "host=h password=*** dbname=x"),
        ("host=h password = 'sec ret\\'s' dbname=x", "host=h password = '***' dbname=x"),
        ("PASSWORD=secret", "PASSWORD=***"),
        ("host=h dbname=x", "host=h dbname=x"),
        ("broken 'password=secret", "broken 'password=***"),
    ])
    func redactsPasswords(conninfo: String, expected: String) {
        #expect(PostgresError.redactConninfo(conninfo) == expected)
    }
}
