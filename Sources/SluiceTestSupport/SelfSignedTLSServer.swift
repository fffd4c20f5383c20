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
        // The port is free when picked, but may be taken before the server binds it (by another
        // test's socket): the server then exits, and another port is tried. It is ours once the
        // server says ACCEPT (bound and listening): a connection to the port could reach
        // another test's server that got the same port.
        for attempt in 0..<5 {
            let port = try Self.freePort()
            let output = directory.appendingPathComponent("tls-\(name)-\(attempt).out")
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            server.arguments = [
                "s_server", "-accept", "127.0.0.1:\(port)", "-cert", certificatePath, "-key", key, "-www",
            ]
            try await BlockingIO.runOnOwnThread {
                _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            }
            server.standardOutput = try FileHandle(forWritingTo: output)
            server.standardError = FileHandle.nullDevice
            server.standardInput = Pipe()
            try server.run()
            // Bounded at 60 s, for a loaded machine.
            let deadline = ContinuousClock.now + .seconds(60)
            while server.isRunning, ContinuousClock.now < deadline {
                let said = try await BlockingIO.runOnOwnThread { try String(contentsOf: output, encoding: .utf8) }
                if said.contains("ACCEPT") {
                    self.port = port
                    pid = server.processIdentifier
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            await Self.stop(server.processIdentifier)
        }
        throw SelfSignedTLSServerError(message: "openssl s_server did not start accepting connections")
    }

    /// SIGKILL, not `terminate()`: the server inherits the test process's signal mask and
    /// dispositions, where SIGTERM may be blocked or ignored, and waiting then never ended.
    /// The server is reaped on a thread of its own.
    public func stop() async {
        await Self.stop(pid)
    }

    private static func stop(_ pid: pid_t) async {
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
}

public struct SelfSignedTLSServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
