import APIFixtureServer
import Foundation
import SluiceCore
import SluiceHTTP
import Testing

@testable import Sluice
@testable import SluicePipeline

/// A later page of a row's paged list that fails after its first was answered, against a real
/// local server: the row never gets part of its list, and the run can be finished without
/// starting over.
@Suite struct FetchLaterPageTests {
    static let plan = "path: /lists/{name}\nitems_key: items\npaginate: {next_url: links.next}\nretries: 0"
    /// B (empty) and C (one page) are answered before A (three pages) is read.
    static let input = Batch(columns: ["name"], rows: [["B"], ["C"], ["A"]])
    static let whole: [Value] = [.array([]), FetchPaginationTests.lists["C"]!, FetchPaginationTests.lists["A"]!]

    /// The API with page N of A answered with `statuses`, one each time it is asked for.
    static func api(page: Int, _ statuses: [Int]) -> FixtureAPI {
        var api = FetchPaginationTests.api(.nextURL)
        api.pageStatuses["A#\(page)"] = statuses
        return api
    }

    /// Runs the fetch, which fails, then resumes it from the answers it recorded: the resume asks
    /// only A, from its first page, and every row gets its whole list.
    /// - Returns: the first run's error, and the URLs the server saw for A's list in each run.
    static func failThenResume(
        _ api: FixtureAPI
    ) async throws -> (error: FetchError?, first: [String], resumed: [String], counters: [String: Int]) {
        try await FetchShapesTests.with(api) { server, origin in
            let connection = "kind: http\nbase_url: \(origin)"
            let first = try FetchShapesTests.fetchStage(plan, connection: connection)
            let firstRun = try await StageHarness(stage: first)
            let error = await #expect(throws: FetchError.self) { _ = try await firstRun.run(first, input: [input]) }
            let seen = server.stats().seenURLs.filter { $0.hasPrefix("/lists/A") }

            var second = try #require(try FetchShapesTests.fetchStage(plan, connection: connection) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let got = rows(try await secondRun.run(second, input: [input]))
            #expect(got.map { $0["response"] } == whole)
            #expect(secondRun.counters["reused_answers"] == 2)
            let resumed = server.stats().seenURLs.filter { $0.hasPrefix("/lists/A") }.dropFirst(seen.count)
            return (error, seen, Array(resumed), firstRun.counters)
        }
    }

    static let threePages = ["/lists/A", "/lists/A?start=1", "/lists/A?start=2"]

    /// A later page the API does not know (404, 410) means the list moved while it was read: the
    /// list is asked again from its first page, once, and the row gets it whole.
    @Test(arguments: [404, 410])
    func aListThatMovesWhileReadIsAskedAgainFromItsFirstPage(status: Int) async throws {
        try await FetchShapesTests.with(Self.api(page: 3, [status])) { server, origin in
            let stage = try FetchShapesTests.fetchStage(Self.plan, connection: "kind: http\nbase_url: \(origin)")
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Self.input]))
            #expect(got.map { $0["response"] } == Self.whole)
            #expect(harness.counters["lists_asked_again"] == 1)
            #expect(server.stats().seenURLs.filter { $0.hasPrefix("/lists/A") } == Self.threePages + Self.threePages)
        }
    }

    /// A list that moves again while it is asked again stops the fetch resumably, naming the
    /// row's request, the page and what it answered; the resume asks that list from its first page.
    @Test func aListThatMovesAgainStopsResumablyAndTheResumeAsksItAgain() async throws {
        let (error, first, resumed, counters) = try await Self.failThenResume(Self.api(page: 3, [404, 410]))
        #expect(error?.isResumable == true)
        let said = error.map { "\($0)" } ?? ""
        #expect(
            said.hasPrefix("page 3 of the list of GET http://127.0.0.1:")
                && said.contains(
                    "/lists/A answered 410: page 3 of A: 410 once the list was asked again from its first page, as "
                        + "it had the first time (answered 404: page 3 of A: 404): the list keeps changing while it "
                        + "is read. The row's list is never used in part; a resume asks it again from its first page"),
            "\(said)")
        #expect(error?.status == 410)
        #expect(counters["lists_asked_again"] == 1)
        #expect(first == Self.threePages + Self.threePages)
        #expect(resumed == Self.threePages)
    }

    /// A later page the API refuses (400, 422, 403 without a rate limit's headers) stops the fetch
    /// resumably at once, saying so with the status it answered; the resume asks the row's list
    /// again from its first page.
    @Test(arguments: [
        (400, "was refused as a bad request (400: page 2 of A: 400)"),
        (422, "was refused as a bad request (422: page 2 of A: 422)"),
        (403, "was forbidden (403: page 2 of A: 403)"),
    ])
    func aLaterPageRefusedStopsResumablyAndTheResumeAsksItAgain(status: Int, what: String) async throws {
        let (error, first, resumed, counters) = try await Self.failThenResume(Self.api(page: 2, [status]))
        #expect(error?.isResumable == true)
        let said = error.map { "\($0)" } ?? ""
        #expect(
            said.contains(
                "/lists/A \(what) after its first page was answered. The row's list is never used in part; a resume "
                    + "asks it again from its first page"), "\(said)")
        #expect(error?.status == status)
        // A refused page (not a forbidden one) may be the API's depth limit: say what gets past it.
        #expect(
            error?.message.hasSuffix("rejects such rows as too_many_pages instead") == (status != 403), "\(said)")
        #expect(counters["lists_asked_again"] == 0)
        #expect(first == Array(Self.threePages.prefix(2)))
        #expect(resumed == Self.threePages)
    }

    /// An API that reads no list past some page (a search capped at so many results) refuses
    /// that page on every resume; the `max_pages` the error names, set on the resume, rejects the
    /// row as `too_many_pages` without asking for the page, and the other rows keep their answers.
    @Test func theMaxPagesARefusedPageNamesGetsAResumePastIt() async throws {
        try await FetchShapesTests.with(Self.api(page: 3, [422, 422, 422])) { server, origin in
            let connection = "kind: http\nbase_url: \(origin)"
            let first = try FetchShapesTests.fetchStage(Self.plan, connection: connection)
            let firstRun = try await StageHarness(stage: first)
            let error = await #expect(throws: FetchError.self) {
                _ = try await firstRun.run(first, input: [Self.input])
            }
            let said = error?.message ?? ""
            #expect(
                said.hasSuffix(
                    "a resume asks it again from its first page. An API that reads no list past some page refuses it "
                        + "again on the resume: a paginate.max_pages of 2 (--set on the resume) rejects such rows as "
                        + "too_many_pages instead"), "\(said)")
            let seen = server.stats().seenURLs.count

            let capped = Self.plan.replacingOccurrences(
                of: "{next_url: links.next}", with: "{next_url: links.next, max_pages: 2}")
            var second = try #require(try FetchShapesTests.fetchStage(capped, connection: connection) as? FetchStage)
            second.previousAnswers = firstRun.runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: "fetch"))
            let secondRun = try await StageHarness(stage: second)
            let got = rows(try await secondRun.run(second, input: [Self.input]))
            #expect(got.map { $0["name"] } == ["B", "C"])
            #expect(secondRun.counters["too_many_pages"] == 1)
            #expect(Array(server.stats().seenURLs.dropFirst(seen)) == Array(Self.threePages.prefix(2)))
            let rejects = try await FetchStageTests.rejects(secondRun)
            #expect(rejects.contains { $0.hasPrefix("fetch,too_many_pages,name,A,") }, "\(rejects)")
        }
    }
}
