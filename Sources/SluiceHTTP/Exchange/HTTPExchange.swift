import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPCompression
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP request and its whole body within one deadline, on a client the caller owns.
/// Transport trouble comes back as a ``Failure``; cancellation as `CancellationError`.
struct HTTPExchange: Sendable {
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// No complete response within the deadline (a hung server, a slow body).
        case timeout(Duration)
        /// The connection could not be made or was lost before the response was complete.
        case connection(String)
        /// The body was larger than ``HTTPExchange/maxBodyBytes``, decompressed if it came compressed;
        /// `status`: the answer's, when its head came.
        case bodyTooLarge(status: Int? = nil)
        /// The body could not be decompressed as its `Content-Encoding` says (not gzip at all, cut
        /// short): a bad answer, not a failed connection; `status`: the answer's, when its head came.
        case undecompressable(String, status: Int? = nil)
        /// The server's TLS certificate failed verification: permanent, never retried.
        case untrustedServer(String)
        /// The server's answer broke HTTP (no status line, a body shorter than its
        /// Content-Length): said in words (``HTTPExchange/malformed(_:headers:)``), and tried again
        /// as a failed connection is.
        case malformed(String)

        var description: String {
            switch self {
            case .timeout(let limit): "no complete response within \(limit.seconds) s"
            case .connection(let cause): "connection failed: \(cause)"
            case .bodyTooLarge:
                "response body larger than \(HTTPExchange.maxBodyBytes) bytes (decompressed, if it came compressed)"
            case .undecompressable(let cause, _): "the answer could not be decompressed: \(cause)"
            case .untrustedServer(let cause): cause
            case .malformed(let cause): cause
            }
        }
    }

    static let maxBodyBytes = 64 << 20

    let client: HTTPClient

    /// Sends the request and reads the whole body before `timeout` runs out.
    func send(
        method: HTTPMethod, url: String, headers: [(String, String)], body: [UInt8]? = nil, timeout: Duration,
        logger: Logger
    ) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        if let body {
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let deadline = NIODeadline.now() + .nanoseconds(Int64(min(timeout.seconds, 1e9) * 1e9))
        // The client logs the ends of every body at trace level, a token endpoint's answer too:
        // never below debug, whatever `--log-level` says.
        var clientLogger = logger
        clientLogger.logLevel = max(logger.logLevel, .debug)
        do {
            let response = try await client.execute(request, deadline: deadline, logger: clientLogger)
            let status = Int(response.status.code)
            do {
                let bytes = try await Self.collect(response.body, before: deadline, timeout: timeout)
                return Response(status: status, headers: response.headers, body: bytes)
            } catch {
                throw Self.classify(error, timeout: timeout, status: status, headers: response.headers)
            }
        } catch {
            throw Self.classify(error, timeout: timeout)
        }
    }

    /// Reads the body, racing the deadline: the client's own deadline only covers the head.
    private static func collect(
        _ body: HTTPClientResponse.Body, before deadline: NIODeadline, timeout: Duration
    ) async throws -> [UInt8] {
        try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
            group.addTask { Array(buffer: try await body.collect(upTo: maxBodyBytes)) }
            group.addTask {
                let left = deadline - NIODeadline.now()
                try await Task.sleep(nanoseconds: UInt64(max(0, left.nanoseconds)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let bytes = first else {
                throw Failure.timeout(timeout)
            }
            return bytes
        }
    }

    /// `status` and `headers`: the answer's, when the error came with its body.
    private static func classify(
        _ error: any Error, timeout: Duration, status: Int? = nil, headers: HTTPHeaders? = nil
    ) -> any Error {
        let encoding = headers?.first(name: "Content-Encoding")
        if Task.isCancelled || error is CancellationError { return CancellationError() }
        if let failure = error as? Failure { return failure }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .getConnectionFromPoolTimeout:
                return Failure.timeout(timeout)
            case .remoteConnectionClosed:
                return Failure.connection("the server closed the connection without answering")
            default:
                return Failure.connection(String(describing: error))
            }
        }
        if error is NIOTooManyBytesError || error as? NIOHTTPDecompression.DecompressionError == .limit {
            return Failure.bodyTooLarge(status: status)
        }
        if let cause = undecompressable(error, encoding: encoding) {
            return Failure.undecompressable(cause, status: status)
        }
        if let untrusted = untrustedServer(error) { return untrusted }
        if let cause = malformed(error, headers: headers) { return Failure.malformed(cause) }
        if let problem = connectionProblem(error) { return Failure.connection(problem) }
        return Failure.connection(String(describing: error))
    }

    /// Why connecting failed, in words; `nil` for an error of another kind. NIO describes it with
    /// its own types: "DNS error: SocketAddressError.UnknownHost: Name or service not known (error
    /// -2) for host h, port 80", "connection reset (error set): No route to host) (errno: 113)".
    static func connectionProblem(_ error: any Error) -> String? {
        switch error {
        case let error as NIOConnectionError:
            if let lookup = error.dnsAError ?? error.dnsAAAAError {
                return connectionProblem(lookup) ?? "the host name \(error.host) could not be looked up: \(lookup)"
            }
            // Every address of the host was tried (IPv6 and IPv4 may fail differently).
            var problems: [String] = []
            for failure in error.connectionErrors {
                let problem = connectionProblem(failure.error) ?? String(describing: failure.error)
                if !problems.contains(problem) { problems.append(problem) }
            }
            return problems.isEmpty ? nil : problems.joined(separator: "; ")
        case let error as SocketAddressError.UnknownHost:
            return "the host name \(error.host) is not known (DNS: \(error.errorDescription))"
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return "connection refused"
            case ECONNRESET: return "connection reset by the server"
            case EHOSTUNREACH, EHOSTDOWN: return "no route to the host"
            case ENETUNREACH: return "the network is unreachable"
            case ETIMEDOUT: return "the connection timed out"
            case EADDRNOTAVAIL: return "the host's address cannot be reached from here"
            default: return nil
            }
        default:
            return nil
        }
    }

    /// Why a body could not be decompressed, in words: zlib's codes and NIO's enum cases say
    /// nothing to people; `nil` for an error of another kind.
    private static func undecompressable(_ error: any Error, encoding: String?) -> String? {
        let says = encoding.map { "Content-Encoding: \($0)" } ?? "its Content-Encoding"
        if let error = error as? NIOHTTPDecompression.DecompressionError {
            switch error {
            case .inflationError(let code):
                return "its body is not the compressed data \(says) says (zlib error \(code))"
            case .initializationError(let code): return "zlib could not start (error \(code))"
            default: return "\(error)"
            }
        }
        if let error = error as? NIOHTTPDecompression.ExtraDecompressionError {
            if error == .truncatedData { return "its compressed data (\(says)) is cut short" }
            if error == .invalidTrailingData { return "data follows the end of its compressed data (\(says))" }
            return "\(error)"
        }
        return nil
    }

    /// A certificate that failed verification, said plainly. NIO's own text is a BoringSSL error
    /// stack with build paths in it ("handshakeFailed(NIOSSL.BoringSSLError.sslError([Error:
    /// 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at
    /// /.../handshake.cc:393]))"). Other handshake failures stay connection failures (retried):
    /// a reset in the middle of a handshake is as transient as any other.
    static func untrustedServer(_ error: any Error) -> Failure? {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return .untrustedServer(
                "the server's TLS certificate is not valid for this host name; "
                    + "check the URL's host (certificate verification stays on)")
        }
        guard let error = error as? NIOSSLError, case .handshakeFailed(let boring) = error,
            case .sslError(let stack) = boring
        else { return nil }
        let reasons = stack.map { reason(of: $0.description) }
        guard reasons.contains("CERTIFICATE_VERIFY_FAILED") else { return nil }
        return .untrustedServer(
            "the server's TLS certificate could not be verified (CERTIFICATE_VERIFY_FAILED): it is "
                + "self-signed, expired, or not issued by an authority this machine trusts; "
                + "certificate verification stays on, so fix the certificate or the machine's trust store")
    }

    /// `REASON` out of BoringSSL's "Error: CODE error:HEX:LIBRARY:FUNCTION:REASON at FILE:LINE".
    static func reason(of description: String) -> String {
        let message = description.split(separator: " at ", maxSplits: 1).first.map(String.init) ?? description
        return message.split(separator: ":").last.map(String.init) ?? message
    }
}
