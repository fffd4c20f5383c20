import Foundation
import SluiceCore
import Testing

@testable import SluicePlan

/// `sluice check` on a fetch's `paginate`: each mistake is an error at the key that makes it,
/// naming the stage.
@Suite struct PaginateCheckTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var fetch: String
        /// `LINE:COLUMN message`, the plan's fetch keys starting on line 15.
        var error: String
        var testDescription: String { error }
    }

    static let cases: [Case] = [
        Case(
            fetch: "id: isrc\npath: /lists\npaginate: {next_url: next}",
            error: "17:15 'paginate' in stage 'fetch': pages are followed only for one request per row, and this is "
                + "a batch request (many ids per request)"),
        Case(
            fetch: "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\"}\npaginate: {next_url: next}",
            error: "18:15 'paginate' in stage 'fetch': the pages of a POST are followed only by a cursor, an offset or "
                + "a page number sent in its body, and this names no cursor_field, offset_field or page_field"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  cursor: next\n  cursor_field: after",
            error: "18:21 'paginate.cursor_field' in stage 'fetch' puts the cursor in the request's body, and a GET "
                + "has none"),
        Case(
            fetch:
                "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\"}\npaginate:\n  cursor: next\n  cursor_param: a\n"
                + "  cursor_field: b",
            error:
                "21:21 'paginate' in stage 'fetch' sends the cursor both in the query (cursor_param) and in the body "
                + "(cursor_field): give one"),
        Case(
            fetch: "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\", variables: \"{isrc}\"}\npaginate:\n"
                + "  cursor: next\n  cursor_field: variables.after",
            error: "20:21 'paginate.cursor_field' in stage 'fetch' is 'variables.after', and the body is not a JSON "
                + "object at each step of it: the cursor cannot be set there"),
        Case(
            fetch: "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\"}\npaginate:\n  cursor_field: after",
            error: "19:21 'paginate.cursor_field' in stage 'fetch' needs 'cursor' or 'after_last': the key path of the "
                + "answer (or of its last item) holding the cursor"),
        // An offset, page number or page size goes in a GET's query and in a POST's body.
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  offset_field: from\n  page_size: 10",
            error: "17:21 'paginate.offset_field' in stage 'fetch' puts the offset in the request's body, and a GET "
                + "has none"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  page_field: page",
            error: "17:19 'paginate.page_field' in stage 'fetch' puts the page number in the request's body, and a "
                + "GET has none"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  page_param: page\n  page_size: 10\n  size_field: size",
            error: "19:19 'paginate.size_field' in stage 'fetch' puts the page size in the request's body, and a GET "
                + "has none"),
        Case(
            fetch: Self.post("  offset_param: from\n  page_size: 10"),
            error: "19:21 'paginate.offset_param' in stage 'fetch' sends the offset in the query, and the pages of a "
                + "POST are asked for in its JSON body"),
        Case(
            fetch: Self.post("  page_param: page"),
            error: "19:19 'paginate.page_param' in stage 'fetch' sends the page number in the query, and the pages of "
                + "a POST are asked for in its JSON body"),
        Case(
            fetch: Self.post("  offset_field: from\n  page_size: 10\n  size_param: size"),
            error: "21:19 'paginate.size_param' in stage 'fetch' sends the page size in the query, and the pages of a "
                + "POST are asked for in its JSON body"),
        Case(
            fetch: Self.post("  page_param: p\n  page_field: page"),
            error: "20:19 'paginate' in stage 'fetch' sends the page number both in the query (page_param) and in the "
                + "body (page_field): give one"),
        Case(
            fetch: Self.post("  offset_field: from"),
            error: "19:21 'paginate.offset_field' in stage 'fetch' needs 'page_size': the number of items a page "
                + "holds, which the offset grows by"),
        Case(
            fetch: Self.post("  page_field: page\n  size_field: hitsPerPage"),
            error: "20:19 'paginate.size_field' in stage 'fetch' needs 'page_size': the number of items to ask for"),
        Case(
            fetch: "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\", params: \"{isrc}\"}\npaginate:\n"
                + "  page_field: params.page",
            error: "19:19 'paginate.page_field' in stage 'fetch' is 'params.page', and the body is not a JSON object "
                + "at each step of it: the page number cannot be set there"),
        Case(
            fetch: Self.post("  offset_field: from\n  page_size: 10\n  size_field: from"),
            error: "21:19 'paginate.size_field' in stage 'fetch' is 'from', and offset_field is 'from': one member "
                + "cannot carry both"),
        Case(
            fetch: Self.post("  page_field: q.page\n  size_field: q\n  page_size: 10"),
            error: "20:19 'paginate.size_field' in stage 'fetch' is 'q', and page_field is 'q.page': one member "
                + "cannot carry both"),
        Case(
            fetch: Self.post("  offset_field: from\n  page_field: page\n  page_size: 10"),
            error: "20:19 'paginate' in stage 'fetch' names 2 ways to find the next page ('offset_field', "
                + "'page_field'): give one"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate: {max_pages: 5}",
            error: "16:15 'paginate' in stage 'fetch' names no way to find the next page"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate: {link_header: false}",
            error: "16:15 'paginate' in stage 'fetch' names no way to find the next page"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  page_param: page",
            error: "18:19 'paginate' in stage 'fetch' names 2 ways to find the next page ('next_url', 'page_param'): "
                + "give one"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  cursor: meta.next",
            error: "17:15 'paginate.cursor' in stage 'fetch' needs 'cursor_param' or 'cursor_field': where the cursor "
                + "is sent: a query parameter, or a POST body's key path"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  cursor_param: after",
            error: "18:21 'paginate.cursor_param' in stage 'fetch' needs 'cursor' or 'after_last': the key path of the "
                + "answer (or of its last item) holding the cursor"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  after_last: id\n  size_param: limit",
            error:
                "17:19 'paginate.after_last' in stage 'fetch' needs 'cursor_param' or 'cursor_field': where the last "
                + "item's value is sent: a query parameter, or a POST body's key path"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  has_more: more",
            error: "18:17 'paginate.has_more' in stage 'fetch' needs 'cursor', 'after_last', 'offset_param', "
                + "'offset_field', 'page_param' or 'page_field': the style whose end it says"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  after_last: id\n  cursor_param: after\n  end_cursor: \"0\"",
            error: "19:19 'paginate.end_cursor' in stage 'fetch' needs 'cursor': the key path of the answer holding "
                + "the cursor it ends"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  after_last: id\n  cursor: next\n  cursor_param: after",
            error: "17:19 'paginate' in stage 'fetch' names 2 ways to find the next page ('cursor', 'after_last'): "
                + "give one"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  offset_param: offset",
            error: "17:21 'paginate.offset_param' in stage 'fetch' needs 'page_size': the number of items a page "
                + "holds, which the offset grows by"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  link_header: true\n  page_size: 10",
            error:
                "18:18 'paginate.page_size' in stage 'fetch' needs 'offset_param', 'offset_field', 'page_param', "
                + "'page_field' or 'after_last': the style it sizes"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  page_param: page\n  size_param: per_page",
            error: "18:19 'paginate.size_param' in stage 'fetch' needs 'page_size': the number of items to ask for"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  first_page: 0",
            error: "18:19 'paginate.first_page' in stage 'fetch' needs 'page_param' or 'page_field': the query "
                + "parameter or body member of the page number"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  page_param: page\n  page_size: 0",
            error: "18:18 'page_size' in 'paginate' in stage 'fetch' is 0, below the minimum 1"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  max_pages: 0",
            error: "18:18 'max_pages' in 'paginate' in stage 'fetch' is 0, below the minimum 1"),
        Case(
            fetch: "path: /lists/{isrc}\npaginate:\n  next_url: next\n  next_page: 2",
            error: "18:7 unknown key 'next_page' in 'paginate' in stage 'fetch'"),
    ]

    /// A per-row POST's fetch keys with these `paginate` lines.
    static func post(_ paginate: String) -> String {
        "path: /lists\nmethod: POST\nbody: {isrc: \"{isrc}\"}\npaginate:\n" + paginate
    }

    @Test(arguments: cases)
    func aPaginateMistakeIsAnErrorAtItsKey(_ c: Case) {
        let found = errors(RequestShapeCheckTests.plan(fetch: c.fetch)).map {
            "\($0.location?.line ?? 0):\($0.location?.column ?? 0) \($0.message)"
        }
        #expect(found.contains { $0.hasPrefix(c.error) }, "\(found)")
    }

    @Test func eachStyleLoads() throws {
        for paginate in [
            "{next_url: links.next}", "{link_header: true}", "{cursor: meta.next_cursor, cursor_param: after}",
            "{offset_param: offset, page_size: 100, size_param: limit}", "{page_param: page, first_page: 0}",
            "{after_last: id, cursor_param: starting_after, has_more: has_more, page_size: 100, size_param: limit}",
            "{after_last: id, cursor_param: after}",
            "{cursor: next_cursor_str, cursor_param: cursor, end_cursor: \"0\"}",
            "{page_param: page, has_more: has_more, page_size: 100, size_param: pagesize}",
            "{offset_param: offset, page_size: 100, has_more: has_more}",
        ] {
            let plan = try load(RequestShapeCheckTests.plan(fetch: "path: /lists/{isrc}\npaginate: \(paginate)"))
            let settings = try #require(plan.stage(named: "fetch")?.fetch?.paginate)
            #expect(settings.style != nil && settings.maxPages == 100, "\(paginate)")
        }
    }

    /// A POST sending its cursor in its body, at the top or in an object of it, is checked clean.
    @Test(arguments: [
        "body: {isrc: \"{isrc}\", page_size: 100}\npaginate: {cursor: next_cursor, cursor_field: start_cursor}",
        "body: {query: q, variables: {isrc: \"{isrc}\"}}\npaginate: {cursor: data.x.pageInfo.endCursor, "
            + "cursor_field: variables.after}",
        "body: {q: \"{isrc}\"}\npaginate: {after_last: sort, cursor_field: search_after, page_size: 10}",
    ])
    func aPostWithItsCursorInItsBodyIsChecked(fetch: String) throws {
        let plan = RequestShapeCheckTests.plan(fetch: "path: /lists\nmethod: POST\n" + fetch)
        #expect(errors(plan).isEmpty, "\(errors(plan).map(\.message))")
        let settings = try #require(try load(plan).stage(named: "fetch")?.fetch?.paginate)
        #expect(settings.style != nil && settings.cursorField != nil)
    }

    /// A POST sending its offset or page number (and its page size) in its body, at the top or in
    /// an object of it, is checked clean and loads as that style at that key path.
    @Test(
        arguments: [
            (
                "body: {query: {match: {t: \"{isrc}\"}}}\npaginate: {offset_field: from, size_field: size, page_size: 10}",
                PaginateSettings.Style.offset(parameter: "from", pageSize: 10)
            ),
            (
                "body: {q: \"{isrc}\"}\npaginate: {page_field: page, first_page: 0, size_field: hitsPerPage, "
                    + "page_size: 20, has_more: more}", .page(parameter: "page")
            ),
            (
                "body: {q: \"{isrc}\", params: {x: 1}}\npaginate: {page_field: params.page}",
                .page(parameter: "params.page")
            ),
            (
                "body: {q: \"{isrc}\"}\npaginate: {after_last: sort, cursor_field: search_after, page_size: 10, "
                    + "size_field: size}", .afterLast("sort", parameter: "search_after")
            ),
        ] as [(String, PaginateSettings.Style)])
    func aPostWithItsOffsetOrPageInItsBodyIsChecked(fetch: String, style: PaginateSettings.Style) throws {
        let plan = RequestShapeCheckTests.plan(fetch: "path: /lists\nmethod: POST\n" + fetch)
        #expect(errors(plan).isEmpty, "\(errors(plan).map(\.message))")
        let settings = try #require(try load(plan).stage(named: "fetch")?.fetch?.paginate)
        #expect(settings.style == style)
    }
}
