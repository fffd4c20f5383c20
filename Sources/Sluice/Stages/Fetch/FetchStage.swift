import AsyncHTTPClient
import Foundation
import Logging
import SluiceCore
import SluiceHTTP
import SluicePipeline
import SluicePlan

/// Asks an HTTP API for the item behind each row's id, a batch at a time, and attaches the
/// answer to the row (column `response_field`).
///
/// Rows without an id, ids the API does not know (unless `on_not_found: keep`) and ids it
/// refuses go to `rejects-<stage>.csv`, as do ids that do not match the plan's `id_pattern`
/// (never sent). With `concurrency` above 1, that many batches' requests are in flight at all
/// times and the results are sent on in input order, so the output (and a replay) is the same
/// whatever the timing. The stage owns its HTTP client: made in ``run(_:input:output:)``,
/// always shut down there, so building a pipeline never opens a socket.
public struct FetchStage: Stage {
    public let name: String
    public var kind: String { "fetch" }
    public let parameters: Value
    public let settings: FetchSettings
    let http: HTTPSettings
    /// Paces requests and times waits; a test may pass a fake.
    let clock: any Clock<Duration>
    /// An earlier run's answers file (``FetchAnswers``): ids answered there are not asked again.
    public var previousAnswers: URL?
    /// The answers the earlier run's manifest records in ``previousAnswers``.
    public var previousAnswersRecorded = 0
    /// The values of the plan's secret variables (``Plan/variableSecrets``): those the
    /// connection sends with every request are hidden in answers
    /// (``FetchConfiguration/sentSecrets``).
    public var sentSecrets: [String] = []
    /// Go on when the API found none of the ids and `on_not_found: keep` sends them on (`--force`).
    public var force = false

    public init(
        name: String, settings: FetchSettings, http: HTTPSettings, parameters: Value,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.name = name
        self.settings = settings
        self.http = http
        self.parameters = parameters
        self.clock = clock
    }

    /// The fetcher's configuration: the plan's stage settings plus the connection's URL and
    /// credentials.
    public var configuration: FetchConfiguration {
        // A batch path or query value has no placeholders: rendering only turns `{{` `}}` into braces.
        func literal(_ template: RequestTemplate) -> String { template.render { _ in nil } ?? template.text }
        var c = FetchConfiguration(baseURL: http.baseURL, path: literal(settings.path), itemsKey: settings.itemsKey)
        switch http.auth {
        case .oauth2(let a):
            c.auth = .oauth2(
                OAuth2ClientCredentials(
                    tokenURL: a.tokenURL, clientID: a.clientID, clientSecret: a.clientSecret.value, scope: a.scope,
                    audience: a.audience,
                    clientAuthentication: OAuth2ClientCredentials.ClientAuthentication(rawValue: a.clientAuth) ?? .basic
                ))
        case .bearer(let token): c.auth = .bearer(token: token.value)
        case .basic(let username, let password): c.auth = .basic(username: username.value, password: password.value)
        case .apiKey(let name, .header, let key): c.auth = .apiKeyHeader(name: name, key: key.value)
        case .apiKey(let name, .query, let key): c.auth = .apiKeyQuery(name: name, key: key.value)
        case .apiKey(let name, .body, let key): c.auth = .apiKeyBody(name: name, key: key.value)
        case nil: break
        }
        c.headers = http.headers.map { ($0.0, $0.1.value) }
        c.sentSecrets = sentSecrets.filter { secret in
            http.baseURL.contains(secret) || c.headers.contains { $0.1.contains(secret) }
        }
        c.method = settings.method.rawValue
        if settings.perItem {
            // Each request's query is rendered from its row, into its key.
            c.request = .perItem
            c.paginate = settings.paginate.flatMap { Self.pagination($0, bodyKeyOrder: settings.bodyKeyOrder) }
        } else {
            c.request =
                if let body = settings.body {
                    .batchBody(template: body, keyOrder: settings.bodyKeyOrder)
                } else if settings.idsRepeat {
                    .batchQueryRepeated(parameter: settings.idsParam)
                } else {
                    .batchQuery(parameter: settings.idsParam, separator: settings.idSeparator)
                }
            // Every batch request carries the plan's query, a POST's as much as a GET's.
            c.query = Dictionary(settings.query.map { ($0.0, literal($0.1)) }, uniquingKeysWith: { _, last in last })
        }
        c.idPrefix = settings.idPrefix
        switch settings.match {
        case .position: c.match = .position
        case .objectKeys: c.match = .objectKeys
        case .itemField(let path): c.match = .itemField(path.split(separator: ".").map(String.init))
        }
        c.throttleStatuses = Set(settings.throttleStatuses)
        c.delay = settings.delay > 0 ? .seconds(settings.delay) : nil
        c.ratePerMinute = settings.rate
        c.concurrency = max(1, settings.concurrency)
        c.timeout = .seconds(settings.timeout)
        c.retries = settings.retries
        c.backoffBase = .seconds(settings.backoff)
        c.backoffMax = .seconds(settings.maxBackoff)
        c.maxRetryAfter = .seconds(settings.maxRetryAfter)
        c.fallbackPath = settings.fallbackPath
        c.fallbackNote = settings.fallbackNote
        c.maxIDs = settings.perItem ? 1 : settings.maxIDs
        c.rejectOnGiveUp = settings.onGiveUp == .reject
        return c
    }

    /// The fetcher's ``Pagination`` of a plan's `paginate`; `nil` for keys that name no one
    /// style (which `sluice check` refuses). `bodyKeyOrder`: the order a POST body's keys are
    /// sent in, kept when a cursor, offset, page number or size is set in it.
    static func pagination(_ p: PaginateSettings, bodyKeyOrder: JSONKeyOrder) -> Pagination? {
        let style: Pagination.Style
        // A `_field` key names the body's key path; `_param`, the query parameter.
        func place(_ parameter: String, inBody: Bool) -> Pagination.Place {
            inBody ? .body(parameter, keyOrder: bodyKeyOrder) : .query(parameter)
        }
        func place(_ parameter: String) -> Pagination.Place { place(parameter, inBody: p.cursorField != nil) }
        let sizeParameter = (p.sizeParam ?? p.sizeField).map { place($0, inBody: p.sizeParam == nil) }
        switch p.style {
        case .nextURL(let key)?: style = .nextURL(key: key)
        case .linkHeader?: style = .linkHeader
        case .cursor(let key, let parameter)?:
            style = .cursor(key: key, parameter: place(parameter), end: p.endCursor, hasMore: p.hasMore)
        case .afterLast(let key, let parameter)?:
            style = .afterLast(
                key: key, parameter: place(parameter), hasMore: p.hasMore, pageSize: p.pageSize,
                sizeParameter: sizeParameter)
        case .offset(let parameter, let size)?:
            style = .offset(
                parameter: place(parameter, inBody: p.offsetParam == nil), pageSize: size, sizeParameter: sizeParameter,
                hasMore: p.hasMore)
        case .page(let parameter)?:
            style = .page(
                parameter: place(parameter, inBody: p.pageParam == nil), first: p.firstPage, pageSize: p.pageSize,
                sizeParameter: sizeParameter,
                hasMore: p.hasMore)
        case nil: return nil
        }
        return Pagination(style: style, maxPages: p.maxPages)
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a fetch stage needs an input") }
        var configuration = configuration
        configuration.itemRules = ItemRules(
            askAgain: try itemRule(settings.retryWhen, key: "retry_when"),
            notFound: try itemRule(settings.notFoundWhen, key: "not_found_when"),
            notFoundReason: settings.notFoundWhen.map { "its answer meets not_found_when: \($0)" })
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)
        let fetcher = HTTPFetcher(
            configuration: configuration, httpClient: client, logger: context.logger, clock: clock)
        let rejects = RejectsFile(runDirectory: context.runDirectory, stage: name)
        var tally = FetchedBatch.Tally()
        var known: [ExactText: ItemResult] = [:]
        if let previousAnswers { known = await FetchAnswers.load(from: previousAnswers) }
        if let previousAnswers, !known.isEmpty {
            context.notice(
                "reusing the answers for \(known.count) distinct ids recorded in \(previousAnswers.path) "
                    + "(reused_answers counts the rows they answer); asking the API only for the rest")
        } else if let previousAnswers, previousAnswersRecorded > 0 {
            context.notice(
                "the run resumed recorded \(previousAnswersRecorded.counted("answer")) in \(previousAnswers.path), "
                    + "which is gone or unreadable: asking the API for every id again")
        }
        let answers = try FetchAnswers.Writer(runDirectory: context.runDirectory, stage: name)
        do {
            // Beside the fetching, once a second: what the review page draws as the timeline. A
            // fetch that stops keeps its timeline too: the 429s and waits before a stop are what
            // a person looks for.
            let clock = clock
            let timeout = configuration.timeout
            let timeline = try await withThrowingTaskGroup(of: [[Int]].self) { group in
                group.addTask {
                    await FetchTimeline.record(every: .seconds(1), on: clock) {
                        let counters = await fetcher.counters
                        // Progress says why a fetch that waits is not moving: a Retry-After or a
                        // backoff, else an answer long in coming (until its timeout), from the API
                        // or, before any request can go, from the token endpoint.
                        let now = ContinuousClock.now
                        let unanswered = [
                            (counters.oldestUnanswered, "the API"),
                            (counters.tokenUnansweredSince, "the token endpoint"),
                        ].first { sent, _ in sent.map { now - $0 >= HTTPFetcher.noticeableWait } ?? false }
                        if let waiting = counters.waiting, waiting.ends > now {
                            context.progress.setWaiting(waiting.reason, until: waiting.ends)
                        } else if let (since, whom) = unanswered, let sent = since {
                            context.progress.setWaiting(
                                Self.unansweredReason(for: now - sent, timeout: timeout, from: whom),
                                until: sent.advanced(by: timeout))
                        } else {
                            context.progress.setWaiting(nil)
                        }
                        return counters
                    }
                }
                do {
                    try await fetchAll(
                        input, fetcher: fetcher, known: known, answers: answers, rejects: rejects, tally: &tally,
                        context: context, output: output)
                } catch {
                    group.cancelAll()
                    try? await FetchTimeline.write(try await group.next() ?? [], stage: name, context: context)
                    throw error
                }
                group.cancelAll()
                return try await group.next() ?? []
            }
            try await FetchTimeline.write(timeline, stage: name, context: context)
            try await record(fetcher, tally, context)
            try await rejects.finish(context: context)
            try await answers.close(context: context)
        } catch {
            // Stopped (interrupted too) while the API's Retry-After runs: going on sooner is refused.
            if let ends = await fetcher.counters.retryAfterEnds, ends > Date() {
                context.continueNoSoonerThan(ends)
            }
            try? await record(fetcher, tally, context)
            await rejects.abandon(context: context)
            await answers.keep(context: context)
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        for notice in await fetcher.notices { context.notice(notice) }
        let counters = await fetcher.counters
        // Answers recorded by a run that asked otherwise (another path, query or body) are no answer
        // to these requests: the notice above promised otherwise.
        if let previousAnswers, !known.isEmpty, tally.reused == 0, counters.requests > 0 {
            context.notice(
                "none of the \(known.count.counted("answer")) recorded in \(previousAnswers.path) answers a request "
                    + "of this run, which asks the API otherwise than the run that recorded them (path, query or "
                    + "body): every id was asked again")
        }
        // An API that knows none of the ids is more often a plan that asks or reads wrong; kept,
        // their empty answers would go on to be written over what the table holds. A row whose
        // list had too many pages was found: the API knows it.
        if tally.found == 0, tally.tooManyPages == 0, tally.notFound > 0, counters.requests > 0 {
            let check =
                "check how the plan asks ("
                + (settings.perItem ? "path, query, body" : "path, ids_param, id_prefix, query")
                + ") and reads the answers (items_key" + (settings.perItem ? "" : ", match")
                + (settings.notFoundWhen == nil ? ")" : ", not_found_when)")
            let noneFound = "the API found none of the \(tally.notFound) ids it was asked about"
            if settings.onNotFound != .keep {
                context.notice("\(noneFound): if it should know them, \(check)")
            } else if force {
                context.notice("--force: \(noneFound); each row went on with an empty answer (on_not_found: keep)")
            } else {
                throw FetchError(
                    .noneFound,
                    "\(noneFound), and on_not_found: keep sends each row on with an empty answer, which would be "
                        + "written over what the table holds: stopped before anything was applied. If the API should "
                        + "know them, \(check); if it truly knows none of them, --force goes on")
            }
        }
        // `on_give_up: reject` sets aside ids the API always fails on; an API that failed every
        // request of several and answered nothing is down, and a run that fetched nothing must
        // not end as a success. (A single request may hold the one id it always fails on.)
        if counters.gaveUpRequests > 1, tally.found == 0, tally.tooManyPages == 0, tally.notFound == 0 {
            throw FetchError(
                .exhausted(attempts: settings.retries + 1),
                "the API answered none of the \(counters.gaveUp.counted("id")): all \(counters.gaveUpRequests) "
                    + "requests gave up after their retries (reason gave_up in the rejects file). on_give_up: reject "
                    + "sets aside ids the API always fails on, not every id: stopped, to ask again once it answers")
        }
        context.logger.info(
            "fetch done",
            metadata: [
                "fetch.found": "\(tally.found)", "fetch.not_found": "\(tally.notFound)",
                "fetch.rejected": "\(tally.rejected)", "fetch.missing_id": "\(tally.missingID)",
                "fetch.malformed_id": "\(tally.malformedID)",
            ])
    }

    /// Reads the input and keeps up to `concurrency` batches' requests in flight at all times
    /// (a sliding window, not waves: a slow batch holds up only its own place in the output),
    /// sending the results in input order. Answered batches wait for the ones before them in a
    /// reorder buffer of at most `concurrency` batches, so memory stays bounded.
    private func fetchAll(
        _ input: StageInput, fetcher: HTTPFetcher, known: [ExactText: ItemResult], answers: FetchAnswers.Writer,
        rejects: RejectsFile, tally: inout FetchedBatch.Tally, context: StageContext, output: StageOutput
    ) async throws {
        let width = max(1, settings.concurrency)
        // The nested functions below count into a local copy, written back however this ends.
        var counts = tally
        defer { tally = counts }
        let idPattern: IDPattern?
        do {
            idPattern = try settings.idPattern.map(IDPattern.init)
        } catch {
            throw StageError(stage: name, "id_pattern '\(settings.idPattern ?? "")': \(error)")
        }
        var bound: (columns: [String], keys: RequestKeys)?
        /// Batches whose requests are in flight, by sequence number, with the ids asked for.
        var inFlight: [Int: (batch: FetchedBatch, asks: [String])] = [:]
        /// Per item, the latest answers of this run, and the requests in flight: a request
        /// repeated in a later piece (the same address on many rows) is not sent again but
        /// answered from here when its piece's turn comes, which is after the earlier piece's.
        let dedupes = settings.perItem
        var recent = RecentAnswers(capacity: dedupes ? Self.recentAnswers : 0)
        var asking = Set<ExactText>()
        /// Answered batches waiting for an earlier one.
        var answered: [Int: (batch: FetchedBatch, asks: [String], fresh: [ItemResult])] = [:]
        var nextSequence = 0
        var nextToSend = 0

        /// The recorded answers written down in this run's answers file so far.
        var carried = Set<ExactText>()
        /// Writes down the answers `ids` reuse that are not written down yet (the newest answers
        /// file is complete: a resume of this run reads that one alone) and counts the rows they
        /// answer, as the piece is read: a fetch that stops before its turn comes has reused them.
        func reuse(_ ids: [String]) async throws {
            for text in ids {
                let id = ExactText(text)
                guard let reused = known[id] else { continue }
                counts.reused += 1
                if carried.insert(id).inserted { try await answers.append(id: text, reused) }
            }
        }

        /// Attaches the answers of the batch whose turn it is and sends it on.
        func send(_ done: (batch: FetchedBatch, asks: [String], fresh: [ItemResult])) async throws {
            var fetched = done.batch
            let fresh = Dictionary(
                zip(done.asks.map(ExactText.init), done.fresh), uniquingKeysWith: { first, _ in first })
            let ids = fetched.ids.map(ExactText.init)
            let results = ids.map { known[$0] ?? fresh[$0] ?? recent[$0] ?? .notFound(because: nil) }
            let batch = fetched.assemble(
                results, responseField: settings.responseField,
                keepNotFound: settings.onNotFound == .keep, stage: name, tally: &counts)
            try await rejects.write(fetched.rejections, context: context)
            if !batch.isEmpty { try await output.send(batch) }
            try await answers.flush()
            try await record(fetcher, counts, context)
        }

        // A task never throws: it returns what was answered and, when it stopped short, why.
        try await withThrowingTaskGroup(of: (Int, [ItemResult], (any Error)?).self) { group in
            /// Writes down what one batch's requests answered (a resume reuses it, even while an
            /// earlier batch is still being asked).
            func writeDown(_ sequence: Int, _ results: [ItemResult]) async throws {
                guard let asks = inFlight[sequence]?.asks else { return }
                for (id, result) in zip(asks, results) { try await answers.append(id: id, result) }
                try await answers.flush()
            }

            /// Waits for one batch's requests to end, writes its answers down at once, then sends
            /// on every batch whose turn has come. A batch that stopped short stops the fetch.
            func collect() async throws {
                guard let (sequence, results, error) = try await group.next() else { return }
                try await writeDown(sequence, results)
                if let error { throw error }
                let (batch, asks) = inFlight.removeValue(forKey: sequence)!
                for (id, result) in zip(asks, results) { recent.remember(ExactText(id), result) }
                if dedupes { asking.subtract(asks.map(ExactText.init)) }
                answered[sequence] = (batch, asks, results)
                while let done = answered.removeValue(forKey: nextToSend) {
                    try await send(done)
                    nextToSend += 1
                }
            }

            /// Stopping (an error, a signal): the batches still in flight are cancelled, and what
            /// they were answered before is written down too, so a resume asks only for the rest;
            /// so are the recorded answers no piece read so far reused, which a resume of this run
            /// would otherwise ask for again.
            func keepWhatWasAnswered() async {
                group.cancelAll()
                while let (sequence, results, _) = try? await group.next() {
                    try? await writeDown(sequence, results)
                    inFlight[sequence] = nil
                }
                for (id, result) in known where !carried.contains(id) {
                    try? await answers.append(id: id.text, result)
                }
                try? await answers.flush()
            }

            /// Every batch of the input, `concurrency` of them in flight.
            func fetchEvery() async throws {
                for try await batch in input {
                    if bound?.columns != batch.columns {
                        do {
                            bound = (
                                batch.columns,
                                try RequestKeys(settings: settings, columns: batch.columns, idPattern: idPattern)
                            )
                        } catch {
                            throw StageError(stage: name, "\(error)")
                        }
                    }
                    for piece in Self.pieces(of: batch, perItem: settings.perItem) {
                        let fetched = FetchedBatch(batch: piece, keys: bound!.keys, stage: name)
                        // A place in the window first: what it frees may answer this piece.
                        while inFlight.count >= width || answered.count >= width { try await collect() }
                        // Ask only for ids no earlier run answered, and none this run has answered
                        // or is asking about, each once; an empty list sends no request.
                        var asked = Set<ExactText>()
                        let asks = fetched.ids.filter { text in
                            let id = ExactText(text)
                            return known[id] == nil && recent[id] == nil && !asking.contains(id)
                                && asked.insert(id).inserted
                        }
                        if dedupes { asking.formUnion(asks.map(ExactText.init)) }
                        try await reuse(fetched.ids)
                        let sequence = nextSequence
                        nextSequence += 1
                        inFlight[sequence] = (fetched, asks)
                        group.addTask {
                            let (answered, error) = await Self.fetchApartTwins(asks, with: fetcher)
                            return (sequence, answered, error)
                        }
                    }
                }
                while !inFlight.isEmpty { try await collect() }
            }

            do {
                try await fetchEvery()
            } catch {
                await keepWhatWasAnswered()
                throw error
            }
        }
    }

    /// `expression` (the plan's `key`) as a test of an answer item, read as ``responseField``.
    private func itemRule(_ expression: SluicePlan.Expression?, key: String) throws -> (@Sendable (Value) -> Bool)? {
        guard let expression else { return nil }
        let bound: SluicePlan.Expression.Bound
        do {
            bound = try expression.bind(to: [settings.responseField])
        } catch {
            throw StageError(stage: name, "\(key): \(error)")
        }
        return { bound.evaluate([$0]).isTruthy }
    }

    /// How many of its latest answers a per-item fetch keeps to answer a repeated request.
    static let recentAnswers = 10_000

    /// Rows a per-item fetch asks about as one unit: its answers are written down when the
    /// unit's requests end (or the fetch stops), so a killed run loses at most this many
    /// requests per unit in flight, whatever the size of the batches it reads (a query's 1,000
    /// rows at MusicBrainz's one request a second would be 17 minutes).
    static let perItemPiece = 10

    /// `batch` as the units fetched: whole for batch requests (its ids go out in requests of
    /// `max_ids`), in pieces of ``perItemPiece`` rows for one request per row.
    /// `ids` fetched so that no request holds two that Swift's `String` takes for one (`é` as
    /// one code point and as `e` + an accent: other bytes to the API and the table): matched
    /// by text, they would share one answer. Each such twin goes in a request of its own round;
    /// the answers come back in the order of `ids` (up to the first that stopped short).
    static func fetchApartTwins(
        _ ids: [String], with fetcher: HTTPFetcher
    ) async -> (answered: [ItemResult], error: (any Error)?) {
        // ASCII texts are equal only when their bytes are: the common case is one round.
        guard !ids.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x80 } }) else {
            return await fetcher.fetchKeepingAnswers(ids: ids)
        }
        var rounds: [[Int]] = []
        var seen: [Set<String>] = []  // per round, by text as Swift compares it
        for (index, id) in ids.enumerated() {
            let round = seen.firstIndex { !$0.contains(id) } ?? seen.count
            if round == seen.count {
                seen.append([])
                rounds.append([])
            }
            seen[round].insert(id)
            rounds[round].append(index)
        }
        guard rounds.count > 1 else { return await fetcher.fetchKeepingAnswers(ids: ids) }
        var answers = [ItemResult?](repeating: nil, count: ids.count)
        var stopped: (any Error)?
        for round in rounds where stopped == nil {
            let (answered, error) = await fetcher.fetchKeepingAnswers(ids: round.map { ids[$0] })
            for (index, answer) in zip(round, answered) { answers[index] = answer }
            stopped = error
        }
        return (Array(answers.prefix { $0 != nil }.map { $0! }), stopped)
    }

    static func pieces(of batch: Batch, perItem: Bool) -> [Batch] {
        guard perItem, batch.rows.count > perItemPiece else { return [batch] }
        return stride(from: 0, to: batch.rows.count, by: perItemPiece).map { start in
            Batch(columns: batch.columns, rows: Array(batch.rows[start..<min(start + perItemPiece, batch.rows.count)]))
        }
    }

    /// Copies the fetcher's and the stage's tallies into the stage counters.
    private func record(_ fetcher: HTTPFetcher, _ tally: FetchedBatch.Tally, _ context: StageContext) async throws {
        let c = await fetcher.counters
        let counters = context.counters
        counters.set("requests", c.requests)
        counters.set("retries", c.retries)
        counters.set("http_429", c.rateLimited)
        counters.set("throttled", c.throttled)
        counters.set("waits", c.waits)
        counters.set("wait_ms", Int((c.waitSeconds * 1000).rounded()))
        counters.set("paced_ms", Int((c.pacedSeconds * 1000).rounded()))
        counters.set("bytes", c.bytes)
        counters.set("token_requests", c.tokenRequests)
        counters.set("token_refreshes", c.tokenRefreshes)
        counters.set("fallback_requests", c.fallbackRequests)
        counters.set("narrowed_requests", c.narrowedRequests)
        if settings.onGiveUp == .reject { counters.set("gave_up", c.gaveUp) }
        counters.set("pages", c.pages)
        counters.set("timeouts", c.timeouts)
        counters.set("redirects", c.redirects)
        counters.set("found", tally.found)
        counters.set("not_found", tally.notFound)
        counters.set("rejected", tally.rejected)
        if tally.ambiguous > 0 { counters.set("ambiguous", tally.ambiguous) }
        if settings.paginate != nil {
            counters.set("too_many_pages", tally.tooManyPages)
            counters.set("lists_asked_again", c.listsAskedAgain)
        }
        counters.set("missing_id", tally.missingID)
        counters.set("malformed_id", tally.malformedID)
        counters.set("reused_answers", tally.reused)
    }
}

extension FetchStage {
    /// What progress says while the oldest request sent has had no answer for `waited` (shown
    /// with the time left until `timeout` ends it): a fetch that is not moving is waiting, not stuck.
    static func unansweredReason(for waited: Duration, timeout: Duration, from whom: String) -> String {
        "no answer from \(whom) for \(Int(waited.seconds))s; the request times out after \(Int(timeout.seconds))s"
    }
}
