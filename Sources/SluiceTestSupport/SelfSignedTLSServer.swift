import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `openssl s_server` on 127.0.0.1 with a fresh self-signed certificate: an HTTPS server that
/// no default trust store accepts, for testing that certificate verification is on.
public struct SelfSignedTLSServer: Sendable {
    public let port: Int
    /// The certificate in PEM, for a client that is told to trust it.
    public let certificatePath: String
    private let pid: pid_t

    /// - Parameter subjectAltName: what the certificate is issued for, in `openssl`'s syntax. The
    ///   default names a host that is not 127.0.0.1 (so a host name check fails as well);
    ///   `"IP:127.0.0.1"` makes a certificate that is valid once trusted.
    public init(directory: URL, subjectAltName: String = "DNS:sluice-test.invalid") async throws {
        let name = UUID().uuidString
        let key = directory.appendingPathComponent("tls-\(name).key").path
        certificatePath = directory.appendingPathComponent("tls-\(name).crt").path
        try await Self.openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificatePath, "-days", "1",
            "-subj", "/CN=sluice test", "-addext", "subjectAltName=\(subjectAltName)",
        ])
        let port = try Self.freePort()
        self.port = port
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        server.arguments = [
            "s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificatePath, "-key", key, "-www", "-quiet",
        ]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        server.standardInput = Pipe()
        try server.run()
        pid = server.processIdentifier
        // Ready when it accepts a connection (bounded: 10 s; each probe is a non-blocking
        // connect to 127.0.0.1, answered or refused at once).
        for _ in 0..<200 where !Self.accepts(port) { try await Task.sleep(for: .milliseconds(50)) }
    }

    /// SIGKILL, not `terminate()`: the server inherits the test process's signal mask and
    /// dispositions, where SIGTERM may be blocked or ignored, and waiting then never ended.
    /// The server is reaped on a thread of its own.
    public func stop() async {
        let pid = self.pid
        kill(pid, SIGKILL)
        _ = try? await BlockingIO.runOnOwnThread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        }
    }

    private static func openssl(_ arguments: [String]) async throws {
        let outcome = try await ChildProcess.run("/usr/bin/openssl", arguments, quiet: true)
        guard outcome.status == 0 else { throw POSIXError(.EINVAL) }
    }

    private static func freePort() throws -> Int {
        let (fd, port) = try Socket.bind(port: 0, backlog: nil, reuseAddress: false)
        close(fd)
        return port
    }

    private static func accepts(_ port: Int) -> Bool {
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
