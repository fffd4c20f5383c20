import Foundation
import Logging
import SluiceCore

@testable import SluicePipeline

/// A temporary runs directory and a configuration to run pipelines in it.
struct TestRun: ~Copyable {
    let root: URL
    var runsDirectory: URL { root.appendingPathComponent("runs") }

    init() async throws {
        let root = FileManager.default.temporaryDirectory
            .appendingPathComponent("sluice-pipeline-tests-\(UUID().uuidString)")
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        }
        self.root = root
    }

    /// The runs are removed on a thread of their own, not waited for: a deinit cannot suspend,
    /// and it runs on the cooperative pool.
    deinit {
        let root = root
        Thread.detachNewThread { try? FileManager.default.removeItem(at: root) }
    }

    func configuration(approval: Approval = .denied, replay: Replay? = nil, bufferSize: Int = 4) -> RunConfiguration {
        var configuration = RunConfiguration(
            runsDirectory: runsDirectory, toolVersion: "0.0.0-test",
            plan: Manifest.Plan(path: "plans/test.yaml", sha256: String(repeating: "0", count: 64), name: "test"),
            resolvedPlan: .object(["name": .string("test")]), overrides: ["map.factor=2"],
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            continueCommand: { directory, stage in "continue \(directory.path) \(stage)" })
        configuration.approval = approval
        configuration.replay = replay
        configuration.defaultBufferSize = bufferSize
        return configuration
    }

    func run(_ stages: [StageSpec], approval: Approval = .denied, replay: Replay? = nil) async throws -> RunResult {
        try await Runner(stages: stages, configuration: configuration(approval: approval, replay: replay)).run()
    }

    /// The names in the runs directory (one per run).
    func runNames() async -> [String] {
        let path = runsDirectory.path
        return
            ((try? await BlockingIO.runOnOwnThread { try FileManager.default.contentsOfDirectory(atPath: path) }) ?? [])
            .sorted()
    }
}

/// The file an artifact path in a manifest names.
func artifactURL(_ path: String, in directory: URL) -> URL {
    path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path)
}

/// The standard three-stage pipeline source → map → sink.
func chain(
    batches: Int? = 10, rowsPerBatch: Int = 100, sink: SinkStage = SinkStage(), gated: Bool = false
)
    -> [StageSpec]
{
    [
        StageSpec(SourceStage(batches: batches, rowsPerBatch: rowsPerBatch)),
        StageSpec(MapStage(), input: "source"),
        StageSpec(sink, input: "map", requiresApproval: gated),
    ]
}
