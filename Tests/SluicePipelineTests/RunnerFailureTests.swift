import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// Runs that do not succeed: a stage failing, the run interrupted, and the backpressure that
/// keeps a producer close to a blocked consumer.
@Suite struct RunnerFailureTests {
    /// A runs directory that cannot be made says why, in the system's words, at the part of
    /// the path that stops it; a path whose directories are missing is made.
    @Test func aRunsDirectoryThatCannotBeMadeSaysWhy() async throws {
        let test = try await TestRun()
        let file = test.root.appendingPathComponent("plan.yaml")
        try await BlockingIO.runOnOwnThread { try Data("x".utf8).write(to: file) }
        let under = file.appendingPathComponent("runs")
        let error = await #expect(throws: RunnerError.self) {
            try await BlockingIO.runOnOwnThread { try RunDirectory.create(in: under, at: Date()) }
        }
        #expect(
            "\(error.map { "\($0)" } ?? "")"
                == "cannot create the runs directory \(under.path): cannot create directory \(file.path): Not a directory"
        )
        let deep = test.root.appendingPathComponent("a/b/runs")
        let made = try await BlockingIO.runOnOwnThread { try RunDirectory.create(in: deep, at: Date()) }
        #expect(made.url.deletingLastPathComponent().path == deep.path)
        // Made now (the run says so: a mistyped --runs-dir splits the history), then there.
        #expect(made.createdRuns)
        #expect(
            try await BlockingIO.runOnOwnThread { try RunDirectory.create(in: deep, at: Date()) }.createdRuns == false)
    }

    @Test func aProducerStaysWithinItsBufferOfABlockedConsumer() async throws {
        let test = try await TestRun()
        let capacity = 2
        let source = SourceStage(batches: 40, rowsPerBatch: 10)
        let gate = Gate()
        let sink = SinkStage(gate: gate)
        let run = Task {
            try await test.run([
                StageSpec(source), StageSpec(sink, input: "source", bufferSize: capacity),
            ])
        }
        // The sink holds batch 1 at the gate; batches 2...capacity+1 fill the buffer; the send
        // of batch capacity+2 is the one that must suspend.
        await sink.received.reach(1)
        await source.attempts.reach(capacity + 2)
        // Lead = sends started - batches taken: a bounded channel keeps it at capacity+1.
        #expect(source.attempts.value - sink.received.value == capacity + 1)
        gate.open()
        let result = try await run.value
        #expect(result.manifest.status == .succeeded)
        #expect(sink.rows.all.count == 400)
    }

    @Test func everySendStaysWithinTheBufferWhileRowsFlow() async throws {
        let test = try await TestRun()
        let source = SourceStage(batches: 200, rowsPerBatch: 5)
        let sink = LeadCheckingSink(source: source, bound: 3 + 1)
        let result = try await test.run([StageSpec(source), StageSpec(sink, input: "source", bufferSize: 3)])
        #expect(result.manifest.status == .succeeded)
        // The lead is taken after each receive: at most the buffer plus the send in flight.
        #expect(sink.maxLead.value <= 4)
        #expect(sink.maxLead.value >= 1)
    }

    @Test func aFailingStageCancelsEveryOtherStage() async throws {
        let test = try await TestRun()
        let result = try await test.run([
            StageSpec(SourceStage(batches: nil, rowsPerBatch: 10)),  // infinite
            StageSpec(MapStage(), input: "source"),
            StageSpec(FailingStage(after: 3), input: "map"),
            StageSpec(SinkStage(), input: "fail"),
        ])
        let manifest = result.manifest
        #expect(manifest.status == .failed)
        #expect(manifest.error == Manifest.ErrorRecord(message: "boom", stage: "fail", detail: "TestFailure(boom)"))
        #expect(manifest.stage("fail")?.status == .failed)
        #expect(manifest.stage("fail")?.error?.message == "boom")
        for name in ["source", "map", "sink"] {
            #expect(manifest.stage(name)?.status == .cancelled, "\(name)")
            #expect(manifest.stage(name)?.error == nil, "\(name)")
        }
        #expect(manifest.resumeCommand == nil)
        // The sink may be cancelled before it drains what "fail" passed on, never after more.
        #expect((manifest.stage("sink")?.rowsIn ?? 0) <= 30)
        #expect(try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) } == manifest)
    }

    @Test func aResumableFailureRecordsHowToContinue() async throws {
        let test = try await TestRun()
        let result = try await test.run([
            StageSpec(SourceStage(batches: 5, rowsPerBatch: 10)),
            StageSpec(FailingStage(after: 2, error: RateLimited()), input: "source"),
        ])
        let manifest = result.manifest
        #expect(manifest.status == .failed)
        #expect(manifest.error?.resumable == true)
        #expect(manifest.error?.stage == "fail")
        #expect(manifest.resumeCommand == "continue \(result.directory.path) fail")
    }

    @Test func aResumableFailureRecordsTheResumeCommandWhenThereIsOne() async throws {
        let test = try await TestRun()
        var configuration = test.configuration()
        configuration.resumeCommand = { directory in "resume \(directory.path)" }
        let result = try await Runner(
            stages: [
                StageSpec(SourceStage(batches: 5, rowsPerBatch: 10)),
                StageSpec(FailingStage(after: 2, error: RateLimited()), input: "source"),
            ], configuration: configuration
        ).run()
        #expect(result.manifest.error?.resumable == true)
        #expect(result.manifest.resumeCommand == "resume \(result.directory.path)")
    }

    /// After a stage that needed approval (an apply) has done its work, a resumable failure later
    /// (verify, its database gone) is continued from the failing stage: resuming the whole run
    /// would run the approved stage again.
    @Test func aResumableFailureAfterAnApprovedStageContinuesFromTheFailingStage() async throws {
        let test = try await TestRun()
        var configuration = test.configuration(approval: .granted)
        configuration.resumeCommand = { directory in "resume \(directory.path)" }
        let result = try await Runner(
            stages: [
                StageSpec(SourceStage(batches: 2, rowsPerBatch: 10)),
                StageSpec(SinkStage(), input: "source", requiresApproval: true),
                // Fails once its input has ended, as verify starts once apply is done.
                StageSpec(FailingStage(after: 100, error: RateLimited()), input: "sink"),
            ], configuration: configuration
        ).run()
        #expect(result.manifest.stage("sink")?.status == .succeeded)
        #expect(result.manifest.error?.resumable == true)
        #expect(result.manifest.resumeCommand == configuration.continueCommand(result.directory, "fail"))
    }

    @Test func cancellingTheRunInterruptsItAndStillWritesTheManifest() async throws {
        let test = try await TestRun()
        let gate = Gate()  // never opened
        let sink = SinkStage(gate: gate)
        let run = Task { try await test.run(chain(batches: nil, rowsPerBatch: 10, sink: sink)) }
        await sink.received.reach(1)
        run.cancel()
        let result = try await run.value
        let manifest = result.manifest
        #expect(manifest.status == .interrupted)
        #expect(manifest.error == nil)
        #expect(manifest.finishedAt != nil)
        #expect(manifest.stages.allSatisfy { $0.status == .cancelled })
        #expect(manifest.stage("sink")?.rowsIn == 10)
        // Each stage records what it wrote before it stopped.
        #expect(manifest.stage("source")?.spool != nil)
        #expect(try await BlockingIO.runOnOwnThread { try Manifest.load(from: result.directory) } == manifest)
    }

    /// A stage that finishes its work although the run was cancelled while it did (an apply whose
    /// COMMIT went through as Ctrl-C came): recorded as it returned when what it did is final
    /// once it returns (``FinalOnReturnStage``), as cancelled otherwise; the run is interrupted.
    @Test(arguments: [true, false]) func aStageThatFinishesAfterTheCancelIsRecordedAsItEnded(final: Bool) async throws {
        let test = try await TestRun()
        let started = Counter()
        let stage: any Stage =
            final ? FinishingStage(started: started) as any Stage : UnmarkedFinishingStage(started: started)
        let run = Task {
            try await test.run([
                StageSpec(SourceStage(batches: 1)), StageSpec(stage, input: "source"),
                // As verify after apply: it reads the end of the finished stage's output.
                StageSpec(SinkStage(name: "after"), input: "finish"),
            ])
        }
        await started.reach(1)
        run.cancel()
        let manifest = try await run.value.manifest
        #expect(manifest.status == .interrupted)
        #expect(manifest.stage("finish")?.status == (final ? .succeeded : .cancelled))
        #expect(manifest.stage("after")?.status == .cancelled)
    }

    @Test func aRunCancelledBeforeItStartsEndsInterrupted() async throws {
        let test = try await TestRun()
        let run = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await test.run(chain(batches: 3))
        }
        let result = try await run.value
        #expect(result.manifest.status == .interrupted)
        #expect(result.manifest.stages.allSatisfy { $0.status == .pending })
    }
}

/// A sink that, after each batch it takes, checks how far ahead its source is.
struct LeadCheckingSink: Stage {
    var name = "sink"
    var kind: String { "test-lead-sink" }
    var parameters: Value { .null }
    let source: SourceStage
    let bound: Int
    let maxLead = Counter()

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        var taken = 0
        for try await batch in input! {
            taken += 1
            let lead = source.attempts.value - taken
            if lead > maxLead.value { maxLead.increment(by: lead - maxLead.value) }
            try await output.send(batch)
        }
    }
}

/// Reads its input, then waits for the run to be cancelled and returns normally, as an apply
/// whose COMMIT completes while Ctrl-C comes.
private struct UnmarkedFinishingStage: Stage {
    var name = "finish"
    var kind: String { "test-finish" }
    var parameters: Value { .object([:]) }
    var started: Counter

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        for try await _ in input! {}
        started.increment()
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
    }
}

/// ``UnmarkedFinishingStage``, final once it returns.
private struct FinishingStage: FinalOnReturnStage {
    var name = "finish"
    var kind: String { "test-finish" }
    var parameters: Value { .object([:]) }
    var started: Counter

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        try await UnmarkedFinishingStage(started: started).run(context, input: input, output: output)
    }
}
