import Foundation

/// Everything the simulator remembers, and the rules of the API: given a request and the
/// time it arrived, decide the reply. Pure apart from drawing random token strings; all I/O
/// (sleeping, writing, dropping connections) is the server's business.
struct SimulatorState: Sendable {
    static let maxIDsPerRequest = 50
    /// Keeps the log's memory bounded on very long runs; the oldest entries go first.
    static let requestLogLimit = 200_000

    private(set) var configuration: SimulatorConfiguration
    private(set) var catalog: SpotifyCatalog
    private(set) var stats = SimulatorStats()
    /// Issued access tokens and when each expires.
    private var tokens: [String: ContinuousClock.Instant] = [:]
    private var rateLimit = RateLimitWindow()
    /// When the token endpoint's `Retry-After` (``SimulatorConfiguration/tokenRetryAfter``) ends,
    /// once its first 429 has announced it.
    private var tokenWaitEnds: ContinuousClock.Instant?
    private var faults: FaultInjector
    /// Faults the next eligible requests get, one each in order, before any draw.
    private(set) var scheduledFaults: [Fault] = []
    /// Where `href`s in track objects point: the simulator's own `/v1`.
    var apiBase = "https://api.spotify.com/v1"

    init(configuration: SimulatorConfiguration) {
        self.configuration = configuration
        self.catalog = SpotifyCatalog(seed: configuration.seed)
        self.faults = FaultInjector(seed: configuration.faults.seed)
    }

    /// Applies a runtime change; a new catalog or fault seed starts that sequence afresh.
    mutating func reconfigure(_ update: (inout SimulatorConfiguration) -> Void) {
        update(&configuration)
        if configuration.seed != catalog.seed {
            catalog = SpotifyCatalog(seed: configuration.seed)
        }
        if configuration.faults.seed != faults.seed {
            faults = FaultInjector(seed: configuration.faults.seed)
        }
    }

    /// Makes every issued token expired from `now` on.
    mutating func expireTokens(at now: ContinuousClock.Instant) {
        for token in tokens.keys {
            tokens[token] = now
        }
    }

    /// Every access token issued so far, expired or not.
    var issuedTokens: [String] { Array(tokens.keys) }

    /// Queues faults for the next `/v1/tracks` requests that pass authentication and the rate
    /// limit: one fault each, in order, instead of a draw (the seeded sequence does not advance).
    mutating func schedule(_ faults: [Fault]) {
        scheduledFaults += faults
    }

    // MARK: Requests

    mutating func respond(to request: InboundRequest, at now: ContinuousClock.Instant) -> Reply {
        let path = request.path
        if path == "/api/token" {
            return respondToToken(request, at: now)
        }
        if path == "/v1" || path.hasPrefix("/v1/") {
            return respondToAPI(request, at: now)
        }
        if path.hasPrefix("/_sim/") {
            return respondToAdmin(request, at: now)
        }
        return .apiError(404, "Service not found")
    }

    private mutating func respondToToken(_ request: InboundRequest, at now: ContinuousClock.Instant) -> Reply {
        stats.tokenRequests += 1
        var reply = tokenRateLimit(at: now) ?? tokenReply(request, at: now)
        reply.delay = configuration.tokenLatency
        log(RequestRecord(time: now, path: request.path, ids: [], status: reply.status))
        return reply
    }

    /// A 429 for a token request sent before the token endpoint's wait ends, the first one
    /// starting it (``SimulatorConfiguration/tokenRetryAfter``); `nil` to answer as usual.
    private mutating func tokenRateLimit(at now: ContinuousClock.Instant) -> Reply? {
        guard let wait = configuration.tokenRetryAfter else { return nil }
        let ends = tokenWaitEnds ?? now + .seconds(RateLimitWindow.wholeSeconds(wait))
        tokenWaitEnds = ends
        guard now < ends else { return nil }
        var reply = Reply.json(429, TokenError(error: "rate_limited", errorDescription: "Too many requests"))
        reply.headers["Retry-After"] = String(RateLimitWindow.wholeSeconds(now.duration(to: ends)))
        return reply
    }

    /// The accounts service's client-credentials flow.
    private mutating func tokenReply(_ request: InboundRequest, at now: ContinuousClock.Instant) -> Reply {
        guard request.method == "POST" else { return .apiError(405, "Method not allowed") }
        let form = request.formFields
        // Spotify takes the client from `Authorization: Basic` or, failing that, from the form.
        let basic = configuration.acceptsBasicCredentials ? Self.basicCredentials(request.authorization) : nil
        guard let (id, secret) = basic ?? formCredentials(form),
            id == configuration.clientID
        else {
            return .tokenError("invalid_client", "Invalid client")
        }
        guard secret == configuration.clientSecret else {
            return .tokenError("invalid_client", "Invalid client secret")
        }
        guard let grantType = form["grant_type"] else {
            return .tokenError("unsupported_grant_type", "grant_type parameter is missing")
        }
        guard grantType == "client_credentials" else {
            return .tokenError(
                "unsupported_grant_type", "grant_type must be client_credentials, authorization_code or refresh_token")
        }
        for (name, value) in configuration.requiredTokenFields.sorted(by: { $0.key < $1.key }) where form[name] != value
        {
            return .tokenError("invalid_scope", "\(name) must be \(value)")
        }
        let token = Self.randomToken()
        tokens[token] = now + configuration.tokenLifetime
        let lifetime = Int(configuration.tokenLifetime.components.seconds)
        return .json(200, TokenGrant(accessToken: token, expiresIn: lifetime))
    }

    private func formCredentials(_ form: [String: String]) -> (String, String)? {
        guard let id = form["client_id"], let secret = form["client_secret"] else { return nil }
        return (id, secret)
    }

    static func basicCredentials(_ authorization: String?) -> (String, String)? {
        guard let authorization, authorization.lowercased().hasPrefix("basic "),
            let decoded = Data(base64Encoded: String(authorization.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: decoded, encoding: .utf8),
            let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    private static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        return "BQ" + String((0..<110).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
    }

    // MARK: Web API

    private mutating func respondToAPI(_ request: InboundRequest, at now: ContinuousClock.Instant) -> Reply {
        stats.apiRequests += 1
        let route = APIRoute(request)
        var fault: Fault?
        var reply = apiReply(request, route: route, at: now, fault: &fault)
        reply.delay = configuration.latency
        let logged = reply.delivery == .complete ? reply.status : 0
        log(RequestRecord(time: now, path: request.path, ids: route.ids, status: logged, fault: fault))
        return reply
    }

    /// Checks in the order the API does: token, rate limit, then (on `/tracks`) the fault
    /// draw, Development Mode, and the request itself.
    private mutating func apiReply(
        _ request: InboundRequest, route: APIRoute, at now: ContinuousClock.Instant, fault: inout Fault?
    ) -> Reply {
        if let rejection = authenticate(request.authorization, at: now) {
            return rejection
        }
        // The limit is per app, which the token identifies: only authenticated requests count.
        let decision = rateLimit.decide(
            at: now, limit: configuration.rateLimit, fixedRetryAfter: configuration.retryAfter,
            penalize: configuration.penalizeRequestsDuringWait)
        if case .reject(let seconds) = decision {
            stats.rateLimited += 1
            var reply = Reply.apiError(429, "API rate limit exceeded")
            reply.headers["Retry-After"] = String(seconds)
            return reply
        }
        guard route.isTracks else {
            return route == .methodNotAllowed
                ? .apiError(405, "Method not allowed") : .apiError(404, "Service not found")
        }
        let answer = tracksReply(route, query: request.queryParameters)
        fault = nextFault(for: answer, route: route)
        guard let fault else { return answer }
        stats.faultsInjected += 1
        if fault == .wrongTrackCount {
            return tracksReply(route, query: request.queryParameters, omitFirstTrack: true)
        }
        let reply = Self.inject(fault, into: answer, configuration: configuration)
        if reply.status == 429 { stats.rateLimited += 1 }
        return reply
    }

    /// The fault for a request whose normal answer is `answer`: the next scheduled one, else a draw.
    /// A wrong track count only fits a 200 for several tracks: drawn for another answer it is
    /// dropped, and scheduled it waits for a request it fits.
    private mutating func nextFault(for answer: Reply, route: APIRoute) -> Fault? {
        let fitsWrongCount: Bool
        if case .severalTracks = route, answer.status == 200 { fitsWrongCount = true } else { fitsWrongCount = false }
        if let next = scheduledFaults.first, next != .wrongTrackCount || fitsWrongCount {
            return scheduledFaults.removeFirst()
        }
        let drawn = faults.draw(rate: configuration.faults.rate, kinds: configuration.faults.kinds)
        return drawn == .wrongTrackCount && !fitsWrongCount ? nil : drawn
    }

    private func authenticate(_ authorization: String?, at now: ContinuousClock.Instant) -> Reply? {
        guard let authorization, authorization.lowercased().hasPrefix("bearer "),
            let expiry = tokens[String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)]
        else {
            return .apiError(401, "Invalid access token")
        }
        return now < expiry ? nil : .apiError(401, "The access token expired")
    }

    /// - Parameter omitFirstTrack: leave the first element out of a several-tracks answer (``Fault/wrongTrackCount``).
    private func tracksReply(_ route: APIRoute, query: [String: String], omitFirstTrack: Bool = false) -> Reply {
        let market = query["market"]
        if let market, !Self.isMarket(market) {
            return .apiError(400, "Invalid market code")
        }
        switch route {
        case .severalTracks(let ids):
            if configuration.developmentMode {
                return .apiError(403, "Forbidden")
            }
            guard !ids.isEmpty else { return .apiError(400, "invalid id") }
            guard ids.count <= Self.maxIDsPerRequest else { return .apiError(400, "Too many ids requested") }
            // One malformed id fails the whole request, as on api.spotify.com.
            guard ids.allSatisfy(SpotifyID.isWellFormed) else { return .apiError(400, "invalid id") }
            let tracks = ids.map { id in
                catalog.track(for: id).map {
                    TrackObject($0, apiBase: apiBase, includePopularity: true, market: market)
                }
            }
            return .json(200, SeveralTracks(tracks: omitFirstTrack ? Array(tracks.dropFirst()) : tracks))
        case .track(let id):
            guard SpotifyID.isWellFormed(id) else { return .apiError(400, "invalid id") }
            // The real API says "non existing id" for a well-formed id it does not know.
            guard let track = catalog.track(for: id) else { return .apiError(404, "non existing id") }
            let object = TrackObject(
                track, apiBase: apiBase, includePopularity: !configuration.developmentMode, market: market)
            return .json(200, object)
        case .methodNotAllowed, .other:
            return .apiError(404, "Service not found")
        }
    }

    static func isMarket(_ market: String) -> Bool {
        market.utf8.count == 2 && market.unicodeScalars.allSatisfy { $0.properties.isAlphabetic && $0.isASCII }
    }

    /// The reply carrying `fault` instead of the normal `answer` (``Fault/wrongTrackCount`` is
    /// answered by ``tracksReply(_:query:omitFirstTrack:)`` itself).
    static func inject(_ fault: Fault, into answer: Reply, configuration: SimulatorConfiguration) -> Reply {
        let faults = configuration.faults
        // An injected 429's or 503's wait: the fixed one of every 429, else the faults'.
        let faultRetryAfter = String(RateLimitWindow.wholeSeconds(configuration.retryAfter ?? faults.retryAfter))
        switch fault {
        case .serverError500:
            return .apiError(500, "Server error.")
        case .badGateway502:
            return .html(502, FaultPages.badGateway)
        case .unavailable503Html:
            return .html(503, FaultPages.unavailable)
        case .unavailable503WithRetryAfter:
            var reply = Reply.apiError(503, "Service unavailable")
            reply.headers["Retry-After"] = faultRetryAfter
            return reply
        case .hang:
            var reply = Reply.apiError(504, "Gateway timeout")
            reply.delivery = .hang(limit: faults.hangLimit)
            return reply
        case .dropConnection:
            var reply = Reply.apiError(502, "Connection dropped")
            reply.delivery = .drop
            return reply
        case .truncatedJSON:
            var reply = answer
            reply.body = Array(answer.body.prefix(answer.body.count / 2))
            return reply
        case .tooManyRequests429:
            var reply = Reply.apiError(429, "API rate limit exceeded")
            reply.headers["Retry-After"] = faultRetryAfter
            return reply
        case .tooManyRequests429WithoutRetryAfter:
            return .apiError(429, "API rate limit exceeded")
        case .wrongTrackCount:
            return answer
        }
    }

    // MARK: Admin

    private mutating func respondToAdmin(_ request: InboundRequest, at now: ContinuousClock.Instant) -> Reply {
        switch (request.method, request.path) {
        case ("GET", "/_sim/stats"):
            return .json(200, StatsDocument(stats, configuration: configuration, now: now))
        case ("POST", "/_sim/expire-tokens"):
            expireTokens(at: now)
            return Reply(status: 204, contentType: nil, body: [])
        default:
            return .apiError(404, "Service not found")
        }
    }

    private mutating func log(_ record: RequestRecord) {
        if stats.requestLog.count >= Self.requestLogLimit {
            stats.requestLog.removeFirst(stats.requestLog.count - Self.requestLogLimit + 1)
        }
        stats.requestLog.append(record)
    }
}
