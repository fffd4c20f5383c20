import Foundation
import Synchronization
import Testing

@testable import SluicePipeline

/// Progress text from fixed figures, and the reporter's output captured instead of stderr.
@Suite struct ProgressTests {
    typealias Figures = ProgressFormat.Figures

    @Test func aRunningStageWithATotalShowsRateAndETA() {
        let figures = Figures(
            name: "fetch", status: .running, rowsDone: 1000, expectedTotal: 3000, elapsed: .seconds(10))
        #expect(ProgressFormat.rate(figures) == 100)
        #expect(ProgressFormat.eta(figures) == 20)
        let line = ProgressFormat.terminalLine(figures, width: 8, color: false)
        #expect(line == "fetch     running            1000/3000 rows (33%)  100/s  ETA 20s")
    }

    @Test func colourIsOnlyAddedWhenAsked() {
        let figures = Figures(name: "apply", status: .failed, rowsDone: 0, expectedTotal: nil, elapsed: nil)
        #expect(!ProgressFormat.terminalLine(figures, width: 5, color: false).contains("\u{1B}"))
        #expect(ProgressFormat.terminalLine(figures, width: 5, color: true).contains("\u{1B}[31m"))
    }

    @Test(arguments: [(7, "7s"), (65, "1:05"), (3723, "1:02:03")])
    func durationsReadLikeAClock(seconds: Int, text: String) {
        #expect(ProgressFormat.clock(seconds) == text)
    }

    @Test func aPlainLineListsEveryStage() {
        let line = ProgressFormat.plainLine([
            Figures(name: "query", status: .succeeded, rowsDone: 3159, expectedTotal: nil, elapsed: .seconds(1)),
            Figures(name: "fetch", status: .running, rowsDone: 50, expectedTotal: 100, elapsed: .seconds(10)),
        ])
        #expect(line == "progress: query succeeded 3159 rows; fetch running 50/100 rows (50%) 5.0/s ETA 10s")
    }

    /// A running stage in a wait says why and how long it still lasts; one that ended does not.
    @Test func aWaitingStageSaysWhyAndForHowLong() {
        var figures = Figures(name: "fetch", status: .running, rowsDone: 1200, expectedTotal: 3159, elapsed: nil)
        figures.waiting = StageProgress.Wait(
            reason: "rate limited (HTTP 429), Retry-After", left: .milliseconds(17_200))
        #expect(
            ProgressFormat.plainLine([figures])
                == "progress: fetch running 1200/3159 rows (37%) (waiting 18s: rate limited (HTTP 429), Retry-After)")
        #expect(
            ProgressFormat.terminalLine(figures, width: 5, color: false).hasSuffix(
                "  waiting 18s: rate limited (HTTP 429), Retry-After"))
        figures.status = .failed
        #expect(!ProgressFormat.plainLine([figures]).contains("waiting"))

        let stage = StageProgress(name: "fetch", kind: "fetch", hasInput: true)
        stage.setStatus(.running)
        let now = ContinuousClock.now
        stage.setWaiting("retry 1 after HTTP 502", until: now + .seconds(2))
        #expect(ProgressFormat.figures(of: stage, now: now).waiting?.reason == "retry 1 after HTTP 502")
        #expect(ProgressFormat.figures(of: stage, now: now + .seconds(3)).waiting == nil)
    }

    /// A running stage that asked its upstream for rows and has had nothing yet says it waits
    /// for it, until the first batch (or the end of its input) arrives; one that has not asked
    /// yet is busy with something else; a stage's own wait says more, and wins.
    @Test func aStageWaitingForItsUpstreamSaysSo() {
        let verify = StageProgress(name: "verify", kind: "verify", hasInput: true, upstream: "apply")
        verify.setStatus(.running)
        let now = ContinuousClock.now
        #expect(ProgressFormat.figures(of: verify, now: now).waiting == nil, "it has not asked yet")
        verify.inputAsked()
        let figures = ProgressFormat.figures(of: verify, now: now)
        #expect(ProgressFormat.terminalLine(figures, width: 6, color: false).hasSuffix("  waiting: for apply"))
        #expect(ProgressFormat.plainLine([figures]) == "progress: verify running 0 rows (waiting: for apply)")
        verify.setWaiting("for a lock on tracks")
        #expect(ProgressFormat.figures(of: verify, now: now).waiting?.reason == "for a lock on tracks")
        verify.setWaiting(nil)
        verify.inputArrived()
        #expect(ProgressFormat.figures(of: verify, now: now).waiting == nil)

        let source = StageProgress(name: "query", kind: "query", hasInput: false)
        source.setStatus(.running)
        #expect(ProgressFormat.figures(of: source, now: now).waiting == nil)
    }

    @Test func offMeansNoReporter() {
        let stage = StageProgress(name: "a", kind: "k", hasInput: false)
        #expect(ProgressReporter(stages: [stage], mode: .off) == nil)
    }

    @Test func theLinesReporterWritesAFinalLineWhenCancelled() async {
        let stage = StageProgress(name: "a", kind: "k", hasInput: false)
        stage.setStatus(.running)
        stage.addRowsOut(42)
        let written = Mutex<[String]>([])
        let reporter = ProgressReporter(stages: [stage], mode: .lines(every: .seconds(3600))) { text in
            written.withLock { $0.append(text) }
        }!
        let task = Task { await reporter.run() }
        task.cancel()
        await task.value
        let lines = written.withLock { $0 }
        #expect(lines.last?.hasPrefix("progress: a running 42 rows") == true)
        #expect(lines.last?.hasSuffix("\n") == true)
    }

    /// One stage failing cancels the others; the last line waits for them to end, so it shows
    /// how each ended, not "running" for a stage still winding down.
    @Test func theLastLineAfterAFailureShowsHowEveryStageEnded() async throws {
        let run = try await TestRun()
        var configuration = run.configuration()
        let written = Mutex<[String]>([])
        configuration.progress = .lines(every: .seconds(3600))
        configuration.progressWrite = { text in written.withLock { $0.append(text) } }
        let stages = [
            StageSpec(SourceStage(batches: 1, rowsPerBatch: 10)),
            StageSpec(FailingStage(after: 0), input: "source"),
            StageSpec(SlowToEndStage(), input: "fail"),
        ]
        let result = try await Runner(stages: stages, configuration: configuration).run()
        #expect(result.manifest.stage("slow")?.status == .cancelled)
        let last = try #require(written.withLock { $0.last })
        #expect(last.contains("fail failed") && last.contains("slow cancelled"), "\(last)")
        #expect(!last.contains("running"), "\(last)")
    }

    @Test func theTerminalReporterRedrawsInPlace() async {
        let stages = [
            StageProgress(name: "a", kind: "k", hasInput: false), StageProgress(name: "b", kind: "k", hasInput: true),
        ]
        let written = Mutex<[String]>([])
        let reporter = ProgressReporter(stages: stages, mode: .terminal(color: false)) { text in
            written.withLock { $0.append(text) }
        }!
        let task = Task { await reporter.run() }
        task.cancel()
        await task.value
        let frames = written.withLock { $0 }
        #expect(frames.count >= 1)
        #expect(frames.last?.components(separatedBy: "\n").count == 3)  // two lines and the end
        if frames.count >= 2 { #expect(frames.last?.hasPrefix("\u{1B}[2A") == true) }
    }
}
