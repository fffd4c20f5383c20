import Foundation
import SluiceCore

/// Everything an ``HTTPFetcher`` needs to know about one HTTP source: where it is, how to
/// ask it for a batch of items, how to match the answer to the ids, how fast it may be asked,
/// and how hard to try.
///
/// The plan sets every field (the fetch stage builds it); the defaults here are for code that
/// uses ``HTTPFetcher`` directly.
public struct FetchConfiguration: Sendable {
    /// Scheme, host and base path, e.g. `https://api.spotify.com/v1`.
    public var baseURL: String
    /// `GET`, or `POST` for a ``RequestShape/batchBody(template:)`` request or a per-item one.
    public var method: String = "GET"
    /// The batch endpoint below ``baseURL``, e.g. `/tracks`. Unused by ``RequestShape/perItem``,
    /// whose ids are whole relative URLs.
    public var path: String
    /// How the ids of one request are sent.
    public var request: RequestShape = .batchQuery(parameter: "ids", separator: ",")
    /// Written before every id in a batch request and expected before it in ``MatchRule/objectKeys``
    /// answers (Open Library's `ISBN:`).
    public var idPrefix: String = ""
    /// How the items of an answer are matched to the ids asked for.
    public var match: MatchRule = .position
    /// Extra query parameters sent with every batch request (e.g. `market`), in key order.
    public var query: [String: String] = [:]
    /// Minimum spacing between the starts of two requests, shared by concurrent callers.
    public var delay: Duration?
    /// At most this many request starts in any rolling 60-second window.
    public var ratePerMinute: Int?
    /// How many ``HTTPFetcher/fetch(ids:)`` calls the caller runs at once; each call has at
    /// most one request in flight.
    public var concurrency: Int = 1
    /// Deadline for one request, from sending it to the last byte of the body.
    public var timeout: Duration = .seconds(30)
    /// Attempts after the first for transient failures (5xx, timeouts, dropped connections,
    /// bodies that are not the expected JSON, throttling answers).
    public var retries: Int = 5
    /// Exponential backoff: the ceiling before retry `n` is `min(backoffMax, backoffBase * 2^(n-1))`,
    /// and the wait a uniform draw below it ("full jitter").
    public var backoffBase: Duration = .milliseconds(500)
    public var backoffMax: Duration = .seconds(30)
    /// A `Retry-After` longer than this stops with a resumable ``FetchError`` instead of sleeping.
    public var maxRetryAfter: Duration = .seconds(120)
    /// Statuses that mean "slow down" besides 429 (a rate-limited API's 503): the whole host
    /// waits their `Retry-After`, or a backoff when they have none, before anything else is sent.
    public var throttleStatuses: Set<Int> = []
    /// How requests authenticate; `nil` sends none.
    public var auth: RequestAuth?
    /// Sent with every request to the API (a `User-Agent` naming the app, an `Accept-Language`).
    public var headers: [(String, String)] = []
    /// The plan's secrets every request carries besides its auth and credential headers: in
    /// another header's value (`X-Trace: ${TRACE_TOKEN}`) or in the base URL (a key in its
    /// path). Hidden in answers that repeat them, like the credentials.
    public var sentSecrets: [String] = []
    /// The `User-Agent` sent when ``headers`` has none.
    public static let defaultUserAgent = "sluice/\(SluiceVersion.current)"
    /// What an item the API sent means besides itself (`retry_when`, `not_found_when`).
    public var itemRules = ItemRules()
    /// The key of the answer holding the items (an array, or an object for
    /// ``MatchRule/objectKeys``); `nil` when the body itself is that.
    public var itemsKey: String?
    /// Per item: how the pages of each request's list are followed; `nil` reads the first answer
    /// alone.
    public var paginate: Pagination?
    /// Per-item endpoint used when the batch endpoint answers 403; `{id}` is replaced by the
    /// percent-encoded id. `nil` makes a 403 an error.
    public var fallbackPath: String?
    /// What the plan says about that switch (why an API does it, what it costs), added to the
    /// notice.
    public var fallbackNote: String?
    /// Most ids in one batch request; longer lists are split.
    public var maxIDs: Int = 50
    /// A request still answered with a 5xx after every retry rejects its ids (the last error
    /// as the reason) instead of stopping the fetch.
    public var rejectOnGiveUp = false

    public init(baseURL: String, path: String, itemsKey: String?, auth: OAuth2ClientCredentials? = nil) {
        self.baseURL = baseURL
        self.path = path
        self.itemsKey = itemsKey
        self.auth = auth.map(RequestAuth.oauth2)
    }
}

/// How the ids of one request reach the API.
public enum RequestShape: Sendable, Equatable {
    /// One request per id; each id is the request's URL below the base URL, path and query
    /// already rendered and percent-encoded (`/ws/2/isrc/USRC17607839?fmt=json`), and for a
    /// `POST` with a body, a newline and the body's JSON (`/lookup\n{"isbn":"0451526538"}`).
    case perItem
    /// The ids, each with the id prefix, joined by `separator` in one query parameter
    /// (`?ids=a,b,c`; `?bibkeys=ISBN:a,ISBN:b`).
    case batchQuery(parameter: String, separator: String)
    /// The ids, each with the id prefix, each in a query parameter of its own, all named
    /// `parameter` (`?id=a&id=b`; `?id[]=a&id[]=b`).
    case batchQueryRepeated(parameter: String)
    /// A JSON body: `template` with every string `"{ids}"` replaced by the list of ids (each
    /// with the id prefix), and every one-element list whose element holds `"{id}"` repeated
    /// once per id with it filled in (`[{"isbn": "{id}"}]` → one object per id). Its keys are
    /// sent in `keyOrder`, the plan's.
    case batchBody(template: Value, keyOrder: JSONKeyOrder = .sorted)
}

/// How the items of a batch answer are matched to the ids asked for.
public enum MatchRule: Sendable, Equatable {
    /// An array with one entry per id, in request order; `null` is "not found" (Spotify: the
    /// returned `id` may differ from the one asked for, because of relinking).
    case position
    /// An array in any order and of any length; each item's value at this key path (`id`,
    /// `identifiers.isbn`) is the id it answers. Ids no item names are "not found".
    case itemField([String])
    /// An object keyed by the ids asked for, with the id prefix (`{"ISBN:0451526538": {...}}`).
    /// Ids that are not keys are "not found".
    case objectKeys
}

/// How a request proves who sends it. Every secret stays out of descriptions, logs, errors and URLs
/// that are shown.
public enum RequestAuth: Sendable, Equatable {
    /// A token from the OAuth2 client-credentials grant, refreshed before it expires and on a 401.
    case oauth2(OAuth2ClientCredentials)
    /// `Authorization: Bearer TOKEN` with a token the plan is given.
    case bearer(token: String)
    /// HTTP Basic: `Authorization: Basic BASE64(USER:PASSWORD)`.
    case basic(username: String, password: String)
    /// An API key in a request header (`X-Api-Key: KEY`).
    case apiKeyHeader(name: String, key: String)
    /// An API key in a query parameter (`?api_key=KEY`), added when the request is sent and
    /// never to a URL that is logged or reported.
    case apiKeyQuery(name: String, key: String)
    /// An API key as the member `name` of a `POST`'s JSON object body, added when the request
    /// is sent: never in a request's key, which is written down.
    case apiKeyBody(name: String, key: String)
}

extension RequestAuth {
    /// `BASE64(USER:PASSWORD)`, as an `Authorization: Basic` header carries it (RFC 7617, UTF-8).
    public static func basicCredentials(username: String, password: String) -> String {
        Data("\(username):\(password)".utf8).base64EncodedString()
    }
}

extension RequestAuth: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        switch self {
        case .oauth2(let credentials): return credentials.description
        case .bearer: return "bearer(<redacted>)"
        case .basic: return "basic(<redacted>)"
        case .apiKeyHeader(let name, _): return "apiKeyHeader(\(name): <redacted>)"
        case .apiKeyQuery(let name, _): return "apiKeyQuery(\(name)=<redacted>)"
        case .apiKeyBody(let name, _): return "apiKeyBody(\(name): <redacted>)"
        }
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror { Mirror(self, children: ["auth": description]) }
}

extension FetchConfiguration: CustomReflectable {
    /// Header values may be secrets (a plan's `headers` are treated as such): only their names show.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "baseURL": baseURL, "method": method, "path": path, "request": request, "idPrefix": idPrefix,
                "match": match, "query": query, "delay": delay as Any, "ratePerMinute": ratePerMinute as Any,
                "concurrency": concurrency, "timeout": timeout, "retries": retries, "backoffBase": backoffBase,
                "backoffMax": backoffMax, "maxRetryAfter": maxRetryAfter, "throttleStatuses": throttleStatuses,
                "auth": auth.map(\.description) as Any, "headers": headers.map { "\($0.0): <redacted>" },
                "itemsKey": itemsKey as Any, "paginate": paginate as Any, "fallbackPath": fallbackPath as Any,
                "maxIDs": maxIDs,
            ])
    }
}

extension FetchConfiguration {
    /// Whether a header carries a credential, by its name: `Authorization`, `Cookie`, or one
    /// whose name reads as a secret (`X-Api-Key`, `X-Vendor-Token`), as a variable's would.
    /// What every request carries whatever its access token: the auth's key or bearer token,
    /// and the values of the headers that read as credentials (``isCredentialHeader(_:)``).
    ///
    /// - Parameter inAnswers: leave out what a 2xx answer may hold as data: a Basic username
    ///   that comes with a password names an account (GitHub's `login`, an `owner`), which
    ///   answers repeat; alone, with no password, it is the key itself, and it stays.
    func fixedCredentials(inAnswers: Bool = false) -> [String] {
        var credentials = headers.filter { Self.isCredentialHeader($0.0) }.map(\.1) + sentSecrets
        switch auth {
        case .bearer(let token): credentials.append(token)
        case .basic(let username, let password):
            // The password, and the header's value as an answer may repeat it.
            credentials += [password, RequestAuth.basicCredentials(username: username, password: password)]
            if !inAnswers || password.isEmpty { credentials.append(username) }
        case .apiKeyHeader(_, let key), .apiKeyQuery(_, let key), .apiKeyBody(_, let key): credentials.append(key)
        case .oauth2, nil: break
        }
        return credentials
    }

    public static func isCredentialHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["authorization", "proxy-authorization", "cookie"].contains(lower)
            || Redaction.isSecretName(lower.replacingOccurrences(of: "-", with: "_"))
    }
}
