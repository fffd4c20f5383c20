import Foundation
import SluiceApply
import SluiceCore
import Testing

@testable import Sluice
@testable import SluicePipeline

/// What the review shows a person of the changes it finds, on a real PostgreSQL through the
/// plan's apply stage: no change reads as none, in the summary or on the page, and review.csv
/// keeps the values exactly.
@Suite struct ReviewShowsEveryChangeTests {
    /// Runs `rows` (of ``ApplyReviewTests/columns``) into the plan's apply, up to its gate.
    static func stopAtTheGate(_ db: TestDatabase, _ rows: [[Value]]) async throws -> RunResult {
        let result = try await ApplyReviewTests.stopAtTheGate(db, rows: rows)
        #expect(result.manifest.status == .awaitingApproval, "\(String(describing: result.manifest.error))")
        return result
    }

    /// The values of review.csv's `old` and `new` fields, read as a CSV, by key.
    static func reviewed(_ result: RunResult) async throws -> [String: (old: String, new: String)] {
        let csv = result.directory.appendingPathComponent("review.csv")
        let reader = try CSVReader(url: csv, path: csv.path)
        _ = try await reader.next()
        var out: [String: (old: String, new: String)] = [:]
        while let record = try await reader.next() {
            let fields = record.fields.map(\.value)
            out[fields[0]] = (fields[2], fields[3])
        }
        return out
    }

    /// A change of Unicode normalization (`café` composed to decomposed), a space made a tab, a
    /// line end or a no-break space: review.html shows each as a change, the characters that
    /// render as a space written as their codes and the stretch that differs only in its
    /// normalization with its accented letters as codes; review.csv holds the values as they are.
    @Test func aChangeThatWouldRenderAlikeShowsOnThePageAndTheCSVKeepsItExactly() async throws {
        let db = try await TestDatabase.make(tracks: 4)
        defer { Task { await db.close() } }
        let track = TestDatabase.track
        _ = try await db.connection.execute(
            """
            UPDATE tracks SET isrc = CASE id WHEN '\(track(1))' THEN 'caf\u{E9}' WHEN '\(track(2))' THEN 'a b'
                WHEN '\(track(3))' THEN 'x y' ELSE 'p q' END
            """)
        let new = ["cafe\u{301}", "a\tb", "x\u{A0}y", "p\r\nq"]
        let result = try await Self.stopAtTheGate(
            db, new.enumerated().map { ApplyReviewTests.row($0.offset + 1, .null, .string($0.element)) })
        let page = try await text(of: result.directory.appendingPathComponent("review.html"))
        for (old, new) in [
            ("&quot;caf\\u{E9}&quot;", "&quot;cafe\\u{301}&quot;"), ("a b", "&quot;a\\tb&quot;"),
            ("x y", "&quot;x\\u{A0}y&quot;"), ("p q", "&quot;p\\r\\nq&quot;"),
        ] {
            #expect(page.contains("<td class=\"t\">\(old)</td><td class=\"t\">\(new)</td>"), "\(old) -> \(new)")
        }
        #expect(!page.contains("\t") && !page.contains("\u{A0}"), "shown raw, they render as a plain space")
        let reviewed = try await Self.reviewed(result)
        for (n, value) in new.enumerated() {
            let cell = try #require(reviewed[track(n + 1)])
            #expect(cell.new.unicodeScalars.elementsEqual(value.unicodeScalars), "\(track(n + 1)): \(cell.new)")
        }
        #expect(reviewed[track(1)]?.old.unicodeScalars.elementsEqual("caf\u{E9}".unicodeScalars) == true)
    }

    /// Two tracks whose popularity is a float8 of 1.5, the first changed to `value` up to the gate:
    /// the summary, the page and the run.
    static func floatChange(to value: Double) async throws -> (summary: String, page: String, run: RunResult) {
        let db = try await TestDatabase.make(tracks: 2)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            ALTER TABLE tracks DROP CONSTRAINT tracks_spotify_popularity_check,
                ALTER COLUMN spotify_popularity TYPE float8;
            UPDATE tracks SET spotify_popularity = 1.5
            """)
        let result = try await Self.stopAtTheGate(
            db, [ApplyReviewTests.row(1, .double(value), .null), ApplyReviewTests.row(2, 1.5, .null)])
        let summary = try #require(result.manifest.stage("apply")?.review.flatMap { ReviewSummary(json: $0.summary) })
        let page = try await text(of: result.directory.appendingPathComponent("review.html"))
        return (summary.text, page, result)
    }

    /// `1.5 -> 1.5000001` in a float8 column: the summary and the page give the new value as it
    /// is and the difference as `0.0000001`, where two decimals said `1.5` and `0.0`, no change.
    @Test func aChangeBelowTheCentsShowsInTheFigures() async throws {
        let (summary, page, _) = try await Self.floatChange(to: 1.5000001)
        #expect(summary.contains("spotify_popularity old: min 1.5, median 1.5, max 1.5 (1 cell)"), "\(summary)")
        #expect(summary.contains("spotify_popularity new: min 1.5000001, median 1.5000001, max 1.5000001"))
        #expect(summary.contains("spotify_popularity delta: min 0.0000001, median 0.0000001, max 0.0000001"))
        #expect(
            page.contains("<td class=\"t\">new</td><td>1</td><td>1.5000001</td><td>1.5000001</td><td>1.5000001</td>"))
        #expect(
            page.contains("<td class=\"t\">delta</td><td>1</td><td>0.0000001</td><td>0.0000001</td><td>0.0000001</td>"))
    }

    /// `1.5 -> 1e-300` in a float8 column: the summary and the page give the new value as
    /// `1e-300` (every digit: it was `0.000…0001`, 301 digits), review.csv as the server prints it.
    @Test func aTinyValueShowsInScientificNotation() async throws {
        let (summary, page, run) = try await Self.floatChange(to: 1e-300)
        #expect(summary.contains("spotify_popularity new: min 1e-300, median 1e-300, max 1e-300"), "\(summary)")
        #expect(page.contains("<td class=\"t\">new</td><td>1</td><td>1e-300</td><td>1e-300</td><td>1e-300</td>"))
        #expect(try await Self.reviewed(run)[TestDatabase.track(1)]?.new == "1e-300")
    }

    /// A numeric column none of whose cells change gets no table of old and new values, empty
    /// but for its header: the page says so.
    @Test func aNumericColumnWithoutChangesGetsNoEmptyTable() async throws {
        let db = try await TestDatabase.make(tracks: 1)
        defer { Task { await db.close() } }
        let result = try await Self.stopAtTheGate(db, [ApplyReviewTests.row(1, 1, "ISRC1")])
        let page = try await text(of: result.directory.appendingPathComponent("review.html"))
        let section = try #require(page.firstRange(of: "<h2>spotify_popularity: old and new values</h2>\n"))
        #expect(
            page[section.upperBound...].hasPrefix("<p>No cell changes.</p>"),
            "\(page[section.upperBound...].prefix(200))")
        #expect(!page.contains("<th>median</th><th>max</th></tr>\n</table>"), "a table with a header alone")
    }

    /// A 5,000-character value changed in one character near its end: the page shows the
    /// stretch around the change and counts what it leaves out, and its cells wrap.
    @Test func aLongValueIsCutAroundItsChangeWithItsLengthSaid() async throws {
        let db = try await TestDatabase.make(tracks: 1)
        defer { Task { await db.close() } }
        let old = String(repeating: "abcdefghij", count: 500)
        _ = try await db.connection.execute("UPDATE tracks SET isrc = '\(old)'")
        let new = String(old.dropLast(10)) + "abcdeXghij"
        let result = try await Self.stopAtTheGate(db, [ApplyReviewTests.row(1, 1, .string(new))])
        let page = try await text(of: result.directory.appendingPathComponent("review.html"))
        #expect(!page.contains(old), "the whole value, one unbroken line 5,000 characters wide")
        #expect(page.contains("abcdeXghij"), "the change is shown")
        #expect(page.contains("[… 4846 characters …]</span>"))
        #expect(page.contains("(5000 characters in all; review.csv holds the whole value)"))
        #expect(page.contains("td.t{max-width:40em;overflow-wrap:anywhere"))
        #expect(try await Self.reviewed(result)[TestDatabase.track(1)]?.new == new, "review.csv keeps it whole")
    }

    /// The page as Chromium lays it out at 1,200 pixels: with a 5,000-character value and one
    /// 5,000 characters without a break, it is no wider than the window.
    @Test(.enabled(if: HeadlessBrowser.installed != nil, "needs Debian's chromium; make test installs it"))
    func aBrowserLaysOutAPageOfLongValuesWithinTheWindow() async throws {
        let browser = try #require(HeadlessBrowser.installed)
        let db = try await TestDatabase.make(tracks: 2)
        defer { Task { await db.close() } }
        let long = String(repeating: "abcdefghij", count: 500)
        let spaced = String(repeating: "abcd efghi ", count: 455)
        let result = try await Self.stopAtTheGate(
            db, [ApplyReviewTests.row(1, 1, .string(long)), ApplyReviewTests.row(2, 2, .string(spaced))])
        let width = try await browser.layoutWidth(of: result.directory.appendingPathComponent("review.html"))
        #expect(width <= 1200, "the page is \(width) pixels wide")
    }
}
