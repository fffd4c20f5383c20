/// A stage failed for a reason of its own (not a database or HTTP error, which carry their own
/// context): the message names the stage and says what to change.
public struct StageError: Error, CustomStringConvertible, Sendable {
    /// The stage's name in the plan.
    public var stage: String
    public var message: String

    public init(stage: String, _ message: String) {
        self.stage = stage
        self.message = message
    }

    public var description: String { "stage '\(stage)': \(message)" }
}
