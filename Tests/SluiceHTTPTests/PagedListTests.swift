import SluiceCore
import Testing

@testable import SluiceHTTP

/// The pure parts of following a paged list: the `Link` header, query parameters, origins.
@Suite struct PagedListTests {
    @Test(
        arguments: [
            (
                #"<https://api.github.com/repos/a/b/issues?page=2>; rel="next", <https://x/?page=9>; rel="last""#,
                "https://api.github.com/repos/a/b/issues?page=2"
            ),
            (#"<https://x/?page=1>; rel="prev", <https://x/?a=1,2&page=3>; rel="next""#, "https://x/?a=1,2&page=3"),
            (#"<https://x/?p=3>; rel="next last"; title="more""#, "https://x/?p=3"),
            (#"<https://x/?p=3>; REL=next"#, "https://x/?p=3"),
            (#"<https://x/?p=9>; rel="last""#, nil),
            ("<https://x/?p=2> ;  REL = \"Next\" ,<https://x/?p=9>;rel=last", "https://x/?p=2"),
            (#"<https://x/?p=1>; rel="prev", <https://x/?p=3>;rel=next"#, "https://x/?p=3"),
            (#"<?page=2>; rel="next""#, "?page=2"),
            ("", nil),
        ] as [(String, String?)])
    func theNextLinkIsTheOneWhoseRelationsNameNext(header: String, next: String?) {
        #expect(PagedList.nextLink(in: header) == next)
    }

    @Test func aQueryParameterIsSetInPlaceOfAnyItHad() {
        #expect(URLQuery.setting("after", to: "c 1", in: "https://x/l?after=c0&n=2") == "https://x/l?n=2&after=c%201")
        #expect(URLQuery.setting("page", to: "2", in: "https://x/l") == "https://x/l?page=2")
        #expect(URLQuery.setting("api_key", to: nil, in: "https://x/l?api%5Fkey=k&p=2") == "https://x/l?p=2")
        #expect(URLQuery.setting("k", to: nil, in: "https://x/l?k=1") == "https://x/l")
    }

    /// What a page names as the next one becomes the next request: a cursor percent-encoded in the
    /// row's query, a relative next URL resolved against the page, without its fragment.
    @Test(
        arguments: [
            (
                Pagination.Style.cursor(key: "c", parameter: "after"), "a+b/c= é",
                "http://h/l?fmt=json&after=a%2Bb%2Fc%3D%20%C3%A9"
            ),
            (.cursor(key: "c", parameter: "fmt"), "7", "http://h/l?fmt=7"),
            (.nextURL(key: "n"), "?page=2", "http://h/l?page=2"),
            (.nextURL(key: "n"), "/x?page=2", "http://h/x?page=2"),
            (.nextURL(key: "n"), "page2", "http://h/page2"),
            (.nextURL(key: "n"), "/l?page=2#top", "http://h/l?page=2"),
            (.linkHeader, "http://H:80/l?q=a+b&key=***", "http://H:80/l?q=a+b"),
        ] as [(Pagination.Style, String, String)])
    func theNextRequestIsWhatThePageNames(style: Pagination.Style, next: String, url: String) throws {
        let first = "http://h/l?fmt=json"
        var list = PagedList(
            Pagination(style: style), itemsKey: nil, request: .init(url: first), baseURL: "http://h",
            addedParameters: ["key"])
        let step = try list.add(.init(items: [], next: next), answering: first)
        guard case .ask(let request) = step else {
            Issue.record("\(step)")
            return
        }
        #expect(request.url == url)
    }

    /// A page a redirect answered: its relative next link is relative to where the redirect led,
    /// and a next page naming the address first asked is one already asked for.
    @Test func aRedirectedPagesNextLinkIsRelativeToWhereItLed() throws {
        let asked = "http://h/old/l?fmt=json"
        let answered = "http://h/new/l?fmt=json"
        func list() -> PagedList {
            PagedList(
                Pagination(style: .nextURL(key: "n")), itemsKey: nil, request: .init(url: asked), baseURL: "http://h",
                addedParameters: [])
        }
        var first = list()
        let step = try first.add(.init(items: [], next: "?page=2"), answering: asked, at: answered)
        var second = list()
        let loop = #expect(throws: FetchError.self) {
            try second.add(.init(items: [], next: asked), answering: asked, at: answered)
        }
        guard case .ask(let request) = step else {
            Issue.record("\(step)")
            return
        }
        #expect(request.url == "http://h/new/l?page=2")
        #expect("\(loop.map { "\($0)" } ?? "")".contains("names as the next page one already asked for (page 1)"))
    }

    @Test func originsCompareAsURLsDo() {
        #expect(PagedList.Origin("https://API.example.com/v1") == PagedList.Origin("https://api.example.com:443/x?y"))
        #expect(PagedList.Origin("http://h/") != PagedList.Origin("https://h/"))
        #expect(PagedList.Origin("http://h:8080/") != PagedList.Origin("http://h/"))
        #expect(PagedList.Origin("/relative") == nil)
    }

    /// What `read` makes of one page: its items and the next page (`nil`: the last), or why not.
    static func read(_ body: Value, _ style: Pagination.Style, pages: Int = 0) -> String {
        var list = PagedList(
            Pagination(style: style), itemsKey: "items", request: .init(url: "http://h/l"), baseURL: "http://h",
            addedParameters: [])
        for page in 0..<pages {
            _ = try? list.add(.init(items: [], next: "p\(page)"), answering: "http://h/l?p=\(page)")
        }
        switch list.read(body, link: nil, rules: ItemRules()) {
        case .success(let page): return "\(page.items.count) items, next \(page.next ?? "none")"
        case .failure(let mismatch): return mismatch.description
        }
    }

    /// `"items": null` (Go's JSON for an empty slice) is an empty page, the first one too; a
    /// missing `items` is not read as one: most likely `items_key` names the wrong place.
    @Test func nullItemsAreAnEmptyPageAndMissingItemsAreNot() {
        let cursor = Pagination.Style.cursor(key: "next", parameter: "after")
        let got = [
            Self.read(.object(["items": .null, "next": "c2"]), cursor),
            Self.read(.object(["items": .null]), .offset(parameter: "o", pageSize: 3, sizeParameter: nil), pages: 2),
            Self.read(.object(["items": .null]), .page(parameter: "p", first: 1, pageSize: nil, sizeParameter: nil)),
            Self.read(.object(["item": .array([1])]), cursor),
        ]
        #expect(
            got == [
                "0 items, next c2", "0 items, next none", "0 items, next none",
                "page 1's \"items\" is missing, not an array; set items_key to where the items are: item",
            ])
    }

    /// A cursor that is the JSON number 0 ends the list (Twitter v1.1's `next_cursor`); the text
    /// "0", or another number, is a cursor like any.
    @Test func aCursorOfTheNumberZeroEndsTheList() {
        let cursor = Pagination.Style.cursor(key: "next_cursor", parameter: "cursor")
        let got = [Value.int(0), .string("0"), .int(1_374_004_777_531_007_833), .int(-1)].map {
            Self.read(.object(["items": .array([1, 2]), "next_cursor": $0]), cursor)
        }
        #expect(
            got == [
                "2 items, next none", "2 items, next 0", "2 items, next 1374004777531007833", "2 items, next -1",
            ])
    }

    /// With `end_cursor`, the text an API ends its list with (Twitter's `next_cursor_str` "0") ends
    /// it, and the number 0 still does; another cursor is a page like any.
    @Test func anEndCursorEndsTheListAsText() {
        let cursor = Pagination.Style.cursor(key: "next_cursor_str", parameter: "cursor", end: "0")
        let got = [Value.string("0"), .int(0), .string("00"), .string("1374004777531007833")].map {
            Self.read(.object(["items": .array([1, 2]), "next_cursor_str": $0]), cursor)
        }
        #expect(
            got == [
                "2 items, next none", "2 items, next none", "2 items, next 00", "2 items, next 1374004777531007833",
            ])
    }

    static func stripe(hasMore: String? = "has_more", pageSize: Int? = 2) -> Pagination.Style {
        .afterLast(key: "id", parameter: "starting_after", hasMore: hasMore, pageSize: pageSize, sizeParameter: "limit")
    }

    static func items(_ ids: Value?...) -> Value {
        .array(ids.map { id in .object(id.map { ["id": $0, "n": 1] } ?? ["n": 1]) })
    }

    /// Keyset paging: the next request is the first one (with its page size) with the cursor
    /// parameter set to the last item's value, text or a number, percent-encoded.
    @Test(
        arguments: [
            (Value.string("ch_2+a/b= é&x"), "http://h/l?fmt=json&limit=2&starting_after=ch_2%2Ba%2Fb%3D%20%C3%A9%26x"),
            (.int(1_374_004_777_531_007_833), "http://h/l?fmt=json&limit=2&starting_after=1374004777531007833"),
        ] as [(Value, String)])
    func theNextPageStartsAfterThePagesLastItem(last: Value, url: String) throws {
        let first = "http://h/l?fmt=json"
        var list = PagedList(
            Pagination(style: Self.stripe()), itemsKey: "data", request: .init(url: first), baseURL: "http://h",
            addedParameters: [])
        let body = Value.object(["data": Self.items("ch_1", last), "has_more": true])
        let page = try list.read(body, link: nil, rules: ItemRules()).get()
        let step = try list.add(page, answering: list.firstRequest.url)
        guard case .ask(let request) = step else {
            Issue.record("\(step)")
            return
        }
        #expect([try list.firstRequest.url, request.url] == ["http://h/l?fmt=json&limit=2", url])
    }

    /// What ends a keyset list: `has_more` not true (whatever the page's length); without it an
    /// empty page, or one shorter than `page_size`. A page saying there is more without a last
    /// item to start after stops the fetch, saying which page and what is missing.
    @Test func aKeysetListEndsOnHasMoreOrAShortPageAndNeverCutsItself() {
        let (stripe, unsized, sized) = (
            Self.stripe(), Self.stripe(hasMore: nil, pageSize: nil), Self.stripe(hasMore: nil)
        )
        func page(_ items: Value, _ more: Value?) -> Value {
            .object(["items": items].merging(more.map { ["has_more": $0] } ?? [:]) { $1 })
        }
        let got = [
            Self.read(page(Self.items("a", "b"), true), stripe),
            Self.read(page(Self.items("a", "b", "c"), true), stripe),
            Self.read(page(Self.items("a"), true), stripe),
            Self.read(page(Self.items("a", "b"), false), stripe),
            Self.read(page(Self.items("a", "b"), nil), stripe),
            Self.read(page(Self.items("a", "b"), .null), stripe),
            Self.read(page(Self.items("a", "b"), "true"), stripe),
            Self.read(page(Self.items(), true), stripe, pages: 2),
            Self.read(page(Self.items("a", nil), true), stripe),
            Self.read(page(Self.items("a", .null), true), stripe),
            Self.read(page(Self.items("a", ""), true), stripe),
            Self.read(page(Self.items("a", .object(["k": 1])), true), stripe),
            Self.read(page(Self.items("a", 7), nil), sized),
            Self.read(page(Self.items("a"), nil), sized),
            Self.read(page(Self.items("a", nil), nil), sized),
            Self.read(page(Self.items("a"), nil), unsized),
            Self.read(page(Self.items(), nil), unsized),
        ]
        let missing =
            "is missing or empty although its \"has_more\" (paginate.has_more) is true, so the items after "
            + "it cannot be asked for; the list is never used in part"
        #expect(
            got == [
                "2 items, next b", "3 items, next c", "1 items, next a", "2 items, next none", "2 items, next none",
                "2 items, next none",
                "page 1's \"has_more\" (paginate.has_more) is a JSON string, not true or false",
                "page 3 has no items although its \"has_more\" (paginate.has_more) is true: there is no last item to "
                    + "ask for the items after; the list is never used in part",
                "page 1's last item (item 2)'s \"id\" (paginate.after_last) " + missing,
                "page 1's last item (item 2)'s \"id\" (paginate.after_last) " + missing,
                "page 1's last item (item 2)'s \"id\" (paginate.after_last) " + missing,
                "page 1's last item (item 2)'s \"id\" (paginate.after_last) is a JSON object, not text or a number",
                "2 items, next 7", "1 items, next none",
                "page 1's last item (item 2)'s \"id\" (paginate.after_last) is missing or empty although it is full, "
                    + "so the items after it cannot be asked for; the list is never used in part",
                "1 items, next a", "0 items, next none",
            ])
    }

    /// A page ending on the item the request was asked to start after (an API that does not take
    /// the parameter answers the same page again) is a loop: the fetch stops, naming the pages.
    @Test func aKeysetPageEndingWhereTheLastDidIsALoop() throws {
        var list = PagedList(
            Pagination(style: Self.stripe()), itemsKey: "data", request: .init(url: "http://h/l"), baseURL: "http://h",
            addedParameters: [])
        let first = try list.add(.init(items: [1, 2], next: "b"), answering: list.firstRequest.url)
        guard case .ask(let second) = first else {
            Issue.record("\(first)")
            return
        }
        let loop = #expect(throws: FetchError.self) {
            try list.add(.init(items: [1, 2], next: "b"), answering: second.url)
        }
        #expect(
            loop?.message
                == "page 2 of this row's list ends on the item whose \"id\" (paginate.after_last) page 2 was asked to "
                + "start after: the pages loop, as when the API does not take 'starting_after' (paginate.cursor_param); "
                + "not followed")
    }

    /// A cursor sent in a POST's body: the first request's body with the member at the key path
    /// set (objects made on the way), the cursor as the answer had it (an Elasticsearch `sort`
    /// list stays a list), the URL the same. A body without an object on the way cannot carry it.
    @Test func aBodyCursorIsSetInTheFirstRequestsBody() throws {
        func next(_ style: Pagination.Style, body: String, answer: String) throws -> String {
            let first = RequestURL.Request(method: "POST", url: "http://h/q", body: Array(body.utf8))
            var list = PagedList(
                Pagination(style: style), itemsKey: "items", request: first, baseURL: "http://h", addedParameters: [])
            let page = try list.read(try JSON.decode(answer), link: nil, rules: ItemRules()).get()
            guard case .ask(let request) = try list.add(page, answering: first.url) else { return "done" }
            return request.url + " " + String(decoding: request.body ?? [], as: UTF8.self)
        }
        let graphQL = Pagination.Style.cursor(key: "page.end", parameter: .body("variables.after"))
        let elastic = Pagination.Style.afterLast(
            key: "sort", parameter: .body("search_after"), hasMore: nil, pageSize: 2, sizeParameter: nil)
        let got = [
            try next(
                graphQL, body: #"{"q":"x","variables":{"first":2}}"#,
                answer: #"{"items":[1,2],"page":{"end":"Y3Vyc29y"}}"#),
            try next(graphQL, body: #"{"q":"x"}"#, answer: #"{"items":[1],"page":{"end":7}}"#),
            try next(
                elastic, body: #"{"size":2}"#,
                answer: #"{"items":[{"sort":[1,"a"]},{"sort":[1463538857,"654323"]}]}"#),
        ]
        #expect(
            got == [
                #"http://h/q {"q":"x","variables":{"after":"Y3Vyc29y","first":2}}"#,
                #"http://h/q {"q":"x","variables":{"after":7}}"#,
                #"http://h/q {"search_after":[1463538857,"654323"],"size":2}"#,
            ])
        let refused = #expect(throws: FetchError.self) {
            try next(graphQL, body: #"{"q":"x","variables":"v"}"#, answer: #"{"items":[1],"page":{"end":"c"}}"#)
        }
        #expect(refused?.message.hasPrefix("paginate.cursor_field 'variables.after' puts the cursor") == true)
    }

    /// An offset or page number sent in a POST's body (Elasticsearch's `from` and `size`,
    /// Algolia's `page` from 0): every request the row's body with the member at each key path
    /// set to a JSON number (objects made on the way), the URL the same. A body without an object
    /// on the way cannot carry it.
    @Test func anOffsetOrPageNumberInABodyIsSetAsAJSONNumber() throws {
        func bodies(_ style: Pagination.Style, body: String) throws -> [String] {
            let first = RequestURL.Request(method: "POST", url: "http://h/q", body: Array(body.utf8))
            var list = PagedList(
                Pagination(style: style), itemsKey: "items", request: first, baseURL: "http://h", addedParameters: [])
            var request = try list.firstRequest
            var sent: [String] = []
            while true {
                sent.append(request.url + " " + String(decoding: request.body ?? [], as: UTF8.self))
                let page = try list.read(.object(["items": .array([1, 2])]), link: nil, rules: ItemRules()).get()
                guard case .ask(let next) = try list.add(page, answering: request.url), sent.count < 3 else { break }
                request = next
            }
            return sent
        }
        let elastic = Pagination.Style.offset(
            parameter: .body("from"), pageSize: 2, sizeParameter: .body("size"))
        let algolia = Pagination.Style.page(
            parameter: .body("params.page"), first: 0, pageSize: 2, sizeParameter: .body("params.hitsPerPage"))
        #expect(
            try bodies(elastic, body: #"{"query":{"match":{"t":"x"}},"from":"a"}"#) == [
                #"http://h/q {"from":0,"query":{"match":{"t":"x"}},"size":2}"#,
                #"http://h/q {"from":2,"query":{"match":{"t":"x"}},"size":2}"#,
                #"http://h/q {"from":4,"query":{"match":{"t":"x"}},"size":2}"#,
            ])
        #expect(
            try bodies(algolia, body: #"{"q":"x"}"#) == [
                #"http://h/q {"params":{"hitsPerPage":2,"page":0},"q":"x"}"#,
                #"http://h/q {"params":{"hitsPerPage":2,"page":1},"q":"x"}"#,
                #"http://h/q {"params":{"hitsPerPage":2,"page":2},"q":"x"}"#,
            ])
        // Keyset paging in the body (Elasticsearch's `search_after`) with its size there too: the
        // first page carries the size alone, each next one the last item's value as well.
        let keyset = Pagination.Style.afterLast(
            key: "id", parameter: .body("search_after"), hasMore: nil, pageSize: 2, sizeParameter: .body("size"))
        var list = PagedList(
            Pagination(style: keyset), itemsKey: "items",
            request: RequestURL.Request(method: "POST", url: "http://h/q", body: Array(#"{"q":"x"}"#.utf8)),
            baseURL: "http://h", addedParameters: [])
        let firstPage = try list.firstRequest
        let items: Value = .object(["items": .array([.object(["id": 7]), .object(["id": 9])])])
        let page = try list.read(items, link: nil, rules: ItemRules()).get()
        guard case .ask(let second) = try list.add(page, answering: firstPage.url) else {
            Issue.record("a full page asks for the next")
            return
        }
        #expect(
            [firstPage, second].map { String(decoding: $0.body ?? [], as: UTF8.self) } == [
                #"{"q":"x","size":2}"#, #"{"q":"x","search_after":9,"size":2}"#,
            ])
        let refused = #expect(throws: FetchError.self) { try bodies(algolia, body: #"{"q":"x","params":"v"}"#) }
        #expect(
            refused?.message
                == "paginate.page_field 'params.page' puts the page number in the request's JSON body, and this "
                + "request has no JSON object body with an object at each step of that path")
        // A longer page than asked for: the size the API takes goes in the body too.
        #expect(
            Self.read(
                .object(["items": .array([1, 2, 3, 4])]),
                .offset(parameter: .body("from"), pageSize: 3, sizeParameter: nil))
                == "page 1 has 4 items, more than paginate.page_size (3), so the next offset would repeat items: the "
                + "API pages by a size of its own; set size_field to the body's key path it takes the page size in, "
                + "or page_size to its size")
    }

    /// Every page of a POST goes to the same URL: a page is told from another by its body too,
    /// and a body already sent is the loop.
    @Test func aPostsPagesAreToldApartByTheirBodies() throws {
        let first = RequestURL.Request(method: "POST", url: "http://h/q", body: Array(#"{"q":1}"#.utf8))
        var list = PagedList(
            Pagination(style: .cursor(key: "next", parameter: .body("after"))), itemsKey: nil, request: first,
            baseURL: "http://h", addedParameters: [])
        let step = try list.add(.init(items: [], next: #""c1""#), answering: first.url)
        guard case .ask(let second) = step else {
            Issue.record("\(step)")
            return
        }
        let loop = #expect(throws: FetchError.self) {
            try list.add(.init(items: [], next: #""c1""#), answering: second.url)
        }
        #expect(
            loop?.message.hasPrefix("page 2 of this row's list names as the next page one already asked for (page 2)")
                == true)
    }

    /// A cursor list with `has_more` (GraphQL's `hasNextPage`): the flag not true ends it, even
    /// with a cursor there (GraphQL's `endCursor` is the last item's); true with no next cursor
    /// stops the fetch rather than cut the list.
    @Test func aCursorListWithHasMoreEndsOnTheFlag() {
        let style = Pagination.Style.cursor(key: "end", parameter: "after", hasMore: "more")
        let got = [
            Self.read(.object(["items": .array([1]), "end": "c2", "more": true]), style),
            Self.read(.object(["items": .array([1]), "end": "c2", "more": false]), style),
            Self.read(.object(["items": .array([1]), "end": "c2"]), style),
            Self.read(.object(["items": .array([1]), "end": .null, "more": true]), style),
            Self.read(.object(["items": .array([1]), "end": "c2", "more": "yes"]), style),
        ]
        #expect(
            got == [
                "1 items, next c2", "1 items, next none", "1 items, next none",
                "page 1's \"end\" (paginate.cursor) names no next page although its \"more\" (paginate.has_more) is "
                    + "true; the list is never used in part",
                "page 1's \"more\" (paginate.has_more) is a JSON string, not true or false",
            ])
    }

    /// A numbered list with `has_more` (StackExchange's `page`): the flag alone ends it, a short
    /// page saying there is more is followed by page number, never by offset (the next offset
    /// would skip items), and an empty page saying there is more stops the fetch.
    @Test func aNumberedListWithHasMoreEndsOnTheFlagAlone() {
        let page = Pagination.Style.page(parameter: "p", first: 1, pageSize: 3, sizeParameter: nil, hasMore: "more")
        let offset = Pagination.Style.offset(parameter: "o", pageSize: 3, sizeParameter: "n", hasMore: "more")
        let got = [
            Self.read(.object(["items": .array([1, 2, 3]), "more": false]), page),
            Self.read(.object(["items": .array([1]), "more": true]), page),
            Self.read(.object(["items": .array([]), "more": true]), page),
            Self.read(.object(["items": .array([1, 2, 3])]), offset),
            Self.read(.object(["items": .array([1, 2, 3]), "more": true]), offset),
            Self.read(.object(["items": .array([1]), "more": true]), offset),
        ]
        #expect(
            got == [
                "3 items, next none", "1 items, next ",
                "page 1 has no items although its \"more\" "
                    + "(paginate.has_more) is true: the list is never used in part",
                "3 items, next none", "3 items, next ",
                "page 1 has 1 items, fewer than paginate.page_size (3), although its \"more\" (paginate.has_more) "
                    + "is true, so the next offset would skip items: the API pages by a size of its own; set "
                    + "page_size to at most the largest page it gives",
            ])
    }
}
