import APIFixtureServer
import AsyncHTTPClient
import Foundation
import SluiceCore
import SluiceHTTP
import SluiceTestSupport
import Testing

@testable import Sluice
@testable import SluicePipeline

/// A redirect to another server is not followed: the request's credentials (here an API key
/// header, which AsyncHTTPClient would pass on to another host) never reach where it points, and
/// the run says where that is, to write in the plan. A GET's redirect to the connection's own
/// scheme, host and port is followed: the credentials go where they were meant to.
@Suite struct FetchRedirectTests {
    static let key = "k3y-never-elsewhere"

    /// An API of one item, `a`, that wants ``key`` in `X-Api-Key` and moved `moved`'s paths.
    static func movedAPI(_ moved: [String: String], status: Int = 301) -> FixtureAPI {
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": .object(["n": 1])])
        api.requiredHeader = ("X-Api-Key", key)
        api.moved = moved
        api.movedStatus = status
        return api
    }

    /// A per-item fetch of `/item/{name}` from `origin` with ``key`` in a header, tried once.
    static func stage(_ origin: String) throws -> any Stage {
        try FetchShapesTests.fetchStage(
            "path: /item/{name}\nretries: 0",
            connection:
                "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, header: X-Api-Key, key: \"${SECRET}\" }",
            environment: ["SECRET": key])
    }

    /// What running `stage` on the one row `name` (or `input`) threw, said.
    static func failure(of stage: any Stage, name: String = "", input: Batch? = nil) async throws -> String {
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: (any Error).self) {
            _ = try await harness.run(stage, input: [input ?? Batch(columns: ["name"], rows: [[.string(name)]])])
        }
        return "\(error.map { "\($0)" } ?? "")"
    }

    /// Runs `body` with `api` serving, its `moved` paths answered `status`, and a fetch stage of
    /// `path: /books` and `fetch` from it, without credentials, tried once.
    static func with(
        _ api: FixtureAPI, moved: [String: String], status: Int = 307, fetch: String,
        _ body: (FixtureServer, any Stage) async throws -> Void
    ) async throws {
        var api = api
        api.moved = moved
        api.movedStatus = status
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /books\nretries: 0\n" + fetch, connection: "kind: http\nbase_url: \(origin)")
            try await body(server, stage)
        }
    }

    /// A row whose address moved on the same server (GitHub's renamed repository), by each
    /// redirect status, absolute or relative, one hop or a chain up to five: the address it
    /// points to is asked, with the key, and its answer is the row's; every hop is a request,
    /// and counted a redirect.
    @Test(arguments: [
        (301, ["/item/old": "/item/a"], 1), (302, ["/item/old": "/item/a"], 1), (303, ["/item/old": "/item/a"], 1),
        (307, ["/item/old": "a"], 1), (308, ["/item/old": "../item/a"], 1),
        (301, ["/item/old": "/item/mid", "/item/mid": "a"], 2),
        (302, ["/item/old": "h1", "/item/h1": "h2", "/item/h2": "h3", "/item/h3": "h4", "/item/h4": "a"], 5),
    ])
    func aRedirectOnTheSameServerIsFollowed(status: Int, moved: [String: String], hops: Int) async throws {
        try await FetchShapesTests.with(Self.movedAPI(moved, status: status)) { server, origin in
            let stage = try Self.stage(origin)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["old"]])]))
            #expect(got.map { $0["response"]?["n"] } == [1])
            #expect(server.stats().requests == hops + 1 && server.stats().refused == 0)
            #expect(harness.counters["requests"] == hops + 1 && harness.counters["redirects"] == hops)
            #expect(harness.counters["retries"] == 0 && harness.counters["found"] == 1, "\(harness.counters)")
        }
    }

    /// A batch GET whose endpoint moved (307) is asked where it points, its answer the batch's.
    @Test func aBatchRedirectOnTheSameServerIsFollowed() async throws {
        let books = FixtureAPI(
            shape: .batchObject(path: "/api/books", parameter: "bibkeys", separator: ","),
            answers: ["0451526538": .object(["title": "Tom Sawyer"])])
        try await Self.with(
            books, moved: ["/books": "/api/books"], fetch: "id: isbn\nids_param: bibkeys\nmatch: object_keys"
        ) {
            server, stage in
            let harness = try await StageHarness(stage: stage)
            let batch = Batch(columns: ["book_id", "isbn"], rows: [["b1", "0451526538"], ["b2", "0000000000"]])
            let got = rows(try await harness.run(stage, input: [batch]))
            #expect(got.map { $0["book_id"] } == ["b1"])
            #expect(got.first?["response"]?["title"] == "Tom Sawyer")
            #expect(
                server.stats().seenURLs == [
                    "/books?bibkeys=0451526538,0000000000", "/api/books?bibkeys=0451526538,0000000000",
                ])
            #expect(harness.counters["requests"] == 2 && harness.counters["redirects"] == 1)
        }
    }

    /// Redirects that come back to an address already asked, or a sixth one, are not followed:
    /// the fetch stops as a redirect did before, saying why.
    @Test(arguments: [
        (["/item/old": "/item/b", "/item/b": "/item/old"], "it leads back to an address already asked", 2),
        (
            [
                "/item/old": "h1", "/item/h1": "h2", "/item/h2": "h3", "/item/h3": "h4", "/item/h4": "h5",
                "/item/h5": "a",
            ],
            "it would be this request's redirect number 6, more than 5", 6
        ),
    ])
    func redirectsThatLoopOrGoOnTooLongAreRefused(moved: [String: String], why: String, requests: Int) async throws {
        try await FetchShapesTests.with(Self.movedAPI(moved)) { server, origin in
            let said = try await Self.failure(of: try Self.stage(origin), name: "old")
            #expect(said.contains("HTTP 301 (a redirect to ") && said.contains(why), "\(said)")
            #expect(server.stats().requests == requests)
        }
    }

    /// A row's address that moved to another server is not followed, and the run says that the
    /// row names an old address (not that the plan's base_url is wrong); the other server gets
    /// nothing.
    @Test func aRowRedirectedToAnotherServerIsRefusedSayingTheRowMoved() async throws {
        try await FetchShapesTests.with(Self.movedAPI([:])) { elsewhere, otherOrigin in
            try await FetchShapesTests.with(Self.movedAPI(["/item/old": "\(otherOrigin)/item/a"])) { _, origin in
                let said = try await Self.failure(of: try Self.stage(origin), name: "old")
                #expect(
                    said.contains(
                        "HTTP 301 (a redirect to \(otherOrigin)/item/a, which Sluice does not follow: it is not on "
                            + "the connection's \(origin)"), "\(said)")
                #expect(said.contains("this row's values name an address that moved"), "\(said)")
                #expect(!said.contains(Self.key))
                #expect(elsewhere.stats().requests == 0, "nothing reached the address redirected to")
            }
        }
    }

    /// A POST's 301 or 302 is not followed, even on the same server: clients may ask its address
    /// again with a GET (most do), so what the API meant is not known.
    @Test(arguments: [301, 302])
    func aPostsMovedRedirectIsRefused(status: Int) async throws {
        let api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"), answers: ["1 Main St": .object(["lat": 1.5])])
        try await Self.with(
            api, moved: ["/books": "/geocode"], status: status, fetch: "method: POST\nbody: { street: \"{street}\" }"
        ) { server, stage in
            let said = try await Self.failure(of: stage, input: Batch(columns: ["street"], rows: [["1 Main St"]]))
            #expect(
                said.contains(
                    "which Sluice does not follow: a POST's \(status) may be asked again as a GET, which would change "
                        + "its meaning (an API moving a POST answers 307 or 308)"), "\(said)")
            #expect(server.stats().requests == 1)
        }
    }

    /// A POST's 307 or 308 on the same server is asked again as it was, method and body (RFC
    /// 9110), and answers the row.
    @Test(arguments: [307, 308])
    func aPostsRedirectKeepingItsMethodIsFollowed(status: Int) async throws {
        let api = FixtureAPI(
            shape: .itemBody(path: "/geocode", idKey: "street"), answers: ["1 Main St": .object(["lat": 1.5])])
        try await Self.with(
            api, moved: ["/books": "/geocode"], status: status, fetch: "method: POST\nbody: { street: \"{street}\" }"
        ) { server, stage in
            let out = try await StageHarness(stage: stage).run(
                stage, input: [Batch(columns: ["street"], rows: [["1 Main St"]])])
            #expect(rows(out).map { $0["response"] } == [.object(["lat": 1.5])])
            let stats = server.stats()
            #expect(stats.methods == ["POST", "POST"])
            #expect(stats.seenURLs == ["/books", "/geocode"])
            #expect(stats.rawBodies.count == 2 && Set(stats.rawBodies).count == 1, "\(stats.rawBodies)")
        }
    }

    /// A POST's 303 ("see other") on the same server is how the API hands over the answer: its
    /// address is asked with a GET and no body, and its answer is the row's.
    @Test func aPostsSeeOtherIsAskedWithAGet() async throws {
        let api = FixtureAPI(shape: .perItem(pathPrefix: "/results/"), answers: ["7": .object(["lat": 1.5])])
        try await Self.with(
            api, moved: ["/books": "/results/7"], status: 303, fetch: "method: POST\nbody: { street: \"{street}\" }"
        ) { server, stage in
            let out = try await StageHarness(stage: stage).run(
                stage, input: [Batch(columns: ["street"], rows: [["1 Main St"]])])
            #expect(rows(out).map { $0["response"] } == [.object(["lat": 1.5])])
            let stats = server.stats()
            #expect(stats.methods == ["POST", "GET"])
            #expect(stats.seenURLs == ["/books", "/results/7"])
            #expect(stats.rawBodies == [#"{"street":"1 Main St"}"#], "\(stats.rawBodies)")
        }
    }

    /// An api-key `query_param` is sent once after a redirect whose address repeats it (the
    /// server keeps the query), and never logged, the redirect said at debug level.
    @Test func anAPIKeyInTheQueryIsSentOnceAfterARedirectAndNeverLogged() async throws {
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": .object(["n": 1])])
        api.requiredQuery = ["api_key": Self.key]
        api.moved = ["/item/old": "/item/a"]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /item/{name}\nretries: 0",
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, query_param: api_key, key: \"${K}\" }",
                environment: ["K": Self.key])
            let configuration = try #require(stage as? FetchStage).configuration
            let capture = LogCapture()
            var logger = capture.logger
            logger.logLevel = .debug
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPFetcher.clientConfiguration)
            let fetcher = HTTPFetcher(configuration: configuration, httpClient: client, logger: logger)
            let got = try? await fetcher.fetch(ids: ["/item/old"])
            try await client.shutdown()
            #expect(got == [.found(.object(["n": 1]))])
            let seen = server.stats().seenURLs
            #expect(seen == ["/item/old?api_key=\(Self.key)", "/item/a?api_key=\(Self.key)"], "\(seen)")
            #expect(await fetcher.counters.redirects == 1)
            #expect(capture.records.contains { $0.level == .debug && $0.message.contains("Following a redirect") })
            #expect(capture.records.filter { $0.level == .warning }.count == 1, "\(capture.fullText)")
            #expect(!capture.fullText.contains(Self.key), "\(capture.fullText)")
        }
    }

    @Test(arguments: [false, true])
    func aRedirectIsReportedNotFollowed(throughTheTokenEndpoint: Bool) async throws {
        let key = "k3y-never-elsewhere"
        var target = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": .object(["n": 1])])
        target.requiredHeader = ("X-Api-Key", key)
        try await FetchShapesTests.with(target) { elsewhere, targetOrigin in
            var mover = target
            mover.redirectsTo = targetOrigin
            try await FetchShapesTests.with(mover) { _, origin in
                let auth =
                    throughTheTokenEndpoint
                    ? "{ kind: oauth2-client-credentials, token_url: \"\(origin)/token\", client_id: app, "
                        + "client_secret: \"${SECRET}\", client_auth: body }"
                    : "{ kind: api-key, header: X-Api-Key, key: \"${SECRET}\" }"
                let stage = try FetchShapesTests.fetchStage(
                    "path: /item/{name}\nretries: 0",
                    connection:
                        "kind: http\nbase_url: \(throughTheTokenEndpoint ? targetOrigin : origin)\nauth: \(auth)",
                    environment: ["SECRET": key])
                let harness = try await StageHarness(stage: stage)
                let error = await #expect(throws: (any Error).self) {
                    _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])])
                }
                let said = "\(error.map { "\($0)" } ?? "")"
                let path = throughTheTokenEndpoint ? "/token" : "/item/a"
                #expect(
                    said.contains("HTTP 307 (a redirect to \(targetOrigin)\(path), which Sluice does not follow"),
                    "\(said)")
                #expect(!said.contains(key))
                #expect(elsewhere.stats().requests == 0, "nothing reached the address redirected to")
            }
        }
    }

    /// A token endpoint whose redirect repeats the client's `Authorization: Basic` header in
    /// its address, percent-encoded: the base64's `=` padding became `%3D`, and the whole pair
    /// (the client secret, decoded) was shown and recorded.
    @Test func aTokenRedirectRepeatingTheCredentialsNeverShowsThem() async throws {
        // 3 + 1 + 21 bytes: a pair whose base64 ends in `=`.
        let (id, secret) = ("app", "s3cret-never-shown-21")
        let pair = Data("\(id):\(secret)".utf8).base64EncodedString()
        try #require(pair.hasSuffix("="))
        var mover = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: [:])
        mover.echoesRequest = true
        try await FetchShapesTests.with(FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: [:])) {
            _, elsewhere in
            mover.redirectsTo = elsewhere
            try await FetchShapesTests.with(mover) { _, origin in
                let stage = try FetchShapesTests.fetchStage(
                    "path: /item/{name}\nretries: 0",
                    connection: """
                        kind: http
                        base_url: \(origin)
                        auth: { kind: oauth2-client-credentials, token_url: "\(origin)/token", client_id: \(id), client_secret: "${SECRET}" }
                        """,
                    environment: ["SECRET": secret])
                let harness = try await StageHarness(stage: stage)
                let error = await #expect(throws: (any Error).self) {
                    _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])])
                }
                let said = "\(error.map { "\($0)" } ?? "")"
                #expect(said.contains("a redirect to \(elsewhere)/token?echo=Basic%20***"), "\(said)")
                for form in [secret, String(pair.dropLast())] { #expect(!said.contains(form), "\(said)") }
            }
        }
    }
}
