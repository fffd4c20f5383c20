import APIFixtureServer
import Foundation
import SluiceCore
import SluicePipeline
import SluiceTestSupport
import Testing

/// `plans/github-open-issues.yaml`, run by the real `sluice` binary against a throwaway
/// PostgreSQL and a local server that plays GitHub's issues list: pages of 100 followed by the
/// `Link` header, pull requests among the issues, a bearer token, and a rate limit said in
/// `X-RateLimit-*` headers, spent once by the plan's own request and once by another client.
@Suite struct GitHubPlanTests {
    static let token = "ghp_t0kenNeverShown"
    static let userAgent = "SluiceTests/1.0 ( tests@example.com )"

    /// GitHub's issue list item: a pull request when `pull: true` (it has a `pull_request` key).
    static func issue(_ number: Int, title: String? = nil, pull: Bool = false) -> Value {
        var item: [String: Value] = [
            "number": .int(Int64(number)), "title": .string(title ?? "Issue \(number)"), "state": "open",
            "labels": .array([.object(["name": "bug"])]),
        ]
        if pull { item["pull_request"] = .object(["url": .string("https://api.github.com/pulls/\(number)")]) }
        return .object(item)
    }

    /// The rate-limit headers GitHub sends, `remaining` of 5,000 left, the reset `reset` away.
    static func limit(_ remaining: Int, reset: String = "3600", status: Int? = nil) -> FixtureLimitAnswer {
        FixtureLimitAnswer(
            status: status,
            headers: [
                "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "\(remaining)",
                "X-RateLimit-Used": "\(5000 - remaining)", "X-RateLimit-Reset": reset,
                "X-RateLimit-Resource": "core",
            ])
    }

    /// A repository of 250 open items (every fifth a pull request: 200 issues) on three pages,
    /// one of three items whose issue's title spells the key the count looks for, an empty one,
    /// one GitHub does not know (404: rejected, its count kept), and a name that is no
    /// repository's (never asked). The second answer spends the limit, the third is GitHub's
    /// 403 for a limit spent by another client: both waited out. The table ends exactly right.
    @Test func countsOpenIssuesWithoutPullRequestsOverEveryPageAndWaitsOutASpentLimit() async throws {
        var api = FixtureAPI(
            shape: .pagedList(pathPrefix: "/repos/", paging: Paging(.linkHeader, size: 100)),
            answers: [
                "acme/widgets/issues": .array((1...250).map { Self.issue($0, pull: $0 % 5 == 0) }),
                "acme/gadgets/issues": .array([
                    Self.issue(1, title: #"Count "pull_request": keys right"#), Self.issue(2, pull: true),
                    Self.issue(3),
                ]),
                "acme/empty/issues": .array([]),
            ])
        api.requiredHeader = ("Authorization", "Bearer \(Self.token)")
        api.requiresUserAgent = true
        api.requiredQuery = ["state": "open", "per_page": "100"]
        api.limitAnswers = [
            Self.limit(4999), Self.limit(0, reset: "1"), Self.limit(0, reset: "1", status: 403),
            Self.limit(4999), Self.limit(4998), Self.limit(4997), Self.limit(4996),
        ]
        let schema = """
            CREATE TABLE repos (id bigint PRIMARY KEY, full_name text NOT NULL,
                                open_issues int CHECK (open_issues >= 0));
            INSERT INTO repos VALUES (1, 'acme/widgets', 7), (2, 'acme/gadgets', NULL), (3, 'acme/empty', 4),
                                     (4, 'acme/gone', 9), (5, 'not a repo', NULL);
            """
        let fixture = try await RESTPlanTests.Fixture.make(schema: schema, api: api) { origin in
            ["GITHUB_API_URL": origin, "GITHUB_TOKEN": Self.token, "GITHUB_USER_AGENT": Self.userAgent]
        }
        defer { Task { await fixture.tearDown() } }

        let started = ContinuousClock.now
        let outcome = try await fixture.run("plans/github-open-issues.yaml", ["--set", "fetch.delay=0.2s"])
        let elapsed = started.duration(to: .now)
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)\nstdout: \(outcome.stdout)")
        #expect(
            try await fixture.rows("SELECT id, open_issues FROM repos ORDER BY id")
                == [["1", "200"], ["2", "2"], ["3", "0"], ["4", "9"], ["5", nil]])

        let stats = fixture.api.stats()
        // Three pages of widgets (the third asked twice: after the 403), one page each of the
        // others; the spent limits cost a second each.
        #expect(stats.requests == 7)
        #expect(stats.refused == 0)
        let github = [
            "user-agent": Self.userAgent, "accept": "application/vnd.github+json", "x-github-api-version": "2022-11-28",
        ]
        #expect(
            stats.headers.allSatisfy { headers in github.allSatisfy { headers[$0.key] == $0.value } },
            "\(stats.headers)")
        #expect(elapsed >= .seconds(2), "two resets a second off")
        let (run, manifest) = try #require(await Files.runs(in: fixture.directory.appendingPathComponent("runs")).last)
        let counters = try #require(manifest.stage("fetch")?.counters)
        #expect(counters["requests"] == 7)
        #expect(counters["pages"] == 2, "\(counters)")
        #expect(counters["throttled"] == 1 && counters["http_429"] == 0 && counters["retries"] == 1, "\(counters)")
        #expect(counters["waits", default: 0] >= 2, "\(counters)")
        #expect(counters["found"] == 3 && counters["not_found"] == 1, "\(counters)")
        #expect(!(outcome.stdout + outcome.stderr).contains(Self.token))

        // The timeline's pages add up to the counter, and the review page shows them.
        let timeline = try #require(manifest.stage("fetch")?.outputs.first { $0.kind == "timeline" })
        let seconds = try await Files.text(run.appendingPathComponent(timeline.path))
            .split(whereSeparator: \.isNewline).map { $0.split(separator: ",").map(String.init) }
        #expect(seconds.first?.last == "pages", "\(seconds)")
        #expect(seconds.dropFirst().compactMap { $0.count > 6 ? Int($0[6]) : nil }.reduce(0, +) == 2, "\(seconds)")
        let page = try await Files.text(run.appendingPathComponent("review.html"))
        #expect(page.contains("<th class=\"t\">pages</th>") && page.contains(" for later pages), "))

        // The audit trail says how many pull requests each count left out.
        let csv = try #require(manifest.stage("write-csv")?.outputs.first { $0.kind == "csv" })
        let lines = try await Files.text(run.appendingPathComponent(csv.path))
            .split(whereSeparator: \.isNewline).map(String.init)
        #expect(
            lines == [
                "repo_id,full_name,open_issues,open_pulls", "1,acme/widgets,200,50", "2,acme/gadgets,2,1",
                "3,acme/empty,0,0",
            ])
    }

    /// `check` passes with the variables the plan reads set; without them it warns of each, and
    /// `check --strict` refuses, as it does the other plans.
    @Test func checkPassesWithItsVariablesAndStrictRefusesWithoutThem() async throws {
        var environment = ProcessInfo.processInfo.environment
        for name in ["DATABASE_URL", "GITHUB_TOKEN", "GITHUB_USER_AGENT", "GITHUB_API_URL"] { environment[name] = nil }
        environment["NO_COLOR"] = "1"
        let bare = SluiceProcess(environment: environment, directory: FileManager.default.temporaryDirectory)
        var set = bare
        set.environment.merge(
            [
                "DATABASE_URL": "postgresql://u@localhost/db", "GITHUB_TOKEN": Self.token,
                "GITHUB_USER_AGENT": Self.userAgent,
            ]
        ) { _, new in new }
        let strict = try await set.run(["check", "--strict", "plans/github-open-issues.yaml"])
        #expect(strict.status == 0, "\(strict.stderr)")
        #expect(strict.stdout.contains("plans/github-open-issues.yaml: ok"), "\(strict.stdout)")
        #expect(strict.stderr.isEmpty, "\(strict.stderr)")
        let warned = try await bare.run(["check", "plans/github-open-issues.yaml"])
        let refused = try await bare.run(["check", "--strict", "plans/github-open-issues.yaml"])
        #expect(warned.status == 0 && refused.status == 2, "\(warned.stderr)\n\(refused.stderr)")
        let names = ["DATABASE_URL", "GITHUB_TOKEN", "GITHUB_USER_AGENT"]
        #expect(names.allSatisfy { warned.stderr.contains("warning: environment variable '\($0)' is not set") })
        #expect(names.allSatisfy { refused.stderr.contains("error: environment variable '\($0)' is not set") })
    }

    /// A repository renamed or transferred since the table was written: GitHub answers 301 to
    /// its new place on the same host, which Sluice follows (the token goes where it was meant
    /// to), every page of it; its count is applied, and the run warns once to update the table.
    @Test func aMovedRepositoryIsFollowedAndCounted() async throws {
        var api = FixtureAPI(
            shape: .pagedList(pathPrefix: "/", paging: Paging(.linkHeader, size: 100)),
            answers: [
                "repos/acme/widgets/issues": .array([Self.issue(1)]),
                "repositories/42/issues": .array((1...150).map { Self.issue($0, pull: $0 % 5 == 0) }),
            ])
        api.requiredHeader = ("Authorization", "Bearer \(Self.token)")
        api.requiredQuery = ["state": "open", "per_page": "100"]
        api.moved = ["/repos/acme/old-name/issues": "/repositories/42/issues"]
        let schema = """
            CREATE TABLE repos (id bigint PRIMARY KEY, full_name text NOT NULL, open_issues int);
            INSERT INTO repos VALUES (1, 'acme/widgets', 7), (2, 'acme/old-name', 3);
            """
        let fixture = try await RESTPlanTests.Fixture.make(schema: schema, api: api) { origin in
            ["GITHUB_API_URL": origin, "GITHUB_TOKEN": Self.token, "GITHUB_USER_AGENT": Self.userAgent]
        }
        defer { Task { await fixture.tearDown() } }
        let outcome = try await fixture.run("plans/github-open-issues.yaml", ["--set", "fetch.delay=0s"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr)\nstdout: \(outcome.stdout)")
        #expect(
            try await fixture.rows("SELECT id, open_issues FROM repos ORDER BY id") == [["1", "1"], ["2", "120"]])
        let said = outcome.stdout + outcome.stderr
        #expect(
            said.components(separatedBy: "(HTTP 301; followed: same host); update the plan/data").count == 2, "\(said)")
        #expect(!said.contains(Self.token))
        let stats = fixture.api.stats()
        #expect(stats.refused == 0)
        #expect(
            stats.seenURLs.filter { $0.hasPrefix("/repositories/42/issues") }.count == 2, "\(stats.seenURLs)")
        let (_, manifest) = try #require(await Files.runs(in: fixture.directory.appendingPathComponent("runs")).last)
        let counters = try #require(manifest.stage("fetch")?.counters)
        #expect(counters["requests"] == 4 && counters["redirects"] == 1 && counters["pages"] == 1, "\(counters)")
    }
}
