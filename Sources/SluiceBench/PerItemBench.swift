import APIFixtureServer
import ArgumentParser
import Foundation
import SluiceCore
import SluiceTestSupport

/// The per-item plan as users run it: `sluice run plans/musicbrainz-isrc.yaml --yes`, process
/// start to exit, against a throwaway PostgreSQL and a local MusicBrainz that enforces one
/// request a second (503 otherwise) and its User-Agent rule, with 50 ms per answer. Measured
/// against the floor of that rule: N requests one second apart, the last one answered.
struct PerItemBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "per-item", abstract: "The MusicBrainz plan, whole command, against its 1 request/s floor.")

    @Option(help: "Tracks with a well-formed ISRC.") var tracks = 60
    @Option(help: "The sluice binary; by default the one next to this one.") var sluice: String?

    func run() async throws {
        let binary =
            sluice
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
                "sluice"
            )
            .path
        let server = try await TestPostgres.shared()
        let conninfo = try await server.makeDatabase(prefix: "sluice_bench_item")
        let isrcs = (0..<tracks).map { String(format: "USRC1%07d", $0) }
        var answers: [String: Value] = [:]
        var rows: [String] = []
        for (n, isrc) in isrcs.enumerated() {
            let id = String(format: "00000000-0000-4000-8000-%012d", n)
            answers[isrc] = .object([
                "isrc": .string(isrc),
                "recordings": .array([.object(["id": .string(id), "length": .int(Int64(180_000 + n))])]),
            ])
            rows.append("('\(id)', '\(isrc)')")
        }
        _ = try await server.execute(
            """
            CREATE TABLE tracks (id uuid PRIMARY KEY, isrc text);
            CREATE TABLE track_musicbrainz (track_id uuid PRIMARY KEY, mbid uuid NOT NULL, length_ms int, recordings int);
            INSERT INTO tracks VALUES \(rows.joined(separator: ", "));
            """, conninfo: conninfo)
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/ws/2/isrc/"), answers: answers)
        api.requiresUserAgent = true
        api.requiredQuery = ["fmt": "json"]
        api.minInterval = .seconds(1)
        api.latency = .milliseconds(50)
        let fixture = FixtureServer(api: api)
        _ = try await fixture.start()
        let runs = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-item-\(getpid())")
        defer { try? FileManager.default.removeItem(at: runs) }
        let start = ContinuousClock.now
        let outcome = try await ChildProcess.run(
            "/usr/bin/env",
            [
                "DATABASE_URL=\(conninfo)", "MUSICBRAINZ_API_URL=\(fixture.origin!)/ws/2",
                "MUSICBRAINZ_USER_AGENT=SluiceBench/1.0 ( bench@example.com )", "NO_COLOR=1", binary, "run",
                "plans/musicbrainz-isrc.yaml", "--yes", "--quiet", "--runs-dir", runs.path,
            ], quiet: true)
        let wall = (ContinuousClock.now - start).seconds
        let stats = fixture.stats()
        await fixture.stop()
        let written = try await server.execute("SELECT count(*) FROM track_musicbrainz", conninfo: conninfo)
        guard outcome.status == 0, written.rows.first?.first?.intValue == Int64(tracks) else {
            throw ValidationError("the run ended with status \(outcome.status); rows: \(written.rows)")
        }
        // N requests one second apart: N - 1 seconds from the first start to the last, then its answer.
        let floor = Double(tracks - 1) + api.latency.seconds
        print(
            String(
                format: "| per-item plan, whole command | `sluice run plans/musicbrainz-isrc.yaml --yes`, %d ISRCs, "
                    + "local MusicBrainz enforcing 1 request/s (503) and its User-Agent rule, 50 ms per answer "
                    + "| **%.1f s**; floor (%d - 1) x 1 s + 50 ms = %.2f s: **%.3fx**; %d requests, %d x 503, %d refused |",
                tracks, wall, tracks, floor, wall / floor, stats.requests, stats.throttled, stats.refused))
    }
}
