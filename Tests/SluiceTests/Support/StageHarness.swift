import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePlan
import Testing

@testable import SluicePipeline

/// Runs one stage on its own: a fresh private run directory, a context, fixed input batches
/// and a collecting output.
struct StageHarness {
    let runDirectory: URL
    let context: StageContext
    let output = StageOutput.collecting()

    static let logger: Logger = {
        var logger = Logger(label: "sluice.test")
        logger.logLevel = .warning
        return logger
    }()

    /// A fixed run start, so timestamped paths are predictable: 2026-03-01 12:34:56 UTC.
    static let startedAt = Date(timeIntervalSince1970: 1_772_368_496)

    init(
        stage: any Stage, runDirectory: URL? = nil,
        finishedStage: @escaping @Sendable (String) -> Manifest.StageRecord? = { _ in nil }
    ) async throws {
        let directory: URL
        if let runDirectory { directory = runDirectory } else { directory = try await Self.makeRunDirectory() }
        self.runDirectory = directory
        context = StageContext(
            stageName: stage.name, stageKind: stage.kind, runID: "test-run", runDirectory: directory,
            runStartedAt: Self.startedAt, logger: Self.logger, finishedStage: finishedStage)
    }

    static func makeRunDirectory() async throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tests")
            .appendingPathComponent(UUID().uuidString)
        try await BlockingIO.runOnOwnThread { try PrivateFile.createDirectory(at: url) }
        return url
    }

    /// Runs `stage` with `input` (`nil` for a source) and returns what it sent.
    func run(_ stage: any Stage, input: [Batch]?) async throws -> [Batch] {
        try await stage.run(context, input: input.map { StageInput($0) }, output: output)
        return output.collected
    }

    /// The files the stage registered, by kind.
    func artifacts(_ kind: String) -> [URL] {
        context.artifacts.filter { $0.kind == kind }.map(\.url)
    }

    var notices: [String] { context.notices }
    var counters: [String: Int] { context.counters.snapshot }

    /// Files in the run directory, hidden ones included (temporary files start with a dot).
    func files() async throws -> [String] {
        let path = runDirectory.path
        return try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        }
    }
}

/// Rows of all batches, as dictionaries by column.
func rows(_ batches: [Batch]) -> [[String: Value]] {
    batches.flatMap { batch in
        batch.rows.map { Dictionary(zip(batch.columns, $0), uniquingKeysWith: { a, _ in a }) }
    }
}

/// The file's text, read on a thread of its own (never the cooperative pool, never the threads
/// the product's file I/O shares).
func text(of url: URL) async throws -> String {
    try await BlockingIO.runOnOwnThread { try String(contentsOf: url, encoding: .utf8) }
}

/// The file's permission bits.
func mode(of url: URL) async throws -> Int {
    try await BlockingIO.runOnOwnThread {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }
}

/// Plans for tests: the repository's Spotify plan, with its connections pointing at a test
/// database and a simulator.
enum TestPlans {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static var spotifyPlanPath: String { repositoryRoot.appendingPathComponent("plans/spotify-enrichment.yaml").path }

    static func spotify(
        database: String = "postgresql://user:db-pass-123@127.0.0.1:1/none", apiURL: String = "http://127.0.0.1:1/v1",
        tokenURL: String = "http://127.0.0.1:1/api/token", overrides: [String] = []
    ) async throws -> Plan {
        let environment = [
            "DATABASE_URL": database, "SPOTIFY_API_URL": apiURL, "SPOTIFY_TOKEN_URL": tokenURL,
            "SPOTIFY_CLIENT_ID": "sluice-demo-client", "SPOTIFY_CLIENT_SECRET": "sluice-demo-secret",
        ]
        let path = spotifyPlanPath
        return try await BlockingIO.runOnOwnThread {
            try PlanLoader(environment: environment).load(path: path, overrides: overrides)
        }
    }

    /// A plan from YAML text (connections `db` and `api` are defined by the caller).
    static func load(_ yaml: String, environment: [String: String] = [:]) throws -> Plan {
        try PlanLoader(environment: environment).load(bytes: Array(yaml.utf8), path: "test.yaml")
    }

    /// The stage `name` of `plan`, built.
    static func stage(_ name: String, of plan: Plan, dryRun: Bool = false) throws -> any Stage {
        let builder = PipelineBuilder(plan: plan, logger: StageHarness.logger, dryRun: dryRun)
        return try builder.stage(for: try #require(plan.stage(named: name)))
    }
}
