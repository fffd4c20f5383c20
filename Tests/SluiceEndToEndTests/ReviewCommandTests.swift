import Foundation
import SluiceCore
import SluicePipeline
import Testing

/// The review through the real binary: the summary under the run's summary pointing at the
/// page, `runs show` repeating it, and `sluice review` writing the page again.
@Suite struct ReviewCommandTests {
    @Test func theRunSummaryShowsTheReviewAndSluiceReviewRewritesThePage() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let stopped = try await fixture.run()
        #expect(stopped.status == 3, "stderr: \(stopped.stderr)")
        let (directory, manifest) = try #require(await fixture.manifests().last)
        let review = try #require(manifest.stage("apply")?.review)
        let page = directory.appendingPathComponent("review.html")
        #expect(stopped.stdout.contains("review (apply): "), "\(stopped.stdout)")
        #expect(stopped.stdout.contains(page.lastPathComponent))
        #expect(stopped.stdout.contains("review of tracks (update): "))
        #expect(stopped.stdout.contains("spotify_popularity new: min "))

        // The fetch's timeline: its rows add up to the requests it counted, and the page draws it.
        let fetch = try #require(manifest.stage("fetch"))
        let timeline = try #require(fetch.outputs.first { $0.kind == "timeline" })
        let rows = try await Files.text(directory.appendingPathComponent(timeline.path))
            .split(whereSeparator: \.isNewline).map { $0.split(separator: ",").map { Int($0) ?? -1 } }
        #expect(rows.first == nil || rows.count == timeline.rows + 1)
        #expect(rows.dropFirst().map { $0[1] }.reduce(0, +) == fetch.counters["requests"])
        #expect(try await Files.text(page).contains("<svg id=\"timeline\""))
        // A fetch of no paged list: no pages column (GitHubPlanTests has one).
        #expect(!(try await Files.text(page).contains("<th class=\"t\">pages</th>")))

        let shown = try await fixture.sluice.run(["runs", "show", directory.path])
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("review of tracks (update): "), "\(shown.stdout)")

        // An older run's page, gone: written again from review.csv, the summary printed. The
        // page made as the review streamed and the one made from the CSV read back are the same.
        let streamed = try await Files.text(page)
        try await Files.remove(page)
        let again = try await fixture.sluice.run(["review", directory.path])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.hasPrefix(review.text), "\(again.stdout)")
        #expect(await Files.exists(page))
        let html = try await Files.text(page)
        #expect(html == streamed)
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("src="))

        // A review.csv changed since is refused.
        let csv = directory.appendingPathComponent("review.csv")
        try await BlockingIO.runOnOwnThread {
            try (try Data(contentsOf: csv) + Data("x,isrc,,y,fill\r\n".utf8)).write(to: csv)
        }
        let refused = try await fixture.sluice.run(["review", directory.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("was changed after the review"), "\(refused.stderr)")

        // A replay of the fetch alone has no review: it says whose review there is.
        let fetched = try await fixture.sluice.run(["replay", directory.path, "--stage", "fetch", "--yes"])
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let none = try await fixture.sluice.run(["review", try await fixture.lastRunDirectory().path])
        #expect(none.status == 1)
        #expect(
            none.stderr.contains("it replayed stage 'fetch' alone; the review, if any, is run \(manifest.runID)'s"),
            "\(none.stderr)")
    }

    /// The runs after a gate (its approval, a replay of verify) point at the review they were
    /// held to, in the run that stopped: `sluice review` of them prints it and names that run,
    /// and writes nothing in another run's directory.
    @Test func theReviewOfAReplayIsTheOriginalRunsAndIsLeftThere() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        #expect(try await fixture.run().status == 3)
        let (stopped, manifest) = try #require(await fixture.manifests().last)
        let review = try #require(manifest.stage("apply")?.review)
        let approved = try await fixture.sluice.run(["replay", stopped.path, "--from", "apply", "--yes"])
        #expect(approved.status == 0, "\(approved.stderr)")
        let approval = try #require(await fixture.manifests().last?.directory)
        let verified = try await fixture.sluice.run(["replay", approval.path, "--stage", "verify"])
        #expect(verified.status == 0, "\(verified.stderr)")
        let replayOfVerify = try #require(await fixture.manifests().last?.directory)

        let page = stopped.appendingPathComponent("review.html")
        try await Files.remove(page)
        for run in [approval, replayOfVerify] {
            let shown = try await fixture.sluice.run(["review", run.path])
            #expect(shown.status == 0, "\(run.lastPathComponent): \(shown.stderr)")
            #expect(shown.stdout.hasPrefix(review.text), "\(shown.stdout)")
            #expect(
                shown.stdout.contains(
                    "that review belongs to run \(manifest.runID); to write its page again: "
                        + "sluice review \(stopped.standardizedFileURL.path)"), "\(shown.stdout)")
            #expect(!(await Files.exists(page)), "wrote the page of run \(manifest.runID)")
            #expect(!(await Files.exists(run.appendingPathComponent("review.html"))))
        }
    }

    /// A review past a guard-rail says at the gate that the approval would stop there, and gives
    /// the command that goes past it, which applies.
    @Test func theGateSaysHowToGoPastAGuardRailItsReviewPasses() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let stopped = try await fixture.run(["--set", "apply.max_changed=1"])
        #expect(stopped.status == 3, "stderr: \(stopped.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.stage("apply")?.review?.guardRails.first?.hasPrefix("max_changed: the review writes") == true)
        let lines = stopped.stdout.split(separator: "\n").map(String.init)
        let note = try #require(
            lines.firstIndex { $0.hasPrefix("the review goes past a guard-rail, so that stops there") },
            "\(stopped.stdout)")
        let forced = lines[note + 1].trimmingCharacters(in: .whitespaces)
        #expect(forced.hasPrefix("sluice replay /") && forced.hasSuffix(" --from apply --yes --force"), "\(forced)")
        let applied = try await fixture.sluice.run(forced.split(separator: " ").dropFirst().map(String.init))
        #expect(applied.status == 0, "stderr: \(applied.stderr)")
        #expect(applied.stdout.contains("--force: guard-rail overridden: max_changed"), "\(applied.stdout)")
    }

    /// A dry run reviews too: the review files and summary, and a table left as it was.
    @Test func aDryRunWritesTheReviewAndChangesNothing() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let dry = try await fixture.run(["--dry-run"])
        #expect(dry.status == 0, "stderr: \(dry.stderr)")
        #expect(dry.stdout.contains("review (apply): "), "\(dry.stdout)")
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.stage("apply")?.review?.file.rows ?? 0 > 0)
        #expect(await Files.exists(directory.appendingPathComponent("review.csv")))
        #expect(await Files.exists(directory.appendingPathComponent("review.html")))
        #expect(try await fixture.table() == before)
    }
}
