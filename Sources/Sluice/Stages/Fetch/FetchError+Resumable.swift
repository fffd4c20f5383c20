import SluiceHTTP
import SluicePipeline

/// A fetch that stopped on a long `Retry-After` or an exhausted retry budget ends the run as
/// resumable, so the summary and manifest say "run it again later" rather than "fix something".
extension FetchError: ResumableError {
    /// A `Retry-After` over the cap: the API's own wait.
    public var resumableAfter: Duration? {
        if case .retryAfterTooLong(let seconds) = kind { .seconds(seconds) } else { nil }
    }
}
