import Logging
import SluiceCore

extension HTTPFetcher {
    /// What a request finally came to, once retries, waits and token refreshes are done.
    enum Answer: Sendable {
        case ok(Value)
        case badRequest(String)
        case forbidden(String)
        case notFound(String)
    }

    /// Which counter a request adds to besides `requests`.
    enum Purpose: Sendable {
        case batch, narrowing, fallback
    }

    /// Why the previous attempt did not succeed.
    struct Problem: CustomStringConvertible {
        var description: String
        var status: Int?
        /// The host asked for a wait (already set in the pacer), so no backoff of our own.
        var rateLimited = false
    }

    /// Sends one GET until it gets an answer worth returning.
    ///
    /// - Parameter accept: checks a 2xx body; a non-`nil` reason makes the attempt a transient failure.
    /// - Throws: ``FetchError`` (401 after a fresh token, a too-long `Retry-After`, statuses
    ///   that retrying cannot change, exhausted retries) or `CancellationError`.
    func perform(url: String, purpose: Purpose, accept: @Sendable (Value) -> String?) async throws -> Answer {
        var attempts = 0
        var replayedAfter401 = false
        while true {
            attempts += 1
            let problem: Problem
            do {
                let token = try await tokens?.token()
                tally.pacedSeconds += try await pacer.waitForTurn().seconds
                count(purpose)
                let (status, bytes, outcome) = try await Self.exchange(
                    url: url, token: token, exchange: exchange, timeout: configuration.timeout, logger: logger)
                tally.bytes += bytes
                switch outcome {
                case .success(let json):
                    guard let reason = accept(json) else { return .ok(json) }
                    problem = Problem(description: "HTTP \(status) but \(reason)", status: status)
                case .badRequest(let message): return .badRequest(message)
                case .forbidden(let message): return .forbidden(message)
                case .notFound(let message): return .notFound(message)
                case .unauthorized(let message):
                    guard let tokens, let token, !replayedAfter401 else {
                        throw FetchError(
                            .authFailed, "the API refused a freshly issued access token (401: \(message))", url: url,
                            status: 401)
                    }
                    // An expired or revoked token: one new token and one more try, not counted as a retry.
                    replayedAfter401 = true
                    attempts -= 1
                    await tokens.invalidate(token)
                    continue
                case .rateLimited(let retryAfter):
                    problem = try await rateLimited(retryAfter: retryAfter, url: url)
                case .transient(let reason):
                    problem = Problem(description: reason, status: status)
                case .final(let status, let message):
                    throw FetchError(
                        .unexpectedStatus(status), "the API answered HTTP \(status) (\(message)); not retried",
                        url: url, status: status)
                }
            } catch let failure as HTTPExchange.Failure {
                if case .untrustedServer(let cause) = failure {
                    logger.error(
                        "TLS certificate verification failed; not retried",
                        metadata: ["http.url": "\(URLRedaction.describe(url))"])
                    throw FetchError(.untrustedServer, cause + "; not retried", url: url)
                }
                if case .timeout = failure { tally.timeouts += 1 }
                problem = Problem(description: failure.description)
            } catch let failure as TokenProvider<AnyDurationClock>.TransientFailure {
                problem = Problem(description: failure.description, status: failure.status)
            }
            try await prepareRetry(after: problem, attempts: attempts, url: url)
        }
    }

    private func count(_ purpose: Purpose) {
        tally.requests += 1
        switch purpose {
        case .batch: break
        case .narrowing: tally.narrowedRequests += 1
        case .fallback: tally.fallbackRequests += 1
        }
    }

    /// A 429: block the whole host for `Retry-After` (stopping if that is too long), or back off without one.
    private func rateLimited(retryAfter: Duration?, url: String) async throws -> Problem {
        tally.rateLimited += 1
        guard let retryAfter else {
            return Problem(description: "HTTP 429 without Retry-After", status: 429)
        }
        // Block even when stopping, so that concurrent callers send nothing during the wait either.
        await pacer.block(for: retryAfter)
        guard retryAfter <= configuration.maxRetryAfter else {
            logger.error(
                "Rate limited with a Retry-After over max_retry_after; stopping",
                metadata: ["http.retry_after": "\(retryAfter.seconds)", "http.url": "\(URLRedaction.describe(url))"])
            throw FetchError.retryAfterTooLong(retryAfter, url: url)
        }
        tally.waits += 1
        tally.waitSeconds += retryAfter.seconds
        logger.notice(
            "Rate limited (429); sending nothing to the host until Retry-After has passed",
            metadata: ["http.retry_after": "\(retryAfter.seconds)"])
        return Problem(
            description: "HTTP 429 (waited Retry-After \(retryAfter.seconds) s)", status: 429, rateLimited: true)
    }

    /// Throws when the budget is spent; otherwise counts the retry and sleeps the backoff.
    private func prepareRetry(after problem: Problem, attempts: Int, url: String) async throws {
        guard retryPolicy.allowsRetry(afterAttempts: attempts) else {
            logger.error(
                "Giving up on a request",
                metadata: ["http.url": "\(URLRedaction.describe(url))", "fetch.attempts": "\(attempts)"])
            throw FetchError(
                .exhausted(attempts: attempts), "gave up after \(attempts) attempts; the last one: \(problem)",
                url: url,
                status: problem.status)
        }
        tally.retries += 1
        guard !problem.rateLimited else { return }
        let wait = retryPolicy.backoff(forRetry: attempts, using: &random)
        tally.waits += 1
        tally.waitSeconds += wait.seconds
        logger.notice(
            "Request failed; retrying after a backoff",
            metadata: [
                "fetch.problem": "\(problem)", "fetch.attempt": "\(attempts)", "fetch.backoff": "\(wait.seconds)",
            ])
        try await clock.sleep(until: clock.now.advanced(by: wait), tolerance: nil)
    }

    /// Sends the request and reads the outcome away from the actor, so that JSON decoding of
    /// concurrent responses does not queue behind it.
    @concurrent
    nonisolated private static func exchange(
        url: String, token: AccessToken?, exchange: HTTPExchange, timeout: Duration, logger: Logger
    ) async throws -> (status: Int, bytes: Int, outcome: ResponseOutcome) {
        var headers = [("Accept", "application/json")]
        if let token { headers.append(("Authorization", token.authorizationHeader)) }
        let response = try await exchange.send(
            method: .GET, url: url, headers: headers, timeout: timeout, logger: logger)
        let outcome = ResponseOutcome.classify(
            status: response.status, retryAfter: response.headers.first(name: "Retry-After"), body: response.body)
        logger.trace(
            "HTTP exchange",
            metadata: ["http.url": "\(URLRedaction.describe(url))", "http.status": "\(response.status)"])
        return (response.status, response.body.count, outcome)
    }
}
