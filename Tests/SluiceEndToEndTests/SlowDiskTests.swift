import Foundation
import SluicePipeline
import SluiceTestSupport
import Testing

/// The real binary on a slow disk: every manifest write takes 8 s longer (a debug build's
/// `SLUICE_DEBUG_SLOW_MANIFEST_SYNC`, as a disk whose `fsync` takes that long). Stages that
/// end during the fetch (query, chunk) write their records meanwhile; the fetch keeps the
/// plan's pace regardless (no 8 s stall; the 5% target is measured by a benchmark), and the
/// process's pool watchdog never fires.
@Suite struct SlowDiskTests {
    @Test func theFetchKeepsThePlansPaceWhileTheManifestIsWrittenToASlowDisk() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        var sluice = fixture.sluice
        let slowWrite = 8.0
        sluice.environment["SLUICE_DEBUG_SLOW_MANIFEST_SYNC"] = "\(Int(slowWrite))"
        let delay = 0.5
        let outcome = try await sluice.run(
            [
                "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--yes",
                "--set", "fetch.delay=\(delay)s", "--set", "chunk.size=10",
            ])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let times = fixture.simulator.stats().requestLog.filter { $0.path == "/v1/tracks" }.map(\.time)
        // 120 tracks in batches of 10, and the narrowing requests for the dataset's bad ids:
        // all paced alike.
        try #require(times.count >= 12)
        let gaps = zip(times.dropFirst(), times).map { ($0 - $1).seconds }
        // A write in the way of a request would hold that request back by the write's 8 s: one
        // gap of about 8.5 s. Gaps are stamped by the simulator on this test process's (busy)
        // threads, so one can read 0.25 s short and the next as much long, and a loaded machine
        // stretches them: a fresh clone's `make test` on 2 cores showed one of 1.57 s; a suite
        // beside three other builds and suites (load 20 on 2 cores) stretched the whole span by
        // 2.6 s over many gaps, and in another such run one gap to 4.4 s. So the bound is on the
        // longest gap, three quarters of a write past the plan's delay. The plan's pace within
        // 5% is a benchmark's target (`scripts/bench-plan.sh`), on a machine doing nothing else.
        let longest = gaps.max() ?? 0
        #expect(longest < delay + slowWrite * 3 / 4, "longest gap \(longest) s; gaps \(gaps)")
        let fetch = try #require(await fixture.manifests().last?.manifest.stage("fetch"))
        #expect(fetch.status == .succeeded)
    }
}
