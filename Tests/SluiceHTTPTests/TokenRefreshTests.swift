import AsyncHTTPClient
import Logging
import SluiceHTTP
import SluiceTestSupport
import SpotifySimulator
import Testing

/// The fetcher's OAuth2 token against the simulator over HTTP: fetched once, reused, and
/// replaced exactly once when the API says it expired.
@Suite struct TokenRefreshTests {
    /// Runs `body` with a started simulator, an HTTP client, and a fetch configuration for its
    /// `/tracks` endpoint with its OAuth2 credentials; stops both whatever `body` does.
    static func withSimulator(
        _ configuration: SimulatorConfiguration = SimulatorConfiguration(),
        _ body: (SpotifySimulator, HTTPClient, FetchConfiguration) async throws -> Void
    ) async throws {
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let fetch = FetchConfiguration(
            baseURL: simulator.baseURL, path: "/tracks", itemsKey: "tracks",
            auth: OAuth2ClientCredentials(
                tokenURL: simulator.tokenURL, clientID: configuration.clientID,
                clientSecret: configuration.clientSecret))
        do {
            try await body(simulator, client, fetch)
        } catch {
            try? await client.shutdown()
            await simulator.stop()
            throw error
        }
        try await client.shutdown()
        await simulator.stop()
    }

    @Test func anExpiredTokenIsRefreshedOnceAndTheBatchStillSucceeds() async throws {
        try await Self.withSimulator { simulator, client, configuration in
            var fetch = configuration
            fetch.retries = 0
            let fetcher = HTTPFetcher(configuration: fetch, httpClient: client, logger: Logger(label: "test"))
            let ids = (0..<3).map { simulator.catalog.knownID($0) }

            let first = try await fetcher.fetch(ids: ids)
            let second = try await fetcher.fetch(ids: ids)
            #expect(await fetcher.counters.tokenRequests == 1, "one token, reused")

            simulator.expireTokens()
            let third = try await fetcher.fetch(ids: ids)
            let counters = await fetcher.counters
            #expect(counters.tokenRequests == 2)
            #expect(counters.tokenRefreshes == 1)
            #expect(counters.retries == 0, "a 401 answered with a new token is not a retry")
            for results in [first, second, third] {
                #expect(results.count == 3)
                #expect(results.allSatisfy { if case .found = $0 { true } else { false } })
            }
            #expect(simulator.stats().tokenRequests == 2)
        }
    }

    /// A wait long enough to look like a hang is said at the default level (warning); a short
    /// one, and every retry after the first, only at notice.
    @Test func aLongRetryAfterAndTheFirstRetryAreWarnedAbout() async throws {
        var configuration = SimulatorConfiguration()
        configuration.faults.retryAfter = .seconds(30)
        let log = LogCapture()
        try await Self.withSimulator(configuration) { simulator, client, fetchConfiguration in
            var fetch = fetchConfiguration
            fetch.retries = 3
            fetch.backoffBase = .milliseconds(1)
            fetch.backoffMax = .milliseconds(2)
            let fetcher = HTTPFetcher(
                configuration: fetch, httpClient: client, logger: log.logger, clock: TestClock(autoAdvance: true))
            simulator.scheduleFaults([.tooManyRequests429, .serverError500, .serverError500])
            let results = try await fetcher.fetch(ids: [simulator.catalog.knownID(0)])
            #expect(results.count == 1)
            let warnings = log.records.filter { $0.level == .warning }.map(\.message)
            #expect(warnings.count == 2, "\(warnings)")
            #expect(warnings.first == "Rate limited (429); sending nothing to the host for Retry-After of 30 s")
            #expect(warnings.last?.hasPrefix("Request failed (HTTP 500") == true, "\(warnings)")
            #expect(log.records.filter { $0.message.hasPrefix("Request failed") }.count == 2)
        }
    }
}

extension TokenRefreshTests {
    /// A token endpoint's `Retry-After` holds back every token request, not only the retry of the
    /// one it answered: a batch that starts during the wait (and so did not share the refused
    /// request) asks for its token only once the wait is over, as the first batch's retry does.
    @Test func aTokenEndpointsRetryAfterHoldsBackALaterBatchsTokenRequestToo() async throws {
        var configuration = SimulatorConfiguration()
        configuration.tokenRetryAfter = .seconds(2)
        try await Self.withSimulator(configuration) { simulator, client, plain in
            var fetch = plain
            fetch.retries = 3
            fetch.backoffBase = .milliseconds(1)
            fetch.backoffMax = .milliseconds(2)
            let fetcher = HTTPFetcher(configuration: fetch, httpClient: client, logger: Logger(label: "t"))
            let ids = [simulator.catalog.knownID(0)]
            async let first = fetcher.fetch(ids: ids)
            while simulator.stats().tokenRequests == 0 { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            let second = try await fetcher.fetch(ids: ids)
            let results = try await first + second
            #expect(results.allSatisfy { if case .found = $0 { true } else { false } })
            let asked = simulator.stats().requestLog.filter { $0.path == "/api/token" }
            #expect(asked.map(\.status) == [429, 200], "a token request was sent during the wait")
        }
    }

    /// An identity provider that wants a scope and an audience, and takes the client only from
    /// the form (`client_secret_post`): the token request carries what the plan says, and
    /// without the scope the provider's refusal is what the fetch reports.
    @Test func scopeAudienceAndFormCredentialsReachTheTokenEndpoint() async throws {
        var configuration = SimulatorConfiguration()
        configuration.requiredTokenFields = ["scope": "read:tracks", "audience": "https://api.example.com/v1"]
        configuration.acceptsBasicCredentials = false
        try await Self.withSimulator(configuration) { simulator, client, plain in
            var fetch = plain
            fetch.retries = 0
            guard case .oauth2(var credentials) = fetch.auth else {
                Issue.record("the helper's fetch uses OAuth2")
                return
            }
            credentials.scope = "read:tracks"
            credentials.audience = "https://api.example.com/v1"
            credentials.clientAuthentication = .body
            fetch.auth = .oauth2(credentials)
            let ids = (0..<3).map { simulator.catalog.knownID($0) }
            let results = try await HTTPFetcher(configuration: fetch, httpClient: client, logger: Logger(label: "t"))
                .fetch(ids: ids)
            #expect(results.allSatisfy { if case .found = $0 { true } else { false } })

            credentials.scope = nil
            fetch.auth = .oauth2(credentials)
            let error = await #expect(throws: FetchError.self) {
                _ = try await HTTPFetcher(configuration: fetch, httpClient: client, logger: Logger(label: "t"))
                    .fetch(ids: ids)
            }
            #expect("\(error.map { "\($0)" } ?? "")".contains("invalid_scope"), "\(String(describing: error))")

            credentials.scope = "read:tracks"
            credentials.clientAuthentication = .basic
            fetch.auth = .oauth2(credentials)
            let basic = await #expect(throws: FetchError.self) {
                _ = try await HTTPFetcher(configuration: fetch, httpClient: client, logger: Logger(label: "t"))
                    .fetch(ids: ids)
            }
            #expect("\(basic.map { "\($0)" } ?? "")".contains("invalid_client"), "\(String(describing: basic))")
        }
    }
}

extension TokenRefreshTests {
    /// `--log-level debug` shows each request's method, URL and status: the shape a plan gives
    /// its requests, without reading the server's log; the token never.
    @Test func debugLogsEachRequestWithoutItsToken() async throws {
        try await Self.withSimulator { simulator, client, fetch in
            let capture = LogCapture()
            var logger = capture.logger
            logger.logLevel = .debug
            let ids = (0..<2).map { simulator.catalog.knownID($0) }
            _ = try await HTTPFetcher(configuration: fetch, httpClient: client, logger: logger).fetch(ids: ids)
            let exchanges = capture.records.filter { $0.level == .debug && $0.message == "HTTP exchange" }
            #expect(exchanges.count == 1, "\(capture.fullText)")
            #expect(exchanges.first?.metadata.contains("http.method=GET") == true, "\(exchanges)")
            #expect(exchanges.first?.metadata.contains("/tracks?ids=") == true, "\(exchanges)")
            #expect(exchanges.first?.metadata.contains("http.status=200") == true, "\(exchanges)")
            for token in simulator.issuedTokens() { #expect(!capture.fullText.contains(token)) }
        }
    }
}
