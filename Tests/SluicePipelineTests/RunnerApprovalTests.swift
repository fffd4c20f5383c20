import Foundation
import SluiceCore
import Synchronization
import Testing

@testable import SluicePipeline

/// Approval gates: a gated stage starts only once everything before it succeeded and the
/// run's approval says so, and then reads its input back from the upstream spool.
@Suite struct RunnerApprovalTests {
    /// A sink that reviews what it would do first: nothing (a re-apply), or something.
    struct ReviewedSink: ReviewingStage {
        var sink = SinkStage()
        var changesNothing: Bool
        /// The review is interrupted (Ctrl-C while it reads the table).
        var interrupted = false
        var name: String { sink.name }
        var kind: String { sink.kind }
        var parameters: Value { sink.parameters }

        func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
            try await sink.run(context, input: input, output: output)
        }

        func review(
            _ context: StageContext, input: StageInput, earlier: [Manifest.StageRecord]
        ) async throws -> Manifest.Review {
            if interrupted { throw CancellationError() }
            let file = context.runDirectory.appendingPathComponent("review.csv")
            try await BlockingIO.runOnOwnThread { try Data().write(to: file) }
            return Manifest.Review(
                file: Manifest.Artifact(kind: "review", path: file.path, sha256: SHA256.hex([]), rows: 0),
                reviewedAt: Date(), summary: .object([:]), text: "", changesNothing: changesNothing)
        }
    }

    /// A review that finds nothing to change leaves nothing to approve: the run goes on without
    /// a yes, saying so; one that finds something stops at the gate as ever.
    @Test(arguments: [true, false])
    func aGateWhoseReviewChangesNothingLetsTheRunGoOn(changesNothing: Bool) async throws {
        let test = try await TestRun()
        let sink = ReviewedSink(changesNothing: changesNothing)
        var stages = chain(batches: 2, gated: true)
        stages[2] = StageSpec(sink, input: "map", requiresApproval: true)
        let result = try await test.run(stages, approval: .denied)
        let manifest = result.manifest
        #expect(manifest.status == (changesNothing ? .succeeded : .awaitingApproval))
        #expect(sink.sink.received.value == (changesNothing ? 2 : 0))
        #expect(manifest.stage("sink")?.review?.changesNothing == changesNothing)
        #expect(
            manifest.notices.contains {
                $0.contains("the review finds nothing to change, so there is nothing to approve")
            }
                == changesNothing, "\(manifest.notices)")
        #expect(try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) } == manifest)
    }
    /// A review interrupted (Ctrl-C) is cancelled like a stage: no error of its own, which read
    /// `error in stage 'sink': CancellationError()`.
    @Test func anInterruptedReviewIsCancelledNotAnError() async throws {
        let test = try await TestRun()
        var stages = chain(batches: 2, gated: true)
        stages[2] = StageSpec(
            ReviewedSink(changesNothing: false, interrupted: true), input: "map", requiresApproval: true)
        let manifest = try await test.run(stages, approval: .denied).manifest
        #expect(manifest.stage("sink")?.status == .cancelled)
        #expect(manifest.stage("sink")?.error == nil)
        #expect(manifest.error == nil, "\(manifest.error.map(\.message) ?? "")")
    }

    @Test func aDeniedGateStopsTheRunAwaitingApproval() async throws {
        let test = try await TestRun()
        let sink = SinkStage()
        let stages = chain(batches: 4, sink: sink, gated: true) + [StageSpec(SinkStage(name: "after"), input: "sink")]
        let result = try await test.run(stages, approval: .denied)
        let manifest = result.manifest

        #expect(manifest.status == .awaitingApproval)
        #expect(manifest.resumeCommand == "continue \(result.directory.path) sink")
        #expect(manifest.error == nil)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.stages.map(\.status) == [.succeeded, .succeeded, .awaitingApproval, .pending])
        #expect(manifest.stage("sink")?.requiresApproval == true)
        #expect(manifest.stage("map")?.spool?.rows == 400)
        #expect(sink.received.value == 0)
        #expect(try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) } == manifest)
    }

    @Test(arguments: [true, false])
    func anAskedGateRunsOnlyWhenTheAnswerIsYes(answer: Bool) async throws {
        let test = try await TestRun()
        let sink = SinkStage()
        let asked = Mutex<[String]>([])
        let result = try await test.run(
            chain(batches: 4, sink: sink, gated: true),
            approval: .ask { stage in
                asked.withLock { $0.append(stage) }
                return answer
            })
        #expect(asked.withLock { $0 } == ["sink"])
        #expect(result.manifest.status == (answer ? .succeeded : .awaitingApproval))
        #expect(result.manifest.stage("sink")?.status == (answer ? .succeeded : .awaitingApproval))
        #expect(sink.rows.all.count == (answer ? 400 : 0))
    }

    @Test func aGrantedGateReadsItsInputFromTheUpstreamSpool() async throws {
        let test = try await TestRun()
        let sink = SinkStage()
        let result = try await test.run(chain(batches: 4, sink: sink, gated: true), approval: .granted)
        let manifest = result.manifest
        #expect(manifest.status == .succeeded)
        #expect(manifest.resumeCommand == nil)
        let mapSpool = try #require(manifest.stage("map")?.spool)
        #expect(manifest.stage("sink")?.inputs == [mapSpool])
        #expect(manifest.stage("sink")?.rowsIn == 400)
        #expect(manifest.stage("sink")?.spool?.sha256 == mapSpool.sha256)
        #expect(sink.rows.all.first == [.int(0), .string("row 0"), .double(0), .int(0)])
    }

    /// A gated stage that streams when approved: given approval before the run, it reads its
    /// upstream's channel while the upstream still runs (10 batches cannot all wait in the
    /// buffers of 4, so the upstream is unfinished at the first batch); asked, or in a replay,
    /// it waits behind its gate and reads the spool.
    @Test(arguments: [true, false])
    func aStageThatStreamsWhenApprovedRunsBesideItsUpstreamOnlyWhenApprovedUpFront(upFront: Bool) async throws {
        let test = try await TestRun()
        let watcher = UpstreamWatchingStage(upstream: "map")
        var gated = StageSpec(watcher, input: "map", requiresApproval: true)
        gated.streamsWhenApproved = true
        let stages = Array(chain(batches: 10).prefix(2)) + [gated, StageSpec(SinkStage(name: "after"), input: "watch")]
        let result = try await test.run(stages, approval: upFront ? .granted : .ask { _ in true })
        let manifest = result.manifest
        #expect(manifest.status == .succeeded)
        #expect(watcher.upstreamRunningAtFirstBatch.value == (upFront ? 1 : 0))
        #expect(manifest.stage("watch")?.rowsIn == 1000)
        #expect(manifest.stage("after")?.rowsIn == 1000)
        // Either way its input is recorded: the spool of the stage it read.
        let mapSpool = try #require(manifest.stage("map")?.spool)
        #expect(manifest.stage("watch")?.inputs == [mapSpool])
    }

    @Test func aGateIsNotReachedWhenAnEarlierStageFails() async throws {
        let test = try await TestRun()
        let asked = Mutex(false)
        let result = try await test.run(
            [
                StageSpec(SourceStage(batches: 5, rowsPerBatch: 10)),
                StageSpec(FailingStage(after: 1), input: "source"),
                StageSpec(SinkStage(), input: "fail", requiresApproval: true),
            ],
            approval: .ask { _ in
                asked.withLock { $0 = true }
                return true
            })
        #expect(result.manifest.status == .failed)
        #expect(asked.withLock { $0 } == false)
        #expect(result.manifest.stage("sink")?.status == .pending)
    }

    @Test func aGateIsNotPassedWhileTheManifestCannotBeWritten() async throws {
        let test = try await TestRun()
        let sink = SinkStage()
        let result = try await test.run(
            [
                StageSpec(SourceStage(batches: 2, rowsPerBatch: 10)),
                StageSpec(ManifestBlockingStage(), input: "source"),
                StageSpec(sink, input: "block", requiresApproval: true),
            ],
            approval: .granted)
        let manifest = result.manifest
        #expect(manifest.status == .failed)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.error?.stage == nil, "a failure of the runner, not of a stage")
        #expect(
            manifest.error?.message.contains("not starting stage 'sink'") == true, "\(manifest.error?.message ?? "")")
        #expect(manifest.stage("sink")?.status == .pending)
        #expect(sink.received.value == 0)
        let file = result.directory.appendingPathComponent(Manifest.fileName).path
        #expect(
            result.manifestWriteError?.hasPrefix("cannot write \(file): ") == true,
            "\(result.manifestWriteError ?? "nil")")
        let reserve = result.directory.appendingPathComponent(".manifest.reserve").path
        #expect(!(try await BlockingIO.runOnOwnThread { FileManager.default.fileExists(atPath: reserve) }))
    }

    @Test func aRunHoldsSpaceForItsFinalManifestOnlyWhileItRuns() async throws {
        let test = try await TestRun()
        let reserved = Mutex<Int?>(nil)
        let result = try await test.run([
            StageSpec(SourceStage(batches: 1, rowsPerBatch: 10)),
            StageSpec(
                InspectingStage { directory in
                    let path = directory.appendingPathComponent(".manifest.reserve").path
                    let size = try? await BlockingIO.runOnOwnThread {
                        try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
                    }
                    reserved.withLock { $0 = size }
                }, input: "source"),
        ])
        #expect(result.manifest.status == .succeeded)
        #expect(result.manifestWriteError == nil)
        #expect((reserved.withLock { $0 } ?? 0) >= 64 << 10)
        #expect(
            try await BlockingIO.runOnOwnThread {
                try FileManager.default.contentsOfDirectory(atPath: result.directory.path)
            }
            .filter { $0.hasPrefix(".") }
                == [])
    }
}

/// Replaces the run's manifest.json with a non-empty directory, so no later manifest write
/// can succeed, then passes its input on.
struct ManifestBlockingStage: Stage {
    var name = "block"
    var kind: String { "test-block-manifest" }
    var parameters: Value { .object([:]) }

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        let manifest = context.runDirectory.appendingPathComponent(Manifest.fileName)
        try await BlockingIO.runOnOwnThread {
            try FileManager.default.removeItem(at: manifest)
            try FileManager.default.createDirectory(
                at: manifest.appendingPathComponent("blocker"), withIntermediateDirectories: true)
        }
        for try await batch in input! { try await output.send(batch) }
    }
}

/// Calls `inspect` with the run directory while it runs, then passes its input on.
struct InspectingStage: Stage {
    var name = "inspect"
    var kind: String { "test-inspect" }
    var parameters: Value { .object([:]) }
    var inspect: @Sendable (URL) async -> Void

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        await inspect(context.runDirectory)
        for try await batch in input! { try await output.send(batch) }
    }
}

/// Counts, at its first batch, whether `upstream` was still running (had no finished record).
struct UpstreamWatchingStage: Stage {
    var name = "watch"
    var kind: String { "test-watch" }
    var parameters: Value { .object([:]) }
    var upstream: String
    var upstreamRunningAtFirstBatch = Counter()

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        var first = true
        for try await batch in input! {
            if first, context.finishedStage(upstream) == nil { upstreamRunningAtFirstBatch.increment() }
            first = false
            try await output.send(batch)
        }
    }
}
