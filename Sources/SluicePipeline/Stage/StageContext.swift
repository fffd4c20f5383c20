import Foundation
import Logging
import Synchronization

/// What a running stage can know about its run and tell the runner.
///
/// Safe to use from any task of the stage.
public final class StageContext: Sendable {
    public let stageName: String
    public let stageKind: String
    public let runID: String
    /// The run directory: where a stage puts files it produces unless the plan says otherwise.
    public let runDirectory: URL
    /// When the run started (for timestamped file names: the same value in every stage).
    public let runStartedAt: Date
    /// The run's logger with `stage.name` (and `run.id`) metadata.
    public let logger: Logger
    /// The stage's own counters, recorded in the manifest.
    public let counters: StageCounters
    /// Rows in/out/rejected so far.
    public let progress: StageProgress
    /// The review approved for this stage (``ReviewingStage``), its paths absolute: the stage
    /// does exactly what it shows. `nil` for a stage that was not reviewed.
    public let review: Manifest.Review?
    /// For a reviewing stage approved before the run reached it (`--yes`): it reviews while it
    /// runs, in its own transaction, and records the review here. `nil` otherwise.
    public let reviewWhileRunning: ReviewWhileRunning?

    /// How a stage approved up front records the review it makes as it runs.
    public struct ReviewWhileRunning: Sendable {
        private let finished: @Sendable () -> [Manifest.StageRecord]
        /// Records the review (paths absolute) in the manifest, as the gate would have.
        public let record: @Sendable (Manifest.Review) async -> Void

        /// - Parameter earlier: the records of the stages before it that have finished, when
        ///   asked (a stage streaming beside its upstream reviews once that upstream is done).
        public init(
            earlier: @escaping @Sendable () -> [Manifest.StageRecord],
            record: @escaping @Sendable (Manifest.Review) async -> Void
        ) {
            self.finished = earlier
            self.record = record
        }

        /// The records of the stages that ran before it, for context in the review.
        public var earlier: [Manifest.StageRecord] { finished() }
    }

    private let clock: @Sendable () -> Date
    private let collected = Mutex<(artifacts: [Artifact], notices: [String], inputs: [Artifact], spool: Artifact?)>(
        ([], [], [], nil))
    private let lookup: @Sendable (String) -> Manifest.StageRecord?
    /// What ``recordCommitted()`` does: set by the runner as the stage starts.
    private let committedHandler = Mutex<(@Sendable () async -> Void)?>(nil)
    /// ``continueNoSoonerThan(_:)``'s latest date.
    private let waitEnds = Mutex<Date?>(nil)

    /// A file a stage produced, before it is written to the manifest.
    struct Artifact: Sendable {
        var kind: String
        var url: URL
        var sha256: String
        var rows: Int
    }

    /// Makes a context; the runner makes one per stage, tests of a single stage make their own.
    /// - Parameters:
    ///   - finishedStage: the record of a stage that finished earlier in the run (or, in a
    ///     replay, in the original run), by name.
    ///   - now: the date provider (a fixed clock in tests).
    public init(
        stageName: String, stageKind: String, runID: String, runDirectory: URL, runStartedAt: Date,
        logger: Logger, hasInput: Bool = true, upstream: String? = nil,
        finishedStage: @escaping @Sendable (String) -> Manifest.StageRecord? = { _ in nil },
        now: @escaping @Sendable () -> Date = { Date() }, review: Manifest.Review? = nil,
        reviewWhileRunning: ReviewWhileRunning? = nil
    ) {
        self.review = review
        self.reviewWhileRunning = reviewWhileRunning
        self.stageName = stageName
        self.stageKind = stageKind
        self.runID = runID
        self.runDirectory = runDirectory
        self.runStartedAt = runStartedAt
        var logger = logger
        logger[metadataKey: "stage.name"] = "\(stageName)"
        logger[metadataKey: "run.id"] = "\(runID)"
        self.logger = logger
        self.counters = StageCounters()
        self.progress = StageProgress(name: stageName, kind: stageKind, hasInput: hasInput, upstream: upstream)
        self.lookup = finishedStage
        self.clock = now
    }

    /// The current date from the run's clock.
    public func now() -> Date { clock() }

    /// Counts `rows` rows as rejected (set aside as invalid, e.g. into a rejects file).
    public func reject(_ rows: Int = 1) {
        progress.addRowsRejected(rows)
    }

    /// Declares how many rows the stage will handle, so progress can show an ETA.
    public func expectTotal(rows: Int) {
        progress.setExpectedTotal(rows)
    }

    /// Records a file the stage produced (a CSV, a rejects file, an undo file) in the
    /// manifest, hashing it now. Call it after the file is complete.
    public func registerArtifact(at url: URL, kind: String, rows: Int) async throws {
        let (sha256, _) = try await PrivateFile.sha256(of: url)
        registerArtifact(at: url, kind: kind, sha256: sha256, rows: rows)
    }

    /// Records a file whose SHA-256 the stage computed itself (``PrivateFileWriter`` does).
    public func registerArtifact(at url: URL, kind: String, sha256: String, rows: Int) {
        collected.withLock { $0.artifacts.append(Artifact(kind: kind, url: url, sha256: sha256, rows: rows)) }
    }

    /// Records a file the stage read that is not a stage's spool (the CSV a `csv-input` source
    /// reads), in the manifest's `inputs`, with the SHA-256 of the bytes the stage actually read.
    public func registerInput(at url: URL, kind: String, sha256: String, rows: Int) {
        collected.withLock { $0.inputs.append(Artifact(kind: kind, url: url, sha256: sha256, rows: rows)) }
    }

    /// Records, as this stage's spool, an earlier run's spool holding the rows this stage would
    /// have sent (it sent none): its path (absolute), SHA-256 and rows. The runner links it into
    /// this run's directory in place of the empty spool (or, where it cannot, records the earlier
    /// path), so a stage that found its output already recorded (the CSV an earlier run read,
    /// unchanged) leaves a run that `sluice replay` can re-run from like any other. Ignored when
    /// the stage sent rows or failed.
    public func recordOutput(asSpoolAt url: URL, sha256: String, rows: Int) {
        collected.withLock {
            $0.spool = Artifact(kind: Manifest.Artifact.spoolKind, url: url, sha256: sha256, rows: rows)
        }
    }

    /// Adds a one-line notice to the run summary (the manifest's `notices`).
    public func notice(_ line: String) {
        collected.withLock { $0.notices.append("\(stageName): \(line)") }
    }

    /// Says that the stage stops while a server has asked it to wait until `date` (a fetch in a
    /// `Retry-After`): its record's `not_before`, which `sluice resume` waits for before asking
    /// anything. The latest date given wins.
    public func continueNoSoonerThan(_ date: Date) {
        waitEnds.withLock { $0 = max($0 ?? date, date) }
    }

    /// Says that what the stage did is final from here though it goes on (an apply's COMMIT,
    /// before its `ANALYZE`): the runner writes the stage's record to the manifest now, as it
    /// would at its end — its counters, the files registered so far, its spool (closed: the
    /// stage sends nothing after this) — with the time in `committed_at`, the stage still
    /// `running`. A run killed before the stage ends then says what it committed, and `sluice
    /// resume` goes on after it. Returns once that is on disk (or the write failed, which the
    /// runner reports as for any transition); does nothing for a stage run outside a runner.
    public func recordCommitted() async {
        guard let handler = committedHandler.withLock({ $0 }) else { return }
        await handler()
    }

    /// Makes ``recordCommitted()`` call `handler`.
    func whenCommitted(_ handler: @escaping @Sendable () async -> Void) {
        committedHandler.withLock { $0 = handler }
    }

    /// The manifest record of a stage that has finished (successfully or not) in this run, or
    /// that a replay skipped (then from the original run); `nil` otherwise.
    ///
    /// For instance, verify reads `finishedStage("apply")?.counters["changed"]`.
    public func finishedStage(_ name: String) -> Manifest.StageRecord? {
        lookup(name)
    }

    var artifacts: [Artifact] { collected.withLock { $0.artifacts } }
    var notices: [String] { collected.withLock { $0.notices } }
    var inputs: [Artifact] { collected.withLock { $0.inputs } }
    var recordedSpool: Artifact? { collected.withLock { $0.spool } }
    var notBefore: Date? { waitEnds.withLock { $0 } }
}
