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
        /// text an API marks the end with: Twitter's `next_cursor_str` "0") ends the list.
        case cursor(key: String, parameter: String, end: String? = nil)
        /// Keyset paging (Stripe's `starting_after`): the next request is the first one with
        /// `parameter` set to the value at `key` of the page's last item. `hasMore`, the key path
        /// of the answer's flag, ends the list when not `true`; without it an empty page ends it,
        /// or one shorter than `pageSize` when that is given. Every request carries
        /// `sizeParameter` = `pageSize` when both are given.
        case afterLast(key: String, parameter: String, hasMore: String?, pageSize: Int?, sizeParameter: String?)
        /// Every request carries `parameter` = 0, `pageSize`, 2 × `pageSize`... (and
        /// `sizeParameter` = `pageSize`); a page of fewer than `pageSize` items ends the list.
        case offset(parameter: String, pageSize: Int, sizeParameter: String?)
        /// Every request carries `parameter` = `first`, `first` + 1... (and `sizeParameter` =
        /// `pageSize` when both are given); an empty page ends the list, or one shorter than
        /// `pageSize` when it is given.
        case page(parameter: String, first: Int, pageSize: Int?, sizeParameter: String?)
    }

    public var style: Style
    /// Most pages one row's list may take; a row whose list has more is rejected whole.
    public var maxPages: Int

    public init(style: Style, maxPages: Int = 100) {
        self.style = style
        self.maxPages = maxPages
    }
}
