#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One client connection of a ``FaultProxy`` and its upstream connection, served on its own thread.
///
/// Each turn polls both sockets for up to 50 ms, then looks at the proxy's mode: a new mode is
/// adopted with a fresh count of server bytes, and the fault fires at the first activity that
/// reaches it (a client request while stalling, the byte past `afterBytes` while resetting or
/// cutting). Both sockets are closed when the loop ends; nothing outlives `run()`.
struct ProxyConnection {
    let core: FaultProxy.Core
    let client: Int32

    private enum Ending {
        case close, reset, stall
    }

    func run() {
        guard let upstream = Socket.connect(host: core.targetHost, port: core.targetPort) else {
            Socket.reset(client)  // like the target refusing, seen through the proxy
            return
        }
        let ending = pump(upstream: upstream)
        close(upstream)
        switch ending {
        case .close: Socket.closeCleanly(client)
        case .reset: Socket.reset(client)
        case .stall:
            swallow()
            close(client)
        }
    }

    /// Forwards until either side closes, the proxy stops, or a fault fires.
    private func pump(upstream: Int32) -> Ending {
        var (mode, generation) = core.current()
        var serverBytes = 0  // since this connection adopted `generation`
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !core.isStopping {
            var fds = [
                pollfd(fd: client, events: Int16(POLLIN), revents: 0),
                pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, FaultProxy.Core.pollInterval)
            if ready < 0 && errno != EINTR { return .reset }
            let (latest, latestGeneration) = core.current()
            if latestGeneration != generation {
                (mode, generation, serverBytes) = (latest, latestGeneration, 0)
            }
            guard ready > 0 else { continue }
            let clientReady = fds[0].revents != 0
            let serverReady = fds[1].revents != 0

            switch mode {
            case .pass:
                break
            case .stall:
                if core.fire(generation: generation) { return .stall }
            case .refuse, .reset(afterBytes: 0):
                if core.fire(generation: generation) { return .reset }
            case .cut(afterBytes: 0):
                if core.fire(generation: generation) { return .close }
            case .reset, .cut:
                break  // fires on server bytes, below
            }

            if clientReady {
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { return n == 0 ? .close : .reset }
                guard Socket.sendAll(upstream, buffer, count: n, while: { !core.isStopping }) else { return .reset }
                core.count(toServer: n)
            }
            if serverReady {
                let n = read(upstream, &buffer, buffer.count)
                if n <= 0 { return n == 0 ? .close : .reset }
                var allowed = n
                var ending: Ending?
                switch mode {
                case .reset(let limit) where serverBytes + n > limit, .cut(let limit) where serverBytes + n > limit:
                    if core.fire(generation: generation) {
                        allowed = max(0, limit - serverBytes)
                        if case .reset = mode { ending = .reset } else { ending = .close }
                    }
                default:
                    break
                }
                if allowed > 0 {
                    guard Socket.sendAll(client, buffer, count: allowed, while: { !core.isStopping }) else {
                        return .reset
                    }
                    core.count(toClient: allowed)
                }
                serverBytes += n
                if let ending { return ending }
            }
        }
        return .reset
    }

    /// A stalled connection: read and drop whatever the client sends, answer nothing, until the
    /// client gives up (closes) or the proxy stops.
    private func swallow() {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !core.isStopping {
            guard Socket.poll(client, events: Int16(POLLIN), timeout: FaultProxy.Core.pollInterval) else { continue }
            if read(client, &buffer, buffer.count) <= 0 { return }
        }
    }
}

/// The few POSIX socket calls the proxy needs, IPv4 only.
///
/// Every socket is close-on-exec: a process the tests start meanwhile (sluice, `pg_ctl` and the
/// PostgreSQL server it leaves running) would otherwise hold a copy, and closing ours would then
/// neither reset nor end the connection.
enum Socket {
    static let streamCloseOnExec = Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue)

    /// The next connection on `listener`, close-on-exec, or -1. (Glibc does not export `accept4`,
    /// so the flag is set just after: a spawn in between is the one window left.)
    static func accept(_ listener: Int32) -> Int32 {
        let fd = Glibc.accept(listener, nil, nil)
        if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return fd
    }

    /// A listening socket on 127.0.0.1 (`port` 0: an ephemeral one), and its port.
    static func listen(port: Int) throws -> (Int32, Int) {
        try bind(port: port, backlog: 64, reuseAddress: true)
    }

    /// A socket bound to 127.0.0.1:`port` (0: an ephemeral one), listening when `backlog` is given,
    /// and its port.
    static func bind(port: Int, backlog: Int32?, reuseAddress: Bool) throws -> (Int32, Int) {
        let fd = socket(AF_INET, Socket.streamCloseOnExec, 0)
        guard fd >= 0 else { throw TestPostgres.SetupError("socket failed") }
        if reuseAddress {
            var yes: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && (backlog.map { Glibc.listen(fd, $0) == 0 } ?? true)
                    && getsockname(fd, pointer, &length) == 0
            }
        }
        guard ok else {
            close(fd)
            throw TestPostgres.SetupError("could not bind 127.0.0.1:\(port)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    /// A connected socket, or nil when the target refuses (or does not answer within 2 s).
    static func connect(host: String, port: Int) -> Int32? {
        let fd = socket(AF_INET, Socket.streamCloseOnExec, 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr(host)
        address.sin_port = UInt16(port).bigEndian
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Whether `fd` has one of `events` within `timeout` milliseconds.
    static func poll(_ fd: Int32, events: Int16, timeout: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        return Glibc.poll(&entry, 1, timeout) > 0
    }

    /// Writes `count` bytes, waiting for the socket while `condition` holds; false on an error.
    static func sendAll(_ fd: Int32, _ buffer: [UInt8], count: Int, while condition: () -> Bool) -> Bool {
        var offset = 0
        while offset < count {
            guard condition() else { return false }
            guard poll(fd, events: Int16(POLLOUT), timeout: FaultProxy.Core.pollInterval) else { continue }
            let n = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + offset, count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return false
            }
            offset += n
        }
        return true
    }

    /// Closes with an RST instead of a FIN: the peer's next read or write fails with ECONNRESET.
    static func reset(_ fd: Int32) {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close(fd)
    }

    /// An orderly close: the peer reads the end of the stream.
    static func closeCleanly(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
