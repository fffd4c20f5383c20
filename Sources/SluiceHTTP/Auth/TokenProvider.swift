import Foundation
import Logging
import SluiceCore

/// Gets and keeps an OAuth2 client-credentials access token: one request at a time however
/// many callers need a token, reused until shortly before it expires, dropped on a 401.
/// A refusal of the credentials is remembered, so a wrong secret costs one token request,
/// not one per batch.
actor TokenProvider<C: Clock<Duration>> {
    /// The token endpoint could not answer this time (5xx, 429, timeout, connection lost).
    struct TransientFailure: Error, CustomStringConvertible {
        var description: String
        var status: Int?
        /// The wait the endpoint's `Retry-After` asked for, when the answer gave one.
        var retryAfter: Duration?
    }

    private let credentials: OAuth2ClientCredentials
    private let exchange: HTTPExchange
    private let clock: C
    private let timeout: Duration
    private let logger: Logger
    private var cache = TokenCache<C.Instant>()
    private var refreshing: Task<AccessToken, any Error>?
    /// Set once the endpoint refuses the credentials; every later call throws it at once.
    private var refusal: FetchError?
    /// When the token endpoint's latest `Retry-After` ends: no token request is sent before it,
    /// whichever caller asks (one that did not share the refused request too).
    private var notBefore: C.Instant?
    /// Requests sent to the token endpoint.
    private(set) var requests = 0
    /// When the token request awaiting its answer was sent (real time, as its timeout runs).
    private(set) var unansweredSince: ContinuousClock.Instant?

    init(credentials: OAuth2ClientCredentials, exchange: HTTPExchange, clock: C, timeout: Duration, logger: Logger) {
        self.credentials = credentials
        self.exchange = exchange
        self.clock = clock
        self.timeout = timeout
        self.logger = logger
    }

    /// What the token request carries that an error answer must not repeat: the secret, alone
    /// and in the Basic header, in each form an answer may give it (a redirect's `Location`
    /// percent-encodes the header's `=` padding).
    private var hidden: [String] {
        ResponseOutcome.forms(of: [
            credentials.clientSecret,
            Data("\(credentials.clientID):\(credentials.clientSecret)".utf8).base64EncodedString(),
        ])
    }

    /// How a transient failure names the endpoint: the error that ends a fetch carries the API's
    /// URL, not this one, so a host that does not resolve or refuses is named here.
    private var endpoint: String { "token endpoint \(URLRedaction.describe(credentials.tokenURL))" }

    /// The token endpoint, as an error that it ends a fetch names it.
    nonisolated var tokenURL: String { credentials.tokenURL }

    /// Tokens issued after the first one.
    var refreshes: Int { max(0, cache.issued - 1) }

    /// A token that is valid for a while yet, fetching one when needed.
    /// - Throws: ``FetchError`` `.authFailed`, ``TransientFailure`` or `CancellationError`.
    func token() async throws -> AccessToken {
        while true {
            if let refusal { throw refusal }
            if case .fresh(let token) = cache.lookup(at: clock.now) { return token }
            let task = refreshing ?? startRefresh()
            do {
                return try await withTaskCancellationHandler {
                    try await task.value
                } onCancel: {
                    task.cancel()
                }
            } catch is CancellationError where !Task.isCancelled {
                // Another caller was cancelled and took the shared request with it: ask again.
                continue
            }
        }
    }

    /// Forgets `token` after the API rejected it, unless a newer one has replaced it already.
    func invalidate(_ token: AccessToken) {
        if cache.invalidate(token) {
            logger.notice("The API rejected the access token (401); requesting a new one")
        }
    }

    private func startRefresh() -> Task<AccessToken, any Error> {
        let task = Task { try await self.requestToken() }
        refreshing = task
        return task
    }

    private func requestToken() async throws -> AccessToken {
        defer { refreshing = nil }
        if let notBefore, clock.now < notBefore { try await clock.sleep(until: notBefore, tolerance: nil) }
        requests += 1
        let requestedAt = clock.now
        let (headers, form) = credentials.tokenRequest()
        logger.debug(
            "Requesting an access token",
            metadata: ["http.url": "\(credentials.tokenURL)", "auth.client_id": "\(credentials.clientID)"])
        let response: HTTPExchange.Response
        unansweredSince = .now
        defer { unansweredSince = nil }
        do {
            response = try await exchange.send(
                method: .POST, url: credentials.tokenURL, headers: headers, body: form, timeout: timeout,
                logger: logger)
        } catch let failure as HTTPExchange.Failure {
            if case .untrustedServer(let cause) = failure {
                throw FetchError(.untrustedServer, "token endpoint: \(cause); not retried", url: credentials.tokenURL)
            }
            throw TransientFailure(description: "\(endpoint): \(failure)", status: nil)
        }
        return try accept(response, requestedAt: requestedAt)
    }

    private func accept(_ response: HTTPExchange.Response, requestedAt: C.Instant) throws -> AccessToken {
        switch response.status {
        case 200:
            guard let json = try? JSON.decode(response.body) else {
                throw TransientFailure(description: "\(endpoint): HTTP 200 with a body that is not JSON", status: 200)
            }
            guard let value = json["access_token"].stringValue, !value.isEmpty else {
                throw FetchError(
                    .invalidResponse, "the token endpoint answered 200 without an access_token",
                    url: credentials.tokenURL, status: 200)
            }
            let lifetime = json["expires_in"].intValue.map { Duration.seconds($0) } ?? .seconds(3600)
            let token = AccessToken(value: value)
            cache.store(token, lifetime: lifetime, requestedAt: requestedAt)
            logger.debug("Got an access token", metadata: ["auth.expires_in": "\(lifetime.seconds)"])
            return token
        case 400, 401, 403:
            let refusal = FetchError(
                .authFailed,
                "the token endpoint refused the client credentials of client id \"\(credentials.clientID)\": "
                    + "\(APIErrorMessage.extract(from: response.body, hiding: hidden)); check the client id and secret",
                url: credentials.tokenURL, status: response.status)
            self.refusal = refusal
            logger.error("\(refusal.message)", metadata: ["http.status": "\(response.status)"])
            throw refusal
        case 408, 429, 500..<600:
            // Its Retry-After holds back every token request; the fetcher stops on one over the cap.
            let retryAfter = RetryAfter.parse(response.headers.first(name: "Retry-After"))
            if let retryAfter { notBefore = clock.now.advanced(by: retryAfter) }
            throw TransientFailure(
                description:
                    "\(endpoint): HTTP \(response.status): \(APIErrorMessage.extract(from: response.body, hiding: hidden))",
                status: response.status, retryAfter: retryAfter)
        case 300..<400:
            throw FetchError(
                .unexpectedStatus(response.status),
                "the token endpoint answered HTTP \(response.status) ("
                    + RedirectRefusal.message(location: response.headers.first(name: "Location"), secrets: hidden)
                    + ")",
                url: credentials.tokenURL, status: response.status)
        default:
            throw FetchError(
                .unexpectedStatus(response.status),
                "the token endpoint answered HTTP \(response.status): \(APIErrorMessage.extract(from: response.body, hiding: hidden))",
                url: credentials.tokenURL, status: response.status)
        }
    }
}
