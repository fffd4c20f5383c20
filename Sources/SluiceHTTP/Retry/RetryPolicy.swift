/// How many times to try again after a transient failure, and how long to wait before each
/// try: exponential backoff with full jitter (a uniform draw between zero and the ceiling),
/// so that many clients failing together do not come back together.
struct RetryPolicy: Sendable, Equatable {
    /// Attempts after the first.
    var retries: Int
    var base: Duration
    var cap: Duration

    /// Whether another attempt is allowed after `attempts` have been made.
    func allowsRetry(afterAttempts attempts: Int) -> Bool {
        attempts <= retries
    }

    /// `min(cap, base * 2^(retry - 1))` for the 1-based `retry`.
    func ceiling(forRetry retry: Int) -> Duration {
        let doubled = base.seconds * pow2(max(0, retry - 1))
        return doubled >= cap.seconds ? cap : .seconds(doubled)
    }

    /// The wait before the 1-based `retry`: a uniform draw in `0...ceiling(forRetry:)`.
    func backoff(forRetry retry: Int, using random: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(forRetry: retry).seconds
        guard ceiling > 0 else { return .zero }
        return .seconds(Double.random(in: 0...ceiling, using: &random))
    }

    private func pow2(_ exponent: Int) -> Double {
        // Beyond 2^62 every ceiling is the cap anyway.
        Double(sign: .plus, exponent: min(exponent, 62), significand: 1)
    }
}
