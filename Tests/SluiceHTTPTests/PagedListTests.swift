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
            ("", nil),
        ] as [(String, String?)])
    func theNextLinkIsTheOneWhoseRelationsNameNext(header: String, next: String?) {
        #expect(PagedList.nextLink(in: header) == next)
    }

    @Test func aQueryParameterIsSetInPlaceOfAnyItHad() {
        #expect(PagedList.setting("after", to: "c 1", in: "https://x/l?after=c0&n=2") == "https://x/l?n=2&after=c%201")
        #expect(PagedList.setting("page", to: "2", in: "https://x/l") == "https://x/l?page=2")
        #expect(PagedList.setting("api_key", to: nil, in: "https://x/l?api%5Fkey=k&p=2") == "https://x/l?p=2")
        #expect(PagedList.setting("k", to: nil, in: "https://x/l?k=1") == "https://x/l")
    }

    @Test func originsCompareAsURLsDo() {
        #expect(PagedList.Origin("https://API.example.com/v1") == PagedList.Origin("https://api.example.com:443/x?y"))
        #expect(PagedList.Origin("http://h/") != PagedList.Origin("https://h/"))
        #expect(PagedList.Origin("http://h:8080/") != PagedList.Origin("http://h/"))
        #expect(PagedList.Origin("/relative") == nil)
    }
}
