import SluiceHTTP
import SluicePipeline

/// A fetch that stopped on a long `Retry-After` or an exhausted retry budget ends the run as
/// resumable, so the summary and manifest say "run it again later" rather than "fix something".
extension FetchError: ResumableError {}
