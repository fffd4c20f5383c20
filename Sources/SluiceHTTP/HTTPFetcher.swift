import AsyncHTTPClient
import Logging
import SluiceCore

/// The HTTP engine of the fetch stage: asks an API for the items behind a batch of ids and
/// returns one ``ItemResult`` per id, in order, matched by the configuration's ``MatchRule``
/// (or one request per id, for ``RequestShape/perItem``).
///
/// On the way it authenticates (an OAuth2 token got and refreshed, a bearer token, an API key),
/// paces request starts (`delay`, `rate`, host-wide `Retry-After` blocks), retries transient
/// failures with jittered backoff, narrows a batch the API refuses (400 or 422) down to the
/// offending ids, and switches once to a per-item endpoint when the batch endpoint is forbidden.
///
/// Concurrency: each ``fetch(ids:)`` call has at most one request in flight; callers may run
/// several at once (the fetch stage keeps `configuration.concurrency` of them going) and they share
/// the pacing, the token and the fallback switch.
public actor HTTPFetcher {
    public nonisolated let configuration: FetchConfiguration
    let exchange: HTTPExchange
    let logger: Logger
    let clock: AnyDurationClock
    var random: any RandomNumberGenerator & Sendable
    let pacer: Pacer<AnyDurationClock>
    let tokens: TokenProvider<AnyDurationClock>?
    let urls: RequestURL
    let matching: AnswerMatching
    let retryPolicy: RetryPolicy
    /// The forms the fixed credentials may come back in from an API that echoes its requests
    /// (``ResponseOutcome/forms(of:)`` of ``FetchConfiguration/fixedCredentials(inAnswers:)``),
    /// found once: those hidden in messages, and those masked in a 2xx answer's data.
    let credentialForms: (messages: [String], answers: [String])
    /// The 2xx answers that repeated a credential, masked in them: said in ``notices``.
    var maskedAnswers = 0
    var tally = FetchCounters()
    /// Whether the batch endpoint was forbidden and every request now goes per item.
    public private(set) var usedFallback = false
    /// Things the run summary should tell the user, each said once (e.g. why the run got slower).
    public var notices: [String] {
        guard maskedAnswers > 0 else { return said }
        return said + [
            "\(maskedAnswers.counted("answer")) of the API repeated a credential the requests carried (a key, "
                + "token or password, or a secret variable's value in a header or the base_url): it reads *** in "
                + "them, and so in what the run writes and applies. If that text is data rather than the credential "
                + "(a short password that answers also hold), use a longer credential"
        ]
    }
    private var said: [String] = []
    /// Whether any request got an answer (an item, or "not found"), and how many ids the API
    /// refused on their own (400 or 422) before one did: a source that refuses every id is misconfigured.
    private var answeredAny = false
    private var refusedBeforeAnyAnswer = 0
    /// Per item: whether an answer had `items_key`, and how many had not before one did.
    private var sawItemsKey = false
    private var answersWithoutItemsKey = 0
    static let answersToJudgeItemsKey = 5
    /// Ids refused on their own, with no request answered yet, that stop the fetch: the request
    /// is wrong (path, `ids_param`, `id_prefix`, a required query parameter), not the ids.
    public static let refusalsBeforeGivingUp = 8
    /// Whether a failed request's retry was said at warning level: the first one is.
    var saidRetrying = false
    /// Whether a followed redirect was said at warning level: the first one is.
    var saidRedirected = false
    /// A spent rate limit's reset the host is held back until (``limitSpent(until:status:)``), not
    /// yet said: the next request to wait for it says and counts it.
    var spentLimit: (reset: RateLimitHeaders.Wait, status: Int, ends: AnyDurationClock.Instant)?
    /// The requests awaiting their answer, by their number in ``FetchCounters/requests``, with
    /// when they were sent.
    var inFlight: [Int: ContinuousClock.Instant] = [:]
    /// Whether a batch refused for its size was said (``refusedForItsSize(_:_:)``).
    private var saidRefusedForItsSize = false

    /// - Parameters:
    ///   - configuration: the source and how to treat it.
    ///   - httpClient: a client the caller owns and shuts down; it may be shared.
    ///   - logger: where retries, waits and the fallback warning go; never a token or secret.
    ///   - clock: the clock that paces requests and times `Retry-After` and backoff waits
    ///     (a test can pass a fake one). Request timeouts always use real time.
    ///   - random: the source of backoff jitter.
    public init(
        configuration: FetchConfiguration, httpClient: HTTPClient, logger: Logger,
        clock: any Clock<Duration> = ContinuousClock(),
        random: some RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()
    ) {
        let clock = AnyDurationClock(clock)
        let exchange = HTTPExchange(client: httpClient)
        self.configuration = configuration
        self.exchange = exchange
        self.logger = logger
        self.clock = clock
        self.random = random
        self.pacer = Pacer(
            rules: PacingRules(spacing: configuration.delay, limit: configuration.ratePerMinute, window: .seconds(60)),
            clock: clock, maxBlockedWait: configuration.maxRetryAfter)
        if case .oauth2(let credentials) = configuration.auth {
            self.tokens = TokenProvider(
                credentials: credentials, exchange: exchange, clock: clock, timeout: configuration.timeout,
                logger: logger)
        } else {
            self.tokens = nil
        }
        self.urls = RequestURL(configuration: configuration)
        self.matching = AnswerMatching(
            rule: configuration.match, itemsKey: configuration.itemsKey, idPrefix: configuration.idPrefix)
        self.retryPolicy = RetryPolicy(
            retries: max(0, configuration.retries), base: configuration.backoffBase, cap: configuration.backoffMax)
        self.credentialForms = (
            ResponseOutcome.forms(of: configuration.fixedCredentials()),
            ResponseOutcome.forms(of: configuration.fixedCredentials(inAnswers: true))
        )
    }

    /// What has been done so far.
    public var counters: FetchCounters {
        get async {
            var counters = tally
            counters.oldestUnanswered = inFlight.values.min()
            if let tokens {
                counters.tokenRequests = await tokens.requests
                counters.tokenRefreshes = await tokens.refreshes
                counters.tokenUnansweredSince = await tokens.unansweredSince
            }
            return counters
        }
    }

    /// Fetches the items for one batch of ids.
    ///
    /// More than `maxIDs` ids are sent as several consecutive requests. For a
    /// ``RequestShape/perItem`` source each id is a request's URL below the base URL.
    /// - Returns: one result per id, in the order of `ids`.
    /// - Throws: ``FetchError`` when the source cannot answer (see ``FetchError/isResumable``),
    ///   or `CancellationError`.
    public func fetch(ids: [String]) async throws -> [ItemResult] {
        let (answered, error) = await fetchKeepingAnswers(ids: ids)
        if let error { throw error }
        return answered
    }

    /// ``fetch(ids:)`` that keeps what was answered when it stops: the results for the ids
    /// before the one whose request failed (or was cancelled), and why it stopped; `error` is
    /// `nil` when every id was answered. A caller that writes answers down keeps these too, so
    /// a resume does not ask for them again.
    public func fetchKeepingAnswers(ids: [String]) async -> (answered: [ItemResult], error: (any Error)?) {
        let size = max(1, configuration.maxIDs)
        var results: [ItemResult] = []
        results.reserveCapacity(ids.count)
        var start = ids.startIndex
        do {
            while start < ids.endIndex {
                let chunk = ids[start..<min(start + size, ids.endIndex)]
                if configuration.request == .perItem {
                    try await fetchEach(chunk, purpose: .batch, into: &results) { urls.perItem($0) }
                } else if usedFallback {
                    try await fetchEach(chunk, purpose: .fallback, into: &results) { urls.item($0) }
                } else {
                    results += try await fetchBatch(chunk, narrowing: false)
                }
                start = chunk.endIndex
            }
        } catch {
            return (results, error)
        }
        return (results, nil)
    }

    // MARK: Batches

    private func fetchBatch(_ ids: ArraySlice<String>, narrowing: Bool) async throws -> [ItemResult] {
        let request = urls.batch(ids)
        let url = request.url
        let count = ids.count
        let matching = matching
        let rules = configuration.itemRules
        let answer: Answer<[ItemResult]>
        do {
            answer = try await perform(request, purpose: narrowing ? .narrowing : .batch) { json, duplicates in
                matching.results(for: ids, in: json, duplicates: duplicates).flatMap(rules.judge)
            }
        } catch let error as FetchError where givesUp(error) {
            giveUp(count, error)
            return ids.map { _ in .gaveUp(reason: error.message) }
        }
        switch answer {
        case .ok(let results):
            answeredAny = true
            return results
        case .badRequest(let message, let status):
            let refusal = Refusal(message: message, status: status)
            guard !narrowing else { return try await narrow(ids, refusedWith: refusal, asked: true) }
            logger.info(
                "The API refused a whole batch; splitting it to isolate the ids it refuses",
                metadata: ["http.status": "\(status)", "http.message": "\(message)", "fetch.ids": "\(count)"])
            let results = try await narrow(ids, refusedWith: refusal, asked: true)
            if !results.contains(where: { if case .rejected = $0 { true } else { false } }) {
                refusedForItsSize(count, refusal)
            }
            return results
        case .forbidden(let message):
            guard configuration.fallbackPath != nil else {
                throw FetchError(
                    .forbidden, "the API forbids the batch endpoint (403: \(message)) and no per-item fallback is set",
                    url: url, status: 403)
            }
            switchToFallback(message)
            var results: [ItemResult] = []
            try await fetchEach(ids, purpose: .fallback, into: &results) { urls.item($0) }
            return results
        case .notFound(let message, let status):
            throw FetchError(
                .unexpectedStatus(status), "the batch endpoint answered \(message); check base_url and path",
                url: url, status: status)
        }
    }

    /// What the API answered a refused request (400 or 422): its message and its status.
    private struct Refusal {
        var message: String
        var status: Int
    }

    /// The results for `ids`, which hold at least one id the API refuses (400 or 422; `asked`: the
    /// API refused exactly this batch; otherwise it was inferred). Split in halves, and a
    /// batch whose answer is already known is not asked for whole: when the first half is
    /// answered, the refused id is in the second, which is split again at once. An id is only
    /// ever rejected on the API's own refusal of it alone (an inferred single id is still asked),
    /// so a refusal that was not about an id costs requests, never a good row.
    ///
    /// One bad id among 50 then costs about 1.5·log2(50) + 1 ≈ 9 requests instead of
    /// 2·log2(50) ≈ 12. When nothing paces the requests (no `delay`, no `rate`) and
    /// `concurrency` allows, both halves are asked at once instead: more requests, half the
    /// waiting.
    private func narrow(
        _ ids: ArraySlice<String>, refusedWith refusal: Refusal, asked: Bool
    ) async throws -> [ItemResult] {
        guard ids.count > 1 else {
            guard asked else { return try await fetchBatch(ids, narrowing: true) }
            try refusedAlone(refusal, url: urls.batch(ids).url)
            return [.rejected(reason: refusal.message)]
        }
        let middle = ids.startIndex + (ids.count + 1) / 2
        let (head, tail) = (ids[..<middle], ids[middle...])
        if configuration.delay == nil, configuration.ratePerMinute == nil, configuration.concurrency > 1 {
            async let first = fetchBatch(head, narrowing: true)
            let second = try await fetchBatch(tail, narrowing: true)
            return try await first + second
        }
        let first = try await fetchBatch(head, narrowing: true)
        let firstWasRefused = first.contains { if case .rejected = $0 { true } else { false } }
        guard firstWasRefused else { return first + (try await narrow(tail, refusedWith: refusal, asked: false)) }
        return first + (try await fetchBatch(tail, narrowing: true))
    }

    /// `on_give_up: reject`: whether `error` (a request the API failed with a 5xx after every
    /// retry, or answered with nothing to read: a body that is not JSON, too few items) rejects
    /// the request's ids instead of stopping the fetch. A throttling status (MusicBrainz's 503)
    /// is the API asking to slow down, not failing the ids.
    private func givesUp(_ error: FetchError) -> Bool {
        configuration.rejectOnGiveUp && (error.isServerErrorGivenUp || error.isUnusableAnswerGivenUp)
            && !configuration.throttleStatuses.contains(error.status ?? 0)
    }

    /// Counts and says that the `count` ids of a request are rejected on `error`: an id the API
    /// always fails on must not stop every run.
    private func giveUp(_ count: Int, _ error: FetchError) {
        tally.gaveUp += count
        tally.gaveUpRequests += 1
        logger.warning(
            "Rejecting the ids of a request the API keeps failing (on_give_up: reject)",
            metadata: ["fetch.ids": "\(count)", "error": "\(error.message)"])
    }

    // MARK: Per-item requests (the shape, or the fallback)

    /// One request per id, `request(id)`, each result appended to `results` as it comes: a 404
    /// or a `null` item is "not found", a 400 or 422 refuses that id alone.
    private func fetchEach(
        _ ids: ArraySlice<String>, purpose: Purpose, into results: inout [ItemResult],
        request: (String) -> RequestURL.Request?
    ) async throws {
        let matching = matching
        for id in ids {
            guard let request = request(id) else { break }
            let url = request.url
            let rules = configuration.itemRules
            let answer: Answer<(ItemResult, Bool, [String])>
            do {
                if let pagination = configuration.paginate, purpose == .batch {
                    answer = try await fetchList(request, pagination)
                } else {
                    answer = try await perform(request, purpose: purpose) { json, duplicates in
                        // A fallback endpoint answers the item itself; a per-item source may wrap it (items_key).
                        let (item, hasItemsKey) =
                            purpose == .fallback
                            ? AnswerMatching(rule: .position, itemsKey: nil, idPrefix: "").item(
                                in: json, duplicates: duplicates)
                            : matching.item(in: json, duplicates: duplicates)
                        return rules.judge([item]).map { ($0[0], hasItemsKey, json.objectKeys) }
                    }
                }
            } catch var error as FetchError {
                // Per-item POSTs share their URL: the body says which row it was.
                if let body = request.body { error.message += " (request body \(Self.shortened(body)))" }
                guard givesUp(error) else { throw error }
                giveUp(1, error)
                results.append(.gaveUp(reason: error.message))
                continue
            }
            switch answer {
            case .ok(let (result, hasItemsKey, keys)):
                answeredAny = true
                try judgeItemsKey(hasItemsKey, keys: keys, url: url)
                results.append(result)
            case .notFound(let message, _):
                answeredAny = true
                // The status and the API's message: `404: no record for isbn ...`, `410: gone`.
                results.append(.notFound(because: message))
            case .badRequest(let message, let status):
                try refusedAlone(Refusal(message: message, status: status), url: url)
                results.append(.rejected(reason: message))
            case .forbidden(let message):
                throw FetchError(
                    .forbidden,
                    purpose == .fallback
                        ? "the API forbids the per-item endpoint too (403: \(message))"
                        : "the API forbids this request (403: \(message)); check the credentials and required headers",
                    url: url, status: 403)
            }
        }
    }

    /// Per item, answers without `items_key` are "not found"; when the first
    /// ``answersToJudgeItemsKey`` all lack it, the plan reads the wrong key (it would take every
    /// id for unknown, and `on_not_found: keep` would clear what the apply writes): stop, naming
    /// the keys the answers have.
    private func judgeItemsKey(_ hasItemsKey: Bool, keys: [String], url: String) throws {
        guard !sawItemsKey, let itemsKey = configuration.itemsKey else { return }
        guard !hasItemsKey else {
            sawItemsKey = true
            return
        }
        answersWithoutItemsKey += 1
        guard answersWithoutItemsKey >= Self.answersToJudgeItemsKey else { return }
        throw FetchError(
            .invalidResponse,
            "the first \(answersWithoutItemsKey) answers have no '\(itemsKey)'"
                + (keys.isEmpty ? "" : " (the last has: \(keys.sorted().joined(separator: ", ")))")
                + "; set items_key to where the item is, or leave it out when the answer is the item",
            url: url)
    }

    /// A request body as an error shows it: at most 300 characters.
    static func shortened(_ body: [UInt8]) -> String {
        URLRedaction.shortened(String(decoding: body, as: UTF8.self), to: 300)
    }

    /// Counts an id the API refused on its own; stops the fetch when it has refused
    /// ``refusalsBeforeGivingUp`` of them and answered nothing yet, rather than asking about every
    /// id one at a time only to reject them all.
    private func refusedAlone(_ refusal: Refusal, url: String) throws {
        guard !answeredAny else { return }
        refusedBeforeAnyAnswer += 1
        guard refusedBeforeAnyAnswer >= Self.refusalsBeforeGivingUp else { return }
        throw FetchError(
            .refusedEverything,
            "the API refused each of the first \(refusedBeforeAnyAnswer) ids on its own (\(refusal.status): \(refusal.message)) and "
                + "answered no request: the request is likely wrong rather than the ids (check "
                + (configuration.request == .perItem
                    ? "path, query, body" : "path, ids_param, id_prefix, id_separator, query, body")
                + " and headers against the API's documentation)",
            url: url, status: refusal.status)
    }

    /// A batch the API refused whole (400 or 422) although it refused none of its ids on its own: the
    /// batch itself was refused, most likely for its size. Narrowing still answered every id,
    /// at the cost of extra requests; said once, since every full batch will do the same.
    private func refusedForItsSize(_ count: Int, _ refusal: Refusal) {
        guard !saidRefusedForItsSize else { return }
        saidRefusedForItsSize = true
        let notice =
            "The API refused a whole batch of \(count) ids (\(refusal.status): \(refusal.message)) but none of them on its own, so the "
            + "batch was split to ask for them (narrowed_requests counts the extra requests): it likely limits "
            + "the ids a request may carry; lower max_ids (now \(configuration.maxIDs)) to that limit."
        said.append(notice)
        logger.warning("\(notice)", metadata: ["http.status": "\(refusal.status)", "fetch.ids": "\(count)"])
    }

    private func switchToFallback(_ message: String) {
        guard !usedFallback else { return }
        usedFallback = true
        let notice = Self.fallbackNotice(configuration, apiMessage: message)
        said.append(notice)
        logger.warning(
            "\(notice)", metadata: ["http.status": "403", "fetch.fallback": "\(configuration.fallbackPath ?? "")"])
    }

    static func fallbackNotice(_ configuration: FetchConfiguration, apiMessage: String) -> String {
        let factor = max(1, configuration.maxIDs)
        let notice = """
            The batch endpoint \(configuration.path) answered 403 (\(apiMessage)). Switched to one request per item \
            (\(configuration.fallbackPath ?? "")) at the same pacing: up to \(factor)x as many requests, so this \
            fetch takes about \(factor)x longer.
            """
        return configuration.fallbackNote.map { notice + " " + $0 } ?? notice
    }
}
