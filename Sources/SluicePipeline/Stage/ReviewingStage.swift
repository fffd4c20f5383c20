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
}
