import SluiceCore

extension HTTPFetcher {
    /// The answer to one per-item request whose list is paged (``FetchConfiguration/paginate``):
    /// every page's items in order, as one array, asked for page after page.
    ///
    /// The first page's "not found" (404, 410, 204, `not_found_when`), 400 or 403 is the
    /// request's, as for an unpaged one. A later page's is not: the list changed under the
    /// fetch, and a partial list is never used, so it stops the fetch; a later page the API keeps
    /// failing fails the row as a single request would (``FetchConfiguration/rejectOnGiveUp``).
    /// - Returns: the row's result, with `true` (the answer was where the plan says) and no keys.
    /// - Throws: ``FetchError`` for a failed page, a next page on another host, or pages that loop.
    func fetchList(
        _ request: RequestURL.Request, _ pagination: Pagination
    ) async throws -> Answer<(ItemResult, Bool, [String])> {
        var list = PagedList(
            pagination, itemsKey: configuration.itemsKey, request: request, baseURL: configuration.baseURL,
            addedParameters: addedParameters)
        let rules = configuration.itemRules
        let itemsKey = configuration.itemsKey
        var next = list.firstRequest
        while true {
            let reader = list
            // Only the items are kept: a credential the API repeats in its next link is masked,
            // but is in nothing the run writes.
            let answer = try await perform(
                next, purpose: .batch,
                kept: { body in
                    itemsKey.map { AnswerMatching.value(at: $0, in: body) } ?? body
                }
            ) { json, _, link, answered in
                reader.read(json, link: link, rules: rules).map { (page: $0, answered: answered) }
            }
            let first = list.pages == 0
            let (page, answered): (PagedList.Page, String)
            switch answer {
            case .ok(let read) where !read.page.notFound: (page, answered) = read
            case .ok where first: return .ok((.notFound(because: rules.notFoundReason), true, []))
            case .notFound(let message) where first: return .notFound(message)
            case .badRequest(let message) where first: return .badRequest(message)
            case .forbidden(let message) where first: return .forbidden(message)
            case .ok: throw laterPageFailed(list.pages + 1, "meets not_found_when", url: next.url, status: nil)
            case .notFound(let message):
                throw laterPageFailed(list.pages + 1, "answered \(message)", url: next.url, status: nil)
            case .badRequest(let message):
                throw laterPageFailed(list.pages + 1, "was refused (400: \(message))", url: next.url, status: 400)
            case .forbidden(let message):
                throw laterPageFailed(list.pages + 1, "was forbidden (403: \(message))", url: next.url, status: 403)
            }
            if !first { tally.pages += 1 }
            switch try list.add(page, answering: next.url, at: answered) {
            case .ask(let request): next = request
            case .done: return .ok((.found(.array(list.items)), true, []))
            case .tooManyPages: return .ok((.tooManyPages(fetched: list.pages), true, []))
            }
        }
    }

    private func laterPageFailed(_ page: Int, _ what: String, url: String, status: Int?) -> FetchError {
        FetchError(
            status.map { .unexpectedStatus($0) } ?? .invalidResponse,
            "page \(page) of this row's list \(what), although its first page was answered: the list is never "
                + "used in part", url: url, status: status)
    }
}
