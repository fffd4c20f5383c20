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
        for command in [[], ["run"], ["replay"], ["resume"], ["runs"], ["undo"], ["check"], ["graph"]] {
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
        for text in [outcome.stdout, outcome.stderr] {
            #expect(!text.contains(EnrichmentFixture.clientSecret))
            #expect(!text.contains(TestPostgres.passwordRolePassword))
            #expect(!text.contains("Bearer "), "no Authorization header value")
            #expect(!text.contains("access_token"), "no token response body")
        }
    }

    /// A server with a self-signed certificate is refused: certificate verification is on.
    @Test func anHTTPSEndpointWithAnUntrustedCertificateIsRefused() async throws {
        let fixture = try await EnrichmentFixture.make(tracks: 10)
        defer { Task { await fixture.tearDown() } }
        let server = try SelfSignedTLSServer(directory: fixture.directory)
        defer { server.stop() }
        let before = try await fixture.table()

        var sluice = fixture.sluice
        sluice.environment["SPOTIFY_TOKEN_URL"] = "https://127.0.0.1:\(server.port)/api/token"
        sluice.environment["SPOTIFY_API_URL"] = "https://127.0.0.1:\(server.port)/v1"
        let outcome = try await sluice.run(
            ["run", "plans/spotify-enrichment.yaml", "--runs-dir", fixture.runsDirectory, "--yes",
             "--set", "fetch.retries=1", "--set", "fetch.backoff=0.05s"])
        #expect(outcome.status != 0)
        #expect(outcome.stdout.lowercased().contains("certificate") || outcome.stderr.lowercased().contains("certificate"),
                "stdout: \(outcome.stdout)\nstderr: \(outcome.stderr)")
        #expect(try await fixture.table() == before)
        #expect(fixture.simulator.stats().apiRequests == 0)
    }
}

/// `openssl s_server` with a fresh self-signed certificate on 127.0.0.1.
struct SelfSignedTLSServer {
    let process: Process
    let port: Int

    init(directory: URL) throws {
        let key = directory.appendingPathComponent("tls.key").path
        let certificate = directory.appendingPathComponent("tls.crt").path
        let make = Process()
        make.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        make.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                          "-days", "1", "-subj", "/CN=127.0.0.1"]
        make.standardOutput = FileHandle.nullDevice
        make.standardError = FileHandle.nullDevice
        try make.run()
        make.waitUntilExit()
        port = try Self.freePort()
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificate, "-key", key, "-www",
                             "-quiet"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        // Ready when it accepts a connection (bounded).
        for _ in 0..<100 where !Self.accepts(port) { usleep(50_000) }
    }

    /// SIGKILL: the server may inherit a blocked SIGTERM from the test's thread, and then
    /// `terminate()` left `waitUntilExit()` spinning forever.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}
