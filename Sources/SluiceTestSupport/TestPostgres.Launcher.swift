import Foundation
import SluiceCore
import SluicePostgres
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TestPostgres {
    /// Starts the process's server once and hands the same one to every caller.
    actor Launcher {
        static let shared = Launcher()
        private var starting: Task<TestPostgres, any Error>?

        func server() async throws -> TestPostgres {
            if let starting { return try await starting.value }
            let task = Task { try await Launcher.start() }
            starting = task
            return try await task.value
        }

        private static func start() async throws -> TestPostgres {
            if let url = TestPostgres.externalURL {
                return TestPostgres(superuserConninfo: url, port: nil, socketDirectory: nil, isExternal: true)
            }
            // initdb and pg_ctl block for seconds: keep them off the cooperative pool. Not
            // `DispatchQueue.global()`: on Linux its threads *are* the cooperative pool.
            let server = try await BlockingIO.runOnOwnThread { try startLocalServer() }
            try await server.execute("CREATE ROLE \(passwordRole) LOGIN PASSWORD '\(passwordRolePassword)'")
            return server
        }
    }

    /// The directory of the server this process started, for the exit handler.
    static let running = Mutex<String?>(nil)

    private static let dirPrefix = "sluice-testpg-"

    /// initdb, configure, start; blocking, so it runs on a detached task.
    private static func startLocalServer() throws -> TestPostgres {
        cleanOrphans()
        var template = Array("/tmp/\(dirPrefix)XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SetupError("mkdtemp failed: errno \(errno)") }
        let dir = String(cString: made)
        try "\(getpid())\n".write(toFile: "\(dir)/owner.pid", atomically: true, encoding: .utf8)
        let account = try serverAccount()
        if let account { chown(dir, account.uid, account.gid) }
        let data = "\(dir)/data"
        try run(
            [
                "\(binDirectory)/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                "--no-sync", "--no-instructions",
            ], as: account, log: "\(dir)/initdb.log")
        let hba = """
            local all all trust
            host all \(passwordRole) 127.0.0.1/32 scram-sha-256
            host all all 127.0.0.1/32 trust

            """
        try hba.write(toFile: "\(data)/pg_hba.conf", atomically: false, encoding: .utf8)
        // The suite runs its tests at once, each with its own database and connections: 186 at
        // the peak of a run of 482 tests, where 200 (3 for superusers) once ran out.
        let settings = """

            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(dir)'
            fsync = off
            synchronous_commit = off
            full_page_writes = off
            max_connections = 500
            max_prepared_transactions = 10
            shared_buffers = 256MB
            max_wal_size = 4GB
            checkpoint_timeout = 30min

            """
        let conf = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(data)/postgresql.conf"))
        conf.seekToEndOfFile()
        conf.write(Data(settings.utf8))
        try conf.close()

        running.withLock { $0 = dir }
        atexit { TestPostgres.stopAtExit() }

        var lastError: (any Error)?
        for _ in 0..<8 {
            let port = try freePort()
            do {
                try run(
                    [
                        "\(binDirectory)/pg_ctl", "-D", data, "-l", "\(dir)/server.log", "-w", "-t", "60", "-o",
                        "-p \(port)", "start",
                    ], as: account, log: "\(dir)/pg_ctl.log")
            } catch {
                // Most likely another process took the port between our check and the bind.
                lastError = error
                continue
            }
            let server = TestPostgres(
                superuserConninfo: "host=\(dir) port=\(port) user=postgres dbname=postgres", port: port,
                socketDirectory: dir, isExternal: false)
            return server
        }
        throw lastError ?? SetupError("could not start PostgreSQL")
    }

    /// Registered with `atexit`: stops the server immediately and removes its directory.
    private static func stopAtExit() {
        guard let dir = running.withLock({ $0 }) else { return }
        stop(dir: dir)
    }

    private static func stop(dir: String) {
        if FileManager.default.fileExists(atPath: "\(dir)/data/postmaster.pid") {
            _ = try? run(
                ["\(binDirectory)/pg_ctl", "-D", "\(dir)/data", "-m", "immediate", "-w", "stop"],
                as: try? serverAccount(), log: "/dev/null")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// Stops and removes servers left by test processes that died without running `atexit`.
    private static func cleanOrphans() {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/tmp") else { return }
        for entry in entries where entry.hasPrefix(dirPrefix) {
            let dir = "/tmp/\(entry)"
            guard let text = try? String(contentsOfFile: "\(dir)/owner.pid", encoding: .utf8),
                let owner = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { continue }
            if kill(owner, 0) == 0 || errno == EPERM { continue }  // owner still alive
            stop(dir: dir)
        }
    }

    struct Account {
        var uid: uid_t
        var gid: gid_t
    }

    /// The `postgres` account when running as root, `nil` when running as ourselves is fine.
    private static func serverAccount() throws -> Account? {
        guard geteuid() == 0 else { return nil }
        guard let entry = getpwnam("postgres") else {
            throw SetupError("running as root but there is no postgres user to run the server as")
        }
        return Account(uid: entry.pointee.pw_uid, gid: entry.pointee.pw_gid)
    }

    /// Runs a command to completion, as `account` when given; output goes to `log`.
    private static func run(_ arguments: [String], as account: Account?, log: String) throws {
        // The server must not inherit our working directory (it may be unreadable to postgres).
        var argv = ["/usr/bin/env", "-C", "/tmp"] + arguments
        if account != nil {
            argv = ["/usr/bin/setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"] + argv
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard spawned == 0 else { throw SetupError("could not run \(argv[0]): errno \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let exited = (status & 0x7f) == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            throw SetupError("\(arguments.joined(separator: " ")) failed (status \(status)):\n\(output.suffix(2000))")
        }
    }

    /// Closes every descriptor above stderr in the child. `pg_ctl` leaves a server running that
    /// would otherwise keep, for the whole test process, a copy of every socket open when it was
    /// started (NIO's among them): a connection the test closes would then stay open, and its
    /// peer wait for a timeout instead of seeing the end.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        // glibc 2.34+ has it, but Glibc does not export it: look it up (RTLD_DEFAULT is null).
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// A port on 127.0.0.1 nothing listens on right now (for "connection refused" tests).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError("socket failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw SetupError("could not find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}
