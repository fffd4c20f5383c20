import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension FaultProxy {
    /// A TCP echo server on 127.0.0.1 (ephemeral port): every byte a client sends comes back. The
    /// simplest real target to test a ``FaultProxy`` against. Threads like the proxy's, ended by
    /// ``stop()``.
    public final class EchoServer: Sendable {
        public let port: Int
        /// Bytes received (and echoed) over all connections.
        public var bytesReceived: Int { core.state.withLock { $0.bytes } }
        /// Threads still running (0 after ``stop()``).
        public var threads: Int { core.state.withLock { $0.threads } }

        private let core: EchoCore

        public init() throws {
            (core, port) = try EchoCore.start(reply: nil)
        }

        deinit { core.state.withLock { $0.stopping = true } }

        public func stop() async { await core.stop() }
    }

    /// The threads of an ``EchoServer`` or a ``RawReplyServer``.
    final class EchoCore: Sendable {
        struct State {
            var stopping = false
            var threads = 0
            var bytes = 0
        }
        let state = Mutex(State())
        var isStopping: Bool { state.withLock { $0.stopping } }
        /// What each connection is answered once its request's head has come, before it is closed;
        /// `nil`: every byte is echoed.
        let reply: [UInt8]?

        init(reply: [UInt8]?) { self.reply = reply }

        /// A core listening on an ephemeral port of 127.0.0.1, and that port.
        static func start(reply: [UInt8]?) throws -> (EchoCore, Int) {
            let (listener, port) = try Socket.listen(port: 0)
            let core = EchoCore(reply: reply)
            core.spawn { [core] in core.acceptLoop(listener) }
            return (core, port)
        }

        func stop() async {
            state.withLock { $0.stopping = true }
            for _ in 0..<200 {
                if state.withLock({ $0.threads }) == 0 { return }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }

        func spawn(_ body: @escaping @Sendable () -> Void) {
            state.withLock { $0.threads += 1 }
            let thread = Thread {
                body()
                self.state.withLock { $0.threads -= 1 }
            }
            thread.start()
        }

        func acceptLoop(_ listener: Int32) {
            while !isStopping {
                guard Socket.poll(listener, events: Int16(POLLIN), timeout: Core.pollInterval) else { continue }
                let fd = Socket.accept(listener)
                guard fd >= 0 else { continue }
                spawn { if let reply = self.reply { self.answer(fd, with: reply) } else { self.echo(fd) } }
            }
            close(listener)
        }

        private func echo(_ fd: Int32) {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            while !isStopping {
                guard Socket.poll(fd, events: Int16(POLLIN), timeout: Core.pollInterval) else { continue }
                let n = read(fd, &buffer, buffer.count)
                guard n > 0 else { break }
                state.withLock { $0.bytes += n }
                guard Socket.sendAll(fd, buffer, count: n, while: { !self.isStopping }) else { break }
            }
            close(fd)
        }

        /// Reads the request up to the end of its head (a body, if any, is not waited for), sends
        /// `reply` and closes the connection.
        private func answer(_ fd: Int32, with reply: [UInt8]) {
            var buffer = [UInt8](repeating: 0, count: 16 * 1024)
            var head: [UInt8] = []
            while !isStopping, !head.suffix(4).elementsEqual("\r\n\r\n".utf8) {
                guard Socket.poll(fd, events: Int16(POLLIN), timeout: Core.pollInterval) else { continue }
                let n = read(fd, &buffer, buffer.count)
                guard n > 0 else { break }
                state.withLock { $0.bytes += n }
                head += buffer[..<n]
            }
            _ = Socket.sendAll(fd, reply, count: reply.count, while: { !self.isStopping })
            close(fd)
        }
    }
}

/// A server on 127.0.0.1 (ephemeral port) that answers every request with the same bytes, as
/// given, and closes the connection: an answer that breaks HTTP (no status line, a body shorter
/// than its Content-Length), which no HTTP server library would send.
public final class RawReplyServer: Sendable {
    public let port: Int
    private let core: FaultProxy.EchoCore

    public init(reply: String) throws {
        (core, port) = try FaultProxy.EchoCore.start(reply: Array(reply.utf8))
    }

    deinit { core.state.withLock { $0.stopping = true } }

    public func stop() async { await core.stop() }
}
