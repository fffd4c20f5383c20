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
}
