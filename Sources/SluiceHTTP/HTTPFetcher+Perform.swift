import Logging
import SluiceCore

extension HTTPFetcher {
    /// What a request finally came to, once retries, waits and token refreshes are done: a 2xx
    /// body as `read` made it, or a status the caller decides about.
    enum Answer<Item: Sendable>: Sendable {
        case ok(Item)
        /// 400 or 422: the API's message, and the status.
        case badRequest(String, status: Int)
        case forbidden(String)
        /// 404 or 410: the status and the API's message (`410: gone`), and the status itself.
        case notFound(String, status: Int)
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
        /// A transient failure whose answer asked for this wait at least (`Retry-After`) before
        /// the next try: who asked (`asker`, at `url`), for an error that stops on it to say.
        var retryAfter: (wait: Duration, asker: String, url: String)?
    }

    /// Sends one request until it gets an answer worth returning.
    ///
    /// - Parameter read: makes the caller's item of a 2xx body; a mismatch of counts makes the
    ///   attempt a transient failure, a body of another shape than the plan describes stops.
    /// - Throws: ``FetchError`` (401 after a fresh token, a too-long `Retry-After`, statuses
    ///   that retrying cannot change, exhausted retries) or `CancellationError`.
    func perform<Item: Sendable>(
        _ request: RequestURL.Request, purpose: Purpose,
        read: @Sendable (Value, [JSON.DuplicateKey]) -> Result<Item, AnswerMatching.Mismatch>
    ) async throws -> Answer<Item> {
        try await perform(request, purpose: purpose) { json, duplicates, _, _ in read(json, duplicates) }
    }

    /// ``perform(_:purpose:read:)`` whose `read` also gets the answer's `Link` headers, comma-joined
    /// (`nil` when it has none), and the URL that answered: the request's, or the one a redirect
    /// led to. Where a paged list names its next page, and what a relative one is relative to.
    /// `kept`: the part of an answer the run keeps (a page's items), the only one where a
    /// credential repeated counts in ``maskedAnswers`` (``ResponseOutcome/classify``).
    func perform<Item: Sendable>(
        _ request: RequestURL.Request, purpose: Purpose, kept: (@Sendable (Value) -> Value?)? = nil,
        read:
            @Sendable (Value, [JSON.DuplicateKey], _ link: String?, _ answered: String) -> Result<
                Item, AnswerMatching.Mismatch
            >
    ) async throws -> Answer<Item> {
        let url = request.url
        var attempts = 0
        var replayedAfter401 = false
        // The request sent, another after a redirect followed, and each address asked so far.
        var current = request
        var visited = [request.url]
        while true {
            attempts += 1
            let problem: Problem
            do {
                let token = try await tokens?.token()
                waitingForSpentLimit()
                tally.pacedSeconds += try await pacer.waitForTurn().seconds
                count(purpose)
                let (status, bytes, outcome, limit, link) = try await awaitingAnswer {
                    try await Self.exchange(
                        current, token: token, configuration: configuration, credentialForms: credentialForms,
                        kept: kept, exchange: exchange, logger: logger)
                }
                tally.bytes += bytes
                // A throttled answer waits for its reset below, as its retry's wait.
                let throttled = if case .rateLimited = outcome { true } else { false }
                if !throttled, let reset = limit.spentWait { await limitSpent(until: reset, status: status) }
                switch outcome {
                case .success(let json, let duplicates), .echoed(let json, let duplicates):
                    if case .echoed = outcome { maskedAnswers += 1 }
                    let mismatch: AnswerMatching.Mismatch
                    switch read(json, duplicates, link, current.url) {
                    case .success(let item): return .ok(item)
                    case .failure(let failure): mismatch = failure
                    }
                    guard !mismatch.isShape else {
                        throw FetchError(
                            .invalidResponse, "HTTP \(status) but \(mismatch); not retried", url: url, status: status)
                    }
                    problem = Problem(description: "HTTP \(status) but \(mismatch)", status: status)
                case .badRequest(let message, let status): return .badRequest(message, status: status)
                case .forbidden(let message): return .forbidden(message)
                case .notFound(let message, let status): return .notFound("\(status): \(message)", status: status)
                case .unauthorized(let message):
                    guard let tokens, let token, !replayedAfter401 else {
                        let what =
                            tokens == nil
                            ? (configuration.auth == nil
                                ? "the API wants credentials (401: \(message)); the connection has no auth"
                                : "the API refused the connection's credentials (401: \(message))")
                            : "the API refused a freshly issued access token (401: \(message))"
                        throw FetchError(.authFailed, what, url: url, status: 401)
                    }
                    // An expired or revoked token: one new token and one more try, not counted as a retry.
                    replayedAfter401 = true
                    attempts -= 1
                    await tokens.invalidate(token)
                    continue
                case .rateLimited(let status, let retryAfter):
                    problem = try await rateLimited(
                        status: status, retryAfter: retryAfter, reset: limit.throttledWait, attempts: attempts, url: url
                    )
                case .transient(let reason, let retryAfter):
                    // A 503's Retry-After is how long the service expects to be down (RFC 9110
                    // §10.2.3): the whole host waits it out, the retry counted as a failure's.
                    if let retryAfter { await pacer.block(for: retryAfter, status: status) }
                    problem = Problem(
                        description: reason, status: status, retryAfter: retryAfter.map { ($0, "the API", url) })
                case .redirect(let status, let location):
                    // Another address asked, not another try.
                    current = try redirected(
                        current, status: status, location: location, visited: &visited, purpose: purpose, url: url)
                    attempts -= 1
                    continue
                case .final(let status, let message):
                    // Too long a URL (414) or body (413): a batch of fewer ids fits.
                    let hint =
                        status == 414 || status == 413
                        ? "; the request is too large for the API: lower the fetch's max_ids (and the chunk's size)"
                        : ""
                    throw FetchError(
                        .unexpectedStatus(status), "the API answered HTTP \(status) (\(message)); not retried\(hint)",
                        url: url, status: status)
                }
            } catch let failure as HTTPExchange.Failure {
                if case .untrustedServer(let cause) = failure {
                    logger.error(
                        "TLS certificate verification failed; not retried",
                        metadata: ["http.url": "\(URLRedaction.describe(url))"])
                    throw FetchError(.untrustedServer, cause + "; not retried", url: url)
                }
                if case .bodyTooLarge(let status) = failure {
                    // The same request gets the same answer: asking again only downloads it again.
                    let oneID = configuration.request == .perItem || configuration.maxIDs <= 1 || purpose == .fallback
                    guard oneID else {
                        throw FetchError(
                            .invalidResponse,
                            "\(failure); not retried; a batch of fewer ids has a smaller answer: lower max_ids (now "
                                + "\(configuration.maxIDs))", url: url, status: status)
                    }
                    // One id's answer: no smaller request to make, so a bad answer for that id,
                    // which on_give_up: reject rejects rather than stopping the run.
                    throw FetchError(
                        .exhausted(attempts: attempts), "\(failure); not retried", url: url, status: status)
                }
                if case .timeout = failure { tally.timeouts += 1 }
                // An answer that cannot be decompressed is a bad answer with its status, tried
                // again and given up on like a body that is not JSON.
                let status: Int? = if case .undecompressable(_, let status) = failure { status } else { nil }
                problem = Problem(description: failure.description, status: status)
            } catch let failure as TokenProvider<AnyDurationClock>.TransientFailure {
                problem = Problem(
                    description: failure.description, status: failure.status,
                    retryAfter: failure.retryAfter.map { ($0, "the token endpoint", tokens?.tokenURL ?? url) })
            }
            try await prepareRetry(after: problem, attempts: attempts, url: url)
        }
    }

    /// Runs `exchange`, the request just counted (``count(_:)``) noted in ``inFlight`` until its
    /// answer comes: an answer long in coming is what progress says the fetch waits for.
    private func awaitingAnswer<T>(_ exchange: () async throws -> T) async rethrows -> T {
        let request = tally.requests
        inFlight[request] = .now
        defer { inFlight[request] = nil }
        return try await exchange()
    }

    /// A wait long enough that, unannounced, the run would look stuck.
    public static let noticeableWait: Duration = .seconds(5)

    static func seconds(_ d: Duration) -> String {
        d.seconds < 10 ? String(format: "%.1f s", d.seconds) : "\(Int(d.seconds.rounded())) s"
    }

    private func count(_ purpose: Purpose) {
        tally.requests += 1
        switch purpose {
        case .batch: break
        case .narrowing: tally.narrowedRequests += 1
        case .fallback: tally.fallbackRequests += 1
        }
    }

    /// A 429 or another "slow down" status: block the whole host for `Retry-After`, or else until
    /// the reset its rate-limit headers give (stopping if that is too long), or for a backoff when
    /// the answer names no wait, so that concurrent callers do not keep the API busy saying it.
    private func rateLimited(
        status: Int, retryAfter: Duration?, reset: RateLimitHeaders.Wait?, attempts: Int, url: String
    ) async throws -> Problem {
        tally.throttled += 1
        if status == 429 { tally.rateLimited += 1 }
        let asked = retryAfter.map { RateLimitHeaders.Wait(duration: $0, header: "Retry-After") } ?? reset
        let wait = asked?.duration ?? retryPolicy.backoff(forRetry: attempts, using: &random)
        let what = asked?.header ?? "a backoff"
        // Block even when stopping, so that concurrent callers send nothing during the wait either.
        await pacer.block(for: wait, status: status, header: asked?.header ?? "Retry-After")
        if let asked { try honour(wait, status: status, url: url, header: asked.header) }
        tally.waits += 1
        tally.waitSeconds += wait.seconds
        tally.waiting = FetchCounters.Waiting(
            reason: "rate limited (HTTP \(status)), \(what)", ends: ContinuousClock.now.advanced(by: wait))
        // A wait people notice is said at the default level: the run is not stuck.
        logger.log(
            level: wait >= Self.noticeableWait ? .warning : .notice,
            "Rate limited (\(status)); sending nothing to the host for \(what) of \(Self.seconds(wait))",
            metadata: ["http.status": "\(status)", "http.retry_after": "\(wait.seconds)"])
        let said = asked.map { "(waited \($0.header)" } ?? "without Retry-After (backed off"
        return Problem(description: "HTTP \(status) \(said) \(wait.seconds) s)", status: status, rateLimited: true)
    }

    /// An answer (a 200 too) whose rate-limit headers say no request is left: the whole host sends
    /// nothing until the reset they give, so that the next request is not refused. Over
    /// `max_retry_after`, the next request's turn stops the fetch as resumable (``Pacer/waitForTurn()``)
    /// with the reset noted as a `Retry-After` is; this answer is kept, and a fetch that has no more
    /// to ask ends as it is, its wait neither said nor counted (``waitingForSpentLimit()``).
    private func limitSpent(until reset: RateLimitHeaders.Wait, status: Int) async {
        // Concurrent answers of one spent window give the same reset (to the second, their clock
        // readings apart): it is said and counted once.
        let later = await pacer.block(for: reset.duration, status: status, header: reset.header)
        guard later >= RateLimitHeaders.shortestWait else { return }
        tally.noteRetryAfter(reset.duration)
        spentLimit = (reset, status, clock.now.advanced(by: reset.duration))
    }

    /// Said and counted by the request about to wait for a spent limit's reset (``spentLimit``):
    /// what is left of it, unless the reset has passed or is over `max_retry_after` (the turn
    /// then stops the fetch, saying so).
    private func waitingForSpentLimit() {
        guard let (reset, status, ends) = spentLimit else { return }
        spentLimit = nil
        let wait = clock.now.duration(to: ends)
        guard wait > .zero, wait <= configuration.maxRetryAfter else { return }
        tally.waits += 1
        tally.waitSeconds += wait.seconds
        tally.waiting = FetchCounters.Waiting(
            reason: "rate limit spent (HTTP \(status)), \(reset.header)", ends: ContinuousClock.now.advanced(by: wait))
        let said =
            "The API's rate limit is spent (HTTP \(status)); sending nothing to the host until its reset "
            + "(\(reset.header)) in \(Self.seconds(wait))"
        logger.log(
            level: wait >= Self.noticeableWait ? .warning : .notice, "\(said)",
            metadata: ["http.status": "\(status)", "http.retry_after": "\(wait.seconds)"])
    }

    /// Takes on a `Retry-After`'s wait (or a rate limit's reset: `header` says which): notes when it
    /// ends (``FetchCounters/retryAfterEnds``: a fetch stopped before then, interrupted too, is not
    /// to go on sooner), and stops the fetch when it is more than `max_retry_after`, as resumable
    /// after the wait `asker` gave, rather than sleeping it.
    private func honour(
        _ wait: Duration, status: Int?, url: String, asker: String = "the API", header: String = "Retry-After"
    ) throws {
        tally.noteRetryAfter(wait)
        guard wait > configuration.maxRetryAfter else { return }
        logger.error(
            "Asked to wait longer than max_retry_after (\(header)); stopping",
            metadata: [
                "http.status": "\(status.map(String.init) ?? "none")", "http.retry_after": "\(wait.seconds)",
                "http.url": "\(URLRedaction.describe(url))",
            ])
        throw FetchError.retryAfterTooLong(
            wait, limit: configuration.maxRetryAfter, url: url, status: status, asker: asker, header: header)
    }

    /// Throws when the budget is spent, or the failure's `Retry-After` is over the cap; otherwise
    /// counts the retry and sleeps the backoff, or the `Retry-After` when that is longer.
    private func prepareRetry(after problem: Problem, attempts: Int, url: String) async throws {
        if let asked = problem.retryAfter {
            try honour(asked.wait, status: problem.status, url: asked.url, asker: asked.asker)
        }
        guard retryPolicy.allowsRetry(afterAttempts: attempts) else {
            logger.error(
                "Giving up on a request",
                metadata: ["http.url": "\(URLRedaction.describe(url))", "fetch.attempts": "\(attempts)"])
            throw FetchError(
                .exhausted(attempts: attempts),
                "gave up after \(attempts.counted("attempt")); the last one: \(problem)",
                url: url,
                status: problem.status)
        }
        tally.retries += 1
        guard !problem.rateLimited else { return }
        let backoff = retryPolicy.backoff(forRetry: attempts, using: &random)
        let wait = max(backoff, problem.retryAfter?.wait ?? .zero)
        let asked = wait > backoff ? " (Retry-After)" : ""
        tally.waits += 1
        tally.waitSeconds += wait.seconds
        tally.waiting = FetchCounters.Waiting(
            reason: "retry \(attempts) after \(problem.description.prefix(80))\(asked)",
            ends: ContinuousClock.now.advanced(by: wait))
        // The first retry is said at the default level (failures slow the run down); the rest
        // are counted in the summary (`retries`).
        logger.log(
            level: !saidRetrying || wait >= Self.noticeableWait ? .warning : .notice,
            "Request failed (\(problem)); retrying after \(Self.seconds(wait))\(asked)",
            metadata: [
                "fetch.problem": "\(problem)", "fetch.attempt": "\(attempts)", "fetch.backoff": "\(wait.seconds)",
            ])
        saidRetrying = true
        try await clock.sleep(until: clock.now.advanced(by: wait), tolerance: nil)
    }

    /// Sends the request and reads the outcome away from the actor, so that JSON decoding of
    /// concurrent responses does not queue behind it. The auth header or query parameter is
    /// added here, so no URL that is logged or reported carries a key.
    @concurrent
    nonisolated private static func exchange(
        _ request: RequestURL.Request, token: AccessToken?, configuration: FetchConfiguration,
        credentialForms: (messages: [String], answers: [String]), kept: (@Sendable (Value) -> Value?)?,
        exchange: HTTPExchange, logger: Logger
    ) async throws -> (status: Int, bytes: Int, outcome: ResponseOutcome, limit: RateLimitHeaders, link: String?) {
        var headers = [("Accept", "application/json")] + configuration.headers
        // Some APIs refuse a request that names no client (GitHub); the connection's own wins.
        if !configuration.headers.contains(where: { $0.0.lowercased() == "user-agent" }) {
            headers.append(("User-Agent", FetchConfiguration.defaultUserAgent))
        }
        var url = request.url
        var body = request.body
        // The fixed credentials' forms, found once; an access token's as it is used.
        var (secrets, answerSecrets) = credentialForms
        switch configuration.auth {
        case .oauth2:
            if let token {
                headers.append(("Authorization", token.authorizationHeader))
                let forms = ResponseOutcome.forms(of: [token.value])
                secrets = forms + secrets
                answerSecrets = forms + answerSecrets
            }
        case .bearer(let token):
            headers.append(("Authorization", "Bearer " + token))
        case .basic(let username, let password):
            headers.append(
                ("Authorization", "Basic " + RequestAuth.basicCredentials(username: username, password: password)))
        case .apiKeyHeader(let name, let key):
            headers.append((name, key))
        case .apiKeyQuery(let name, let key):
            url = URLQuery.appending([RequestURL.encode(name) + "=" + RequestURL.encode(key)], to: url)
        case .apiKeyBody(let name, let key):
            guard let sent = body, case .object(var members) = try? JSON.decode(sent) else {
                throw FetchError(
                    .unsendable,
                    "auth body_field '\(name)' puts the key in a POST's JSON object body, and this request has "
                        + (body == nil ? "no body" : "a body that is not a JSON object"),
                    url: request.url)
            }
            if members[name] == nil, let end = sent.lastIndex(of: UInt8(ascii: "}")) {
                // Added last, the plan's keys left in the order they are sent in.
                var with = Array(sent[..<end])
                if !members.isEmpty { with.append(UInt8(ascii: ",")) }
                JSON.encodeString(name, into: &with)
                with.append(UInt8(ascii: ":"))
                JSON.encodeString(key, into: &with)
                with.append(UInt8(ascii: "}"))
                body = with
            } else {
                members[name] = .string(key)
                body = Array(JSON.encode(.object(members)).utf8)
            }
        case nil: break
        }
        if body != nil { headers.append(("Content-Type", "application/json")) }
        let response = try await exchange.send(
            method: .init(rawValue: request.method), url: url, headers: headers, body: body,
            timeout: configuration.timeout, logger: logger)
        let limit = RateLimitHeaders(header: { response.headers.first(name: $0) })
        let outcome = ResponseOutcome.classify(
            status: response.status, retryAfter: response.headers.first(name: "Retry-After"), body: response.body,
            throttleStatuses: configuration.throttleStatuses, secrets: secrets, answerSecrets: answerSecrets,
            location: response.headers.first(name: "Location"),
            contentEncoding: response.headers.first(name: "Content-Encoding"), limitSpent: limit.isSpent, kept: kept)
        // The shape a plan gives its requests, for `--log-level debug`: never a key (the URL and
        // body are the ones before the key was added, the URL redacted, and check refuses a
        // secret in a per-item request).
        var metadata: Logger.Metadata = [
            "http.method": "\(request.method)", "http.url": "\(URLRedaction.describe(request.url))",
            "http.status": "\(response.status)", "http.bytes": "\(response.body.count)",
        ]
        if let sent = request.body { metadata["http.body"] = "\(HTTPFetcher.shortened(sent))" }
        logger.debug("HTTP exchange", metadata: metadata)
        let links = response.headers["Link"]
        return (
            response.status, response.body.count, outcome, limit, links.isEmpty ? nil : links.joined(separator: ", ")
        )
    }
}
