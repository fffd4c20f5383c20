import SluiceCore

/// How the pages of one per-item request's list are followed (a plan's `paginate`): the row's
/// answer is then one array, every page's items in order.
public struct Pagination: Sendable, Equatable {
    public enum Style: Sendable, Equatable {
        /// The next page's URL is at this key path of each page's answer (`links.next`); absent,
        /// `null` or `""` ends the list.
        case nextURL(key: String)
        /// The next page's URL is the RFC 8288 `Link` response header's `rel="next"` (GitHub).
        case linkHeader
        /// The next request is the first one with `parameter` set to the value at `key` of each
        /// page's answer (`meta.next_cursor`); absent, `null`, `""`, the number 0 or `end` (the
        /// text an API marks the end with: Twitter's `next_cursor_str` "0") ends the list. With
        /// `hasMore`, the key path of the answer's flag (GraphQL's `pageInfo.hasNextPage`), the
        /// flag not `true` ends it, and `true` needs a cursor.
        case cursor(key: String, parameter: Place, end: String? = nil, hasMore: String? = nil)
        /// Keyset paging (Stripe's `starting_after`): the next request is the first one with
        /// `parameter` set to the value at `key` of the page's last item. `hasMore`, the key path
        /// of the answer's flag, ends the list when not `true`; without it an empty page ends it,
        /// or one shorter than `pageSize` when that is given. Every request carries
        /// `sizeParameter` = `pageSize` when both are given.
        case afterLast(key: String, parameter: Place, hasMore: String?, pageSize: Int?, sizeParameter: Place?)
        /// Every request carries `parameter` = 0, `pageSize`, 2 × `pageSize`... (and
        /// `sizeParameter` = `pageSize`); a page of fewer than `pageSize` items ends the list, or,
        /// with `hasMore`, the key path of the answer's flag, the flag not `true`.
        case offset(parameter: Place, pageSize: Int, sizeParameter: Place?, hasMore: String? = nil)
        /// Every request carries `parameter` = `first`, `first` + 1... (and `sizeParameter` =
        /// `pageSize` when both are given); an empty page ends the list, or one shorter than
        /// `pageSize` when it is given, or, with `hasMore` (StackExchange's `has_more`), the flag
        /// not `true` alone.
        case page(parameter: Place, first: Int, pageSize: Int?, sizeParameter: Place?, hasMore: String? = nil)
    }

    /// Where a page's cursor, offset, number or size goes in its request: a query parameter (as
    /// text), or the member at a key path of a POST's JSON object body (`start_cursor`,
    /// `variables.after`, Elasticsearch's `from`), the body's other keys sent in `keyOrder`: a
    /// cursor as the answer had it (text, a number, a list), an offset, number or size as a
    /// JSON number.
    public enum Place: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
        case query(String)
        case body(String, keyOrder: JSONKeyOrder = .sorted)

        public init(stringLiteral name: String) { self = .query(name) }

        /// The plan's key for it, when it carries `what` (`cursor`, `offset`, `page`, `size`):
        /// `paginate.cursor_param`, `paginate.offset_field`.
        func key(of what: String) -> String {
            switch self {
            case .query: "paginate.\(what)_param"
            case .body: "paginate.\(what)_field"
            }
        }

        public var description: String {
            switch self {
            case .query(let name), .body(let name, _): name
            }
        }
    }

    public var style: Style
    /// Most pages one row's list may take; a row whose list has more is rejected whole.
    public var maxPages: Int

    public init(style: Style, maxPages: Int = 100) {
        self.style = style
        self.maxPages = maxPages
    }
}
