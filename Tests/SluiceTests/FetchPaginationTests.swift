import APIFixtureServer
import Foundation
import SluiceCore
import SluiceHTTP
import Testing

@testable import Sluice
@testable import SluicePipeline

/// `paginate`: a per-item request whose list the API pages gets every page's items, each page a
/// request of its own, against a real local server that pages the lists.
@Suite struct FetchPaginationTests {
    /// Seven items for `A` (three pages of three), none for `B`, three for `C`; `Z` is unknown (404).
    static let lists: [String: Value] = [
        "A": .array((1...7).map { .object(["n": .int(Int64($0))]) }),
        "B": .array([]),
        "C": .array((1...3).map { .object(["c": .int(Int64($0))]) }),
    ]

    static func api(_ style: Paging.Style, _ configure: (inout Paging) -> Void = { _ in }) -> FixtureAPI {
        var paging = Paging(style, size: 3)
        configure(&paging)
        return FixtureAPI(shape: .pagedList(pathPrefix: "/lists/", paging: paging), answers: lists)
    }

    static func stage(_ paginate: String, itemsKey: String?, origin: String, extra: String = "") throws -> any Stage {
        try FetchShapesTests.fetchStage(
            "path: /lists/{name}\n" + (itemsKey.map { "items_key: \($0)\n" } ?? "") + "paginate: \(paginate)\n"
                + "backoff: 0\n" + extra,
            connection: "kind: http\nbase_url: \(origin)")
    }

    /// Reading the lists by `next_url`, the connection sending `key` in the query parameter `key`.
    static func stage(origin: String, queryKey key: String) throws -> any Stage {
        try FetchShapesTests.fetchStage(
            "path: /lists/{name}\nitems_key: items\npaginate: {next_url: links.next}",
            connection: "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, query_param: key, key: \"${KEY}\" }",
            environment: ["KEY": key])
    }

    /// What the stage's error says when it fails on ``names`` (an issue when it does not fail).
    static func failure(of stage: any Stage) async throws -> String {
        let harness = try await StageHarness(stage: stage)
        let error = await #expect(throws: (any Error).self) { _ = try await harness.run(stage, input: [names]) }
        return "\(error.map { "\($0)" } ?? "")"
    }

    static let names = Batch(columns: ["name"], rows: [["A"], ["B"], ["Z"], ["C"]])

    struct Case: Sendable, CustomTestStringConvertible {
        var style: Paging.Style
        var paginate: String
        var itemsKey: String?
        /// Requests for A, B, Z, C.
        var requests: Int
        /// The URL of A's second page, as the server saw it.
        var secondPage: String
        /// How the server pages beyond the style (what a keyset page's items are named by).
        var paging: @Sendable (inout Paging) -> Void = { _ in }
        var testDescription: String { paginate }
    }

    static let cases: [Case] = [
        Case(
            style: .nextURL, paginate: "{next_url: links.next}", itemsKey: "items", requests: 3 + 1 + 1 + 1,
            secondPage: "/lists/A?start=1"),
        Case(
            style: .linkHeader, paginate: "{link_header: true}", itemsKey: nil, requests: 6,
            secondPage: "/lists/A?start=1"),
        Case(
            style: .cursor, paginate: "{cursor: meta.next_cursor, cursor_param: after}", itemsKey: "items", requests: 6,
            secondPage: "/lists/A?after=c1"),
        // A full last page (C's three) is followed by an empty one.
        Case(
            style: .offset, paginate: "{offset_param: offset, page_size: 3, size_param: limit}", itemsKey: "items",
            requests: 3 + 1 + 1 + 2, secondPage: "/lists/A?offset=3&limit=3"),
        // Keyset: after the last item's number; C's single full page says it has no more.
        Case(
            style: .startingAfter,
            paginate:
                "{after_last: n, cursor_param: starting_after, has_more: has_more, page_size: 3, size_param: limit}",
            itemsKey: "data", requests: 3 + 1 + 1 + 1, secondPage: "/lists/A?limit=3&starting_after=3",
            paging: { $0.idKey = "n" }),
        Case(
            style: .page, paginate: "{page_param: page, page_size: 3, size_param: per_page}", itemsKey: nil,
            requests: 7, secondPage: "/lists/A?page=2&per_page=3"),
        // Without a page size only an empty page ends a list.
        Case(
            style: .page, paginate: "{page_param: page}", itemsKey: nil, requests: 4 + 1 + 1 + 2,
            secondPage: "/lists/A?page=2"),
        // With has_more (StackExchange) only the flag ends a numbered list: no empty page after A's
        // short last one, nor after C's full one.
        Case(
            style: .page, paginate: "{page_param: page, has_more: has_more}", itemsKey: "items", requests: 6,
            secondPage: "/lists/A?page=2", paging: { $0.numberedHasMore = true }),
        Case(
            style: .offset, paginate: "{offset_param: offset, page_size: 3, size_param: limit, has_more: has_more}",
            itemsKey: "items", requests: 6, secondPage: "/lists/A?offset=3&limit=3",
            paging: { $0.numberedHasMore = true }),
    ]

    @Test(arguments: cases)
    func everyPageOfEachRowsListIsAskedForAndJoinedInOrder(_ c: Case) async throws {
        try await FetchShapesTests.with(Self.api(c.style, c.paging)) { server, origin in
            let stage = try Self.stage(c.paginate, itemsKey: c.itemsKey, origin: origin)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["name"] } == ["A", "B", "C"])
            #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
            #expect(harness.counters["requests"] == c.requests)
            #expect(harness.counters["pages"] == c.requests - 4)
            #expect(harness.counters["not_found"] == 1)
            let seen = server.stats().seenURLs
            #expect(seen.count == c.requests && seen.contains(c.secondPage), "\(seen)")
        }
    }

    /// Rows fetched at once keep their order and their own pages (an id repeated is asked once).
    @Test func rowsFetchedConcurrentlyKeepTheirOrderAndPages() async throws {
        try await FetchShapesTests.with(Self.api(.cursor)) { server, origin in
            let stage = try Self.stage(
                "{cursor: meta.next_cursor, cursor_param: after}", itemsKey: "items", origin: origin,
                extra: "concurrency: 4")
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["A"], ["C"], ["B"], ["A"], ["Z"], ["C"], ["A"]])
            let got = rows(try await harness.run(stage, input: [input]))
            let (a, b, c) = (Self.lists["A"], Value.array([]), Self.lists["C"])
            #expect(got.map { $0["response"] } == [a, c, b, a, c, a])
            #expect(harness.counters["requests"] == 3 + 1 + 1 + 1)
            #expect(harness.counters["pages"] == 2)
        }
    }

    /// Each page is paced and obeys the API's rate limit as any request does: `delay` between
    /// pages, a page saying the limit is spent holds the next one until the reset, a page refused
    /// with 429 is asked again after its `Retry-After`; the row still gets its whole list.
    @Test func everyPageIsPacedAndObeysTheRateLimit() async throws {
        var api = Self.api(.nextURL)
        api.limitAnswers = [
            FixtureLimitAnswer(headers: ["X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1"]),
            FixtureLimitAnswer(status: 429, headers: ["Retry-After": "1"]),
        ]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try Self.stage(
                "{next_url: links.next}", itemsKey: "items", origin: origin, extra: "delay: 300ms")
            let harness = try await StageHarness(stage: stage)
            let started = ContinuousClock.now
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(ContinuousClock.now - started >= .seconds(2))
            #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
            let counted = ["requests", "pages", "http_429", "retries", "waits"].map { harness.counters[$0] }
            #expect(counted == [7, 2, 1, 1, 2])
            // `delay` between any two requests' starts, seen where they arrive: a request that
            // took long to arrive (a loaded machine: the server answers on this process's two
            // busy threads) shortens the gap after it by as much, so a third of the delay is the
            // bound (unpaced, pages of one row arrive a few ms apart); `paced_ms` counts only the
            // waits a fast machine makes.
            let answered = server.stats().answeredAt
            let gaps = zip(answered.dropFirst(), answered).map { $0 - $1 }
            #expect(gaps.count == 5 && gaps.allSatisfy { $0 >= 0.1 }, "\(gaps)")
            #expect(server.stats().seenURLs.prefix(3) == ["/lists/A", "/lists/A?start=1", "/lists/A?start=1"])
        }
    }

    /// A list longer than `max_pages` rejects its row, saying how many pages were fetched; the
    /// other rows are answered.
    @Test func aRowNeedingMorePagesThanMaxPagesIsRejectedWhole() async throws {
        try await FetchShapesTests.with(Self.api(.nextURL)) { _, origin in
            let stage = try Self.stage("{next_url: links.next, max_pages: 2}", itemsKey: "items", origin: origin)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["name"] } == ["B", "C"])
            #expect(harness.counters["requests"] == 2 + 1 + 1 + 1)
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains {
                    $0.hasPrefix("fetch,too_many_pages,name,A,the API's list for this row has more pages than ")
                        && $0.contains("2 were fetched")
                }, "\(rejects)")
        }
    }

    /// A row whose list has too many pages was found: with `on_not_found: keep`, a fetch whose
    /// other rows are all unknown is not "the API found none of the ids" (which stops the fetch);
    /// such rows are counted in `too_many_pages`.
    @Test func aRowWithTooManyPagesCountsAsFoundNotAsNoneFound() async throws {
        try await FetchShapesTests.with(Self.api(.nextURL)) { _, origin in
            let stage = try Self.stage(
                "{next_url: links.next, max_pages: 2}", itemsKey: "items", origin: origin, extra: "on_not_found: keep")
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["A"], ["Z"]])
            let got = rows(try await harness.run(stage, input: [input]))
            #expect(got.map { $0["name"] } == ["Z"])
            let counted = ["found", "not_found", "too_many_pages"].map { harness.counters[$0] }
            #expect(counted == [0, 1, 1])
        }
    }

    /// A next page on another host (here another port) is not asked for: every request carries
    /// the connection's credentials. The fetch stops naming the host, and nothing reached it.
    @Test func aNextPageOnAnotherHostStopsTheFetchAndIsNeverAsked() async throws {
        let key = "k3y-for-the-api-only"
        try await FetchShapesTests.with(Self.api(.nextURL)) { elsewhere, foreign in
            let api = Self.api(.nextURL) { $0.nextOverride["A#1"] = foreign + "/lists/A?start=1&token=sekrit" }
            try await FetchShapesTests.with(api) { server, origin in
                let stage = try Self.stage(origin: origin, queryKey: key)
                let said = try await Self.failure(of: stage)
                #expect(
                    said.contains("page 1 of this row's list names its next page on another host, \(foreign),"),
                    "\(said)")
                #expect(!said.contains(key) && !said.contains("sekrit"), "\(said)")
                #expect(elsewhere.stats().requests == 0)
                #expect(server.stats().requests == 1)
            }
        }
    }

    /// An api-key `query_param` is added to every page, and once, even when the API's next link
    /// repeats it; in the query, also when the next link has a fragment (which is never sent, so a
    /// key after its `#` would not reach the API).
    @Test(arguments: [nil, "/lists/A?start=1#more"])
    func anAPIKeyInTheQueryIsSentOnceWithEveryPage(secondPage: String?) async throws {
        let key = "k3y-for-every-page"
        var api = Self.api(.nextURL) { $0.nextOverride["A#1"] = secondPage }
        api.requiredQuery = ["key": key]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try Self.stage(origin: origin, queryKey: key)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["A"]])]))
            #expect(got.map { $0["response"] } == [Self.lists["A"]])
            let seen = server.stats().seenURLs
            #expect(seen.count == 3)
            // One key each, the real one: the API's next link repeats it (as `key=***`, the answer
            // masked), and that one is not sent.
            #expect(
                seen.allSatisfy { $0.components(separatedBy: "key=").count == 2 && $0.contains("key=\(key)") },
                "\(seen)")
            // Repeated only in the next links, which are never written: not said to read *** in data.
            #expect(!harness.notices.contains { $0.contains("repeated a credential") }, "\(harness.notices)")
        }
    }

    /// A list whose address moved on the same server is read where the redirect leads, and its
    /// relative next links (`?start=1`, then `/lists/A?start=2`) are resolved against that
    /// address, not the one asked: one redirect for the whole list, not one more per page.
    @Test func aRelativeNextLinkAfterARedirectIsResolvedWhereTheRedirectLed() async throws {
        var api = Self.api(.nextURL) { $0.nextOverride["A#1"] = "?start=1" }
        api.moved = ["/lists/old": "/lists/A"]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try Self.stage("{next_url: links.next}", itemsKey: "items", origin: origin)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["old"]])]))
            #expect(got.map { $0["response"] } == [Self.lists["A"]])
            let seen = server.stats().seenURLs
            #expect(seen == ["/lists/old", "/lists/A", "/lists/A?start=1", "/lists/A?start=2"], "\(seen)")
            #expect(harness.counters["redirects"] == 1 && harness.counters["pages"] == 2, "\(harness.counters)")
        }
    }

    /// An offset-paged API that answers more items than `page_size` (it takes no `size_param`, or
    /// none is given) would have the next offset repeat items: the fetch stops, saying so.
    @Test func anOffsetPageLongerThanPageSizeStopsTheFetch() async throws {
        try await FetchShapesTests.with(Self.api(.offset)) { server, origin in
            let stage = try Self.stage("{offset_param: offset, page_size: 2}", itemsKey: "items", origin: origin)
            let said = try await Self.failure(of: stage)
            #expect(said.contains("page 1 has 3 items, more than paginate.page_size (2)"), "\(said)")
            #expect(server.stats().requests == 1)
        }
    }

    /// A cursor the API already gave for this row (the pages loop) stops the fetch, naming the page.
    @Test func pagesThatLoopStopTheFetch() async throws {
        try await FetchShapesTests.with(Self.api(.cursor) { $0.nextOverride["A#2"] = "c1" }) { server, origin in
            let stage = try Self.stage(
                "{cursor: meta.next_cursor, cursor_param: after}", itemsKey: "items", origin: origin)
            let said = try await Self.failure(of: stage)
            #expect(
                said.contains("page 2 of this row's list names as the next page one already asked for (page 2)"),
                "\(said)")
            #expect(server.stats().requests == 2)
        }
    }

    /// A later page the API fails once is asked again; the row still gets its whole list.
    @Test func aFailedLaterPageIsRetried() async throws {
        var api = Self.api(.nextURL)
        api.failingPageOnce = ["A#2"]
        try await FetchShapesTests.with(api) { _, origin in
            let stage = try Self.stage("{next_url: links.next}", itemsKey: "items", origin: origin)
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
            #expect(harness.counters["requests"] == 7)
            #expect(harness.counters["retries"] == 1)
            #expect(harness.counters["pages"] == 2)
        }
    }

    /// `not_found_when` reads each page's whole answer: met on the first page, the row is not found.
    @Test func notFoundWhenOnTheFirstPageIsNotFound() async throws {
        try await FetchShapesTests.with(Self.api(.nextURL)) { _, origin in
            let stage = try Self.stage(
                "{next_url: links.next}", itemsKey: "items", origin: origin,
                extra: "not_found_when: \"length(response.items) == 0\"")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["name"] } == ["A", "C"])
            #expect(harness.counters["not_found"] == 2)
        }
    }

    /// A `not_found_when` that calls an empty list not found is met by the empty page that ends a
    /// numbered list too: that page is the list's end, not a list that moved, and only an empty
    /// first page makes the row not found.
    @Test func anEmptyLastPageMeetingNotFoundWhenEndsTheList() async throws {
        try await FetchShapesTests.with(Self.api(.page)) { server, origin in
            let stage = try Self.stage(
                "{page_param: page}", itemsKey: nil, origin: origin, extra: "not_found_when: \"length(response) == 0\"")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["response"] } == [Self.lists["A"], Self.lists["C"]])
            #expect(harness.counters["not_found"] == 2 && harness.counters["lists_asked_again"] == 0)
            #expect(server.stats().requests == 4 + 1 + 1 + 2)
        }
    }

    /// A later page with items that meets `not_found_when` is a list that moved: asked again, and
    /// met again, it stops the fetch resumably.
    @Test func aLaterPageWithItemsMeetingNotFoundWhenIsAListThatMoved() async throws {
        try await FetchShapesTests.with(Self.api(.page)) { server, origin in
            let stage = try Self.stage(
                "{page_param: page}", itemsKey: nil, origin: origin, extra: "not_found_when: \"length(response) == 1\"")
            let said = try await Self.failure(of: stage)
            #expect(
                said.contains("/lists/A meets not_found_when once the list was asked again from its first page"),
                "\(said)")
            #expect(server.stats().seenURLs.filter { $0.hasPrefix("/lists/A") }.count == 3 + 3)
        }
    }

    /// A later page the API says it does not know is not "not found" for the row, whose first
    /// page was answered: asked again from its first page and not known again, the fetch stops
    /// rather than use the list in part.
    @Test func aLaterPageNotFoundStopsTheFetch() async throws {
        try await FetchShapesTests.with(Self.api(.nextURL) { $0.nextOverride["A#1"] = "/lists/Q?start=1" }) {
            _, origin in
            let said = try await Self.failure(
                of: try Self.stage("{next_url: links.next}", itemsKey: "items", origin: origin))
            #expect(
                said.contains(
                    "/lists/A answered 404: Not Found once the list was asked again from its first page, as it had "
                        + "the first time"),
                "\(said)")
        }
    }

    /// With `on_give_up: reject`, a later page the API fails to the end rejects its row (never a
    /// partial list), and the other rows are answered.
    @Test func aLaterPageGivenUpOnRejectsItsRowWhole() async throws {
        var api = Self.api(.nextURL)
        api.failingPageOnce = ["A#3"]
        try await FetchShapesTests.with(api) { _, origin in
            let stage = try Self.stage(
                "{next_url: links.next}", itemsKey: "items", origin: origin, extra: "retries: 0\non_give_up: reject")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["name"] } == ["B", "C"])
            #expect(harness.counters["gave_up"] == 1)
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(rejects.contains { $0.hasPrefix("fetch,gave_up,name,A,") }, "\(rejects)")
        }
    }

    /// A fetch that stops in the middle of a row's pages (page 2 of A fails, with no retries) has
    /// written down the rows whose lists were whole, an empty one too, and not that row: a resume
    /// asks again for A's pages only.
    @Test func anInterruptedPagedFetchResumesWithoutAskingFinishedRowsAgain() async throws {
        var api = Self.api(.nextURL)
        api.failingPageOnce = ["A#2"]
        try await FetchShapesTests.with(api) { server, origin in
            let plan = "path: /lists/{name}\nitems_key: items\npaginate: {next_url: links.next}\nretries: 0"
            let connection = "kind: http\nbase_url: \(origin)"
            let input = Batch(columns: ["name"], rows: [["B"], ["C"], ["A"]])
            let first = try FetchShapesTests.fetchStage(plan, connection: connection)
            let firstRun = try await StageHarness(stage: first)
            await #expect(throws: (any Error).self) { _ = try await firstRun.run(first, input: [input]) }
            #expect(server.stats().seenURLs == ["/lists/B", "/lists/C", "/lists/A", "/lists/A?start=1"])

            var second = try #require(try FetchShapesTests.fetchStage(plan, connection: connection) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let got = rows(try await secondRun.run(second, input: [input]))
            #expect(got.map { $0["response"] } == [.array([]), Self.lists["C"], Self.lists["A"]])
            #expect(secondRun.counters["reused_answers"] == 2)
            #expect(
                Array(server.stats().seenURLs.dropFirst(4)) == ["/lists/A", "/lists/A?start=1", "/lists/A?start=2"])
        }
    }

    struct NumberedHasMoreCase: Sendable, CustomTestStringConvertible {
        var style: Paging.Style
        var paginate: String
        /// What A's pages say `has_more` is instead of the truth.
        var says: [String: Bool]
        /// A's list as the row gets it, or what the failure says.
        var got: Value? = nil
        var said = ""
        var testDescription: String { "\(paginate) \(says)" }
    }

    /// With `has_more` a numbered list ends on the flag alone, whatever the page's length; a page
    /// saying there is more with no items, or (by offset) fewer than asked for, stops the fetch
    /// rather than ask past the list's end or skip items.
    @Test(
        arguments: [
            NumberedHasMoreCase(
                style: .page, paginate: "{page_param: page, page_size: 3, has_more: has_more}", says: ["A#1": false],
                got: .array((1...3).map { .object(["n": .int(Int64($0))]) })),
            NumberedHasMoreCase(
                style: .page, paginate: "{page_param: page, has_more: has_more}", says: ["A#3": true, "A#4": true],
                said: "page 4 has no items although its \"has_more\" (paginate.has_more) is true: the list is never "
                    + "used in part"),
            NumberedHasMoreCase(
                style: .offset, paginate: "{offset_param: offset, page_size: 3, has_more: has_more}",
                says: ["A#3": true],
                said: "page 3 has 1 items, fewer than paginate.page_size (3), although its \"has_more\" "
                    + "(paginate.has_more) is true, so the next offset would skip items"),
        ])
    func aNumberedListWithHasMoreEndsOnTheFlagAlone(_ c: NumberedHasMoreCase) async throws {
        let api = Self.api(c.style) {
            $0.numberedHasMore = true
            $0.hasMoreOverride = c.says
        }
        try await FetchShapesTests.with(api) { _, origin in
            let stage = try Self.stage(c.paginate, itemsKey: "items", origin: origin)
            if let want = c.got {
                let harness = try await StageHarness(stage: stage)
                let got = rows(try await harness.run(stage, input: [Self.names]))
                #expect(got.map { $0["response"] } == [want, .array([]), Self.lists["C"]])
            } else {
                let said = try await Self.failure(of: stage)
                #expect(said.contains(c.said), "\(said)")
            }
        }
    }

    /// The answers file reads a paged row's array (an empty one too) back as found, and the lines
    /// files written before it as before.
    @Test func theAnswersFileReadsArraysAndTheLinesItAlwaysHad() async throws {
        let directory = try await StageHarness.makeRunDirectory()
        let url = directory.appendingPathComponent("answers.ndjson")
        let lines = [
            #"{"id":"a","found":{"n":1}}"#, #"{"id":"b","not_found":true}"#, #"{"id":"c","not_found":"404: gone"}"#,
            #"{"id":"d","rejected":"bad id"}"#, #"{"id":"e","found":[{"n":1},{"n":2}]}"#, #"{"id":"f","found":[]}"#,
            #"{"id":"g","found":"text"}"#,
        ]
        try await BlockingIO.runOnOwnThread { try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url) }
        let loaded = await FetchAnswers.load(from: url)
        let expected: [String: ItemResult] = [
            "a": .found(.object(["n": 1])), "b": .notFound(because: nil), "c": .notFound(because: "404: gone"),
            "d": .rejected(reason: "bad id"), "e": .found(.array([.object(["n": 1]), .object(["n": 2])])),
            "f": .found(.array([])),
        ]
        #expect(Dictionary(uniqueKeysWithValues: loaded.map { ($0.key.text, $0.value) }) == expected)
    }

    /// A page whose `items_key` is not a list is an answer of another shape than the plan says.
    @Test func aPageWhoseItemsAreNotAListStopsTheFetch() async throws {
        try await FetchShapesTests.with(Self.api(.nextURL)) { _, origin in
            let stage = try Self.stage("{next_url: links.next}", itemsKey: "links", origin: origin)
            let said = try await Self.failure(of: stage)
            #expect(said.contains("page 1's \"links\" is a JSON object, not an array"), "\(said)")
        }
    }

    // MARK: Keyset lists (Stripe's `starting_after`)

    /// A Stripe customer's charges: 250 (page 1 ending on an id that must be percent-encoded),
    /// none, and three whose second has no id.
    static let charges: [String: Value] = [
        "cus_A": .array(
            (1...250).map {
                .object(["id": .string($0 == 100 ? "ch_100 +/é" : "ch_\($0)"), "amount": .int(Int64($0))])
            }),
        "cus_B": .array([]),
        "cus_M": .array([.object(["id": "ch_1"]), .object(["amount": 2]), .object(["id": "ch_3"])]),
    ]

    static func stripe(hasMore: Bool = true, _ configure: (inout Paging) -> Void = { _ in }) -> FixtureAPI {
        var paging = Paging(.startingAfter, size: 100)
        paging.hasMore = hasMore
        configure(&paging)
        return FixtureAPI(shape: .pagedList(pathPrefix: "/v1/customers/", paging: paging), answers: charges)
    }

    static func stripeStage(_ paginate: String, origin: String, extra: String = "") throws -> any Stage {
        try FetchShapesTests.fetchStage(
            "path: /v1/customers/{name}\nitems_key: data\npaginate: {\(paginate)}\nbackoff: 0\n" + extra,
            connection: "kind: http\nbase_url: \(origin)")
    }

    static let keyset = "after_last: id, cursor_param: starting_after"

    struct KeysetCase: Sendable, CustomTestStringConvertible {
        var paginate: String
        /// Whether the API's pages say `has_more`.
        var hasMore: Bool
        /// Pages of cus_A's list asked for (its 250 items are 100, 100, 50).
        var pages: Int
        var sizeParameter: String
        var testDescription: String { paginate }
    }

    /// 250 items over three pages, each after the last one's id: `has_more` ends the list; without
    /// it the short third page does, or (without `page_size`) an empty fourth. A failed page is
    /// asked again, as any page is.
    @Test(
        arguments: [
            KeysetCase(
                paginate: keyset + ", has_more: has_more, page_size: 100, size_param: limit", hasMore: true, pages: 3,
                sizeParameter: "limit=100&"),
            KeysetCase(
                paginate: keyset + ", page_size: 100, size_param: limit", hasMore: false, pages: 3,
                sizeParameter: "limit=100&"),
            KeysetCase(paginate: keyset, hasMore: false, pages: 4, sizeParameter: ""),
        ])
    func aKeysetListIsReadAfterEachPagesLastItem(_ c: KeysetCase) async throws {
        var api = Self.stripe(hasMore: c.hasMore)
        api.failingPageOnce = ["cus_A#2"]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try Self.stripeStage(c.paginate, origin: origin)
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["cus_A"], ["cus_B"], ["cus_Z"]])
            let got = rows(try await harness.run(stage, input: [input]))
            #expect(got.map { $0["response"] } == [Self.charges["cus_A"], .array([])])
            let counted = ["requests", "pages", "retries", "not_found"].map { harness.counters[$0] }
            #expect(counted == [c.pages + 1 + 2, c.pages - 1, 1, 1])
            let seen = server.stats().seenURLs.filter { $0.hasPrefix("/v1/customers/cus_A") }
            let size = c.sizeParameter.dropLast()
            #expect(
                Array(seen.prefix(4)) == [
                    "/v1/customers/cus_A" + (size.isEmpty ? "" : "?\(size)"),
                    "/v1/customers/cus_A?\(c.sizeParameter)starting_after=ch_100%20%2B%2F%C3%A9",
                    "/v1/customers/cus_A?\(c.sizeParameter)starting_after=ch_100%20%2B%2F%C3%A9",
                    "/v1/customers/cus_A?\(c.sizeParameter)starting_after=ch_200",
                ], "\(seen)")
        }
    }

    struct KeysetFailure: Sendable, CustomTestStringConvertible {
        var paginate: String
        var row: String
        var paging: @Sendable (inout Paging) -> Void = { _ in }
        var said: String
        var requests: Int
        var testDescription: String { said }
    }

    /// A page that says there is more but has no item to start after, or whose last item lacks the
    /// value, stops the fetch naming the row's request, the page and what is missing; so does an
    /// API that does not take the parameter (its pages repeat): never a list cut short or a loop.
    @Test(
        arguments: [
            KeysetFailure(
                paginate: keyset + ", has_more: has_more", row: "cus_B",
                paging: { $0.hasMoreOverride["cus_B#1"] = true },
                said: "page 1 has no items although its \"has_more\" (paginate.has_more) is true", requests: 1),
            KeysetFailure(
                paginate: keyset + ", has_more: has_more, page_size: 2, size_param: limit", row: "cus_M",
                said: "page 1's last item (item 2)'s \"id\" (paginate.after_last) is missing or empty although its "
                    + "\"has_more\" (paginate.has_more) is true", requests: 1),
            KeysetFailure(
                paginate: "after_last: id, cursor_param: after, has_more: has_more", row: "cus_A",
                said: "page 2 of this row's list ends on the item whose \"id\" (paginate.after_last) page 2 was asked "
                    + "to start after: the pages loop, as when the API does not take 'after'", requests: 2),
        ])
    func aKeysetPageWithNothingToStartAfterStopsTheFetch(_ c: KeysetFailure) async throws {
        try await FetchShapesTests.with(Self.stripe(c.paging)) { server, origin in
            let stage = try Self.stripeStage(c.paginate, origin: origin)
            let harness = try await StageHarness(stage: stage)
            let error = await #expect(throws: (any Error).self) {
                _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [[.string(c.row)]])])
            }
            let said = "\(error.map { "\($0)" } ?? "")"
            #expect(said.contains(c.said) && said.contains("/v1/customers/\(c.row)"), "\(said)")
            #expect(server.stats().requests == c.requests)
        }
    }

    /// A keyset list longer than `max_pages` rejects its row whole, as any style's.
    @Test func aKeysetListLongerThanMaxPagesIsRejected() async throws {
        try await FetchShapesTests.with(Self.stripe()) { _, origin in
            let stage = try Self.stripeStage(Self.keyset + ", has_more: has_more, max_pages: 2", origin: origin)
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["cus_A"], ["cus_B"]])
            let got = rows(try await harness.run(stage, input: [input]))
            #expect(got.map { $0["name"] } == ["cus_B"])
            let rejects = try await FetchStageTests.rejects(harness)
            #expect(
                rejects.contains { $0.hasPrefix("fetch,too_many_pages,name,cus_A,") && $0.contains("2 were fetched") },
                "\(rejects)")
        }
    }

    /// A cursor API that ends its list with the text "0" (Twitter's `next_cursor_str`): with
    /// `end_cursor: "0"` the list ends there; without it, "0" is asked for as a cursor, the API
    /// answers the first page again, and the loop stops the fetch, pointing at `end_cursor`.
    @Test(arguments: [true, false])
    func anEndCursorEndsACursorList(given: Bool) async throws {
        try await FetchShapesTests.with(Self.api(.cursor) { $0.nextOverride["A#3"] = "0" }) { server, origin in
            let stage = try Self.stage(
                "{cursor: meta.next_cursor, cursor_param: after" + (given ? ", end_cursor: \"0\"}" : "}"),
                itemsKey: "items", origin: origin)
            let harness = try await StageHarness(stage: stage)
            let input = Batch(columns: ["name"], rows: [["A"]])
            if given {
                let got = rows(try await harness.run(stage, input: [input]))
                #expect(got.map { $0["response"] } == [Self.lists["A"]])
                #expect(server.stats().requests == 3)
            } else {
                let error = await #expect(throws: (any Error).self) { _ = try await harness.run(stage, input: [input]) }
                let said = "\(error.map { "\($0)" } ?? "")"
                #expect(said.contains("the pages loop") && said.contains("paginate.end_cursor"), "\(said)")
                #expect(server.stats().requests == 4)
            }
        }
    }

    // MARK: A cursor in a POST's body (Notion, GraphQL)

    static func notion(_ configure: (inout Paging) -> Void = { _ in }) -> FixtureAPI {
        var paging = Paging(.bodyCursor, size: 3)
        configure(&paging)
        return FixtureAPI(shape: .pagedList(pathPrefix: "/v1/databases/", paging: paging), answers: lists)
    }

    struct BodyCase: Sendable, CustomTestStringConvertible {
        var body: String
        var cursorField: String
        /// More `paginate` keys.
        var more = ""
        var paging: @Sendable (inout Paging) -> Void = { _ in }
        /// A's first two bodies, as sent.
        var sent: [String]
        var testDescription: String { cursorField }
    }

    /// A per-row POST whose API takes the cursor in the body gets every page: the same body each
    /// time with the cursor member set (at the top, or in an object of it), its keys in the plan's
    /// order; counted, paced and retried as any page.
    @Test(
        arguments: [
            BodyCase(
                body: #"{page_size: 3, filter: {property: "{name}"}}"#, cursorField: "start_cursor",
                sent: [
                    #"{"page_size":3,"filter":{"property":"A"}}"#,
                    #"{"page_size":3,"filter":{"property":"A"},"start_cursor":"c1"}"#,
                ]),
            BodyCase(
                body: #"{query: "query($n: String!, $after: String)", variables: {n: "{name}", first: 3}}"#,
                cursorField: "variables.after", more: ", has_more: has_more",
                // Like GraphQL's `endCursor`, the last page names a cursor: `has_more` ends the list.
                paging: { $0.nextOverride["A#3"] = "c3" },
                sent: [
                    #"{"query":"query($n: String!, $after: String)","variables":{"n":"A","first":3}}"#,
                    #"{"query":"query($n: String!, $after: String)","variables":{"n":"A","first":3,"after":"c1"}}"#,
                ]),
        ])
    func aPostsPagesAreAskedWithTheCursorInTheBody(_ c: BodyCase) async throws {
        var api = Self.notion {
            $0.cursorField = c.cursorField
            c.paging(&$0)
        }
        api.failingPageOnce = ["A#3"]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /v1/databases/{name}\nmethod: POST\nbody: \(c.body)\nitems_key: results\n"
                    + "paginate: {cursor: next_cursor, cursor_field: \(c.cursorField)\(c.more)}\nbackoff: 0",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.names]))
            #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
            let counted = ["requests", "pages", "retries", "not_found"].map { harness.counters[$0] }
            #expect(counted == [3 + 1 + 1 + 1 + 1, 2, 1, 1])
            let sent = server.stats().rawBodies
            #expect(Array(sent.prefix(2)) == c.sent, "\(sent)")
            #expect(server.stats().seenURLs.prefix(3).allSatisfy { $0 == "/v1/databases/A" })
        }
    }

    /// Every page of a POST goes to one URL: a body already sent (the API gives a cursor again)
    /// is the loop that stops the fetch, not the second page.
    @Test func aPostsPagesThatLoopStopTheFetch() async throws {
        try await FetchShapesTests.with(Self.notion { $0.nextOverride["A#2"] = "c1" }) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /v1/databases/{name}\nmethod: POST\nbody: {page_size: 3}\nitems_key: results\n"
                    + "paginate: {cursor: next_cursor, cursor_field: start_cursor}",
                connection: "kind: http\nbase_url: \(origin)")
            let said = try await Self.failure(of: stage)
            #expect(
                said.contains("page 2 of this row's list names as the next page one already asked for (page 2)"),
                "\(said)")
            #expect(server.stats().requests == 2)
        }
    }

    /// A later page of a paged POST answered 303 See Other is asked for where it points with a GET
    /// and no body (RFC 9110): its answer is the page, and the pages after it are POSTs again, the
    /// cursor in the body. The 301 a POST may not be followed with stops the fetch on that page,
    /// naming it, and the row's list is neither used in part nor recorded.
    @Test(arguments: [303, 301])
    func aPostsLaterPageRedirected(status: Int) async throws {
        var api = Self.notion()
        api.pageStatuses["A#2"] = [status]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /v1/databases/{name}\nmethod: POST\nbody: {page_size: 3}\nitems_key: results\n"
                    + "paginate: {cursor: next_cursor, cursor_field: start_cursor}",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let a = ["/v1/databases/A", "/v1/databases/A"]
            guard status == 301 else {
                let got = rows(try await harness.run(stage, input: [Self.names]))
                #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
                let stats = server.stats()
                #expect(Array(stats.seenURLs.prefix(4)) == a + ["/v1/databases/A?see_other=c1", "/v1/databases/A"])
                #expect(Array(stats.methods.prefix(4)) == ["POST", "POST", "GET", "POST"])
                #expect(
                    Array(stats.rawBodies.prefix(3)) == [
                        #"{"page_size":3}"#, #"{"page_size":3,"start_cursor":"c1"}"#,
                        #"{"page_size":3,"start_cursor":"c2"}"#,
                    ])
                #expect(harness.counters["redirects"] == 1 && harness.counters["pages"] == 2)
                return
            }
            let error = await #expect(throws: FetchError.self) { _ = try await harness.run(stage, input: [Self.names]) }
            #expect(error?.status == 301)
            // Every page of a POST has the same URL: the page is said.
            let said = error?.message ?? ""
            #expect(
                said.hasPrefix("page 2 of the list of POST http://127.0.0.1:")
                    && said.contains("/v1/databases/A: the API answered HTTP 301")
                    && said.contains("which Sluice does not follow: a POST's 301 may be asked again as a GET"),
                "\(said)")
            #expect(server.stats().seenURLs == a)
            #expect(server.stats().rawBodies.last == #"{"page_size":3,"start_cursor":"c1"}"#)
            let answers = await FetchAnswers.load(
                from: harness.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch")))
            #expect(answers.isEmpty && harness.output.collected.isEmpty)
        }
    }

    /// An api-key `body_field` goes in every page's body, once, as the request leaves: the cursor
    /// is set in the plan's body, never in one that carried the key.
    @Test func anAPIKeyInTheBodyIsSentOnceWithEveryPage() async throws {
        let key = "k3y-in-every-body"
        try await FetchShapesTests.with(Self.notion()) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /v1/databases/{name}\nmethod: POST\nbody: {page_size: 3}\nitems_key: results\n"
                    + "paginate: {cursor: next_cursor, cursor_field: start_cursor}",
                connection:
                    "kind: http\nbase_url: \(origin)\nauth: { kind: api-key, body_field: api_key, key: \"${KEY}\" }",
                environment: ["KEY": key])
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["A"]])]))
            #expect(got.map { $0["response"] } == [Self.lists["A"]])
            #expect(
                server.stats().rawBodies == [
                    #"{"page_size":3,"api_key":"\#(key)"}"#,
                    #"{"page_size":3,"start_cursor":"c1","api_key":"\#(key)"}"#,
                    #"{"page_size":3,"start_cursor":"c2","api_key":"\#(key)"}"#,
                ], "\(server.stats().rawBodies)")
        }
    }

    // MARK: An offset or page number in a POST's body (Elasticsearch, Meilisearch, Algolia)

    static func search(_ style: Paging.Style, _ configure: (inout Paging) -> Void = { _ in }) -> FixtureAPI {
        var paging = Paging(style, size: 3)
        configure(&paging)
        return FixtureAPI(shape: .pagedList(pathPrefix: "/search/", paging: paging), answers: lists)
    }

    struct BodyNumberCase: Sendable, CustomTestStringConvertible {
        var style: Paging.Style
        var paginate: String
        /// Requests for A, B, Z, C, without the retried page.
        var requests: Int
        var paging: @Sendable (inout Paging) -> Void = { _ in }
        /// A's three bodies, as sent.
        var sent: [String]
        var testDescription: String { paginate }
    }

    /// A per-row POST whose API pages by offset or page number in the body gets every page in
    /// order: the same body each time with the numbers set, JSON numbers, its keys in the plan's
    /// order; the end-of-list rules the query's (C's full page followed by an empty one, but with
    /// `has_more`); each page paced by `delay` and retried as any page. The fixture answers 400 to
    /// a number sent as text.
    @Test(
        arguments: [
            BodyNumberCase(
                style: .bodyOffset, paginate: "{offset_field: from, size_field: size, page_size: 3}",
                requests: 3 + 1 + 1 + 2,
                sent: [0, 3, 6].map { #"{"query":{"term":{"list":"A"}},"from":\#($0),"size":3}"# }),
            BodyNumberCase(
                style: .bodyOffset,
                paginate: "{offset_field: offset, size_field: limit, page_size: 3, has_more: has_more}",
                requests: 3 + 1 + 1 + 1,
                paging: {
                    $0.offsetField = "offset"
                    $0.sizeField = "limit"
                    $0.numberedHasMore = true
                }, sent: [0, 3, 6].map { #"{"query":{"term":{"list":"A"}},"limit":3,"offset":\#($0)}"# }),
            BodyNumberCase(
                style: .bodyPage, paginate: "{page_field: page, first_page: 0, size_field: hitsPerPage, page_size: 3}",
                requests: 3 + 1 + 1 + 2, paging: { $0.sizeField = "hitsPerPage" },
                sent: [0, 1, 2].map { #"{"query":{"term":{"list":"A"}},"hitsPerPage":3,"page":\#($0)}"# }),
        ])
    func aPostsPagesAreAskedWithTheOffsetOrPageInTheBody(_ c: BodyNumberCase) async throws {
        var api = Self.search(c.style, c.paging)
        api.failingPageOnce = ["A#3"]
        try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /search/{name}\nmethod: POST\nbody: {query: {term: {list: \"{name}\"}}}\nitems_key: hits\n"
                    + "paginate: \(c.paginate)\nbackoff: 0\ndelay: 50ms",
                connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let started = ContinuousClock.now
            let got = rows(try await harness.run(stage, input: [Self.names]))
            // `delay` between any two requests' starts, the retried page's too.
            #expect(ContinuousClock.now - started >= .milliseconds(50 * c.requests))
            #expect(got.map { $0["response"] } == [Self.lists["A"], .array([]), Self.lists["C"]])
            let counted = ["requests", "pages", "retries", "not_found"].map { harness.counters[$0] }
            #expect(counted == [c.requests + 1, c.requests - 4, 1, 1])
            let stats = server.stats()
            // The third page is sent twice: failed once, then answered.
            #expect(Array(stats.rawBodies.prefix(4)) == c.sent + [c.sent[2]], "\(stats.rawBodies)")
            #expect(
                stats.seenURLs.prefix(4).allSatisfy { $0 == "/search/A" } && stats.methods.allSatisfy { $0 == "POST" })
        }
    }

    /// An offset-paged POST whose API answers more items than `page_size` (no `size_field` asks
    /// for it) stops the fetch on the first page, naming the key to set.
    @Test func aPostsOffsetPageLongerThanPageSizeStopsTheFetch() async throws {
        try await FetchShapesTests.with(Self.search(.bodyOffset)) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /search/{name}\nmethod: POST\nbody: {q: \"{name}\"}\nitems_key: hits\n"
                    + "paginate: {offset_field: from, page_size: 2}",
                connection: "kind: http\nbase_url: \(origin)")
            let said = try await Self.failure(of: stage)
            #expect(
                said.contains("page 1 has 3 items, more than paginate.page_size (2)")
                    && said.contains("set size_field to the body's key path it takes the page size in"), "\(said)")
            #expect(server.stats().rawBodies == [#"{"q":"A","from":0}"#])
        }
    }

    /// A keyset fetch that stops in the middle of a row's pages resumes as any paged fetch: the
    /// rows whose lists were whole are read from the answers file, that row's pages asked again.
    @Test func anInterruptedKeysetFetchResumesWithoutAskingFinishedRowsAgain() async throws {
        var api = Self.stripe()
        api.failingPageOnce = ["cus_A#2"]
        try await FetchShapesTests.with(api) { server, origin in
            let plan =
                "path: /v1/customers/{name}\nitems_key: data\nretries: 0\n"
                + "paginate: {\(Self.keyset), has_more: has_more, page_size: 100, size_param: limit}"
            let connection = "kind: http\nbase_url: \(origin)"
            let input = Batch(columns: ["name"], rows: [["cus_B"], ["cus_A"]])
            let first = try FetchShapesTests.fetchStage(plan, connection: connection)
            let firstRun = try await StageHarness(stage: first)
            await #expect(throws: (any Error).self) { _ = try await firstRun.run(first, input: [input]) }
            #expect(server.stats().requests == 3)

            var second = try #require(try FetchShapesTests.fetchStage(plan, connection: connection) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let got = rows(try await secondRun.run(second, input: [input]))
            #expect(got.map { $0["response"] } == [.array([]), Self.charges["cus_A"]])
            #expect(secondRun.counters["reused_answers"] == 1)
            #expect(server.stats().seenURLs.dropFirst(3).allSatisfy { $0.hasPrefix("/v1/customers/cus_A") })
            #expect(server.stats().requests == 3 + 3)
        }
    }
}
