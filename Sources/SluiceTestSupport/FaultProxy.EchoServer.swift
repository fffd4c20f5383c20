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
            let (listener, port) = try Socket.listen(port: 0)
            self.port = port
            core = EchoCore()
            core.spawn { [core] in core.acceptLoop(listener) }
        }

        deinit { core.state.withLock { $0.stopping = true } }

        public func stop() async {
            core.state.withLock { $0.stopping = true }
            for _ in 0..<200 {
                if threads == 0 { return }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }
    }

    final class EchoCore: Sendable {
        struct State {
            var stopping = false
            var threads = 0
            var bytes = 0
        }
        let state = Mutex(State())
        var isStopping: Bool { state.withLock { $0.stopping } }

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
                spawn { self.echo(fd) }
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
    }
}
