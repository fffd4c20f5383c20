import Foundation
import SluiceCore

/// A stage that can say what it would change before it changes anything: the runner asks it
/// for a review at its approval gate, records the review in the manifest (pinned by its
/// SHA-256), and hands it to the stage when it runs (``StageContext/review``), which then does
/// exactly what was reviewed. When approval is given before the run reaches the gate (`--yes`),
/// the runner asks for no review first: the stage reviews while it runs, in the same
/// transaction as its change, and records that review through
/// ``StageContext/reviewWhileRunning``.
///
/// The runner knows nothing of what a review holds: the stage writes its files, and gives a
/// summary as JSON (for the manifest) and as text (for people).
public protocol ReviewingStage: Stage {
    /// Reads what ``Stage/run(_:input:output:)`` would change, changing nothing, and writes the
    /// review's files in the run directory.
    /// - Parameters:
    ///   - input: the input the stage will get when it runs.
    ///   - earlier: the records of the stages that ran before it (their counters and rejects
    ///     files, for context in the review).
    /// - Returns: the review, with absolute paths; the runner records them relative to the run.
    func review(
        _ context: StageContext, input: StageInput, earlier: [Manifest.StageRecord]
    ) async throws
        -> Manifest.Review

    /// The part of resolved `parameters` (this stage's, or as a run recorded them) that decides
    /// what a review shows: a replay whose stage differs there from the reviewed one is
    /// reviewed anew instead of held to that review. Parameters that only say how to go about
    /// it (a dry run, what to do with drift) are left out.
    func reviewedParameters(_ parameters: Value) -> Value
}

extension ReviewingStage {
    public func reviewedParameters(_ parameters: Value) -> Value { parameters }
}

/// A stage that can check, before the run starts, what it needs long after (an apply: its
/// table and columns). A run that would fail there fails first, before the stages ahead of it
/// spend an hour of an API's quota.
public protocol PreflightingStage: Stage {
    /// Checks, changing nothing; throws what the stage would fail with.
    func preflight(_ context: StageContext) async throws
    /// Checked before the run starts even in the run's first segment, where it starts with the
    /// others: what it would find only after the stages ahead of it changed something (a
    /// verify's SQL, read after the apply committed) must be found before they run. `false`
    /// (the default): such a stage finds out as it starts.
    var preflightsInFirstSegment: Bool { get }
}

extension PreflightingStage {
    public var preflightsInFirstSegment: Bool { false }
}
