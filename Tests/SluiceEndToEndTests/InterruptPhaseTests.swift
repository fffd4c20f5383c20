import Foundation
import SluiceCore
import SluicePipeline
import SluicePostgres
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C says what became of the table by how far the apply (or undo) got: before its
/// transaction began nothing was started; inside it, it rolled back. The real `sluice` is
/// stalled at a known point (a proxy in front of the database that answers nothing, an API
/// slowed down, a row locked by another session), then sent SIGINT.
@Suite(.serialized)
struct InterruptPhaseTests {
    /// What the summary says of an apply that never began its transaction: never "rolled back".
    static func notBegun(_ what: String) -> String {
        "stage 'apply' \(what): nothing was started or changed in tracks\n"
    }

    /// `sluice apply FILE.csv` on a database behind a proxy that answers nothing, interrupted
    /// once `stalled` says where it waits: approved up front, connecting for its write; without
    /// --yes (and no terminal), connecting for its review at the gate, the file read.
    @Test(arguments: [true, false])
    func aCSVApplyInterruptedBeforeItsTransactionSaysNothingWasStarted(approved: Bool) async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let csv = try await fixture.reviewedCSV()
        let before = try await fixture.table()
        let (proxy, sluice) = try fixture.behindAStalledProxy()
        defer { Task { await proxy.stop() } }

        let (process, out, err) = try sluice.start(
            ["apply", "plans/spotify-enrichment.yaml", csv.path, "--runs-dir", fixture.runsDirectory]
                + ["--set", "connections.db.connect_timeout=600s"] + (approved ? ["--yes"] : []))
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually(approved ? "the apply to start" : "the review to connect") {
            let stages = await fixture.manifests().last?.manifest.stages ?? []
            // Nothing gets through the proxy: a running apply is connecting, its transaction not begun.
            if approved { return stages.contains { $0.name == "apply" && $0.status == .running } }
            // The checks before the run (apply's and verify's) gave up on the proxy before the
            // file was read; the review's connection is the one left waiting after it.
            let stats = proxy.stats
            return stages.contains { $0.name == "csv-input" && $0.status == .succeeded } && stats.connections >= 3
                && stats.activeConnections >= 1
        }
        kill(process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .interrupted)
        #expect(manifest.stage("apply")?.status == .cancelled)
        #expect(manifest.stage("apply")?.counters["transaction_began"] == (approved ? 0 : nil))
        let when = approved ? "before its transaction began" : "during its review, before its transaction began"
        #expect(interrupted.stdout.contains(Self.notBegun("was interrupted " + when)), "\(interrupted.stdout)")
        #expect(!interrupted.stdout.contains("rolled back"), "\(interrupted.stdout)")
        #expect(proxy.stats.bytesToServer == 0, "the server heard nothing")
        #expect(try await fixture.table() == before)
    }

    @Test func aRunInterruptedBeforeItsApplyStartedSaysNothingWasStarted() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        // Seconds between requests: the fetch is still asking when the signal comes.
        let (process, out, err) = try fixture.sluice.start([
            "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--set", "fetch.delay=5s",
            "--yes",
        ])
        defer { FaultChecks.stop(process) }
        try await fixture.waitForAPIRequests(1)
        kill(process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        let manifest = try #require(await fixture.manifests().last?.manifest)
        #expect(manifest.status == .interrupted)
        #expect(manifest.stage("fetch")?.status == .cancelled && manifest.stage("apply")?.status == .pending)
        // The stages cut short are named, fetch among them; whether chunk still waited for room
        // to send its last batch, or transform had already given up, is a matter of timing.
        let stages = manifest.stages.filter { $0.status == .cancelled }.map { "'\($0.name)'" }
        #expect(stages.contains("'fetch'"))
        let named = "stage\(stages.count == 1 ? "" : "s") \(stages.joined(separator: ", "))"
        let during = "(the run was interrupted in \(named))"
        #expect(interrupted.stdout.contains(Self.notBegun("did not start " + during)), "\(interrupted.stdout)")
        #expect(!interrupted.stdout.contains("rolled back"), "\(interrupted.stdout)")
        #expect(try await fixture.table() == before)
    }

    @Test func anUndoInterruptedWhileItConnectsSaysNothingWasStarted() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 120)
        defer { Task { await fixture.tearDown() } }
        let applied = try await fixture.run(["--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        let enriched = try await fixture.table()
        let run = try await fixture.lastRunDirectory()
        let (proxy, sluice) = try fixture.behindAStalledProxy()
        defer { Task { await proxy.stop() } }

        // The plan's connect timeout (10 s) is the time the signal has to come in.
        let (process, out, err) = try sluice.start(["undo", run.path, "--yes"])
        defer { FaultChecks.stop(process) }
        try await FaultChecks.eventually("the undo to connect", within: .seconds(60)) {
            proxy.stats.activeConnections >= 1
        }
        kill(process.processIdentifier, SIGINT)
        let interrupted = await FaultChecks.finish(process, out, err, within: .seconds(60))
        #expect(interrupted.status == 130, "\(interrupted.stderr)")
        #expect(
            interrupted.stderr.contains(
                "sluice: undo interrupted while connecting to the database, before its transaction began: nothing "
                    + "was started or changed"), "\(interrupted.stderr)")
        #expect(!interrupted.stderr.contains("rolled back"), "\(interrupted.stderr)")
        #expect(proxy.stats.bytesToServer == 0, "the server heard nothing")
        #expect(try await fixture.table() == enriched)
        #expect(try #require(await fixture.manifests().last?.manifest).undos.isEmpty)
    }
}

extension EnrichmentFixture {
    /// A proxy in front of the database that forwards nothing and never answers, and sluice
    /// pointed at it: every connection waits until its connect timeout.
    func behindAStalledProxy() throws -> (FaultProxy, SluiceProcess) {
        let proxy = FaultProxy(targetPort: try #require(server.port))
        let port = try proxy.start()
        proxy.setMode(.stall)
        var sluice = sluice
        sluice.environment["DATABASE_URL"] = try PostgresConnection.conninfo(
            try #require(sluice.environment["DATABASE_URL"]), setting: ["port": "\(port)"])
        return (proxy, sluice)
    }
}
