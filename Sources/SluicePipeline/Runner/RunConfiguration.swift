import Foundation
import Logging
import SluiceCore

/// Everything a ``Runner`` needs besides the stages: where runs go, what to record about the
/// plan, how to treat approval gates, whether this is a replay and how to report progress.
public struct RunConfiguration: Sendable {
    /// The directory that holds one subdirectory per run (created when missing).
    public var runsDirectory: URL
    public var toolVersion: String
    public var plan: Manifest.Plan
    /// The resolved plan for the manifest, already redacted by the caller.
    public var resolvedPlan: Value
    /// Its mappings' keys in the plan's order (``Manifest/resolvedPlanKeyOrder``).
    public var resolvedPlanKeyOrder: [String: [String]] = [:]
    /// The `--set K=V` arguments for the manifest, secrets already redacted by the caller.
    public var overrides: [String]
    /// Keys of overrides whose secret values `overrides` holds redacted (`secret_overrides`).
    public var secretOverrides: [String] = []
    /// What to do at a stage that requires approval.
    public var approval: Approval = .denied
    /// The run is a `--dry-run` (recorded as ``Manifest/dryRun``; its apply stages are built
    /// to roll back).
    public var dryRun = false
    /// Set to re-run part of an earlier run.
    public var replay: Replay? = nil
    /// Batches that may wait on an edge whose ``StageSpec/bufferSize`` is `nil`.
    public var defaultBufferSize: Int = 4
    /// The run's logger; the runner adds `run.id` (and `stage.name` for each stage).
    public var logger: Logger
    /// Progress on stderr; never stdout.
    public var progress: ProgressMode = .off
    /// Where progress is written: stderr (a test captures it).
    public var progressWrite: @Sendable (String) -> Void = ProgressReporter.standardError
    /// The command that continues a run stopped at an approval gate, given its run directory
    /// and the gated stage (e.g. "sluice replay runs/ID --from apply --yes"); recorded as
    /// `resume_command`. Also used, from the stage that failed, for a failure whose error is
    /// resumable when ``resumeCommand`` is `nil`.
    public var continueCommand: @Sendable (_ runDirectory: URL, _ stage: String) -> String
    /// The command that continues a run that failed with a resumable error, given its run
    /// directory (e.g. "sluice resume runs/ID"); recorded as `resume_command`.
    public var resumeCommand: (@Sendable (_ runDirectory: URL) -> String)?
    /// Called with the review of a stage at its approval gate, once it is recorded, before
    /// approval is asked (the CLI prints it where the prompt is).
    public var onReview: (@Sendable (_ stage: String, _ review: Manifest.Review) -> Void)?
    /// The wall clock for the manifest's dates and the run id (a fixed clock in tests).
    public var now: @Sendable () -> Date = { Date() }
    /// Writes the manifest's bytes atomically, blocking until they are on disk (the runner calls
    /// it on a ``BlockingIO`` thread); `nil` is the real thing. A test passes a slow one to
    /// stand for a disk whose `fsync` takes seconds.
    package var manifestFileWriter: (@Sendable (_ bytes: [UInt8], _ url: URL) throws -> Void)?

    public init(
        runsDirectory: URL, toolVersion: String, plan: Manifest.Plan, resolvedPlan: Value, overrides: [String],
        logger: Logger, continueCommand: @escaping @Sendable (_ runDirectory: URL, _ stage: String) -> String
    ) {
        self.runsDirectory = runsDirectory
        self.toolVersion = toolVersion
        self.plan = plan
        self.resolvedPlan = resolvedPlan
        self.overrides = overrides
        self.logger = logger
        self.continueCommand = continueCommand
    }
}

/// How the runner treats a stage that requires approval.
public enum Approval: Sendable {
    /// Run it (`--yes`).
    case granted
    /// Stop before it: the run ends `awaiting-approval` with a `resume_command`.
    case denied
    /// Ask (a terminal prompt); `false` stops as ``denied`` does.
    case ask(@Sendable (_ stage: String) async -> Bool)
}

/// How progress is shown, always on stderr.
public enum ProgressMode: Sendable {
    case off
    /// One line per stage, redrawn in place; `color` adds ANSI colours to the status.
    case terminal(color: Bool)
    /// A plain line with every stage's figures, printed every `every` (for logs and CI).
    case lines(every: Duration)
}
