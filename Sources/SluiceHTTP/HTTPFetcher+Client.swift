import AsyncHTTPClient

extension HTTPFetcher {
    /// How to set up the HTTP client a fetcher is given:
    /// `HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)`.
    ///
    /// AsyncHTTPClient's own retrying of failed connection attempts is off. With it on, a refused
    /// connection or a host name that does not resolve held each request until its deadline, so
    /// every attempt cost the whole `timeout` (30 s by default) before the fetcher even saw the
    /// error. The fetcher already retries a failed request with jittered backoff, counted and
    /// bounded by `retries`: one layer of retries is enough.
    public static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        return configuration
    }
}
