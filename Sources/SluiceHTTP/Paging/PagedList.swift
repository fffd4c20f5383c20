import Foundation
import SluiceCore

/// One row's list as its pages come (``Pagination``): reads each page's items and where the next
/// page is, and refuses a next page on another host or one already asked for. Pure, so every
/// style is testable without a server.
struct PagedList: Sendable {
    let pagination: Pagination
    let itemsKey: String?
    /// The row's request as the plan makes it, before any page parameter.
    let request: RequestURL.Request
    /// The connection's scheme, host and port: the only place a next page may be asked from,
    /// since every request carries the connection's credentials.
    let origin: Origin?
    /// Query parameters the fetcher adds as a request leaves (an api-key's `query_param`): taken
    /// off a next URL the API names, so that the key is neither sent twice nor logged.
    let addedParameters: [String]
    /// ``firstRequest``, made once: every cursor page is the first request with its cursor set.
    private let first: Result<RequestURL.Request, FetchError>
    /// The items of the pages read so far, in order.
    private(set) var items: [Value] = []
    /// The pages read so far.
    private(set) var pages = 0
    /// Each URL asked for, with its page number: a next page already asked for is a loop.
    private var asked: [String: Int] = [:]
    /// The body of the request whose answer is read next (a POST's).
    private var body: [UInt8]?

    /// One page's answer as read: its items and the next page's URL or cursor (`nil`: the last
    /// page; the JSON of a cursor sent in a body, which keeps its type). `notFound`: the page meets
    /// `not_found_when`.
    struct Page: Sendable {
        var items: [Value]
        var next: String?
        var notFound = false
    }

    /// What to do after a page.
    enum Step: Sendable {
        case ask(RequestURL.Request)
        case done
        /// The list has a page past ``Pagination/maxPages``.
        case tooManyPages
    }

    /// A scheme, a host and a port, compared as URLs compare them (case-insensitively, a
    /// missing port being the scheme's own).
    struct Origin: Sendable, Equatable, CustomStringConvertible {
        var scheme: String
        var host: String
        var port: Int?

        init?(_ url: String) {
            guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(),
                let host = parts.host?.lowercased(), !host.isEmpty
            else { return nil }
            self.scheme = scheme
            self.host = host
            self.port = parts.port ?? ["http": 80, "https": 443][scheme]
        }

        var description: String { "\(scheme)://\(host)" + (port.map { ":\($0)" } ?? "") }
    }

    init(
        _ pagination: Pagination, itemsKey: String?, request: RequestURL.Request, baseURL: String,
        addedParameters: [String]
    ) {
        self.pagination = pagination
        self.itemsKey = itemsKey
        self.request = request
        self.origin = Origin(baseURL)
        self.addedParameters = addedParameters
        let first = Result { () throws(FetchError) in try Self.withPageParameters(0, of: request, pagination.style) }
        self.first = first
        // The first page is known by the body it is asked with: with its offset or number set.
        self.body = (try? first.get())?.body ?? request.body
    }

    /// The first page's request: the row's, with the page parameters an offset or page style
    /// sends on every request.
    /// - Throws: ``FetchError`` when a page parameter goes in a body that has no place for it.
    var firstRequest: RequestURL.Request {
        get throws(FetchError) { try first.get() }
    }

    /// Reads one page's answer. `link` is its `Link` header (all of them, comma-joined);
    /// `rules` the plan's `retry_when` and `not_found_when`, which read the page's whole answer.
    func read(_ body: Value, link: String?, rules: ItemRules) -> Result<Page, AnswerMatching.Mismatch> {
        var notFound = false
        switch rules.judge([.found(body)]) {
        case .failure(let mismatch): return .failure(mismatch)
        case .success(let judged): if case .notFound = judged[0] { notFound = true }
        }
        let unknown = Page(items: [], next: nil, notFound: true)
        guard pages > 0 else { return notFound || body.isNull ? .success(unknown) : items(of: body, link: link) }
        let page = items(of: body, link: link)
        // The empty page that ends a list (a numbered one's, a keyset's without has_more) meets a
        // `not_found_when` that calls an empty list not found: it is the list's end, not a list
        // that moved.
        guard notFound, case .success(let read) = page, read.items.isEmpty, read.next == nil else {
            return notFound ? .success(unknown) : page
        }
        return page
    }

    /// One page's items and where the next page is, as the style reads them.
    private func items(of body: Value, link: String?) -> Result<Page, AnswerMatching.Mismatch> {
        // `null` at `items_key` is an empty list (Go's JSON writes an empty slice so); a missing key
        // is not: more likely `items_key` names the wrong place, or the answer is an error.
        let found = itemsKey.map { AnswerMatching.value(at: $0, in: body) } ?? body
        let list: [Value]
        switch found {
        case .array(let items): list = items
        case .null where itemsKey != nil: list = []
        default:
            let place = itemsKey.map { "page \(pages + 1)'s \"\($0)\"" } ?? "page \(pages + 1)'s body"
            return .failure(.shape(place, found ?? .null, wanted: "an array", in: body))
        }
        switch pagination.style {
        case .nextURL(let key):
            let value = AnswerMatching.value(at: key, in: body)
            return Self.text(of: value, "the answer's \"\(key)\" (paginate.next_url)", wanted: "a URL").map {
                Page(items: list, next: $0)
            }
        case .linkHeader:
            return .success(Page(items: list, next: link.flatMap(Self.nextLink)))
        case .cursor(let key, let parameter, let end, let hasMore):
            var more = false
            if let hasMore {
                switch self.more(at: hasMore, in: body) {
                case .failure(let mismatch): return .failure(mismatch)
                case .success(false): return .success(Page(items: list, next: nil))
                case .success(true): more = true
                }
            }
            // A cursor that is the number 0 ends the list (Twitter's `next_cursor`); the text "0"
            // only when the plan says so (`end_cursor`): elsewhere it may be a page like any.
            let value = AnswerMatching.value(at: key, in: body)
            let ended = value == .int(0) || (end != nil && value?.text == end)
            let place = "page \(pages + 1)'s \"\(key)\" (paginate.cursor)"
            return Self.cursor(value, place, wanted: "a cursor", in: parameter).flatMap { found in
                let next = ended ? nil : found
                guard next != nil || !more else {
                    return .failure(
                        .shaped(
                            "\(place) names no next page although its \"\(hasMore ?? "")\" (paginate.has_more) is "
                                + "true; the list is never used in part"))
                }
                return .success(Page(items: list, next: next))
            }
        case .afterLast(let key, let parameter, let hasMore, let size, _):
            return afterLast(list, key: key, parameter: parameter, hasMore: hasMore, pageSize: size, in: body).map {
                Page(items: list, next: $0)
            }
        case .offset(let parameter, let size, let sizeParameter, let hasMore):
            // A longer page means the API pages by a size of its own: the next offset would repeat items.
            guard list.count <= size else {
                return .failure(
                    .shaped(
                        "page \(pages + 1) has \(list.count) items, more than paginate.page_size (\(size)), so the next "
                            + "offset would repeat items: the API pages by a size of its own; "
                            + Self.pageSizeAdvice(sizeParameter, offset: parameter)))
            }
            guard let hasMore else { return .success(Page(items: list, next: list.count < size ? nil : "")) }
            return numbered(list, hasMore: hasMore, in: body) { more in
                // A shorter page the API says is not the last: it pages by a smaller size of its own,
                // and the next offset would skip items.
                guard more, list.count < size, !list.isEmpty else { return nil }
                return
                    "page \(pages + 1) has \(list.count) items, fewer than paginate.page_size (\(size)), although its "
                    + "\"\(hasMore)\" (paginate.has_more) is true, so the next offset would skip items: the API pages by "
                    + "a size of its own; "
                    + Self.pageSizeAdvice(sizeParameter, offset: parameter)
            }
        case .page(_, _, let size, _, let hasMore):
            guard let hasMore else {
                let last = list.isEmpty || size.map { list.count < $0 } == true
                return .success(Page(items: list, next: last ? nil : ""))
            }
            return numbered(list, hasMore: hasMore, in: body) { _ in nil }
        }
    }

    /// What to set when an offset list's pages are not `page_size` long: the API pages by a size
    /// of its own, which `size_param` (`size_field`, for an offset sent in the body) asks for when
    /// the plan sends none, or `page_size` must match.
    private static func pageSizeAdvice(_ sizeParameter: Pagination.Place?, offset: Pagination.Place) -> String {
        guard sizeParameter == nil else { return "set page_size to at most the largest page it gives" }
        return switch offset {
        case .query: "set size_param to the query parameter it takes the page size in, or page_size to its size"
        case .body: "set size_field to the body's key path it takes the page size in, or page_size to its size"
        }
    }

    /// A numbered page (offset or page number) of a list whose end the answer's flag at `hasMore`
    /// says alone, whatever the page's length: `refused` says why a page the flag calls not the
    /// last cannot be followed (`nil`: it can). A page saying there is more with no items stops
    /// the fetch rather than ask past the list's end forever.
    private func numbered(
        _ list: [Value], hasMore: String, in body: Value, refused: (Bool) -> String?
    ) -> Result<Page, AnswerMatching.Mismatch> {
        more(at: hasMore, in: body).flatMap { more in
            if let why = refused(more) { return .failure(.shaped(why)) }
            guard more else { return .success(Page(items: list, next: nil)) }
            guard !list.isEmpty else {
                return .failure(
                    .shaped(
                        "page \(pages + 1) has no items although its \"\(hasMore)\" (paginate.has_more) is true: the "
                            + "list is never used in part"))
            }
            return .success(Page(items: list, next: ""))
        }
    }

    /// Takes in the page answered to `url`, and says what to ask next. `answered`: the URL a
    /// redirect led `url` to, which answered (`nil`: `url` itself); a relative next link is
    /// relative to it, and a next page naming either was already asked for.
    /// - Throws: ``FetchError`` for a next page on another host than the connection's, or one
    ///   already asked for.
    mutating func add(_ page: Page, answering url: String, at answered: String? = nil) throws(FetchError) -> Step {
        pages += 1
        let answered = answered ?? url
        for each in [url, answered] {
            let key = Self.identity(each, body)
            if asked[key] == nil { asked[key] = pages }
        }
        items += page.items
        guard let next = page.next else { return .done }
        guard pages < pagination.maxPages else { return .tooManyPages }
        let request: RequestURL.Request
        switch pagination.style {
        case .nextURL, .linkHeader:
            request = RequestURL.Request(method: self.request.method, url: try follow(next, from: answered))
        case .cursor(_, let parameter, _, _), .afterLast(_, let parameter, _, _, _):
            request = try nextRequest(with: next, in: parameter)
        case .offset, .page:
            request = try Self.withPageParameters(pages, of: self.request, pagination.style)
        }
        if let earlier = asked[Self.identity(request.url, request.body)] { throw loop(since: earlier, url: answered) }
        body = request.body
        return .ask(request)
    }

    /// What tells one request from another: its URL, and a POST's body.
    private static func identity(_ url: String, _ body: [UInt8]?) -> String {
        body.map { url + "\n" + String(decoding: $0, as: UTF8.self) } ?? url
    }

    /// The first request with `cursor` (as ``Page/next`` holds it) in its place.
    private func nextRequest(
        with cursor: String, in place: Pagination.Place
    ) throws(FetchError)
        -> RequestURL.Request
    {
        var request = try firstRequest
        switch place {
        case .query: try Self.set(.string(cursor), at: place, "cursor", in: &request)
        case .body:
            // The cursor's JSON, as the answer had it; what is not JSON has no place in the body.
            try Self.set((try? JSON.decode(cursor)) ?? .null, at: place, "cursor", in: &request)
        }
        return request
    }

    /// Sets `value` at `place` of `request`: as text in the query, or as it is at the body's key
    /// path, objects made on the way. `what` is the plan key's stem (`cursor`, `offset`, `page`,
    /// `size`), said when the body has no place for it.
    /// - Throws: ``FetchError`` when the request has no JSON object body with an object at each
    ///   step of the path (or, for the body, `value` is `null`: a cursor that is not JSON).
    private static func set(
        _ value: Value, at place: Pagination.Place, _ what: String, in request: inout RequestURL.Request
    ) throws(FetchError) {
        switch place {
        case .query(let parameter): request.url = URLQuery.setting(parameter, to: value.text, in: request.url)
        case .body(let path, let keyOrder):
            guard !value.isNull, let sent = request.body, let object = try? JSON.decode(sent), case .object = object,
                let with = setting(path.split(separator: ".").map(String.init), to: value, in: object)
            else {
                let named = ["page": "page number", "size": "page size"][what] ?? what
                throw FetchError(
                    .unsendable,
                    "\(place.key(of: what)) '\(path)' puts the \(named) in the request's JSON body, and this request "
                        + "has no JSON object body with an object at each step of that path", url: request.url)
            }
            request.body = Array(JSON.encode(with, keyOrder: keyOrder).utf8)
        }
    }

    /// `body` with `value` at key path `path`, objects made on the way; `nil` when a step is
    /// something else than an object.
    private static func setting(_ path: [String], to value: Value, in body: Value?) -> Value? {
        guard let key = path.first else { return value }
        var members: [String: Value]
        switch body {
        case .object(let existing)?: members = existing
        case nil, .null?: members = [:]
        default: return nil
        }
        guard let inner = setting(Array(path.dropFirst()), to: value, in: members[key]) else { return nil }
        members[key] = inner
        return .object(members)
    }

    /// The error for pages that loop: the page after the last read is page `earlier`'s.
    private func loop(since earlier: Int, url: String) -> FetchError {
        let said: String
        switch pagination.style {
        case .afterLast(let key, let parameter, _, _, _):
            said =
                "page \(pages) of this row's list ends on the item whose \"\(key)\" (paginate.after_last) page "
                + "\(earlier) was asked to start after: the pages loop, as when the API does not take '\(parameter)' "
                + "(\(parameter.key(of: "cursor"))); not followed"
        case .cursor:
            said =
                "page \(pages) of this row's list names as the next page one already asked for (page \(earlier)): "
                + "the pages loop; not followed. An API that marks the list's end with a cursor of its own "
                + "(Twitter's \"0\") needs it in paginate.end_cursor"
        default:
            said =
                "page \(pages) of this row's list names as the next page one already asked for (page \(earlier)): "
                + "the pages loop; not followed"
        }
        return FetchError(.invalidResponse, said, url: url)
    }

    /// Whether the page's answer says more pages follow: its flag at `hasMore` is `true`
    /// (`false`, absent or `null`: no).
    private func more(at hasMore: String, in body: Value) -> Result<Bool, AnswerMatching.Mismatch> {
        switch AnswerMatching.value(at: hasMore, in: body) ?? .null {
        case .bool(let flag): return .success(flag)
        case .null: return .success(false)
        case let value:
            return .failure(
                .shaped(
                    "page \(pages + 1)'s \"\(hasMore)\" (paginate.has_more) is a JSON \(value.typeName), not true or "
                        + "false"))
        }
    }

    /// Where the page after this one starts (``Pagination/Style/afterLast``): its last item's
    /// `key`; `nil` when this page is the list's last. An API saying there is more without an item
    /// to start after stops the fetch rather than cut the list.
    private func afterLast(
        _ list: [Value], key: String, parameter: Pagination.Place, hasMore: String?, pageSize: Int?,
        in body: Value
    ) -> Result<String?, AnswerMatching.Mismatch> {
        let page = "page \(pages + 1)"
        let more: Bool
        if let hasMore {
            switch self.more(at: hasMore, in: body) {
            case .failure(let mismatch): return .failure(mismatch)
            case .success(let flag): more = flag
            }
        } else {
            more = !list.isEmpty && pageSize.map { list.count >= $0 } != false
        }
        guard more else { return .success(nil) }
        let why = hasMore.map { "although its \"\($0)\" (paginate.has_more) is true" } ?? "although it is full"
        guard let last = list.last else {
            return .failure(
                .shaped(
                    "\(page) has no items \(why): there is no last item to ask for the items after; the list is "
                        + "never used in part"))
        }
        let place = "\(page)'s last item (item \(list.count))'s \"\(key)\" (paginate.after_last)"
        let value = AnswerMatching.value(at: key, in: last)
        return Self.cursor(value, place, wanted: "text or a number", in: parameter).flatMap {
            guard let value = $0 else {
                return .failure(
                    .shaped(
                        "\(place) is missing or empty \(why), so the items after it cannot be asked for; the list is "
                            + "never used in part"))
            }
            return .success(value)
        }
    }

    /// The row's `request` with the page parameters `style` sends for the page after `pages`
    /// pages, in its query or its body as the style places them.
    /// - Throws: ``FetchError`` when one goes in a body that has no place for it.
    private static func withPageParameters(
        _ pages: Int, of request: RequestURL.Request, _ style: Pagination.Style
    ) throws(FetchError) -> RequestURL.Request {
        var next = request
        var numbers: [(Pagination.Place, String, Int)] = []
        switch style {
        case .nextURL, .linkHeader, .cursor: break
        case .afterLast(_, _, _, let size, let sizeParameter):
            if let sizeParameter, let size { numbers.append((sizeParameter, "size", size)) }
        case .offset(let parameter, let size, let sizeParameter, _):
            numbers.append((parameter, "offset", pages * size))
            if let sizeParameter { numbers.append((sizeParameter, "size", size)) }
        case .page(let parameter, let first, let size, let sizeParameter, _):
            numbers.append((parameter, "page", first + pages))
            if let sizeParameter, let size { numbers.append((sizeParameter, "size", size)) }
        }
        for (place, what, number) in numbers { try set(.int(Int64(number)), at: place, what, in: &next) }
        return next
    }

    /// A next URL the API named, made absolute against the page it was on, checked to lead to
    /// the connection's origin, without its fragment or the parameters the fetcher adds itself.
    private func follow(_ next: String, from url: String) throws(FetchError) -> String {
        guard let (resolved, there) = Self.resolve(next, against: url, removing: addedParameters) else {
            throw FetchError(
                .invalidResponse, "page \(pages) of this row's list names a next page that is not a URL", url: url)
        }
        guard let origin, there == origin else {
            throw FetchError(
                .invalidResponse,
                "page \(pages) of this row's list names its next page on another host, \(there), not the "
                    + "connection's \(origin.map(\.description) ?? "base_url"): not followed, since every request "
                    + "carries the connection's credentials", url: url)
        }
        return resolved
    }

    /// `target`, a URL an answer names (a next page, a redirect's `Location`), made absolute
    /// against `url`, the request it answered, with its origin; without its fragment or the query
    /// parameters `added` that the fetcher adds itself as a request leaves (an api-key's
    /// `query_param`), so that the key is neither sent twice nor logged. `nil`: not a URL with a host.
    static func resolve(_ target: String, against url: String, removing added: [String]) -> (String, Origin)? {
        // A fragment is never sent: cut, so that a parameter added to the query (an api-key
        // `query_param`) does not land after the `#`, and a page is known whatever fragment names it.
        guard let whole = URL(string: target, relativeTo: URL(string: url))?.absoluteURL.absoluteString,
            case let resolved = String(whole.prefix { $0 != "#" }), let there = Origin(resolved)
        else { return nil }
        return (added.reduce(resolved) { URLQuery.setting($1, to: nil, in: $0) }, there)
    }

    /// The cursor `value` (at `place`, said in a mismatch) as ``Page/next`` holds it for
    /// `destination`: text for a query parameter; for a body, its JSON, whatever its type (an
    /// Elasticsearch `sort` list). `nil` when absent, `null` or empty.
    private static func cursor(
        _ value: Value?, _ place: String, wanted: String, in destination: Pagination.Place
    ) -> Result<String?, AnswerMatching.Mismatch> {
        switch (destination, value ?? .null) {
        case (.query, _): return text(of: value, place, wanted: wanted)
        case (.body, .null), (.body, .string("")): return .success(nil)
        case (.body, let value): return .success(JSON.encode(value))
        }
    }

    /// `value` (at `place`, said in a mismatch) as text: `nil` when absent, `null` or empty; a
    /// shape mismatch when it is neither text nor a number.
    private static func text(
        of value: Value?, _ place: String, wanted: String
    ) -> Result<String?, AnswerMatching.Mismatch> {
        let value = value ?? .null
        switch value {
        case .null: return .success(nil)
        case .string(let text): return .success(text.isEmpty ? nil : text)
        case .int, .double, .decimal: return .success(value.text)
        default: return .failure(.shaped("\(place) is a JSON \(value.typeName), not \(wanted)"))
        }
    }

    /// The `rel="next"` target of a `Link` header (RFC 8288): `<URL>; rel="next"`, among others
    /// separated by commas; a `rel` may list several relations (`rel="next last"`).
    static func nextLink(in header: String) -> String? {
        var rest = Substring(header)
        while let open = rest.firstIndex(of: "<"), let close = rest[open...].firstIndex(of: ">") {
            let target = rest[rest.index(after: open)..<close]
            rest = rest[rest.index(after: close)...]
            let parameters = rest.prefix { $0 != "<" }
            for parameter in parameters.split(whereSeparator: { $0 == ";" || $0 == "," }) {
                let pair = parameter.split(separator: "=", maxSplits: 1).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard pair.count == 2, pair[0].lowercased() == "rel" else { continue }
                let relations = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased()
                if relations.split(separator: " ").contains("next") { return String(target) }
            }
        }
        return nil
    }
}

extension AnswerMatching.Mismatch {
    /// A page of another shape than the plan says: it stops the fetch, as trying again would
    /// get the same.
    fileprivate static func shaped(_ description: String) -> Self {
        var mismatch = Self(description)
        mismatch.isShape = true
        return mismatch
    }
}
