import Synchronization

/// Remembers which stage failed first in a run.
///
/// A stage that throws claims the latch before it finishes its output channels, so a stage
/// that then throws because of that failure (its input ended with an error, or it was
/// cancelled) finds the latch taken and ends `cancelled`, never as a second cause.
final class FailureLatch: Sendable {
    private let first = Mutex<String?>(nil)

    /// Claims the latch for `stage`: `true` when no stage failed before.
    func claim(_ stage: String) -> Bool {
        first.withLock { first in
            guard first == nil else { return false }
            first = stage
            return true
        }
    }

    /// The stage that failed first, if any.
    var stage: String? { first.withLock { $0 } }
}

/// What a consumer's input channel ends with when its producer did not finish normally:
/// the consumer must not take the end of its input for a complete one.
public struct UpstreamStageError: Error, CustomStringConvertible, Sendable {
    /// The producing stage.
    public var stage: String
    /// `failed` or `cancelled`.
    public var status: StageStatus

    public var description: String { "input stage '\(stage)' ended \(status.rawValue)" }
}
