/// A run that could not start: nothing ran, and no run that looks successful was recorded.
///
/// Failures of stages are not thrown: they end up in the returned manifest.
public struct RunnerError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the stage, file or directory concerned.
    public var message: String
    /// The stage concerned, when there is one.
    public var stage: String?

    public init(_ message: String, stage: String? = nil) {
        self.message = message
        self.stage = stage
    }

    public var description: String {
        if let stage { return "stage '\(stage)': \(message)" }
        return message
    }
}

/// An error that may say the run can be continued where it stopped (for instance a fetch
/// that ran into a long rate limit): the manifest then records `resumable: true` and a
/// `resume_command` for the failing stage.
public protocol ResumableError: Error {
    var isResumable: Bool { get }
    /// How long to wait before continuing is worth it (an API's `Retry-After`); `nil`: at once.
    var resumableAfter: Duration? { get }
}

extension ResumableError {
    public var resumableAfter: Duration? { nil }
}
