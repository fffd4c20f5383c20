import APIFixtureServer
import AsyncHTTPClient
import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluiceHTTP

/// An api-key `query_param` never reaches a log line or an error of a paged fetch, though the API's
/// next links repeat it (in a `Link` header as sent, in a body masked), at the debug level too.
@Suite struct PagedFetchSecretTests {
    static let key = "k3y-0f-the-paged-api"
    static let list: Value = .array((1...7).map { .object(["n": .int(Int64($0))]) })

    /// Fetches `A` (7 items, pages of 3) with every log level captured: its second page fails
    /// once; with `lostPage`, its third page is one the API does not know, which stops the fetch
    /// (the list asked again from its first page meets it again).
    static func fetch(
        _ style: Paging.Style, lostPage: Bool
    ) async throws -> (results: [ItemResult]?, error: FetchError?, log: LogCapture) {
        var paging = Paging(style, size: 3)
        if lostPage { paging.nextOverride["A#2"] = "/lists/Q?start=2&key=\(key)" }
        var api = FixtureAPI(shape: .pagedList(pathPrefix: "/lists/", paging: paging), answers: ["A": list])
        api.requiredQuery = ["key": key]
        api.failingPageOnce = ["A#2"]
        let server = FixtureServer(api: api)
        _ = try await server.start()
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)
        var configuration = FetchConfiguration(
            baseURL: server.origin!, path: "/lists/{id}", itemsKey: style == .linkHeader ? nil : "items")
        configuration.request = .perItem
        configuration.auth = .apiKeyQuery(name: "key", key: key)
        configuration.paginate = Pagination(style: style == .linkHeader ? .linkHeader : .nextURL(key: "links.next"))
        configuration.backoffBase = .zero
        configuration.backoffMax = .zero
        let log = LogCapture()
        let fetcher = HTTPFetcher(
            configuration: configuration, httpClient: client, logger: log.logger, clock: TestClock(autoAdvance: true))
        var results: [ItemResult]?
        var error: FetchError?
        do {
            results = try await fetcher.fetch(ids: ["/lists/A"])
        } catch let failure as FetchError {
            error = failure
        }
        try await client.shutdown()
        await server.stop()
        return (results, error, log)
    }

    @Test(arguments: [Paging.Style.linkHeader, .nextURL], [false, true])
    func theKeyIsInNoLogLineOrError(style: Paging.Style, lostPage: Bool) async throws {
        let (results, error, log) = try await Self.fetch(style, lostPage: lostPage)
        if lostPage {
            let said = "\(try #require(error))"
            #expect(
                said.contains("page 3 of the list of GET ") && said.contains("/lists/A answered 404")
                    && !said.contains(Self.key), "\(said)")
        } else {
            #expect(results == [.found(Self.list)], "\(error.map { "\($0)" } ?? "")")
        }
        #expect(log.records.contains { $0.level == .debug })
        #expect(!log.fullText.contains(Self.key), "\(log.fullText)")
    }
}
