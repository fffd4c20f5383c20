#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP socket on 127.0.0.1 that accepts connections into its backlog but never answers:
/// a server that hangs, for testing connect timeouts. Closed when released.
public final class SilentListener: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try Socket.bind(port: 0, backlog: 8, reuseAddress: false)
    }

    deinit { close(fd) }
}

/// A port on 127.0.0.1 that refuses every connection for as long as this lives: bound but never
/// listening, so the kernel answers each attempt with a reset, and no other socket can take the
/// port meanwhile -- unlike a port bound and released, which a test running in parallel may reuse.
public final class ClosedPort: Sendable {
    public let port: Int
    private let fd: Int32

    public init() throws {
        (fd, port) = try Socket.bind(port: 0, backlog: nil, reuseAddress: false)
    }

    deinit { close(fd) }
}
