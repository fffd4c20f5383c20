import Foundation
import SluiceApply
import SluiceCore
import Synchronization
import Testing

@testable import Sluice
@testable import SluicePipeline

/// The review at the apply's approval gate, through the runner with the plan's real apply
/// stage on a real PostgreSQL: review.csv and review.html, the manifest's record, the apply
/// held to the review (an edited review refused), and the guard-rails.
@Suite struct ApplyReviewTests {
    static let columns = ["track_id", "spotify_id", "spotify_popularity", "isrc"]

    static func row(_ n: Int, _ popularity: Value, _ isrc: Value) -> [Value] {
        [.string(TestDatabase.track(n)), .string("sp\(n)"), popularity, isrc]
    }

    /// The table (TestDatabase, 5 rows): popularity 1, NULL, 3, NULL, 5; isrc only on 3.
    /// Track 1 gains an ISRC (fill), 2 a popularity (fill), 3 a new popularity (update) and
    /// loses its ISRC (clear), 4 keeps its empty popularity (kept), 5 is unchanged, 99 unknown.
    static let input = [
        Batch(
            columns: columns,
            rows: [
                row(1, 1, "ISRC1"), row(2, 20, ""), row(3, 30, ""), row(4, "", .null), row(5, 5, .null),
                row(99, 9, "ISRC99"),
            ])
    ]

    static func configuration(_ runs: URL, approval: Approval, replay: Replay? = nil) -> RunConfiguration {
        var configuration = RunConfiguration(
            runsDirectory: runs, toolVersion: "0.0.0-test",
            plan: Manifest.Plan(path: "test.yaml", sha256: String(repeating: "0", count: 64), name: "test"),
            resolvedPlan: .object([:]), overrides: [], logger: StageHarness.logger,
            continueCommand: { _, _ in "continue" })
        configuration.approval = approval
        configuration.replay = replay
        return configuration
    }

    static func stages(_ db: TestDatabase, overrides: [String] = [], force: Bool = false) async throws -> [StageSpec] {
        let plan = try await TestPlans.spotify(database: db.conninfo, overrides: overrides)
        var builder = PipelineBuilder(plan: plan, logger: StageHarness.logger)
        builder.force = force
        let apply = try builder.stage(for: try #require(plan.stage(named: "apply")))
        return [StageSpec(Rows(batches: input)), StageSpec(apply, input: "rows", requiresApproval: true)]
    }

    /// Runs up to the gate, then replays the apply with approval.
    static func reviewThenApply(
        _ db: TestDatabase, overrides: [String] = [], force: Bool = false,
        between: (RunResult) async throws -> Void = { _ in }
    ) async throws -> (review: RunResult, apply: RunResult) {
        try await reviewThenApply(
            stages: try await Self.stages(db, overrides: overrides, force: force), between: between)
    }

    /// Runs `stages` up to the gate, then replays the apply with approval.
    static func reviewThenApply(
        stages: [StageSpec], between: (RunResult) async throws -> Void = { _ in }
    ) async throws -> (review: RunResult, apply: RunResult) {
        let runs = try await StageHarness.makeRunDirectory()
        let first = try await Runner(stages: stages, configuration: configuration(runs, approval: .denied)).run()
        try await between(first)
        let replay = Replay(original: first.manifest, originalDirectory: first.directory, mode: .from, stage: "apply")
        let second = try await Runner(
            stages: stages, configuration: configuration(runs, approval: .granted, replay: replay)
        ).run()
        return (first, second)
    }

    @Test func theGateWritesTheReviewAndTheApplyDoesExactlyThat() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let (first, second) = try await Self.reviewThenApply(db) { first in
            #expect(first.manifest.status == .awaitingApproval)
        }
        let review = try #require(first.manifest.stage("apply")?.review)
        let csv = first.directory.appendingPathComponent("review.csv")
        #expect(review.file.path == "review.csv")
        #expect(review.file.rows == 4)
        #expect(try await mode(of: csv) == 0o600)
        let lines = try await text(of: csv).split(
            whereSeparator: \.isNewline
        ).map(String.init)
        #expect(lines.first == "key,column,old,new,change")
        #expect(
            Set(lines.dropFirst()) == [
                "\(TestDatabase.track(1)),isrc,,ISRC1,fill",
                "\(TestDatabase.track(2)),spotify_popularity,,20,fill",
                "\(TestDatabase.track(3)),spotify_popularity,3,30,update",
                "\(TestDatabase.track(3)),isrc,ISRC3,,clear",
            ])
        let summary = try #require(ReviewSummary(json: review.summary))
        #expect(summary.changedRows == 3)
        #expect(summary.unknownKeys == 1)
        #expect(summary.columns.first { $0.name == "spotify_popularity" }?.kept == 1)
        #expect(review.text.contains("3 of 5 rows would change"))

        // The apply, approved in the replay, holds to that review: the original run's file.
        #expect(second.manifest.status == .succeeded, "\(String(describing: second.manifest.error))")
        #expect(second.manifest.stage("apply")?.review?.runID == first.manifest.runID)
        #expect(second.manifest.stage("apply")?.counters["drifted"] == 0)
        #expect(second.manifest.stage("apply")?.counters["changed"] == 3)
        let after = try await db.snapshot()
        #expect(after != before)
        #expect(after[0] == [.string(TestDatabase.track(1)), 1, "ISRC1"])
        #expect(after[2] == [.string(TestDatabase.track(3)), 30, .null])
        #expect(after[3] == before[3])
    }

    /// Runs with approval given before the run starts (`--yes`): no stop at the gate.
    static func approvedUpFront(_ db: TestDatabase, overrides: [String] = []) async throws -> RunResult {
        let runs = try await StageHarness.makeRunDirectory()
        return try await Runner(
            stages: try await stages(db, overrides: overrides), configuration: configuration(runs, approval: .granted)
        ).run()
    }

    /// Approved up front, the apply reviews inside its own transaction, on the locked table it
    /// then writes: the same review.csv, summary and page as at the gate, recorded in the
    /// manifest, and exactly those changes made (nothing can drift in between).
    @Test func approvedUpFrontTheApplyReviewsInItsOwnTransaction() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let gate = try await Self.stopAtTheGate(db)
        let result = try await Self.approvedUpFront(db)
        #expect(result.manifest.status == .succeeded, "\(String(describing: result.manifest.error))")
        let apply = try #require(result.manifest.stage("apply"))
        let review = try #require(apply.review)
        #expect(review.runID == result.manifest.runID)
        #expect(review.file.path == "review.csv")
        #expect(review.files.map(\.path) == ["review.html"])
        let gateCells = try await Self.cells(in: gate.directory.appendingPathComponent("review.csv"))
        let cells = try await Self.cells(in: result.directory.appendingPathComponent("review.csv"))
        #expect(Set(cells) == Set(gateCells))
        // The same but for the gate's fingerprint, time zone and table, which only an apply held to
        // it reads.
        var gateSummary = try #require(gate.manifest.stage("apply")?.review.flatMap { ReviewSummary(json: $0.summary) })
        #expect(gateSummary.stateFingerprint != nil)
        #expect(gateSummary.timeZone != nil)
        #expect(gateSummary.dateStyle == "ISO, MDY")
        #expect(gateSummary.target?.schema == "public")
        gateSummary.stateFingerprint = nil
        gateSummary.target = nil
        gateSummary.timeZone = nil
        gateSummary.dateStyle = nil
        #expect(review.summary == gateSummary.json)
        #expect(apply.counters["changed"] == 3)
        #expect(apply.counters["drifted"] == 0)
        let after = try await db.snapshot()
        #expect(after[0] == [.string(TestDatabase.track(1)), 1, "ISRC1"])
        #expect(after[2] == [.string(TestDatabase.track(3)), 30, .null])
    }

    /// review.csv tells an empty text from NULL (`""` against an empty field): an ISRC that was
    /// '' and gets a value is a fill, one made NULL a change of spelling, no clear; the approval
    /// held to that file applies it without taking it for drift.
    @Test func theReviewTellsAnEmptyTextFromNull() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            "UPDATE tracks SET isrc = '' WHERE id IN ('\(TestDatabase.track(1))', '\(TestDatabase.track(5))')")
        let (first, second) = try await Self.reviewThenApply(db)
        let lines = try await text(of: first.directory.appendingPathComponent("review.csv")).split(
            whereSeparator: \.isNewline
        ).map(String.init)
        #expect(lines.contains("\(TestDatabase.track(1)),isrc,\"\",ISRC1,fill"), "\(lines)")
        #expect(lines.contains("\(TestDatabase.track(5)),isrc,\"\",,update"), "\(lines)")
        let review = try #require(first.manifest.stage("apply")?.review)
        let summary = try #require(ReviewSummary(json: review.summary))
        let isrc = try #require(summary.columns.first { $0.name == "isrc" })
        #expect(isrc.clear == 1 && isrc.fill == 1, "only track 3's ISRC is lost: \(isrc)")
        #expect(second.manifest.status == .succeeded, "\(String(describing: second.manifest.error))")
        #expect(second.manifest.stage("apply")?.counters["drifted"] == 0)
        let count = try await db.connection.execute("SELECT count(NULLIF(isrc, '')) FROM tracks").scalar.intValue
        #expect(isrc.valuesAfter == Int(count ?? -1))
    }

    /// A `float8` column may hold NaN and the infinities: the review lists them (and leaves them
    /// off its histogram's axis), the apply writes them, and the undo puts them back exactly.
    @Test func aFloatColumnsNaNAndInfinitiesAreReviewedWrittenAndUndoneExactly() async throws {
        let db = try await TestDatabase.make(tracks: 3)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            ALTER TABLE tracks DROP CONSTRAINT tracks_spotify_popularity_check,
                ALTER COLUMN spotify_popularity TYPE float8;
            UPDATE tracks SET spotify_popularity = CASE id WHEN '\(TestDatabase.track(1))' THEN 'NaN'
                WHEN '\(TestDatabase.track(2))' THEN '-Infinity' ELSE 1e308 END
            """)
        let before = try await db.snapshot()
        #expect(before.map { $0[1] } == ["NaN", "-Infinity", .double(1e308)])
        let plan = try await TestPlans.spotify(database: db.conninfo)
        let apply = try PipelineBuilder(plan: plan, logger: StageHarness.logger).stage(
            for: try #require(plan.stage(named: "apply")))
        let input = [
            Batch(
                columns: Self.columns,
                rows: [Self.row(1, 1.5, .null), Self.row(2, -1e308, .null), Self.row(3, "Infinity", .null)])
        ]
        let result = try await Runner(
            stages: [StageSpec(Rows(batches: input)), StageSpec(apply, input: "rows", requiresApproval: true)],
            configuration: Self.configuration(try await StageHarness.makeRunDirectory(), approval: .granted)
        ).run()
        #expect(result.manifest.status == .succeeded, "\(String(describing: result.manifest.error))")
        #expect(try await db.snapshot().map { $0[1] } == [.double(1.5), .double(-1e308), "Infinity"])
        let cells = try await Self.cells(in: result.directory.appendingPathComponent("review.csv"))
        #expect(cells.contains { $0[2] == "NaN" && $0[3] == "1.5" }, "\(cells)")
        #expect(cells.contains { $0[2] == "1e+308" && $0[3] == "Infinity" }, "\(cells)")
        let page = try await text(of: result.directory.appendingPathComponent("review.html"))
        #expect(page.contains("<svg"), "the finite values still make a histogram")

        let undo = try Undo(runDirectory: result.directory, manifest: result.manifest, plan: plan)
        let report = try await undo.run(logger: StageHarness.logger)
        #expect(report.restored == 3, "\(report)")
        #expect(try await db.snapshot() == before)
    }

    /// At a terminal prompt the person is shown the review before being asked, and a yes
    /// applies the reviewed changes held to that review (the drift check runs), not a new one.
    @Test func thePromptShowsTheReviewFirstAndAYesAppliesIt() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let shown = Mutex<[String]>([])
        let runs = try await StageHarness.makeRunDirectory()
        var configuration = Self.configuration(
            runs,
            approval: .ask { stage in
                shown.withLock { $0.append("asked \(stage)") }
                return true
            })
        configuration.onReview = { stage, review in
            shown.withLock { $0.append("review \(stage): \(review.file.rows) cells") }
        }
        let result = try await Runner(stages: try await Self.stages(db), configuration: configuration).run()
        #expect(result.manifest.status == .succeeded, "\(String(describing: result.manifest.error))")
        #expect(shown.withLock { $0 } == ["review apply: 4 cells", "asked apply"])
        let apply = try #require(result.manifest.stage("apply"))
        #expect(apply.review?.file.rows == 4)
        #expect(apply.counters["drifted"] == 0)
        #expect(apply.counters["changed"] == 3)
    }

    /// Approved up front a second time, the review finds nothing to change, so nothing is read
    /// for the undo file and nothing written; every matched row is counted unchanged.
    @Test func approvedUpFrontASecondApplyChangesNothing() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        _ = try await Self.approvedUpFront(db)
        let applied = try await db.snapshot()
        let again = try await Self.approvedUpFront(db)
        #expect(again.manifest.status == .succeeded, "\(String(describing: again.manifest.error))")
        let apply = try #require(again.manifest.stage("apply"))
        #expect(apply.review?.file.rows == 0)
        #expect(apply.counters["matched"] == 5)
        #expect(apply.counters["changed"] == 0)
        #expect(apply.counters["unchanged"] == 5)
        #expect(apply.counters["unknown_keys"] == 1)
        #expect(apply.outputs.first { $0.kind == "undo" }?.rows == 0)
        #expect(try await db.snapshot() == applied)
    }

    /// Runs up to the apply's gate, where the review is written, and stops there.
    static func stopAtTheGate(_ db: TestDatabase) async throws -> RunResult {
        let runs = try await StageHarness.makeRunDirectory()
        return try await Runner(stages: try await stages(db), configuration: configuration(runs, approval: .denied))
            .run()
    }

    /// Runs `rows` (of ``columns``) into the plan's apply, up to its gate, where it stops.
    static func stopAtTheGate(_ db: TestDatabase, rows: [[Value]]) async throws -> RunResult {
        let plan = try await TestPlans.spotify(database: db.conninfo)
        let apply = try TestPlans.stage("apply", of: plan)
        let runs = try await StageHarness.makeRunDirectory()
        return try await Runner(
            stages: [
                StageSpec(Rows(batches: [Batch(columns: columns, rows: rows)])),
                StageSpec(apply, input: "rows", requiresApproval: true),
            ],
            configuration: configuration(runs, approval: .denied)
        ).run()
    }

    @Test func thePageIsSelfContainedAndItsCountsAreTheCSVs() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let result = try await Self.stopAtTheGate(db)
        let html = try await text(of: result.directory.appendingPathComponent("review.html"))
        #expect(try await mode(of: result.directory.appendingPathComponent("review.html")) == 0o600)
        for external in ["http://", "https://", "src=", "<script", "<link", "url("] {
            #expect(!html.contains(external), "the page references \(external)")
        }
        #expect(html.contains("<svg"))
        // Every count of the page's table is the number of the CSV's rows of that column and kind.
        let cells = try await Self.cells(in: result.directory.appendingPathComponent("review.csv"))
        let shown = Self.shownCounts(in: html)
        #expect(!shown.isEmpty)
        #expect(shown == Self.counts(of: cells))
    }

    /// The page as a person sees it: Debian's Chromium, cut off from any network, loads
    /// review.html from the run directory; the DOM it rendered holds the CSV's numbers, in the
    /// table, the headline and the histogram, and no element reaches outside the page.
    @Test(.enabled(if: HeadlessBrowser.installed != nil, "needs Debian's chromium; make test installs it"))
    func aBrowserRendersThePageWithTheCSVsNumbersAndNothingExternal() async throws {
        let browser = try #require(HeadlessBrowser.installed)
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let result = try await Self.stopAtTheGate(db)
        let page = result.directory.appendingPathComponent("review.html")
        let dom = try await browser.renderedDOM(of: page)
        // The parser's own mark: the rows went into a <tbody> the page never wrote.
        #expect(dom.contains("<tbody>"), "\(dom.prefix(500))")

        let cells = try await Self.cells(in: result.directory.appendingPathComponent("review.csv"))
        #expect(Self.shownCounts(in: dom) == Self.counts(of: cells))
        #expect(dom.contains("3 of 5 rows would change (3 updated, 0 inserted); 5 matched, 1 unknown keys"))
        // The histogram's bars count the CSV's numeric old and new values of the column.
        let popularity = cells.filter { $0[1] == "spotify_popularity" }
        var bars: [String: Int] = [:]
        for bar in dom.matches(of: /<title>(old|new): (\d+)<\/title>/) {
            bars[String(bar.output.1), default: 0] += Int(bar.output.2)!
        }
        #expect(bars["old"] == popularity.filter { Double($0[2]) != nil }.count)
        #expect(bars["new"] == popularity.filter { Double($0[3]) != nil }.count)
        // Nothing the browser would fetch: no element naming a resource, no stylesheet URL.
        for external in [
            " src=", " href=", " srcset=", " action=", " poster=", "url(", "@import", "<link", "<script",
            "<iframe", "<object", "<embed", "<img",
        ] {
            #expect(!dom.contains(external), "the rendered page holds \(external)")
        }
        let png = result.directory.appendingPathComponent("review.png")
        try await browser.screenshot(of: page, to: png)
        let image = try await BlockingIO.runOnOwnThread { try Data(contentsOf: png) }
        #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
        #expect(image.count > 10_000, "a blank screenshot is a few hundred bytes; this one is \(image.count)")
    }

    /// review.csv's records after the header: key, column, old, new, change.
    static func cells(in csv: URL) async throws -> [[String]] {
        try await text(of: csv).split(
            whereSeparator: \.isNewline
        )
        .dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
    }

    /// `column/change` → the number of cells of that column and kind.
    static func counts(of cells: [[String]]) -> [String: Int] {
        var counted: [String: Int] = [:]
        for fields in cells { counted["\(fields[1])/\(fields[4])", default: 0] += 1 }
        return counted
    }

    /// The non-zero change counts of the page's table, as `column/change`.
    static func shownCounts(in html: String) -> [String: Int] {
        var shown: [String: Int] = [:]
        let rowPattern = /<tr data-column="([^"]+)">(.*?)<\/tr>/
        let cellPattern = /<td data-kind="(fill|update|clear|insert)">(\d+)<\/td>/
        for row in html.matches(of: rowPattern) {
            for cell in String(row.output.2).matches(of: cellPattern) where Int(cell.output.2)! > 0 {
                shown["\(row.output.1)/\(cell.output.1)"] = Int(cell.output.2)!
            }
        }
        return shown
    }

    /// A cell edited, or a line added by hand that is no review row at all: either way the
    /// approval says the review was changed, and nothing changes.
    @Test(arguments: [false, true]) func anEditedReviewIsRefusedAndNothingChanges(lineAdded: Bool) async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let (_, second) = try await Self.reviewThenApply(db) { first in
            let csv = first.directory.appendingPathComponent("review.csv")
            let text = try await text(of: csv)
            let edited =
                lineAdded
                ? text + "also apply this please\r\n" : text.replacingOccurrences(of: ",20,fill", with: ",99,fill")
            try await BlockingIO.runOnOwnThread { try edited.write(to: csv, atomically: true, encoding: .utf8) }
        }
        #expect(second.manifest.status == .failed)
        #expect(second.manifest.error?.message.contains("was changed after the review") == true)
        #expect(try await db.snapshot() == before)
    }

    /// What an apply held to a review wrote of it adds up to the rows the review would write:
    /// those it wrote, those that already held the reviewed values, those that drifted, those a
    /// trigger kept from being written (which used to read as holding the values already).
    @Test(arguments: [
        (285, 4, 0, "; 4 changed since the review and were left as they are"),
        (0, 0, 0, "; 289 of them already held the values reviewed"),
        (
            280, 4, 0,
            "; 5 of them already held the values reviewed; 4 changed since the review and were left as they are"
        ),
        (288, 0, 1, "; a trigger kept 1 of them from being written"),
    ])
    func whatAnApplyWroteOfItsReviewAddsUp(changed: Int, drifted: Int, skipped: Int, rest: String) {
        var summary = ReviewSummary(table: "tracks", key: "id", mode: "update")
        summary.changedRows = 289
        var stage = Manifest.StageRecord(
            name: "apply", kind: "apply", parameters: .null, input: "x", status: .succeeded)
        stage.counters = ["changed": changed, "drifted": drifted, "unchanged": 300, "skipped_by_trigger": skipped]
        stage.review = Manifest.Review(
            file: Manifest.Artifact(kind: "review", path: "review.csv", sha256: "0", rows: 0), reviewedAt: Date(),
            summary: summary.json, text: "")
        #expect(
            ReviewReport.outcome(of: stage) == "applied: \(changed) of the 289 rows the review would write" + rest)
    }

    /// A share past a percentage limit never reads as the limit itself: it gets the decimals that
    /// tell them apart (96.333% against 96.33%), and two otherwise.
    @Test func aShareJustPastALimitIsShownPastIt() {
        #expect(ReviewGuardRails.percent(289.0 * 100 / 300, beside: 96.33) == "96.333")
        #expect(ReviewGuardRails.percent(95.33333, beside: 95.2) == "95.33")
        #expect(ReviewGuardRails.percent(60, beside: 59) == "60")
        #expect(ReviewGuardRails.percent(100.0 / 6, beside: nil) == "16.67")
        #expect(ReviewGuardRails.percent(95.0051, beside: 95.005) == "95.0051")
    }

    /// The review writes 3 rows of 5 (60%), clears 1 ISRC, updates 1 popularity, leaves 1 ISRC
    /// of 5 (20%) and finds 1 unknown key: each limit holds at that value and trips just below it.
    @Test(arguments: [
        (
            "apply.max_changed=3", "apply.max_changed=2",
            "max_changed: the review writes 3 rows (60% of 5), above the limit of 2 rows"
        ),
        ("apply.max_changed=60%", "apply.max_changed=59%", "above the limit of 59%"),
        (
            "apply.columns.isrc.max_cleared=1", "apply.columns.isrc.max_cleared=0",
            "columns.isrc.max_cleared: the review clears 1 row"
        ),
        ("apply.columns.isrc.max_cleared=20%", "apply.columns.isrc.max_cleared=19%", "columns.isrc.max_cleared"),
        (
            "apply.columns.spotify_popularity.max_updated=1", "apply.columns.spotify_popularity.max_updated=0",
            "columns.spotify_popularity.max_updated: the review updates 1 row"
        ),
        (
            "apply.columns.isrc.min_coverage=20%", "apply.columns.isrc.min_coverage=21%",
            "columns.isrc.min_coverage: after the apply 1 of 5 rows (20%) would hold a value, below the limit of 21%"
        ),
        // Track 99 is one of the input's 6 keys: a share of the input, not of the table's 5 rows.
        (
            "apply.max_unknown=1", "apply.max_unknown=0",
            "max_unknown: the review finds 1 of 6 input keys (16.67%) not in tracks, above the limit of 0 keys"
        ),
        ("apply.max_unknown=17%", "apply.max_unknown=16%", "above the limit of 16%"),
    ])
    func aGuardRailHoldsAtItsLimitAndTripsPastIt(atLimit: String, pastLimit: String, message: String) async throws {
        try await guardRail(atLimit: atLimit, pastLimit: pastLimit, message: message, upFront: false)
        try await guardRail(atLimit: atLimit, pastLimit: pastLimit, message: message, upFront: true)
    }

    /// A guard-rail checked on the review at the gate, or (`upFront`, approval given before the
    /// run) on the review the apply makes in its own transaction.
    func guardRail(atLimit: String, pastLimit: String, message: String, upFront: Bool) async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let before = try await db.snapshot()
        let apply = { (limit: String) async throws -> RunResult in
            upFront
                ? try await Self.approvedUpFront(db, overrides: [limit])
                : try await Self.reviewThenApply(db, overrides: [limit]).apply
        }
        let tripped = try await apply(pastLimit)
        #expect(tripped.manifest.status == .failed)
        // The review that tripped it is recorded, its page written, for a person to read.
        let review = try #require(tripped.manifest.stage("apply")?.review)
        #expect(review.file.rows == 4)
        let page = try #require(review.files.first?.path)
        let pageURL = page.hasPrefix("/") ? URL(fileURLWithPath: page) : tripped.directory.appendingPathComponent(page)
        let pagePath = pageURL.path
        let pageExists = try await BlockingIO.runOnOwnThread { FileManager.default.fileExists(atPath: pagePath) }
        #expect(pageExists, "\(pagePath)")
        let error = tripped.manifest.error?.message ?? ""
        #expect(error.contains(message), "\(error)")
        // Located where the limit was set: here, the --set that gave it (its value's column).
        #expect(
            error.contains("--set:1:\(pastLimit.firstIndex(of: "=")!.utf16Offset(in: pastLimit) + 2): error: "),
            "located: \(error)")
        #expect(try await db.snapshot() == before)
        // Stopped before anything: not even an undo file was begun.
        let left = try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: tripped.directory.path)
        }
        #expect(!left.contains { $0.contains("undo") }, "\(left)")

        let held = try await apply(atLimit)
        #expect(held.manifest.status == .succeeded, "\(String(describing: held.manifest.error))")
        #expect(try await db.snapshot() != before)
    }

    @Test func forceGoesPastAGuardRailAndRecordsIt() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let (_, forced) = try await Self.reviewThenApply(db, overrides: ["apply.max_changed=1"], force: true)
        #expect(forced.manifest.status == .succeeded)
        #expect(forced.manifest.notices.contains { $0.contains("--force: guard-rail overridden: max_changed") })
        #expect(forced.manifest.stage("apply")?.counters["changed"] == 3)
    }

    @Test func aRowChangedSinceTheReviewFailsTheApplyByDefault() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let (_, applied) = try await Self.reviewThenApply(db) { _ in
            // Between the review and the approval, someone changes a row the review updates.
            _ = try await db.connection.execute(
                "UPDATE tracks SET spotify_popularity = 31 WHERE id = '\(TestDatabase.track(3))'")
        }
        let before = try await db.snapshot()
        #expect(before[2] == [.string(TestDatabase.track(3)), 31, "ISRC3"])
        #expect(applied.manifest.status == .failed)
        let message = applied.manifest.error?.message ?? ""
        #expect(message.contains("1 row(s) of tracks changed since the review"), "\(message)")
        #expect(message.contains(TestDatabase.track(3)))
        #expect(try await db.snapshot() == before)
    }

    /// A guard-rail given with the approval (`--set`), the table's or a column's, is checked
    /// against the review: the approval stays held to it, so a row changed since still stops it.
    @Test(arguments: [
        "apply.max_changed=50", "apply.columns.isrc.max_cleared=50", "apply.columns.isrc.max_updated=50",
        "apply.columns.spotify_popularity.min_coverage=1%",
    ])
    func aGuardRailSetOnTheApprovalKeepsItHeldToTheReview(guardRail: String) async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let runs = try await StageHarness.makeRunDirectory()
        let first = try await Runner(
            stages: try await Self.stages(db), configuration: Self.configuration(runs, approval: .denied)
        ).run()
        _ = try await db.connection.execute(
            "UPDATE tracks SET spotify_popularity = 31 WHERE id = '\(TestDatabase.track(3))'")
        let before = try await db.snapshot()
        let replay = Replay(original: first.manifest, originalDirectory: first.directory, mode: .from, stage: "apply")
        let applied = try await Runner(
            stages: try await Self.stages(db, overrides: [guardRail]),
            configuration: Self.configuration(runs, approval: .granted, replay: replay)
        ).run()
        #expect(!applied.manifest.notices.contains { $0.contains("reviewed anew") }, "\(applied.manifest.notices)")
        #expect(applied.manifest.status == .failed)
        let message = applied.manifest.error?.message ?? ""
        #expect(message.contains("1 row(s) of tracks changed since the review"), "\(message)")
        #expect(try await db.snapshot() == before)
    }

    /// The apply stage of a plan that writes `columns` of table `ev` on `db`, keyed by `id`.
    static func applyToEv(_ db: TestDatabase, columns: String, onDrift: String) throws -> any Stage {
        let plan = try TestPlans.load(
            """
            version: 1
            name: ev
            connections:
              db: { kind: postgres, url: "\(db.conninfo)" }
            stages:
              - name: rows
                kind: query
                connection: db
                sql: SELECT 1 AS id WHERE false
              - name: apply
                kind: apply
                connection: db
                table: ev
                key: id
                on_drift: \(onDrift)
                columns: \(columns)
            """)
        return try TestPlans.stage("apply", of: plan)
    }

    /// Reviewed in UTC, approved in Asia/Kathmandu (another role's, database's or PGTZ's zone):
    /// a timestamptz cell reads `05:45:00+05:45` now where the review printed `00:00:00+00`.
    /// Row 2 really drifted; row 1 did not, and is written (it was skipped as "changed since the
    /// review"), and the value without an offset is written as the instant the review showed.
    @Test func anApprovalFromAnotherTimeZoneComparesAndWritesAsTheReviewDid() async throws {
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            CREATE TABLE ev (id int PRIMARY KEY, ts timestamptz, v text);
            INSERT INTO ev VALUES (1, '2024-01-01 00:00Z', 'a'), (2, '2024-01-01 00:00Z', 'b');
            DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'UTC'); END $$
            """)
        let apply = try Self.applyToEv(db, columns: "{ ts: {}, v: {} }", onDrift: "skip")
        let input = Batch(
            columns: ["id", "ts", "v"], rows: [[1, "2025-01-01 00:00", "a1"], [2, "2025-01-01 00:00Z", "b1"]])
        let stages = [StageSpec(Rows(batches: [input])), StageSpec(apply, input: "rows", requiresApproval: true)]
        let (first, applied) = try await Self.reviewThenApply(stages: stages) { _ in
            _ = try await db.connection.execute(
                """
                UPDATE ev SET v = 'b-other' WHERE id = 2;
                DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'Asia/Kathmandu'); END $$
                """)
        }
        #expect(first.manifest.status == .awaitingApproval)
        #expect(applied.manifest.status == .succeeded, "\(String(describing: applied.manifest.error))")
        #expect(applied.manifest.stage("apply")?.counters["drifted"] == 1)
        #expect(applied.manifest.stage("apply")?.counters["changed"] == 1)
        let rows = try await db.connection.execute(
            "SELECT id, ts = '2025-01-01 00:00Z', v FROM ev ORDER BY id"
        ).rows
        #expect(rows == [[1, true, "a1"], [2, false, "b-other"]])
    }

    /// Reviewed in a `MDY` session, approved in a `DMY` one (another role's, database's or
    /// PGDATESTYLE's order): the input's `01/02/2024` read as 2 January in the review and as
    /// 1 February at the approval, which refused it as "changed since the review" although the
    /// table had not changed. The approval reads it as the review did.
    @Test func anApprovalInAnotherDateOrderReadsTheInputAsTheReviewDid() async throws {
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            """
            CREATE TABLE ev (id int PRIMARY KEY, d date);
            INSERT INTO ev VALUES (1, '2023-12-31');
            DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'ISO, MDY'); END $$
            """)
        let apply = try Self.applyToEv(db, columns: "{ d: {} }", onDrift: "fail")
        let input = Batch(columns: ["id", "d"], rows: [[1, "01/02/2024"]])
        let stages = [StageSpec(Rows(batches: [input])), StageSpec(apply, input: "rows", requiresApproval: true)]
        let (first, applied) = try await Self.reviewThenApply(stages: stages) { _ in
            _ = try await db.connection.execute(
                """
                DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'ISO, DMY'); END $$
                """)
        }
        #expect(first.manifest.status == .awaitingApproval)
        let summary = try #require(first.manifest.stage("apply")?.review.flatMap { ReviewSummary(json: $0.summary) })
        #expect(summary.dateStyle == "ISO, MDY")
        #expect(applied.manifest.status == .succeeded, "\(String(describing: applied.manifest.error))")
        #expect(applied.manifest.stage("apply")?.counters["changed"] == 1)
        #expect(try await db.connection.execute("SELECT d::text FROM ev").rows == [["2024-01-02"]])
    }

    /// An input of `now` reads as another instant at the approval than in the review: refused as
    /// drift (what the approval would write is not what was reviewed), and said to be the input's
    /// doing, not the table's, which holds what the review saw.
    @Test func anInputThatReadsOtherwiseAtTheApprovalIsSaidNotToBeTheTables() async throws {
        let db = try await TestDatabase.make(tracks: 0)
        defer { Task { await db.close() } }
        _ = try await db.connection.execute(
            "CREATE TABLE ev (id int PRIMARY KEY, ts timestamptz, v text); INSERT INTO ev VALUES (1, NULL, 'a')")
        let apply = try Self.applyToEv(db, columns: "{ ts: {} }", onDrift: "fail")
        let input = Batch(columns: ["id", "ts"], rows: [[1, "now"]])
        let stages = [StageSpec(Rows(batches: [input])), StageSpec(apply, input: "rows", requiresApproval: true)]
        let (first, applied) = try await Self.reviewThenApply(stages: stages) { _ in
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(first.manifest.status == .awaitingApproval)
        #expect(applied.manifest.status == .failed)
        let message = applied.manifest.error?.message ?? ""
        #expect(message.contains(BulkUpdateError.driftPhrase), "\(message)")
        #expect(
            message.contains(
                "(the table holds what the review saw in these cells: the input reads as other values now"),
            "\(message)")
        #expect(try await db.connection.execute("SELECT ts FROM ev").rows == [[.null]])
    }

    /// A new value a spreadsheet would run as a formula (`=HYPERLINK(...)`) is written to
    /// review.csv as it is, and said in a notice, as write-csv says it of the audit trail: the
    /// reviewer may open review.csv by double-clicking it.
    @Test func aFormulaInTheReviewIsSaidInANotice() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let plan = try await TestPlans.spotify(database: db.conninfo)
        let apply = try TestPlans.stage("apply", of: plan)
        let formula = #"=HYPERLINK("http://x.invalid","ok")"#
        let input = Batch(columns: Self.columns, rows: [Self.row(1, 1, .string(formula)), Self.row(2, 20, "ISRC2")])
        let runs = try await StageHarness.makeRunDirectory()
        let stopped = try await Runner(
            stages: [StageSpec(Rows(batches: [input])), StageSpec(apply, input: "rows", requiresApproval: true)],
            configuration: Self.configuration(runs, approval: .denied)
        ).run()
        #expect(stopped.manifest.status == .awaitingApproval)
        #expect(
            stopped.manifest.notices.contains {
                $0.hasPrefix(
                    "apply: review.csv: 1 cell begins with =, +, -, @ or a tab (the first: line 2, column new)")
            }, "\(stopped.manifest.notices)")
        let review = try await text(of: stopped.directory.appendingPathComponent("review.csv"))
        #expect(review.contains("HYPERLINK"), "written as it is")
    }

    @Test func onDriftSkipAppliesTheOtherRowsAndCountsTheDrifted() async throws {
        let db = try await TestDatabase.make(tracks: 5)
        defer { Task { await db.close() } }
        let runs = try await StageHarness.makeRunDirectory()
        let stages = try await Self.stages(db, overrides: ["apply.on_drift=skip"])
        let first = try await Runner(stages: stages, configuration: Self.configuration(runs, approval: .denied)).run()
        _ = try await db.connection.execute(
            "UPDATE tracks SET spotify_popularity = 31 WHERE id = '\(TestDatabase.track(3))'")
        let replay = Replay(original: first.manifest, originalDirectory: first.directory, mode: .from, stage: "apply")
        let applied = try await Runner(
            stages: stages, configuration: Self.configuration(runs, approval: .granted, replay: replay)
        ).run()
        #expect(applied.manifest.status == .succeeded, "\(String(describing: applied.manifest.error))")
        #expect(applied.manifest.stage("apply")?.counters["drifted"] == 1)
        #expect(applied.manifest.stage("apply")?.counters["changed"] == 2)
        #expect(applied.manifest.notices.contains { $0.contains("changed since the review") })
        let after = try await db.snapshot()
        #expect(after[2] == [.string(TestDatabase.track(3)), 31, "ISRC3"])  // neither overwritten nor lost
        #expect(after[0] == [.string(TestDatabase.track(1)), 1, "ISRC1"])
    }
}

/// A source stage sending fixed batches.
private struct Rows: Stage {
    var name: String { "rows" }
    var kind: String { "test-rows" }
    var parameters: Value { .object([:]) }
    let batches: [Batch]

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        for batch in batches { try await output.send(batch) }
    }
}
