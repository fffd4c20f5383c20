import SluiceCore

extension HTTPFetcher {
    /// How one reading of a row's list from its first page ended.
    private enum ListReading: Sendable {
        /// The row's answer: its whole list, or what its first page said.
        case answered(Answer<(ItemResult, Bool, [String])>)
        /// A later page the API did not know (404, 410, `not_found_when`): the list moved while it
        /// was read. `page`: its number; `said`: what it answered; `url`: its address.
        case moved(page: Int, said: String, url: String, status: Int?)
    }

    /// The answer to one per-item request whose list is paged (``FetchConfiguration/paginate``):
    /// every page's items in order, as one array, asked for page after page.
    ///
    /// The first page's "not found" (404, 410, 204, `not_found_when`), 400 or 403 is the
    /// request's, as for an unpaged one. A later page's is not, and a partial list is never used.
    /// A later page the API does not know means the list moved while it was read (an item added
    /// or removed shifts the pages; a cursor lapsed): the list is asked again from its first page,
    /// once (``FetchCounters/listsAskedAgain``). A later page that fails again so, or is refused
    /// (400, 403), stops the fetch resumably, a resume asking the row's list again from its first
    /// page; a later page the API keeps failing fails the row as a single request would
    /// (``FetchConfiguration/rejectOnGiveUp``).
    /// - Returns: the row's result, with `true` (the answer was where the plan says) and no keys.
    /// - Throws: ``FetchError`` for a failed page, a next page on another host, or pages that loop.
    func fetchList(
        _ request: RequestURL.Request, _ pagination: Pagination
    ) async throws -> Answer<(ItemResult, Bool, [String])> {
        var earlier: (page: Int, said: String)?
        while true {
            switch try await readList(request, pagination) {
            case .answered(let answer): return answer
            case .moved(let page, let said, let url, let status):
                guard let (firstPage, firstSaid) = earlier else {
                    earlier = (page, said)
                    tally.listsAskedAgain += 1
                    let notice =
                        "Page \(page) of a row's list \(said) after its first was answered: the list moved while it "
                        + "was read; asking it again from its first page"
                    logger.notice(
                        "\(notice)",
                        metadata: ["http.url": "\(URLRedaction.describe(url))", "fetch.page": "\(page)"])
                    continue
                }
                let before = firstPage == page ? "as it had" : "as page \(firstPage) had"
                throw laterPageFailed(
                    request, page: page,
                    "\(said) once the list was asked again from its first page, \(before) the first time (\(firstSaid)): "
                        + "the list keeps changing while it is read", url: url, status: status)
            }
        }
    }

    /// Reads the row's list once, from its first page.
    private func readList(_ request: RequestURL.Request, _ pagination: Pagination) async throws -> ListReading {
        var list = PagedList(
            pagination, itemsKey: configuration.itemsKey, request: request, baseURL: configuration.baseURL,
            addedParameters: addedParameters)
        let rules = configuration.itemRules
        let itemsKey = configuration.itemsKey
        var next = try list.firstRequest
        while true {
            let reader = list
            // Only the items are kept: a credential the API repeats in its next link is masked,
            // but is in nothing the run writes.
            let first = list.pages == 0
            let number = list.pages + 1
            let answer: Answer<(page: PagedList.Page, answered: String)>
            do {
                answer = try await perform(
                    next, purpose: .batch,
                    kept: { body in
                        itemsKey.map { AnswerMatching.value(at: $0, in: body) } ?? body
                    }
                ) { json, _, link, answered in
                    reader.read(json, link: link, rules: rules).map { (page: $0, answered: answered) }
                }
            } catch var error as FetchError where !first {
                // Every page of a POST's list has the same URL: the page is said.
                error.message =
                    "page \(number) of the list of \(request.method) \(URLRedaction.describe(request.url)): "
                    + error.message
                throw error
            }
            let (page, answered): (PagedList.Page, String)
            switch answer {
            case .ok(let read) where !read.page.notFound: (page, answered) = read
            case .ok where first: return .answered(.ok((.notFound(because: rules.notFoundReason), true, [])))
            case .notFound(let message, let status) where first: return .answered(.notFound(message, status: status))
            case .badRequest(let message, let status) where first:
                return .answered(.badRequest(message, status: status))
            case .forbidden(let message) where first: return .answered(.forbidden(message))
            case .ok: return .moved(page: number, said: "meets not_found_when", url: next.url, status: nil)
            case .notFound(let message, let status):
                return .moved(page: number, said: "answered \(message)", url: next.url, status: status)
            case .badRequest(let message, let status):
                // The same request was fine for the pages before: most likely the API reads no list
                // this deep (GitHub's search stops at 1,000 results), which a resume meets again.
                throw laterPageFailed(
                    request, page: number,
                    "was refused as a bad request (\(status): \(message)) after its first page was answered",
                    url: next.url, status: status,
                    then: "An API that reads no list past some page refuses it again on the resume: a "
                        + "paginate.max_pages of \(number - 1) (--set on the resume) rejects such rows as "
                        + "too_many_pages instead")
            case .forbidden(let message):
                throw laterPageFailed(
                    request, page: number, "was forbidden (403: \(message)) after its first page was answered",
                    url: next.url, status: 403)
            }
            if !first { tally.pages += 1 }
            switch try list.add(page, answering: next.url, at: answered) {
            case .ask(let request): next = request
            case .done: return .answered(.ok((.found(.array(list.items)), true, [])))
            case .tooManyPages: return .answered(.ok((.tooManyPages(fetched: list.pages), true, [])))
            }
        }
    }

    /// The error for page `page` of the list of the row's `request`, which `what`: resumable, a
    /// resume asking the list again from its first page; `then`, a sentence more for the user.
    private func laterPageFailed(
        _ request: RequestURL.Request, page: Int, _ what: String, url: String, status: Int?, then: String? = nil
    ) -> FetchError {
        FetchError(
            .laterPageFailed,
            "page \(page) of the list of \(request.method) \(URLRedaction.describe(request.url)) \(what). The "
                + "row's list is never used in part; a resume asks it again from its first page"
                + (then.map { ". " + $0 } ?? ""), url: url, status: status)
    }
}
