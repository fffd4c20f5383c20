import Foundation
import NIOSSL
import SluiceHTTP
import SluiceTestSupport
import Testing

/// Certificate verification is on, and its failure is permanent: one attempt, a sentence that
/// says what is wrong with the certificate, and never a BoringSSL error stack.
@Suite struct TLSVerificationTests {
    @Test func aSelfSignedCertificateFailsTheFirstAttemptWithoutRetrying() async throws {
        try await withServer { server in
            let (error, counters) = try await fetchFailure(baseURL: "https://127.0.0.1:\(server.port)/v1")
            #expect(error.kind == .untrustedServer)
            #expect(!error.isResumable)
            #expect(
                error.message.contains("TLS certificate could not be verified (CERTIFICATE_VERIFY_FAILED)"), "\(error)")
            #expect(error.message.hasSuffix("not retried"))
            #expect(!error.description.contains("BoringSSL") && !error.description.contains(".cc:"), "\(error)")
            #expect(counters.requests == 1 && counters.retries == 0)
        }
    }

    /// A certificate the client trusts, but issued for another name than the URL's host.
    @Test func aTrustedCertificateForAnotherHostFailsWithoutRetrying() async throws {
        try await withServer(subjectAltName: "DNS:elsewhere.invalid") { server in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(server.certificatePath)
            let (error, counters) = try await fetchFailure(
                baseURL: "https://127.0.0.1:\(server.port)/v1", tls: tls)
            #expect(error.kind == .untrustedServer)
            #expect(error.message.contains("TLS certificate is not valid for this host name"), "\(error)")
            #expect(counters.requests == 1 && counters.retries == 0)
        }
    }

    @Test func anUntrustedTokenEndpointIsNamedAndNotRetried() async throws {
        try await withServer { server in
            let tokenURL = "https://127.0.0.1:\(server.port)/api/token"
            let auth = OAuth2ClientCredentials(tokenURL: tokenURL, clientID: "id", clientSecret: "secret")
            let (error, counters) = try await fetchFailure(
                baseURL: "https://127.0.0.1:\(server.port)/v1", auth: auth)
            #expect(error.kind == .untrustedServer)
            #expect(
                error.message.hasPrefix("token endpoint: the server's TLS certificate could not be verified"),
                "\(error)")
            #expect(error.description.contains(tokenURL))
            #expect(counters.tokenRequests == 1 && counters.requests == 0)
        }
    }

    /// The control for the two above: trusted and issued for 127.0.0.1, the same server gets
    /// past TLS (and then fails as any HTML answer would: retried, as not JSON).
    @Test func aTrustedCertificateForTheHostPassesVerification() async throws {
        try await withServer(subjectAltName: "IP:127.0.0.1") { server in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(server.certificatePath)
            let (error, counters) = try await fetchFailure(
                baseURL: "https://127.0.0.1:\(server.port)/v1", tls: tls)
            #expect(error.kind == .exhausted(attempts: 4), "\(error)")
            #expect(counters.requests == 4)
        }
    }

    func withServer(
        subjectAltName: String = "DNS:sluice-test.invalid", _ body: (SelfSignedTLSServer) async throws -> Void
    )
        async throws
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-tls-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let server = try await SelfSignedTLSServer(directory: directory, subjectAltName: subjectAltName)
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    /// Fetches one id with 3 retries allowed; returns the error and the counters.
    func fetchFailure(
        baseURL: String, auth: OAuth2ClientCredentials? = nil, tls: TLSConfiguration? = nil
    )
        async throws -> (FetchError, FetchCounters)
    {
        let (error, counters, _) = try await failingFetch(baseURL: baseURL, auth: auth, tls: tls, retries: 3)
        return (error, counters)
    }
}
