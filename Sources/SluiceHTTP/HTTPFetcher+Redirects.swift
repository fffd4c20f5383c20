import Logging
import SluiceCore

extension HTTPFetcher {
    /// The most redirects one request follows; one more fails as a redirect not followed.
    static let maxRedirects = 5

    /// Query parameters the fetcher adds as a request leaves (an api-key's `query_param`): taken
    /// off an address the API names (a next page, a redirect's `Location`), so that the key is
    /// neither sent twice nor logged.
    var addedParameters: [String] {
        if case .apiKeyQuery(let name, _) = configuration.auth { [name] } else { [] }
    }

    /// The request to send instead of `request`, answered by a redirect (`status`) to `location`:
    /// one to the connection's own scheme, host and port, where its credentials were meant to go,
    /// is followed (counted in ``FetchCounters/redirects``), at most ``maxRedirects`` times and
    /// never back to an address already asked (`visited`, which it extends). A GET is asked again
    /// as a GET; a POST as RFC 9110 says: a 303 ("see other": the answer is there) with a GET and no
    /// body, a 307 or 308 as it was, method and body. Any other is not followed: a POST's 301 or
    /// 302, which clients may turn into a GET (most do), so what the API meant is not known; or a
    /// redirect that would take the credentials to another server.
    /// - Throws: ``FetchError`` saying why the redirect is not followed, and what to change.
    func redirected(
        _ request: RequestURL.Request, status: Int, location: String?, visited: inout [String], purpose: Purpose,
        url: String
    ) throws -> RequestURL.Request {
        func refused(_ why: String, _ advice: String = RedirectRefusal.inThePlan) -> FetchError {
            FetchError(
                .unexpectedStatus(status),
                "the API answered HTTP \(status) ("
                    + RedirectRefusal.message(
                        location: location, secrets: credentialForms.messages, why: why, advice: advice)
                    + "); not retried", url: url, status: status)
        }
        let (method, body): (String, [UInt8]?)
        switch status {
        case _ where request.method == "GET": (method, body) = ("GET", nil)
        case 303: (method, body) = ("GET", nil)
        case 307, 308: (method, body) = (request.method, request.body)
        default:
            throw refused(
                "a \(request.method)'s \(status) may be asked again as a GET, which would change its meaning (an API "
                    + "moving a \(request.method) answers 307 or 308)")
        }
        let origin = PagedList.Origin(configuration.baseURL)
        guard
            let (next, there) = location.flatMap({
                PagedList.resolve($0, against: request.url, removing: addedParameters)
            })
        else { throw refused("the request's credentials would go with it") }
        guard let origin, there == origin else {
            let advice =
                Self.pathAndQuery(next) == Self.pathAndQuery(request.url)
                ? "write the scheme, host and port it points to in the plan's base_url"
                : configuration.request == .perItem && purpose != .fallback
                    ? "this row's values name an address that moved: write the new one in the data (or the plan's "
                        + "path)"
                    : RedirectRefusal.inThePlan
            throw refused(
                "it is not on the connection's \(origin.map(\.description) ?? "base_url"), and the request's "
                    + "credentials would go with it", advice)
        }
        guard !visited.contains(next) else {
            throw refused("it leads back to an address already asked: the redirects loop")
        }
        guard visited.count <= Self.maxRedirects else {
            throw refused("it would be this request's redirect number \(visited.count), more than \(Self.maxRedirects)")
        }
        guard !credentialForms.messages.contains(where: { next.contains($0) }) else {
            throw refused("the address repeats the request's credentials")
        }
        visited.append(next)
        tally.redirects += 1
        let metadata: Logger.Metadata = [
            "http.status": "\(status)", "http.url": "\(URLRedaction.describe(request.url))",
            "http.location": "\(URLRedaction.describe(next))",
        ]
        logger.debug("Following a redirect on the connection's own host", metadata: metadata)
        // A POST's 303 is how an API hands over the answer (RFC 9110), not an address that moved.
        if !saidRedirected, request.method == "GET" || status != 303 {
            saidRedirected = true
            let said =
                "The API redirects \(URLRedaction.describe(request.url)) to \(URLRedaction.describe(next)) (HTTP "
                + "\(status); followed: same host); update the plan/data to ask the new address"
            logger.warning("\(said)", metadata: metadata)
        }
        return RequestURL.Request(method: method, url: next, body: body)
    }

    /// What follows a URL's origin: its path and query.
    private static func pathAndQuery(_ url: String) -> Substring {
        guard let scheme = url.range(of: "://") else { return Substring(url) }
        let rest = url[scheme.upperBound...]
        return rest[(rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex)...]
    }
}
