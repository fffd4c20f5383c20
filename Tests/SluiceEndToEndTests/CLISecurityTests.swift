import Foundation
import SluiceTestSupport
import SpotifySimulator
import Testing

/// Secrets stay out of everything sluice prints, even at trace level, and HTTPS is verified.
@Suite(.serialized)
struct CLISecurityTests {
    @Test func helpOfEveryCommandShowsNoSecretFromTheEnvironment() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 10)
        defer { Task { await fixture.tearDown() } }
        for command in [[], ["run"], ["apply"], ["replay"], ["resume"], ["runs"], ["undo"], ["check"], ["graph"]] {
            let outcome = try await fixture.sluice.run(command + ["--help"])
            #expect(outcome.status == 0, "\(command)")
            for secret in [EnrichmentFixture.clientSecret, TestPostgres.passwordRolePassword] {
                #expect(!outcome.stdout.contains(secret), "\(command) --help")
                #expect(!outcome.stderr.contains(secret), "\(command) --help")
            }
        }
    }

    @Test func traceLogsOfAWholeRunHoldNoSecretAndNoToken() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 60)
        defer { Task { await fixture.tearDown() } }
        let outcome = try await fixture.run(["--yes", "--log-level", "trace"])
        #expect(outcome.status == 0, "stderr: \(outcome.stderr.suffix(2000))")
        #expect(outcome.stderr.count > 1000, "trace logging is on")
        // The HTTP client logs every body part at trace level as a hex dump of its ends (a
        // token's answer too): its logger stays at debug whatever --log-level says.
        let tokens = fixture.simulator.issuedTokens()
        #expect(!tokens.isEmpty)
        let secrets = [EnrichmentFixture.clientSecret, TestPostgres.passwordRolePassword, "access_token"] + tokens
        let hexDumps = secrets.map { Self.hex($0.prefix(8)) }
        for text in [outcome.stdout, outcome.stderr] {
            for secret in secrets + hexDumps { #expect(!text.contains(secret), "\(secret) is printed") }
            #expect(!text.contains("Bearer "), "no Authorization header value")
            #expect(!text.contains("ahc-http-part"), "no HTTP part logged")
        }
    }

    /// `text`'s UTF-8 as NIO's compact hex dump shows it: two lowercase digits a byte.
    static func hex(_ text: Substring) -> String {
        text.utf8.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// A client secret given with --set works, but the manifest keeps it redacted and says so:
    /// a replay that needs it asks for it again, one that does not (apply) goes ahead.
    @Test func aSecretGivenWithSetIsNeverWrittenAndAReplayThatNeedsItAsksAgain() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_CLIENT_SECRET"] = nil
        let secret = "connections.spotify.auth.client_secret=\(EnrichmentFixture.clientSecret)"

        let stopped = try await sluice.run(
            [
                "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--set",
                "fetch.delay=0.01s",
                "--set", secret,
            ])
        #expect(stopped.status == 3, "awaiting approval: \(stopped.stderr)")
        let (directory, manifest) = try #require(await fixture.manifests().last)
        #expect(manifest.overrides == ["fetch.delay=0.01s", "connections.spotify.auth.client_secret=***"])
        #expect(manifest.secretOverrides == ["connections.spotify.auth.client_secret"])
        // Approving needs no Spotify secret: the command is given as it is.
        #expect(!stopped.stdout.contains("again: the manifest does not keep secrets"), "\(stopped.stdout)")

        // Fetching again needs the secret: asked for, nothing run.
        let refetch = try await sluice.run(["replay", directory.path, "--from", "fetch", "--yes"])
        #expect(refetch.status == 2, "\(refetch.stderr)")
        #expect(refetch.stderr.contains("--set connections.spotify.auth.client_secret=..."), "\(refetch.stderr)")
        #expect(refetch.stderr.contains("give it again"))
        #expect(await fixture.manifests().count == 1)
        // Even when the plan's own ${SPOTIFY_CLIENT_SECRET} could stand in: it may be another account.
        let withVariable = try await fixture.sluice.run(["replay", directory.path, "--from", "fetch", "--yes"])
        #expect(withVariable.status == 2, "\(withVariable.stderr)")
        #expect(withVariable.stderr.contains("give it again"), "\(withVariable.stderr)")
        #expect(await fixture.manifests().count == 1)

        // Applying does not: it goes ahead from the recorded rows.
        let applied = try await sluice.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try await fixture.table() != before)

        // Given again, the fetch replay runs.
        let again = try await sluice.run(["replay", directory.path, "--from", "fetch", "--yes", "--set", secret])
        #expect(again.status == 0, "\(again.stderr)")

        // A database password given with --set is needed to approve: the gate's command says so.
        let url = try #require(sluice.environment["DATABASE_URL"])
        _ = try await fixture.server.execute("UPDATE tracks SET spotify_popularity = NULL", conninfo: fixture.conninfo)
        let withURL = try await sluice.run([
            "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--set", "fetch.delay=0.01s",
            "--set", secret, "--set", "connections.db.url=\(url)",
        ])
        #expect(withURL.status == 3, "\(withURL.stderr)")
        #expect(
            withURL.stdout.contains(
                "(adding --set connections.db.url=... again: the manifest does not keep secrets given with --set)"),
            "\(withURL.stdout)")
        #expect(!withURL.stdout.contains("--set connections.spotify.auth.client_secret=..."), "\(withURL.stdout)")
        try await FaultChecks.expectNoSecrets(fixture, outputs: [stopped, refetch, withVariable, applied, again])
    }

    /// A password written into the plan file is kept out of the manifest too: once the file has
    /// changed, the approval that would read the recorded plan asks for it instead of connecting
    /// with its stand-in (`***`) and failing to authenticate.
    @Test func aPasswordWrittenInThePlanIsAskedForWhenThePlanFileHasChanged() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 20)
        defer { Task { await fixture.tearDown() } }
        let before = try await fixture.table()
        let url = try #require(fixture.sluice.environment["DATABASE_URL"])
        let spotify = try await Files.bytes(SluiceProcess.root.appendingPathComponent("plans/spotify-enrichment.yaml"))
        let written = String(decoding: spotify, as: UTF8.self).replacingOccurrences(
            of: "url: \"${DATABASE_URL}\"", with: "url: \"\(url)\"")
        #expect(written.contains(TestPostgres.passwordRolePassword))
        let plan = fixture.directory.appendingPathComponent("inline.yaml")
        try await Files.write(Array(written.utf8), to: plan)
        var sluice = fixture.sluice
        sluice.environment["DATABASE_URL"] = nil

        let stopped = try await sluice.run(
            ["run", plan.path, "--runs-dir", fixture.runsDirectory, "--set", "fetch.delay=0.01s"])
        #expect(stopped.status == 3, "awaiting approval: \(stopped.stderr)")
        let directory = try #require(await fixture.manifests().last?.directory)
        try await Files.write(Array((written + "# edited since\n").utf8), to: plan)

        let refused = try await sluice.run(["replay", directory.path, "--from", "apply", "--yes"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("holds connections.db.url redacted"), "\(refused.stderr)")
        #expect(refused.stderr.contains("--plan \(plan.path)"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("authentication failed"), "\(refused.stderr)")
        #expect(await fixture.manifests().count == 1, "nothing ran")
        #expect(try await fixture.table() == before)

        // The file as it is now, which holds the password, applies what the run reviewed.
        let applied = try await sluice.run(["replay", directory.path, "--from", "apply", "--yes", "--plan", plan.path])
        #expect(applied.status == 0, "\(applied.stderr)")
        #expect(try await fixture.table() != before)

        // Undo takes neither --plan nor --set: with the file changed again, it says to put it back.
        let approval = try #require(await fixture.manifests().last?.directory)
        try await Files.write(Array((written + "# edited again\n").utf8), to: plan)
        let undoRefused = try await sluice.run(["undo", approval.path, "--yes"])
        #expect(undoRefused.status == 2, "\(undoRefused.stderr)")
        #expect(undoRefused.stderr.contains("Put \(plan.path) back as run"), "\(undoRefused.stderr)")
        #expect(!undoRefused.stderr.contains("--set"), "\(undoRefused.stderr)")
        try await Files.write(Array((written + "# edited since\n").utf8), to: plan)
        let undone = try await sluice.run(["undo", approval.path, "--yes"])
        #expect(undone.status == 0, "\(undone.stderr)")
        #expect(try await fixture.table() == before)
        try await FaultChecks.expectNoSecrets(fixture, outputs: [stopped, refused, applied, undoRefused, undone])
    }

    /// A server with a self-signed certificate is refused: certificate verification is on, the
    /// failure is said in words (not as a BoringSSL error stack) and is not retried.
    @Test func anHTTPSEndpointWithAnUntrustedCertificateIsRefusedAtOnce() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 10)
        defer { Task { await fixture.tearDown() } }
        let server = try await SelfSignedTLSServer(directory: fixture.directory)
        defer { Task { await server.stop() } }
        let before = try await fixture.table()

        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_TOKEN_URL"] = "https://127.0.0.1:\(server.port)/api/token"
        sluice.environment["SPOTIFY_API_URL"] = "https://127.0.0.1:\(server.port)/v1"
        // A retry budget that a retried failure would show: "gave up after 6 attempts".
        let outcome = try await sluice.run(
            [
                "run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--yes",
                "--set", "fetch.retries=5", "--set", "fetch.backoff=0.05s",
            ])
        let said = outcome.stdout + outcome.stderr
        #expect(outcome.status == 1, "a certificate is not fixed by resuming later: \(said)")
        #expect(said.contains("TLS certificate could not be verified"), "\(said)")
        #expect(said.contains("not retried"), "\(said)")
        #expect(!said.contains("gave up after"), "\(said)")
        #expect(!said.contains("BoringSSL") && !said.contains("handshake.cc"), "no library internals: \(said)")
        #expect(!said.contains("sluice resume"), "\(said)")
        #expect(try await fixture.table() == before)
        #expect(fixture.simulator.stats().apiRequests == 0)
    }
}
