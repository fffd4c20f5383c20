import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// Replays: re-running a stage (or a stage and everything after it) on the inputs an earlier
/// run recorded, and refusing to when those inputs are gone or changed.
@Suite struct RunnerReplayTests {
    /// source → map → sink, run once; returns the original run.
    private func original(
        _ test: borrowing TestRun, gated: Bool = false, approval: Approval = .granted
    )
        async throws -> RunResult
    {
        let stages = [
            StageSpec(SourceStage(batches: 6, rowsPerBatch: 50)),
            StageSpec(MapStage(lookup: "source"), input: "source"),
            StageSpec(SinkStage(), input: "map", requiresApproval: gated),
        ]
        return try await test.run(stages, approval: approval)
    }

    private func replay(_ original: RunResult, _ mode: Manifest.ReplayMode, _ stage: String) -> Replay {
        Replay(original: original.manifest, originalDirectory: original.directory, mode: mode, stage: stage)
    }

    private var stages: [StageSpec] {
        [
            StageSpec(SourceStage(batches: 999)),  // must not run: a replay reads the recorded spool
            StageSpec(MapStage(lookup: "source"), input: "source"),
            StageSpec(SinkStage(), input: "map"),
        ]
    }

    @Test func replayingAMiddleStageReproducesItsSpoolByteForByte() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let result = try await test.run(stages, replay: replay(first, .stage, "map"))
        let manifest = result.manifest

        #expect(manifest.status == .succeeded)
        #expect(
            manifest.replayOf
                == Manifest.ReplayOrigin(
                    runID: first.manifest.runID, path: first.directory.path, stage: "map", mode: .stage))
        #expect(manifest.stages.map(\.status) == [.skipped, .succeeded, .skipped])
        let originalMap = try #require(first.manifest.stage("map")?.spool)
        let replayedMap = try #require(manifest.stage("map")?.spool)
        #expect(replayedMap.sha256 == originalMap.sha256)
        #expect(replayedMap.rows == 300)
        #expect(replayedMap.path == "map.ndjson")

        // The skipped source keeps the original figures and points at the original file.
        let source = try #require(manifest.stage("source"))
        let originalSpool = first.directory.appendingPathComponent("source.ndjson").path
        #expect(source.spool?.path == originalSpool)
        #expect(source.rowsOut == 300 && source.counters["emitted"] == 300)
        #expect(manifest.stage("map")?.inputs.map(\.path) == [originalSpool])
        // finishedStage of a skipped stage answers with the original record.
        #expect(manifest.stage("map")?.counters["seen_emitted"] == 300)
        // In `stage` mode the later stages are skipped with empty figures.
        #expect(manifest.stage("sink")?.outputs == [])
        let sourceSpool = result.directory.appendingPathComponent("source.ndjson").path
        #expect(!(try await BlockingIO.runOnOwnThread { FileManager.default.fileExists(atPath: sourceSpool) }))
        #expect(try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) } == manifest)
    }

    /// A source that found its rows already recorded by an earlier run (the same CSV, applied
    /// before) sends none and names that run's spool: the run links it in place of the empty
    /// spool and records it as the source's, so a replay of the next stage reads it even once
    /// the earlier run is gone. Where it cannot be linked (here: it is missing) the earlier path
    /// is recorded. A stage that sent rows keeps its own spool whatever it named.
    @Test func aStageNamingAnEarlierRunsSpoolIsReplayedFromIt() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let earlier = try #require(first.manifest.stage("source")?.spool)
        let earlierURL = first.directory.appendingPathComponent(earlier.path).standardizedFileURL
        let recorded = RecordedSource(name: "source", spool: earlierURL, sha256: earlier.sha256, rows: earlier.rows)
        let run = try await test.run([
            StageSpec(recorded), StageSpec(MapStage(lookup: "source"), input: "source"),
            StageSpec(SinkStage(), input: "map"),
        ])
        #expect(run.manifest.status == .succeeded)
        let source = try #require(run.manifest.stage("source"))
        #expect(source.rowsOut == 0 && source.spool == earlier)
        #expect(run.manifest.stage("map")?.inputs == [earlier])
        let linked = run.directory.appendingPathComponent("source.ndjson")
        #expect(try await PrivateFile.sha256(of: linked).sha256 == earlier.sha256)

        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: first.directory) }
        let replayed = try await test.run(stages, replay: replay(run, .stage, "map"))
        #expect(replayed.manifest.status == .succeeded)
        #expect(replayed.manifest.stage("map")?.spool?.sha256 == first.manifest.stage("map")?.spool?.sha256)
        #expect(replayed.manifest.stage("map")?.spool?.rows == 300)

        let missing = RecordedSource(name: "source", spool: earlierURL, sha256: earlier.sha256, rows: earlier.rows)
        let unlinked = try await test.run([StageSpec(missing)])
        #expect(unlinked.manifest.stage("source")?.spool?.path == earlierURL.path)

        var sending = recorded
        sending.sends = true
        let sent = try await test.run([StageSpec(sending)])
        #expect(sent.manifest.stage("source")?.spool?.path == "source.ndjson")
        #expect(sent.manifest.stage("source")?.spool?.rows == 1)
    }

    @Test func replayingFromAStageRunsItAndEveryLaterOne() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let result = try await test.run(stages, replay: replay(first, .from, "map"))
        let manifest = result.manifest
        #expect(manifest.status == .succeeded)
        #expect(manifest.replayOf?.mode == .from)
        #expect(manifest.stages.map(\.status) == [.skipped, .succeeded, .succeeded])
        #expect(manifest.stage("sink")?.spool?.sha256 == first.manifest.stage("sink")?.spool?.sha256)
        #expect(manifest.stage("sink")?.inputs == [manifest.stage("map")?.spool].compactMap { $0 })
    }

    @Test func aRunAwaitingApprovalContinuesFromTheGatedStage() async throws {
        let test = try await TestRun()
        let first = try await original(test, gated: true, approval: .denied)
        #expect(first.manifest.status == .awaitingApproval)
        var gated = stages
        gated[2].requiresApproval = true

        let denied = try await test.run(gated, approval: .denied, replay: replay(first, .from, "sink"))
        #expect(denied.manifest.status == .awaitingApproval)

        let result = try await test.run(gated, approval: .granted, replay: replay(first, .from, "sink"))
        #expect(result.manifest.status == .succeeded)
        #expect(result.manifest.stages.map(\.status) == [.skipped, .skipped, .succeeded])
        #expect(result.manifest.stage("sink")?.rowsIn == 300)
        #expect(result.manifest.stage("sink")?.spool?.sha256 == first.manifest.stage("map")?.spool?.sha256)
    }

    @Test func aChangedRecordedInputIsRefusedBeforeAnythingIsCreated() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let spool = first.directory.appendingPathComponent("source.ndjson")
        var bytes = try await BlockingIO.runOnOwnThread { try Array(Data(contentsOf: spool)) }
        bytes[bytes.count / 2] ^= 0x01
        try await BlockingIO.runOnOwnThread { [bytes] in try Data(bytes).write(to: spool) }
        let runsBefore = await test.runNames()

        let error = await #expect(throws: RunnerError.self) {
            try await test.run(stages, replay: replay(first, .stage, "map"))
        }
        let message = error?.description ?? ""
        #expect(message.contains("source.ndjson") && message.contains("changed"))
        #expect(message.contains("recorded \(first.manifest.stage("source")?.spool?.sha256 ?? "?")"))
        #expect(await test.runNames() == runsBefore)
    }

    @Test func aMissingRecordedInputIsRefused() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let recorded = first.directory.appendingPathComponent("map.ndjson")
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: recorded) }
        let runsBefore = await test.runNames()
        let error = await #expect(throws: RunnerError.self) {
            try await test.run(stages, replay: replay(first, .from, "sink"))
        }
        #expect(error?.description.contains("missing") == true)
        #expect(await test.runNames() == runsBefore)
    }

    /// A replay of a replay reads the spool the first run wrote (the replay skipped that
    /// stage): when it is gone, the error names the run that wrote it, not the replay.
    @Test func aMissingInputOfAReplayOfAReplayNamesTheRunThatWroteIt() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let second = try await test.run(stages, replay: replay(first, .stage, "sink"))
        #expect(second.manifest.status == .succeeded)
        try await BlockingIO.runOnOwnThread { try FileManager.default.removeItem(at: first.directory) }
        let error = await #expect(throws: RunnerError.self) {
            try await test.run(stages, replay: replay(second, .stage, "sink"))
        }
        #expect(
            error?.description.contains(
                "(output of 'map' in run \(first.manifest.runID), which run \(second.manifest.runID) replayed) is missing"
            ) == true, "\(String(describing: error))")
    }

    @Test func anUnknownReplayStageIsRefused() async throws {
        let test = try await TestRun()
        let first = try await original(test)
        let error = await #expect(throws: RunnerError.self) {
            try await test.run(stages, replay: replay(first, .stage, "nope"))
        }
        #expect(error?.description.contains("no such stage") == true)
    }
}

/// A source whose rows an earlier run's spool holds: it names that spool and sends nothing
/// (or, with `sends`, one row of its own anyway).
private struct RecordedSource: Stage {
    var name: String
    var kind: String { "test-recorded" }
    var parameters: Value { .object([:]) }
    var spool: URL
    var sha256: String
    var rows: Int
    var sends = false

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        context.recordOutput(asSpoolAt: spool, sha256: sha256, rows: rows)
        if sends { try await output.send(Batch(columns: ["id"], rows: [[.int(1)]])) }
    }
}
