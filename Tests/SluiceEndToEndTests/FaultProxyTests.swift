import Foundation
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// ``FaultProxy`` in front of its ``FaultProxy/EchoServer``: each mode does what its documentation
/// says, seen from a real TCP client, and ``FaultProxy/stop()`` leaves no thread behind.
@Suite struct FaultProxyTests {
    static let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }

    @Test func passForwardsBothWaysAndCountsTheBytes() async throws {
        try await withProxy { proxy, echo in
            let client = try TCPClient(port: proxy.port)
            try client.send(Self.payload)
            let echoed = try await client.read(count: Self.payload.count)
            #expect(echoed == Self.payload)
            #expect(echo.bytesReceived == Self.payload.count)
            let stats = proxy.stats
            #expect(stats.connections == 1)
            #expect(stats.activeConnections == 1)
            #expect(stats.bytesToServer == Self.payload.count)
            #expect(stats.bytesToClient == Self.payload.count)
            #expect(stats.faults == 0)
            client.close()
            try await eventually("the connection to end") { proxy.stats.activeConnections == 0 }
        }
    }

    @Test func stallSwallowsTheRequestAndAnswersNothingWhileTheConnectionStaysOpen() async throws {
        try await withProxy { proxy, echo in
            proxy.setMode(.stall)
            let client = try TCPClient(port: proxy.port)
            try client.send(Self.payload)
            let (bytes, ending) = try await client.readToEnd(within: .milliseconds(600))
            #expect(bytes.isEmpty)
            #expect(ending == .stillOpen)
            #expect(echo.bytesReceived == 0, "nothing reached the server")
            #expect(proxy.stats.faults == 1)
            // The client giving up ends the stalled connection.
            client.close()
            try await eventually("the stalled connection to end") { proxy.stats.activeConnections == 0 }
        }
    }

    @Test func aFaultWithTimesFiresOnThatManyConnectionsThenThePassReturns() async throws {
        try await withProxy { proxy, _ in
            proxy.setMode(.stall, times: 1)
            let stalled = try TCPClient(port: proxy.port)
            try stalled.send(Self.payload)
            #expect(try await stalled.readToEnd(within: .milliseconds(400)) == ([], .stillOpen))
            #expect(proxy.mode == .pass)
            let next = try TCPClient(port: proxy.port)
            try next.send(Self.payload)
            #expect(try await next.read(count: Self.payload.count) == Self.payload)
            #expect(proxy.stats.faults == 1)
        }
    }

    /// A reset ends in ECONNRESET, a cut in a clean end of stream; both after exactly `afterBytes`.
    @Test(
        arguments: [0, 1, 700].flatMap { bytes in
            [(FaultProxy.Mode.reset(afterBytes: bytes), TCPClient.Ending.reset), (.cut(afterBytes: bytes), .end)]
        })
    func resetOrCutEndsTheStreamAfterBytes(mode: FaultProxy.Mode, expected: TCPClient.Ending) async throws {
        try await withProxy { proxy, _ in
            proxy.setMode(mode)
            let client = try TCPClient(port: proxy.port)
            try client.send(Self.payload)
            let (bytes, ending) = try await client.readToEnd(within: .seconds(10))
            let afterBytes =
                switch mode {
                case .reset(let n), .cut(let n): n
                default: -1
                }
            #expect(bytes == Array(Self.payload.prefix(afterBytes)))
            #expect(ending == expected)
            #expect(proxy.stats.faults == 1)
            #expect(proxy.stats.bytesToClient == afterBytes)
        }
    }

    @Test func aModeChangeReachesALiveConnectionAndCountsBytesFromThen() async throws {
        try await withProxy { proxy, _ in
            let client = try TCPClient(port: proxy.port)
            try client.send(Self.payload)
            #expect(try await client.read(count: Self.payload.count) == Self.payload)
            proxy.setMode(.reset(afterBytes: 3))
            try client.send(Self.payload)
            let (bytes, ending) = try await client.readToEnd(within: .seconds(10))
            #expect(bytes == Array(Self.payload.prefix(3)), "counted from the mode change, not the connection start")
            #expect(ending == .reset)
        }
    }

    @Test func refuseStopsListeningAtOnceResetsLiveConnectionsAndPassListensAgainOnTheSamePort() async throws {
        try await withProxy { proxy, _ in
            let port = proxy.port
            let live = try TCPClient(port: port)
            try live.send(Self.payload)
            #expect(try await live.read(count: Self.payload.count) == Self.payload)

            proxy.setMode(.refuse)
            // No grace period: once setMode returns, nothing listens.
            #expect(throws: TCPClient.ConnectFailed(errno: ECONNREFUSED)) { try TCPClient(port: port) }
            try live.send(Self.payload)
            #expect(try await live.readToEnd(within: .seconds(10)) == ([], .reset))

            proxy.setMode(.pass)
            let again = try TCPClient(port: port)
            try again.send(Self.payload)
            #expect(try await again.read(count: Self.payload.count) == Self.payload)
            #expect(proxy.port == port)
        }
    }

    @Test func aTargetThatRefusesIsSeenAsAResetThroughTheProxy() async throws {
        let closed = try ClosedPort()
        let proxy = FaultProxy(targetPort: closed.port)
        try proxy.start()
        // No send: a write that meets the reset would take the ECONNRESET, and the read then sees an end.
        let client = try TCPClient(port: proxy.port)
        let (bytes, ending) = try await client.readToEnd(within: .seconds(10))
        #expect(bytes.isEmpty)
        #expect(ending == .reset)
        await proxy.stop()
        #expect(proxy.stats.threads == 0)
        withExtendedLifetime(closed) {}
    }

    /// A process started meanwhile (a sluice, a PostgreSQL server) inherits no socket of the
    /// proxy's: if it did, closing one would not end the connection, and a reset would never come.
    @Test func aChildProcessStartedMeanwhileKeepsNoConnectionOpen() async throws {
        try await withProxy { proxy, _ in
            let client = try TCPClient(port: proxy.port)
            try client.send(Self.payload)
            #expect(try await client.read(count: Self.payload.count) == Self.payload)
            let child = try InheritingChild(["/bin/sleep", "30"])
            defer { child.kill() }
            proxy.setMode(.reset(afterBytes: 0))
            try client.send(Self.payload)
            #expect(try await client.readToEnd(within: .seconds(5)) == ([], .reset))
        }
    }

    @Test func stopEndsEveryThreadWithLiveStalledAndIdleConnectionsAndRefusesNewOnes() async throws {
        let echo = try FaultProxy.EchoServer()
        let proxy = FaultProxy(targetPort: echo.port)
        let port = try proxy.start()
        let live = try TCPClient(port: port)
        try live.send(Self.payload)
        #expect(try await live.read(count: Self.payload.count) == Self.payload)
        proxy.setMode(.stall, times: 1)
        let stalled = try TCPClient(port: port)
        try stalled.send(Self.payload)
        let idle = try TCPClient(port: port)  // never sends
        try await eventually("the accept thread and one thread per connection") {
            proxy.stats.connections == 3 && proxy.stats.threads == 4
        }
        #expect(echo.threads > 1)

        await proxy.stop()
        #expect(proxy.stats.threads == 0)
        #expect(proxy.stats.activeConnections == 0)
        #expect(throws: TCPClient.ConnectFailed(errno: ECONNREFUSED)) { try TCPClient(port: port) }
        #expect(try await live.readToEnd(within: .seconds(10)).1 != .stillOpen)
        await echo.stop()
        #expect(echo.threads == 0)
        withExtendedLifetime(idle) {}
    }

    /// An echo server behind a started proxy; both stopped afterwards, and checked to leave no thread.
    func withProxy(_ body: (FaultProxy, FaultProxy.EchoServer) async throws -> Void) async throws {
        let echo = try FaultProxy.EchoServer()
        let proxy = FaultProxy(targetPort: echo.port)
        try proxy.start()
        do {
            try await body(proxy, echo)
        } catch {
            await proxy.stop()
            await echo.stop()
            throw error
        }
        await proxy.stop()
        await echo.stop()
        #expect(proxy.stats.threads == 0)
        #expect(echo.threads == 0)
    }

    func eventually(_ what: String, _ condition: () -> Bool) async throws {
        try await FaultChecks.eventually(what, within: .seconds(10)) { condition() }
    }
}

/// A blocking-free TCP client for the proxy tests: connects at once (127.0.0.1 answers or
/// refuses immediately), and reads by polling between short sleeps, never blocking a thread.
final class TCPClient {
    enum Ending: Equatable, Sendable {
        /// The peer closed cleanly (FIN).
        case end
        /// The peer reset the connection (ECONNRESET).
        case reset
        /// Neither within the time allowed.
        case stillOpen
    }

    struct ConnectFailed: Error, Equatable { var errno: Int32 }
    struct SendFailed: Error { var errno: Int32 }
    struct ReadFailed: Error, CustomStringConvertible {
        var expected: Int
        var got: [UInt8]
        var ending: Ending
        var description: String { "wanted \(expected) bytes, got \(got.count) then \(ending)" }
    }

    private let fd: Int32
    private var closed = false

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let fd = self.fd
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            let error = errno
            Glibc.close(fd)
            closed = true
            throw ConnectFailed(errno: error)
        }
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(fd)
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard n > 0 else { throw SendFailed(errno: errno) }
            offset += n
        }
    }

    /// Exactly `count` bytes, or throws saying what came instead.
    func read(count: Int, within limit: Duration = .seconds(10)) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + limit
        while bytes.count < count {
            let (chunk, ending) = try await next(before: deadline)
            bytes += chunk
            if let ending, bytes.count < count { throw ReadFailed(expected: count, got: bytes, ending: ending) }
        }
        return bytes
    }

    /// Everything until the peer closes or resets, or until `limit` has passed (`.stillOpen`).
    func readToEnd(within limit: Duration) async throws -> ([UInt8], Ending) {
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + limit
        while true {
            let (chunk, ending) = try await next(before: deadline)
            bytes += chunk
            if let ending { return (bytes, ending) }
        }
    }

    /// What one read gets: some bytes, or how the stream ended (`.stillOpen` at the deadline).
    private func next(before deadline: ContinuousClock.Instant) async throws -> ([UInt8], Ending?) {
        while ContinuousClock.now < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 0) > 0 else {
                try await Task.sleep(for: .milliseconds(10))
                continue
            }
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n > 0 { return (Array(buffer.prefix(n)), nil) }
            if n == 0 { return ([], .end) }
            if errno == ECONNRESET { return ([], .reset) }
            if errno == EINTR || errno == EAGAIN { continue }
            throw ConnectFailed(errno: errno)
        }
        return ([], .stillOpen)
    }
}

/// A child started with `posix_spawn` and no file actions: it inherits every descriptor of ours
/// that is not close-on-exec, as `pg_ctl` started by the test PostgreSQL does.
struct InheritingChild {
    let pid: pid_t

    init(_ arguments: [String]) throws {
        let cArgs = arguments.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], nil, nil, cArgs, environ)
        guard spawned == 0 else { throw TCPClient.ConnectFailed(errno: spawned) }
        self.pid = pid
    }

    func kill() {
        _ = Glibc.kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    }
}
