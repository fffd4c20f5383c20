import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP proxy on 127.0.0.1 in front of one target host:port that misbehaves on demand: it can stall,
/// reset (RST) or cut (FIN) connections, after a number of bytes from the server, or stop listening.
///
/// Plain POSIX sockets, one accept thread and one thread per connection, each polling with a short
/// timeout so that a mode change reaches live (keep-alive) connections within ~50 ms and ``stop()``
/// ends every thread the proxy started.
///
/// ```swift
/// let proxy = FaultProxy(targetPort: simulatorPort)
/// let port = try proxy.start()                      // point the client at 127.0.0.1:port
/// proxy.setMode(.reset(afterBytes: 300), times: 1)  // the next response dies mid-body, once
/// ...
/// await proxy.stop()
/// ```
///
/// Modes apply to new and live connections alike; a connection counts server bytes from the moment
/// it first sees the current mode. With `times`, the fault fires on that many connections and then
/// the proxy returns to ``Mode/pass`` by itself — what a retried request needs to get through.
public final class FaultProxy: Sendable {
    /// What the proxy does to traffic.
    public enum Mode: Sendable, Equatable, CustomStringConvertible {
        /// Forward both ways.
        case pass
        /// Accept, then forward nothing and never answer: the request is swallowed, the client
        /// waits until its own timeout. A connection that stalled stays stalled (its stream is lost).
        case stall
        /// Forward `afterBytes` bytes from the server, then reset the client connection
        /// (`SO_LINGER` 0, close: the client sees ECONNRESET). 0 resets at the connection's next
        /// activity, before anything is forwarded.
        case reset(afterBytes: Int)
        /// Forward `afterBytes` bytes from the server, then close the client connection cleanly
        /// (FIN): the client sees a response that ends early.
        case cut(afterBytes: Int)
        /// Stop listening (new connections are refused: ECONNREFUSED, from the moment `setMode`
        /// returns) and reset live connections at their next activity. Leaving this mode listens
        /// again on the same port, also before `setMode` returns.
        case refuse

        public var description: String {
            switch self {
            case .pass: "pass"
            case .stall: "stall"
            case .reset(let bytes): "reset(afterBytes: \(bytes))"
            case .cut(let bytes): "cut(afterBytes: \(bytes))"
            case .refuse: "refuse"
            }
        }
    }

    /// What went through the proxy so far.
    public struct Stats: Sendable, Equatable {
        /// Connections accepted from clients.
        public var connections = 0
        /// Connections open now.
        public var activeConnections = 0
        /// Bytes forwarded from clients to the target.
        public var bytesToServer = 0
        /// Bytes forwarded from the target to clients.
        public var bytesToClient = 0
        /// Faults fired: connections stalled, reset or cut (refused connections are not seen).
        public var faults = 0
        /// Threads the proxy started that have not ended yet (0 after ``stop()``).
        public var threads = 0
    }

    public let targetHost: String
    public let targetPort: Int
    let core: Core

    /// - Parameters:
    ///   - targetHost: An IPv4 address (the proxy does no name lookups).
    ///   - targetPort: The target's TCP port.
    public init(targetHost: String = "127.0.0.1", targetPort: Int) {
        self.targetHost = targetHost
        self.targetPort = targetPort
        core = Core(targetHost: targetHost, targetPort: targetPort)
    }

    deinit { core.state.withLock { $0.stopping = true } }

    /// Listens on an ephemeral 127.0.0.1 port and starts the accept thread.
    /// - Returns: The port clients should connect to (also ``port``).
    @discardableResult
    public func start() throws -> Int {
        let port = try core.start()
        return port
    }

    /// The listening port; 0 before ``start()``.
    public var port: Int { core.state.withLock { $0.port } }

    /// `host:port` of the proxy, for URLs.
    public var address: String { "127.0.0.1:\(port)" }

    /// Switches the mode for new and live connections.
    /// - Parameters:
    ///   - mode: What to do from now on.
    ///   - times: For `stall`, `reset` and `cut`: fire on at most this many connections, then
    ///     return to ``Mode/pass``. `nil`: until the mode is changed again.
    public func setMode(_ mode: Mode, times: Int? = nil) {
        core.state.withLock { state in
            state.mode = mode
            state.budget = times
            state.generation += 1
            Core.updateListener(&state)
        }
    }

    /// The current mode (``Mode/pass`` again once a `times` budget is spent).
    public var mode: Mode { core.state.withLock { $0.mode } }

    public var stats: Stats { core.state.withLock { $0.stats } }

    /// Closes the listener and every connection and waits (at most a few seconds) until every
    /// thread the proxy started has ended. New connections are refused from then on.
    public func stop() async {
        core.state.withLock { state in
            state.stopping = true
            Core.updateListener(&state)
        }
        for _ in 0..<200 {
            if core.state.withLock({ $0.stats.threads == 0 }) { return }
            try? await Task.sleep(for: .milliseconds(25))
        }
    }
}

extension FaultProxy {
    /// The state the threads share, apart from the public object so that dropping the last
    /// reference to a proxy still stops its threads (they hold the core, not the proxy).
    final class Core: Sendable {
        struct State {
            var mode: Mode = .pass
            var budget: Int?
            var generation = 0
            var stopping = false
            var port = 0
            var stats = Stats()
            /// The listening socket while the proxy listens.
            var listener: Int32?
            /// Listening sockets shut down but not closed yet: only the accept thread closes them,
            /// so a descriptor it is polling is never closed (and reused) under it.
            var retired: [Int32] = []
        }

        let targetHost: String
        let targetPort: Int
        let state = Mutex(State())

        /// How long a thread waits in `poll` before it looks at the mode and the stop flag again.
        static let pollInterval: Int32 = 50

        init(targetHost: String, targetPort: Int) {
            self.targetHost = targetHost
            self.targetPort = targetPort
        }

        func start() throws -> Int {
            let (listener, port) = try Socket.listen(port: 0)
            state.withLock { state in
                state.port = port
                state.listener = listener
                Self.updateListener(&state)
            }
            spawn { self.acceptLoop() }
            return port
        }

        /// Makes the listening socket agree with the mode, before the caller's lock is released:
        /// refusing (or stopping) shuts it down, so a connection attempt made after `setMode(.refuse)`
        /// returns is refused, and any other mode listens again on the same port at once.
        static func updateListener(_ state: inout State) {
            guard state.port != 0 else { return }  // not started
            if state.mode == .refuse || state.stopping {
                guard let fd = state.listener else { return }
                shutdown(fd, Int32(SHUT_RDWR))  // refuses new connections and wakes the accept thread's poll
                state.retired.append(fd)
                state.listener = nil
            } else if state.listener == nil {
                // Fails only while the port is still being released; the accept thread tries again.
                state.listener = try? Socket.listen(port: state.port).0
            }
        }

        /// Starts a thread counted in `threads`, so `stop()` can wait for it.
        func spawn(_ body: @escaping @Sendable () -> Void) {
            state.withLock { $0.stats.threads += 1 }
            let thread = Thread {
                body()
                self.state.withLock { $0.stats.threads -= 1 }
            }
            thread.stackSize = 256 * 1024
            thread.start()
        }

        var isStopping: Bool { state.withLock { $0.stopping } }

        private func acceptLoop() {
            while true {
                let (listener, retired, stopping) = state.withLock { state in
                    defer { state.retired.removeAll() }
                    Self.updateListener(&state)
                    return (state.listener, state.retired, state.stopping)
                }
                for fd in retired { close(fd) }
                if stopping { return }
                guard let listener else {
                    usleep(20_000)  // refusing, or the port is still being released
                    continue
                }
                guard Socket.poll(listener, events: Int16(POLLIN), timeout: Self.pollInterval) else { continue }
                let client = Socket.accept(listener)
                guard client >= 0 else { continue }
                state.withLock {
                    $0.stats.connections += 1
                    $0.stats.activeConnections += 1
                }
                spawn {
                    ProxyConnection(core: self, client: client).run()
                    self.state.withLock { $0.stats.activeConnections -= 1 }
                }
            }
        }

        /// The mode a connection should apply, and its generation.
        func current() -> (Mode, Int) { state.withLock { ($0.mode, $0.generation) } }

        /// Whether a connection that adopted `generation` may fire its fault now; spends one unit of
        /// a `times` budget, and returns the proxy to `pass` when the budget is spent.
        func fire(generation: Int) -> Bool {
            state.withLock { state in
                guard state.generation == generation else { return false }
                if let budget = state.budget {
                    guard budget > 0 else { return false }
                    state.budget = budget - 1
                    if budget - 1 == 0 {
                        state.mode = .pass
                        state.budget = nil
                        state.generation += 1
                        Self.updateListener(&state)
                    }
                }
                state.stats.faults += 1
                return true
            }
        }

        func count(toServer: Int = 0, toClient: Int = 0) {
            state.withLock {
                $0.stats.bytesToServer += toServer
                $0.stats.bytesToClient += toClient
            }
        }
    }
}
