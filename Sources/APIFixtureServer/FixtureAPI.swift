import Foundation
import SluiceCore

/// A public REST API's lookup endpoint as a local server plays it: the request shape it takes,
/// the answers it gives (recorded, by id), and the rules it enforces — a `User-Agent` naming
/// the app, an API key, at most one request per interval (503 otherwise), the query parameter
/// without which it does not answer JSON.
public struct FixtureAPI: Sendable {
    /// How ids reach the endpoint and how the answer is laid out.
    public enum Shape: Sendable {
        /// `GET {prefix}{id}`: the recorded answer, or 404 (MusicBrainz `/ws/2/isrc/{isrc}`).
        case perItem(pathPrefix: String)
        /// `GET {path}?{parameter}=ID1{separator}ID2`: an object keyed by the ids sent, unknown
        /// ids simply absent (Open Library `/api/books?bibkeys=ISBN:a,ISBN:b`).
        case batchObject(path: String, parameter: String, separator: String)
        /// `GET {path}?{parameter}=ID1&{parameter}=ID2`: an object keyed by the ids sent, unknown
        /// ids absent (an API taking a list-valued query parameter).
        case batchRepeated(path: String, parameter: String)
        /// `POST {path}` with `{"<bodyKey>": [ids]}`: `{"<resultsKey>": [items]}` in an order of
        /// its own, each item carrying its id, unknown ids absent (a vendor's batch lookup).
        case batchList(path: String, bodyKey: String, resultsKey: String)
        /// `POST {path}` with a JSON object per item, its id at `idKey` (a string or a number):
        /// the recorded answer, or 404 (a lookup, geocoding or classification API taking one
        /// record at a time).
        case itemBody(path: String, idKey: String)
        /// `GET {prefix}{id}`: the id's list (its recorded answer, an array) a page at a time, as
        /// `paging` lays the pages out; 404 for an id it does not know.
        case pagedList(pathPrefix: String, paging: Paging)
    }

    public var shape: Shape
    /// `"ID#N"`: answered 500 the first time page N (from 1) of id's list is asked for.
    public var failingPageOnce: Set<String> = []
    /// `"ID#N"`: the statuses page N (from 1) of id's list is answered with, one each time it is
    /// asked for, before it is answered as usual (`[404, 404]`: the list moved, twice). A 3xx's
    /// `Location` is the page's own address, for a POST's pages with `see_other=CURSOR`, where a
    /// GET gets the page that cursor names (a POST's `See Other`).
    public var pageStatuses: [String: [Int]] = [:]
    /// The answer for each id the API knows, keyed as the client sends it (`ISBN:0451526538`).
    public var answers: [String: Value]
    /// Query parameters without which the API answers something other than JSON
    /// (MusicBrainz `fmt=json`, Open Library `format=json`).
    public var requiredQuery: [String: String] = [:]
    /// The body sent instead of JSON when a required query parameter is missing.
    public var nonJSONBody = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><metadata/>"
    /// Refuse (403) a request whose `User-Agent` does not name an application and a contact:
    /// `app/1.0 ( me@example.com )`, as MusicBrainz asks.
    public var requiresUserAgent = false
    /// A header every request must carry with this value, or 401 (`X-Api-Key`).
    public var requiredHeader: (name: String, value: String)?
    /// A member an `itemBody` request's JSON body must carry with this value, or 401 (an API
    /// that takes its key in the body).
    public var requiredBodyField: (name: String, value: String)?
    /// Error answers repeat that header (or body member) as the request sent it (`you sent X-Api-Key: ...`), as
    /// some APIs do: a client must not pass the credential on to its files and logs.
    public var echoesCredentials = false
    /// The shortest gap between two answered requests; a request that arrives sooner gets a 503
    /// (without `Retry-After`, as MusicBrainz sends it). Gaps are measured on arrival, allowing
    /// ``arrivalJitter`` of network noise.
    public var minInterval: Duration?
    public var arrivalJitter: Duration = .milliseconds(20)
    /// Most ids in one batch request; more is a 400.
    public var maxIDs = 50
    /// Ids a `batchList` answers the first N times they are asked with
    /// `{"id": ID, "status": "unavailable"}` instead of their item: a temporary error inside a 200.
    public var unavailableFirst: [String: Int] = [:]
    /// Ids an `itemBody` request is refused for with 422 (input the API cannot process).
    public var unprocessable: Set<String> = []
    /// Ids an `itemBody` request, or a `batchList` request holding one, always fails for with
    /// 500: a record the API breaks on.
    public var failing: Set<String> = []
    /// The message of the 500s ``failing`` ids get (`{"error": "internal error"}`): what an API's
    /// error page may say, control characters included.
    public var failureMessage = "internal error"
    /// Ids an `itemBody` request always gets a 200 for whose body is not JSON (a Latin-1 byte
    /// in a string): a record the API cannot encode.
    public var garbled: Set<String> = []
    /// Ids an `itemBody` request always gets a 200 for that says `Content-Encoding: gzip` over a
    /// body that is not gzip: a proxy that lies about the encoding.
    public var notGzip: Set<String> = []
    /// The longest request target (path and query) answered; a longer one gets 414 and an HTML
    /// page, as web servers answer it.
    public var maxTargetLength: Int?
    /// Time to answer each request.
    public var latency: Duration = .zero
    /// Every answer's body compressed so, `gzip` or `deflate`, with a `Content-Encoding` saying it,
    /// whatever the request's `Accept-Encoding`: an API (or a proxy before it) that compresses
    /// unasked.
    public var contentEncoding: String?
    /// Every 200 answer's body, sent as it is instead of the JSON of ``answers``: a body too big
    /// to build as JSON in a test's time (a decompression bomb's 65 MiB).
    public var rawBody: [UInt8]?
    /// Answer every request with a 307 to this origin (`http://127.0.0.1:PORT`), the same path
    /// and query after it: an API that moved, or one that hands its callers to another host.
    public var redirectsTo: String?
    /// Paths answered with a redirect (``movedStatus``), the query kept: a resource that moved
    /// (GitHub's renamed or transferred repository, `/repos/old/name/issues` to
    /// `/repositories/ID/issues`). A target starting with `/` is sent as an absolute URL on the
    /// same server; any other as it is written (`other`, a relative reference, or another
    /// server's `http://...`).
    public var moved: [String: String] = [:]
    /// The status of ``moved``'s redirects: 301, 302, 303, 307 or 308.
    public var movedStatus = 301
    /// Paths answered 410 Gone whatever is asked: an endpoint the API retired.
    public var gone: Set<String> = []
    /// Every 200 answer that is a JSON object also holds `"echo": {"query", "headers", "body"}`:
    /// the request as it arrived (query and body as sent, header names in lower case), as an API
    /// that repeats its request in `self` links or debug fields does; with ``redirectsTo``, the
    /// redirect's address repeats the `Authorization` header and the body, percent-encoded.
    public var echoesRequest = false
    /// What the API says of its rate limit, one per request in arrival order (refused ones too),
    /// before it answers as it otherwise would: an API that says its limit in headers (GitHub's
    /// 403 with `X-RateLimit-Remaining: 0`, a 200 saying the last request is spent).
    public var limitAnswers: [FixtureLimitAnswer] = []

    public init(shape: Shape, answers: [String: Value]) {
        self.shape = shape
        self.answers = answers
    }
}

/// One answer's rate-limit headers, and the status that refuses the request for the limit, if it
/// does (`nil`: answered as usual, the headers with the answer).
public struct FixtureLimitAnswer: Sendable {
    public var status: Int?
    public var headers: [String: String]
    public var message: String

    public init(status: Int? = nil, headers: [String: String], message: String = "API rate limit exceeded") {
        self.status = status
        self.headers = headers
        self.message = message
    }
}

/// How a ``FixtureAPI/Shape/pagedList(pathPrefix:paging:)`` endpoint pages a list.
public struct Paging: Sendable {
    public enum Style: Sendable {
        /// `?start=N` (a page index from 0); `{"items": [...], "links": {"next": "/path?start=N+1"}}`.
        case nextURL
        /// `?start=N`; the body is the page's array, the next page in a `Link` header's `rel="next"`.
        case linkHeader
        /// `?after=cN`; `{"items": [...], "meta": {"next_cursor": "cN+1"}}` (`""` on the last page).
        case cursor
        /// `?offset=N&limit=M`; `{"items": [...]}`.
        case offset
        /// `?page=N&per_page=M` (pages from 1); the body is the page's array.
        case page
        /// Stripe's lists: `?starting_after=ID&limit=M`, the items after the one whose
        /// ``Paging/idKey`` is ID (400 for an ID not in the list);
        /// `{"object": "list", "data": [...], "has_more": true}` (without `has_more` unless
        /// ``Paging/hasMore``).
        case startingAfter
        /// Notion's queries: `POST` with a JSON body whose member at ``Paging/cursorField`` is
        /// `cN` (none for the first page); `{"object": "list", "results": [...], "has_more": true,
        /// "next_cursor": "cN+1"}` (`null` on the last page).
        case bodyCursor
        /// Search APIs (Elasticsearch's `from` and `size`, Meilisearch's `offset` and `limit`):
        /// `POST` with a JSON body whose members at ``Paging/offsetField`` and ``Paging/sizeField``
        /// are numbers (0 and ``Paging/size`` when absent; anything else is a 400);
        /// `{"hits": [...]}` (with `has_more` as ``Paging/numberedHasMore`` says).
        case bodyOffset
        /// Algolia's search: `POST` with the page number, from 0, at ``Paging/pageField`` and the
        /// page size at ``Paging/sizeField``, numbers as ``bodyOffset``'s; its answer likewise.
        case bodyPage

        /// Whether a page is asked for with a `POST`, its place in the list in the body.
        var inBody: Bool { [.bodyCursor, .bodyOffset, .bodyPage].contains(self) }
    }

    public var style: Style
    /// Items per page (for `offset` and `page`, unless the request asks for another number).
    public var size: Int
    /// `"ID#N"`: what page N (from 1) of id's list names as its next page (a URL, or a cursor)
    /// instead of the right one: another host, a page already given.
    public var nextOverride: [String: String] = [:]
    /// `startingAfter`: the item key the `starting_after` parameter names an item by.
    public var idKey = "id"
    /// `bodyCursor`: the key path of the request body's member holding the cursor.
    public var cursorField = "start_cursor"
    /// `bodyOffset`: the key path of the request body's member holding the offset.
    public var offsetField = "from"
    /// `bodyPage`: the key path of the request body's member holding the page number.
    public var pageField = "page"
    /// `bodyOffset`, `bodyPage`: the key path of the request body's member holding the page size.
    public var sizeField = "size"
    /// `startingAfter`: whether pages say `has_more`.
    public var hasMore = true
    /// `startingAfter`, `offset`, `page`, `bodyOffset`, `bodyPage`, `"ID#N"`: what page N (from 1)
    /// of id's list says `has_more` is instead of the truth.
    public var hasMoreOverride: [String: Bool] = [:]
    /// `offset`, `page`, `bodyOffset`, `bodyPage`: the pages say whether more follow, as
    /// StackExchange's do:
    /// `{"items": [...], "has_more": true}` (`page`'s items then in `items` too).
    public var numberedHasMore = false

    public init(_ style: Style, size: Int) {
        self.style = style
        self.size = size
    }
}

/// What one request looked like to the fixture.
public struct FixtureRequest: Sendable {
    public var method: String
    public var path: String
    /// The raw query string, without `?`.
    public var query: String
    public var headers: [String: String]
    public var body: [UInt8]

    public init(method: String, path: String, query: String, headers: [String: String], body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The decoded query parameters.
    /// The query's parameters in order, names and values percent-decoded.
    var pairs: [(name: String, value: String)] {
        query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).removingPercentEncoding ?? String($0)
            }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
    }

    /// Every value of the query parameter `name`, in order (`?id=a&id=b`: `a`, `b`).
    func values(of name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// Each parameter's value; a repeated one's last.
    var parameters: [String: String] {
        Dictionary(pairs.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
    }
}

/// The fixture's answer to one request.
public struct FixtureReply: Sendable, Equatable {
    public var status: Int
    public var body: [UInt8]
    public var contentType = "application/json"
    /// The `Location` header, for a redirect.
    public var location: String?
    /// A `Content-Encoding` header sent over the body as it is.
    public var contentEncoding: String?
    /// More headers (a rate limit's, a paged list's `Link`).
    public var headers: [String: String] = [:]

    init(_ status: Int, json: Value) {
        self.status = status
        self.body = Array(JSON.encode(json).utf8)
    }

    init(_ status: Int, text: String, contentType: String) {
        self.status = status
        self.body = Array(text.utf8)
        self.contentType = contentType
    }

    static func error(_ status: Int, _ message: String) -> FixtureReply {
        FixtureReply(status, json: .object(["error": .string(message)]))
    }
}

/// What the fixture has seen, for tests and benchmarks.
public struct FixtureStats: Sendable {
    /// Every request, refused ones included.
    public var requests = 0
    /// Requests answered 2xx or 404.
    public var answered = 0
    /// 503s for coming too soon, and the refusals of ``FixtureAPI/limitAnswers``.
    public var throttled = 0
    /// 401s and 403s (key or User-Agent missing).
    public var refused = 0
    /// 400s and other client errors.
    public var badRequests = 0
    /// Ids asked for, in the order they arrived (a batch adds all of its ids).
    public var idsAsked: [String] = []
    /// When each answered request arrived, on the fixture's clock, seconds since its start.
    public var answeredAt: [Double] = []
    /// Every header name and value and every URL seen, to check no secret went where it should not.
    public var seenURLs: [String] = []
    /// The method of every request, in order (`GET`, `POST`).
    public var methods: [String] = []
    /// The `User-Agent` of every request, in order (`nil` where there was none).
    public var userAgents: [String?] = []
    /// The headers of every request, in order, names in lower case: what an API reads beyond
    /// the URL (GitHub's `Accept` and `X-GitHub-Api-Version`).
    public var headers: [[String: String]] = []
    /// The JSON body of every `itemBody` request, in order, as the server decoded it.
    public var bodies: [Value] = []
    /// The body of every request that had one, in order, as it arrived (its bytes as text): what
    /// was sent byte for byte, its keys' order included.
    public var rawBodies: [String] = []
}
