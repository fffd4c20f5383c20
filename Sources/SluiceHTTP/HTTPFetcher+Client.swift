import AsyncHTTPClient
import SluiceCore

extension HTTPFetcher {
    /// How to set up the HTTP client a fetcher is given:
    /// `HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)`.
    ///
    /// AsyncHTTPClient's own retrying of failed connection attempts is off. With it on, a refused
    /// connection or a host name that does not resolve held each request until its deadline, so
    /// every attempt cost the whole `timeout` (30 s by default) before the fetcher even saw the
    /// error. The fetcher already retries a failed request with jittered backoff, counted and
    /// bounded by `retries`: one layer of retries is enough.
    ///
    /// The client follows no redirect itself: a request carries credentials (an API key in a
    /// header, the query or the body, a client secret in a token request's form) that a hop to
    /// another host would hand over, and AsyncHTTPClient strips only `Authorization` on the way.
    /// The fetcher follows a redirect to the connection's own origin, where the credentials were
    /// meant to go, a POST's only as RFC 9110 keeps its meaning (303, 307, 308:
    /// ``HTTPFetcher/redirected(_:status:location:visited:purpose:url:)``); any other 3xx is
    /// reported with where it points (``RedirectRefusal``).
    ///
    /// Answers compressed with gzip or deflate are decompressed (the client asks for them with
    /// `Accept-Encoding` unless the connection's headers say otherwise, and some APIs compress
    /// unasked), and no further than ``HTTPExchange/maxBodyBytes``, the most a plain body may
    /// hold: a small body that would expand to gigabytes (a decompression bomb) fails as a body
    /// too large, having taken no more memory than that.
    public static var clientConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .enabled(limit: .size(HTTPExchange.maxBodyBytes))
        return configuration
    }
}

/// What a fetch or a token request says when it is answered with a redirect it does not follow
/// (see ``HTTPFetcher/clientConfiguration``).
enum RedirectRefusal {
    /// The advice for a token endpoint's redirect, or a request the plan alone names.
    static let inThePlan = "write the address it points to in the plan (base_url, token_url, path)"

    /// `secrets`: the credentials the request carried, never shown if the address repeats them;
    /// `why`: why it is not followed; `advice`: what to change.
    static func message(
        location: String?, secrets: [String],
        why: String = "the request's credentials would go with it", advice: String = inThePlan
    ) -> String {
        let target = location.map { Redaction.masking(secrets, in: URLRedaction.describe($0), anywhere: true) }
        return "a redirect" + (target.map { " to \($0)" } ?? " without a Location")
            + ", which Sluice does not follow: \(why); \(advice)"
    }
}
