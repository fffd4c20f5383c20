import Foundation
import Logging
import SluiceCore
import SluicePostgres

/// A throwaway PostgreSQL 15 server for tests and benchmarks, started once per process.
///
/// ``shared()`` runs `initdb` in a fresh `/tmp/sluice-testpg-*` directory and starts the server
/// with `pg_ctl -w` on a free 127.0.0.1 port and a Unix socket in that directory, tuned for speed
/// (`fsync`, `synchronous_commit` and `full_page_writes` off: nothing here must survive a crash).
/// It is stopped (`pg_ctl stop -m immediate`) and its directory removed when the process exits.
/// A process that dies without exiting (SIGKILL, crash) leaves its server behind: every start
/// first looks for such orphans, directories whose recorded owner pid is gone, stops their
/// server via its data directory and removes them.
///
/// When `SLUICE_TEST_DATABASE_URL` is set, that server is used instead (it must accept
/// `CREATE DATABASE` from that user); the password-role tests are skipped there.
///
/// As root (`geteuid() == 0`), `initdb` and the server run as the `postgres` user through
/// `setpriv`, since PostgreSQL refuses to run as root.
public struct TestPostgres: Sendable {
    /// Conninfo of a superuser on the `postgres` database.
    public let superuserConninfo: String
    /// The TCP port (on 127.0.0.1) of a server this process started; `nil` for an external one.
    public let port: Int?
    /// The directory holding the server's Unix socket; `nil` for an external server.
    public let socketDirectory: String?
    /// True when `SLUICE_TEST_DATABASE_URL` chose the server.
    public let isExternal: Bool

    /// A role that must log in with a password over TCP (scram-sha-256), for auth tests; only on
    /// a server this process started.
    public static let passwordRole = "sluice_pw"
    public static let passwordRolePassword = "pw-secret"
    public var hasPasswordRole: Bool { !isExternal }

    /// `SLUICE_TEST_DATABASE_URL` when set: the suite then uses that server rather than its own.
    public static var externalURL: String? {
        ProcessInfo.processInfo.environment["SLUICE_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static let binDirectory = "/usr/lib/postgresql/15/bin"

    /// psql for benchmarks' baselines: the PostgreSQL 15 one, else whatever is on `PATH`.
    public static var psqlPath: String {
        let path = "\(binDirectory)/psql"
        return FileManager.default.isExecutableFile(atPath: path) ? path : "psql"
    }

    /// A logger for tests: warnings and worse on stderr.
    public static let logger: Logger = {
        var logger = Logger(label: "sluice.test.postgres")
        logger.logLevel = .warning
        return logger
    }()

    /// The table the Spotify enrichment updates, as the tests and benchmarks create it.
    public static let tracksSchema = """
        CREATE TABLE tracks (
            id uuid PRIMARY KEY,
            title text NOT NULL,
            artist text,
            spotify_id text,
            spotify_popularity int CHECK (spotify_popularity BETWEEN 0 AND 100),
            isrc text,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX ON tracks (spotify_popularity);
        CREATE INDEX ON tracks (isrc);
        """

    /// The process's server, started on first use.
    public static func shared() async throws -> TestPostgres {
        try await Launcher.shared.server()
    }

    /// Creates a fresh, uniquely named database and returns a conninfo for it (the same server
    /// and superuser), so tests are isolated and can run in parallel.
    public func makeDatabase(prefix: String = "sluice_test") async throws -> String {
        let name = "\(prefix)_\(getpid())_\(UInt32.random(in: 0...UInt32.max))_\(Self.counter.take())"
        // Two at a time: the suite's first seconds asked for dozens at once, each a copy of the
        // template, and took 6–12 s each while they starved the machine (other tests'
        // connections timed out, their timing bounds failed). PostgreSQL 15 copies block by
        // block through the WAL by default; FILE_COPY copies the files (fsync is off here).
        await Self.creating.enter()
        do {
            let connection = try await connect()
            defer { Task { await connection.close() } }
            let strategy = connection.serverVersion >= 150_000 ? " STRATEGY = FILE_COPY" : ""
            _ = try await connection.execute("CREATE DATABASE \(name)\(strategy)")
        } catch {
            await Self.creating.leave()
            throw error
        }
        await Self.creating.leave()
        return try conninfo(database: name)
    }

    /// A conninfo for `database` on this server as the superuser (via the Unix socket when the
    /// server is ours).
    public func conninfo(database: String) throws -> String {
        try PostgresConnection.conninfo(superuserConninfo, setting: ["dbname": database])
    }

    /// A conninfo reaching this server over TCP on 127.0.0.1 as `user`, for authentication tests.
    public func tcpConninfo(database: String = "postgres", user: String, password: String?) -> String? {
        guard let port else { return nil }
        var text = "host=127.0.0.1 port=\(port) dbname=\(database) user=\(user)"
        if let password { text += " password=\(password)" }
        return text
    }

    /// Opens a connection (to the `postgres` database unless a conninfo is given).
    public func connect(_ conninfo: String? = nil) async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo ?? superuserConninfo, logger: Self.logger)
    }

    /// Runs SQL on a short-lived connection, by default as the superuser on `postgres`.
    @discardableResult
    public func execute(_ sql: String, _ params: [Value] = [], conninfo: String? = nil) async throws -> PostgresResult {
        let connection = try await connect(conninfo)
        defer { Task { await connection.close() } }
        return try await connection.execute(sql, params)
    }

    /// Unique suffixes for database names within this process.
    private static let counter = TakeANumber()
    private static let creating = Turnstile(limit: 2)
}

/// Lets `limit` tasks at a time through; the others wait their turn, first come first served.
actor Turnstile {
    private let limit: Int
    private var inside = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) {
        self.limit = limit
    }

    func enter() async {
        guard inside >= limit else {
            inside += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the place to the longest waiting task, if any.
    func leave() {
        if waiting.isEmpty { inside -= 1 } else { waiting.removeFirst().resume() }
    }
}
