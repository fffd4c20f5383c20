import SluiceCore

/// One step of a pipeline: reads batches from its input (unless it is a source) and sends
/// batches to its output.
///
/// The runner calls ``run(_:input:output:)`` once, in its own child task. Returning means the
/// stage is done: the runner then closes its output (so its consumers see the end) and
/// counts rows in and out itself. Throwing fails the run and cancels every other stage, so
/// a stage should let `CancellationError` through and check `Task.isCancelled` in long
/// loops that do not suspend.
public protocol Stage: Sendable {
    /// Unique within the pipeline; names the spool and the manifest entry.
    var name: String { get }
    /// What the stage does (`query`, `fetch`, ...), for the manifest and progress.
    var kind: String { get }
    /// Resolved parameters for the manifest, already redacted (no secrets), as JSON.
    var parameters: Value { get }

    /// Runs the stage to completion.
    /// - Parameters:
    ///   - context: logger, run identity, counters, artifacts and notices.
    ///   - input: the upstream batches, or `nil` for a source stage. Iterate it once.
    ///   - output: where results go; ``StageOutput/send(_:)`` suspends while downstream is full.
    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws
}

/// A stage that returns only once what it did is final (an apply: its transaction committed, or
/// was never to commit), even when the run was cancelled meanwhile: Ctrl-C during the apply's
/// post-commit `ANALYZE`, or while its COMMIT waited for a synchronous standby, came too late to
/// undo it. The runner records such a stage as it returned (succeeded, its undo file kept),
/// not as cancelled; any other stage returning after a cancellation may have seen only part of
/// its input, and is recorded cancelled.
public protocol FinalOnReturnStage: Stage {}

/// A stage's place in a pipeline: the stage, the stage it reads from and how it is run.
public struct StageSpec: Sendable {
    public var stage: any Stage
    /// The name of the stage whose output this one reads; `nil` for a source. It must come
    /// earlier in the list. Several stages may read the same output (fan-out).
    public var input: String?
    /// When set, the stage starts only after approval, once everything before it has finished;
    /// it then reads its input from the upstream spool rather than a channel.
    public var requiresApproval: Bool
    /// Batches that may wait on the edge into this stage; the runner's default when `nil`.
    public var bufferSize: Int?
    /// For a stage that ``requiresApproval``: when the approval is given before the run starts
    /// (``Approval/granted``, not a replay), run beside the stage it reads, from its channel,
    /// instead of after it from its spool. For an input that is quick to produce and checked
    /// as it streams (a local file): the stage's work starts while it is read, and a problem
    /// found later in it fails the stage before it changes anything.
    public var streamsWhenApproved = false

    public init(_ stage: any Stage, input: String? = nil, requiresApproval: Bool = false, bufferSize: Int? = nil) {
        self.stage = stage
        self.input = input
        self.requiresApproval = requiresApproval
        self.bufferSize = bufferSize
    }

    public var name: String { stage.name }
}
