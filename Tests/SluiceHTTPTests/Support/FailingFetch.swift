import AsyncHTTPClient
import Logging
import NIOSSL
import SluiceHTTP
import Testing

/// Fetches one id from `baseURL` with the client configuration fetch uses (plus `tls`), a 120 s
/// timeout, `retries` retries and a 10 ms backoff, expecting it to fail.
/// - Returns: the error, the fetcher's counters, and how long it took.
func failingFetch(
    baseURL: String, auth: OAuth2ClientCredentials? = nil, tls: TLSConfiguration? = nil, retries: Int
) async throws -> (error: FetchError, counters: FetchCounters, elapsed: Duration) {
    var clientConfiguration = HTTPFetcher.clientConfiguration
    if let tls { clientConfiguration.tlsConfiguration = tls }
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
    defer { _ = client.shutdown() }
    var configuration = FetchConfiguration(baseURL: baseURL, path: "/tracks", itemsKey: "tracks", auth: auth)
    configuration.timeout = .seconds(120)
    configuration.retries = retries
    configuration.backoffBase = .milliseconds(10)
    let fetcher = HTTPFetcher(configuration: configuration, httpClient: client, logger: Logger(label: "test"))
    let started = ContinuousClock.now
    let error = try await #require(throws: FetchError.self) {
        _ = try await fetcher.fetch(ids: ["4uLU6hMCjMI75M1A2tKUQC"])
    }
    return (error, await fetcher.counters, ContinuousClock.now - started)
}
