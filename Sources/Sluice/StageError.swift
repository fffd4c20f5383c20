/// A stage failed for a reason of its own (not a database or HTTP error, which carry their own
/// context): the message names the stage and says what to change.
public struct StageError: Error, CustomStringConvertible, Sendable {
    /// The stage's name in the plan.
    public var stage: String
    public var message: String
    /// Whether the run may go on as it is later (`sluice resume`): what failed changed nothing
    /// and may pass then, such as a wait for a lock another session holds.
    public var resumable = false

    public init(stage: String, _ message: String) {
        self.stage = stage
        self.message = message
    }

    public var description: String { "stage '\(stage)': \(message)" }
}
