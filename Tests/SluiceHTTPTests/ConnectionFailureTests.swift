import NIOCore
import SluiceTestSupport
import Testing

@testable import SluiceHTTP

#if canImport(Glibc)
import Glibc
#endif

/// A server that is not there: each attempt fails as soon as the connection does, not at the
/// request's timeout, and the error says which host and why.
@Suite struct ConnectionFailureTests {
    @Test func aRefusedConnectionFailsEveryAttemptAtOnceRatherThanAtTheTimeout() async throws {
        let closed = try ClosedPort()
        let error = try await fetchFailure(baseURL: "http://127.0.0.1:\(closed.port)/v1")
        #expect(error.message.hasSuffix("the last one: connection failed: connection refused"), "\(error)")
        #expect(error.description.contains("127.0.0.1:\(closed.port)"))
    }

    @Test func aTokenEndpointThatRefusesIsNamedInTheError() async throws {
        let closed = try ClosedPort()
        let tokenURL = "http://127.0.0.1:\(closed.port)/api/token"
        let auth = OAuth2ClientCredentials(tokenURL: tokenURL, clientID: "id", clientSecret: "secret")
        let error = try await fetchFailure(baseURL: "http://127.0.0.1:\(closed.port)/v1", auth: auth)
        #expect(error.message.contains("token endpoint \(tokenURL): connection failed: connection refused"), "\(error)")
    }

    @Test func aHostNameThatDoesNotResolveFailsEveryAttemptAtOnceNamingTheHost() async throws {
        let error = try await fetchFailure(baseURL: "http://nonexistent.invalid/v1")
        // In words, not NIO's "DNS error: SocketAddressError.UnknownHost: ...".
        #expect(
            error.message.contains("connection failed: the host name nonexistent.invalid is not known (DNS: "),
            "\(error)")
        #expect(!error.message.contains("Error"), "\(error)")
    }

    /// The reasons a connection fails that NIO words as "connection reset (error set): No route to
    /// host) (errno: 113)" are said as what they are.
    @Test func aConnectionFailureIsSaidInWords() {
        let cases: [(CInt, String)] = [
            (EHOSTUNREACH, "no route to the host"), (ENETUNREACH, "the network is unreachable"),
            (ETIMEDOUT, "the connection timed out"), (ECONNREFUSED, "connection refused"),
        ]
        let said = cases.map { HTTPExchange.connectionProblem(IOError(errnoCode: $0.0, reason: "connect")) }
        #expect(said == cases.map(\.1))
        #expect(HTTPExchange.connectionProblem(IOError(errnoCode: EPERM, reason: "connect")) == nil)
    }

    /// Fetches one id from `baseURL` with a 120 s timeout and 2 retries; returns the error, after
    /// checking that it came after three attempts and well within a single timeout.
    func fetchFailure(baseURL: String, auth: OAuth2ClientCredentials? = nil) async throws -> FetchError {
        let (error, counters, elapsed) = try await failingFetch(baseURL: baseURL, auth: auth, retries: 2)
        // Relative to what an attempt that waited would cost: three attempts at the 120 s
        // timeout take 360 s; all three together must take less than half of one, a bound a
        // loaded machine (every suite starting at once) still meets.
        #expect(elapsed < .seconds(60), "an attempt waited for the timeout: \(elapsed)")
        #expect(error.kind == .exhausted(attempts: 3))
        #expect(counters.requests + counters.tokenRequests == 3)
        return error
    }
}
