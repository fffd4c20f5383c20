import CFileIO
import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan
import SluiceTestSupport
import SpotifySimulator
import Testing

/// The built `sluice` binary, run as a user would: a separate process with its own environment.
struct SluiceProcess {
    struct Outcome {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The package's root (where `plans/` is) and the binary `swift build` put next to the tests.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static var binary: URL {
        let bundle = Bundle.main.bundleURL.deletingLastPathComponent()
        for candidate in [bundle.appendingPathComponent("sluice"), root.appendingPathComponent(".build/debug/sluice")]
        where FileManager.default.isExecutableFile(atPath: candidate.path) {
            return candidate
        }
        return root.appendingPathComponent(".build/debug/sluice")
    }

    /// `path` (under the package's root, where the processes run) as a manifest records it.
    static func recorded(_ path: String) -> String { root.appendingPathComponent(path).standardizedFileURL.path }

    var environment: [String: String]
    var directory: URL
    /// Where the process runs; the package's root (`plans/...` as written) when not given.
    var workingDirectory: URL? = nil

    /// Starts `sluice ARGS`; stdout and stderr go to files so no pipe can fill up, or, given a
    /// `terminal`, stdin and stderr go there (the stderr file stays empty).
    func start(_ arguments: [String], terminal: FileHandle? = nil) throws -> (Process, URL, URL) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments
        process.currentDirectoryURL = workingDirectory ?? Self.root
        process.environment = environment
        let id = UUID().uuidString.prefix(8)
        let out = directory.appendingPathComponent("stdout-\(id).txt")
        let err = directory.appendingPathComponent("stderr-\(id).txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try terminal ?? FileHandle(forWritingTo: err)
        process.standardInput = terminal ?? FileHandle.nullDevice
        try process.run()
        return (process, out, err)
    }

    /// Runs `sluice ARGS` as a person at a terminal: its stdin and stderr are a pseudo-terminal,
    /// on which `answer` is typed before it asks anything (`nil`: nothing is typed, and once it
    /// asks, it gets a Ctrl-C instead). The outcome's stderr is what the terminal showed (the
    /// answer echoed, and the cursor movements of its progress lines).
    func runOnTerminal(_ arguments: [String], answer: String?) async throws -> Outcome {
        let controller = posix_openpt(O_RDWR | O_NOCTTY)
        guard controller >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(controller) }
        var name = [CChar](repeating: 0, count: 128)
        guard grantpt(controller) == 0, unlockpt(controller) == 0, ptsname_r(controller, &name, name.count) == 0
        else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let path = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let terminal = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let (process, out, err) = try start(arguments, terminal: terminal)
        // Once the child (which holds its own copies) exits, reading the terminal ends; a child
        // that waits for more than the answer is stopped rather than left to hang the suite.
        try terminal.close()
        let stuck = Task {
            try await Task.sleep(for: .seconds(120))
            process.terminate()
        }
        defer { stuck.cancel() }
        if let answer {
            let typed = Array((answer + "\n").utf8)
            _ = typed.withUnsafeBytes { write(controller, $0.baseAddress, $0.count) }
        }
        let pid = process.processIdentifier
        let shown = try await BlockingIO.runOnOwnThread {
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            var interrupted = false
            while true {
                let count = buffer.withUnsafeMutableBytes { read(controller, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                bytes += buffer[..<count]
                if answer == nil, !interrupted, String(decoding: bytes, as: UTF8.self).contains("[y/N]") {
                    interrupted = true
                    kill(pid, SIGINT)
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        await Self.wait(for: process)
        var outcome = await Self.outcome(of: process, out, err)
        outcome.stderr = shown
        return outcome
    }

    /// Runs `sluice ARGS` to the end.
    func run(_ arguments: [String]) async throws -> Outcome {
        let (process, out, err) = try start(arguments)
        await Self.wait(for: process)
        return await Self.outcome(of: process, out, err)
    }

    /// What an ended sluice left. A debug build watches its own cooperative pool
    /// (``PoolWatchdog``): a warning that it was blocked fails the test that ran it.
    static func outcome(
        of process: Process, _ out: URL, _ err: URL, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async -> Outcome {
        let status = process.terminationStatus
        let (stdout, stderr) =
            (try? await BlockingIO.runOnOwnThread {
                (
                    (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                    (try? String(contentsOf: err, encoding: .utf8)) ?? ""
                )
            }) ?? ("", "")
        let outcome = Outcome(status: status, stdout: stdout, stderr: stderr)
        #expect(
            !outcome.stderr.contains(PoolWatchdog.warningPrefix), "sluice blocked its own pool: \(outcome.stderr)",
            sourceLocation: sourceLocation)
        return outcome
    }

    static func wait(for process: Process) async {
        while process.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
    }
}

/// A database holding the demo tracks, a running simulator, and the environment the plan reads.
struct EnrichmentFixture {
    let server: TestPostgres
    let conninfo: String
    let simulator: SpotifySimulator
    let dataset: DemoDataset
    let directory: URL
    let sluice: SluiceProcess

    static let clientSecret = "sluice-demo-secret"

    static func make(
        tracks: Int = 400, configure: (inout SimulatorConfiguration) -> Void = { _ in }
    ) async throws
        -> EnrichmentFixture
    {
        let server = try await TestPostgres.shared()
        let conninfo = try await server.makeDatabase(prefix: "sluice_e2e")
        var configuration = SimulatorConfiguration()
        configuration.clientSecret = clientSecret
        configure(&configuration)
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        let dataset = DemoDataset(catalog: simulator.catalog, count: tracks)
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute(dataset.sql())
        // The plan connects as a role with a password, over TCP, so a leaked password would show.
        _ = try await connection.execute("GRANT SELECT, UPDATE ON tracks TO \(TestPostgres.passwordRole)")
        await connection.close()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-e2e-\(UUID().uuidString)")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let database = try #require(conninfo.split(separator: " ").first { $0.hasPrefix("dbname=") }).dropFirst(7)
        let url = try #require(
            server.tcpConninfo(
                database: String(database), user: TestPostgres.passwordRole,
                password: TestPostgres.passwordRolePassword))
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = url
        environment["SPOTIFY_API_URL"] = simulator.baseURL
        environment["SPOTIFY_TOKEN_URL"] = simulator.tokenURL
        environment["SPOTIFY_CLIENT_ID"] = configuration.clientID
        environment["SPOTIFY_CLIENT_SECRET"] = clientSecret
        environment["NO_COLOR"] = "1"
        return EnrichmentFixture(
            server: server, conninfo: conninfo, simulator: simulator, dataset: dataset, directory: directory,
            sluice: SluiceProcess(environment: environment, directory: directory))
    }

    var runsDirectory: String { directory.appendingPathComponent("runs").path }

    /// A plan of its own in the fixture's directory: a query on the fixture's database (`sql`,
    /// the key and its value as the plan writes them, from line 9), its ids written to a CSV.
    func queryPlan(named name: String, sql: String) async throws -> URL {
        let plan = directory.appendingPathComponent("\(name).yaml")
        let indented = sql.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }
        let text = """
            version: 1
            name: \(name)
            connections:
              db: { kind: postgres, url: "${DATABASE_URL}" }
            stages:
              - name: query
                kind: query
                connection: db
            \(indented.joined(separator: "\n"))
              - { name: out, kind: write-csv, path: out.csv, columns: [id] }

            """
        try await Files.write(Array(text.utf8), to: plan)
        return plan
    }

    /// `sluice run plans/spotify-enrichment.yaml` with a fast fetch delay and these runs.
    func run(_ extra: [String] = []) async throws -> SluiceProcess.Outcome {
        try await sluice.run(
            ["run", "plans/spotify-enrichment.yaml", "--runs-dir", runsDirectory, "--set", "fetch.delay=0.01s"] + extra)
    }

    /// Every row as `id -> (popularity, isrc, title, artist, updated_at)`.
    func table() async throws -> [String: [String?]] {
        let result = try await server.execute(
            "SELECT id::text, spotify_popularity::text, isrc, title, artist, updated_at::text FROM tracks",
            conninfo: conninfo)
        return Dictionary(
            uniqueKeysWithValues: result.rows.map { row in
                (row[0].text ?? "", Array(row.dropFirst().map(\.text)))
            })
    }

    /// The runs in the runs directory, oldest first.
    func manifests() async -> [(directory: URL, manifest: Manifest)] {
        await Files.runs(in: URL(fileURLWithPath: runsDirectory))
    }

    func tearDown() async {
        await simulator.stop()
        let directory = directory
        _ = try? await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: directory) }
    }
}

/// Files the tests read and check, on a blocking-I/O thread as the product's are: never on the
/// cooperative pool the tests share with the servers they run.
enum Files {
    static func text(_ url: URL) async throws -> String {
        try await BlockingIO.runOnOwnThread { try String(contentsOf: url, encoding: .utf8) }
    }

    static func bytes(_ url: URL) async throws -> [UInt8] {
        try await BlockingIO.runOnOwnThread { Array(try Data(contentsOf: url)) }
    }

    static func write(_ bytes: [UInt8], to url: URL) async throws {
        try await BlockingIO.runOnOwnThread { try Data(bytes).write(to: url) }
    }

    static func remove(_ url: URL) async throws {
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: url) }
    }

    /// The runs in `directory`, oldest first (``Manifest/loadAll(in:)``).
    ///
    /// Every run an end-to-end test reads is also held to the plan reference: each stage records
    /// only counters its kind declares (`Schema.counters(of:)`), the names `sluice check` lets a
    /// verify check compare with.
    static func runs(in directory: URL) async -> [(directory: URL, manifest: Manifest)] {
        let runs = (try? await BlockingIO.runOnOwnThread { Manifest.loadAll(in: directory) }) ?? []
        for (_, manifest) in runs {
            for stage in manifest.stages {
                guard let kind = StageKind(rawValue: stage.kind) else { continue }
                let undeclared = stage.counters.keys.filter { Schema.counter($0, of: kind) == nil }
                #expect(
                    undeclared.isEmpty, "\(stage.kind) stage '\(stage.name)' records undeclared \(undeclared.sorted())")
            }
        }
        return runs
    }

    static func exists(_ url: URL) async -> Bool {
        (try? await BlockingIO.runOnOwnThread { FileManager.default.fileExists(atPath: url.path) }) ?? false
    }

    /// Every regular file under `directory`, with its text and its permission bits.
    static func everyFile(under directory: URL) async throws -> [(url: URL, text: String, mode: Int?)] {
        try await BlockingIO.runOnOwnThread {
            let files =
                FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])?
                .compactMap { $0 as? URL } ?? []
            return try files.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
                .map { file in
                    let text = String(decoding: try Data(contentsOf: file), as: UTF8.self)
                    let mode = try FileManager.default.attributesOfItem(atPath: file.path)[.posixPermissions] as? Int
                    return (file, text, mode)
                }
        }
    }
}
