/// Hands out turns to start a request to one host, shared by every concurrent caller:
/// ``PacerStateMachine`` decides, this actor sleeps on the injected clock.
actor Pacer<C: Clock<Duration>> {
    private var machine: PacerStateMachine<C.Instant>
    private let clock: C
    /// A host-wide wait longer than this throws instead of sleeping.
    private let maxBlockedWait: Duration
    /// Who asked for the block that ends last: the status and the header, for the error that stops on it.
    private var blockedBy: (status: Int?, header: String) = (429, "Retry-After")

    init(rules: PacingRules, clock: C, maxBlockedWait: Duration) {
        self.machine = PacerStateMachine(rules: rules)
        self.clock = clock
        self.maxBlockedWait = maxBlockedWait
    }

    /// Returns when the caller may start a request (its start is then counted).
    /// - Returns: how long the caller waited for its turn under `delay` or `rate`; time spent in
    ///   a host-wide block (a `Retry-After`) is not in it: the fetcher counts that wait itself.
    /// - Throws: `CancellationError`, or ``FetchError`` `.retryAfterTooLong` when the host
    ///   has asked for a wait longer than `maxBlockedWait`.
    func waitForTurn() async throws -> Duration {
        var paced = Duration.zero
        while true {
            try Task.checkCancellation()
            let now = clock.now
            switch machine.requestStart(at: now) {
            case .start:
                return paced
            case .wait(let until, let blocked):
                let wait = now.duration(to: until)
                if blocked && wait > maxBlockedWait {
                    throw FetchError.retryAfterTooLong(
                        wait, limit: maxBlockedWait, status: blockedBy.status, header: blockedBy.header)
                }
                try await clock.sleep(until: until, tolerance: nil)
                if !blocked { paced += now.duration(to: clock.now) }
            }
        }
    }

    /// Sends nothing to the host for `duration` from now (a `Retry-After`, or the reset of a spent
    /// rate limit: `header` says which, in answer to `status`).
    /// - Returns: how much later than before the host's block now ends (from now, when it was not blocked).
    @discardableResult
    func block(for duration: Duration, status: Int? = 429, header: String = "Retry-After") -> Duration {
        let now = clock.now
        let until = now.advanced(by: duration)
        let extended = max(now, machine.blockedUntil ?? now).duration(to: until)
        if extended > .zero { blockedBy = (status, header) }
        machine.block(until: until)
        return max(.zero, extended)
    }
}

extension FetchError {
    /// `limit`: the `max_retry_after` the wait was compared with, said so that one knows what
    /// to raise it to (or that a resume after the wait is the way on). `asker`: who answered
    /// `status` with the `Retry-After` (or the other `header` that asked for the wait), the API
    /// or its token endpoint (`url`).
    static func retryAfterTooLong(
        _ wait: Duration, limit: Duration, url: String? = nil, status: Int? = 429, asker: String = "the API",
        header: String = "Retry-After"
    ) -> FetchError {
        let seconds = Int(wait.seconds.rounded(.up))
        let most = limit.seconds
        let shown = most == most.rounded() ? "\(Int(most)) s" : "\(most) s"
        return FetchError(
            .retryAfterTooLong(seconds: seconds),
            "\(asker) asked to wait \(seconds) s before the next request (\(header)), longer than max_retry_after "
                + "(\(shown)); stopped instead of sleeping, and sent nothing meanwhile",
            url: url, status: status)
    }
}
