internal import CLibPQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The single owner of a `PGconn*`, confined to its connection's executor.
///
/// Not `Sendable`: only ``LibPQConnection`` holds one, so every libpq call on `conn` runs on that
/// actor's serial queue. libpq documents no `PGconn` function as safe to call concurrently with
/// another on the same connection (even the escape functions reset and write its error
/// message); the one thing other threads may do, cancelling, goes through the separate
/// ``PQCancel``.
final class PQHandle {
    let conn: OpaquePointer
    /// For cancellation handlers on other threads; `nil` if libpq could not make one.
    let cancel: PQCancel?
    private var finished = false
    /// Kept alive as long as `conn` because libpq holds a raw pointer to it for notices.
    private let noticeSink: NoticeSink
    /// Where `deinit` sends a connection that was never closed, to finish it there.
    private let executor: DispatchQueueExecutor

    /// Takes ownership of `conn`; call on `executor`.
    init(conn: OpaquePointer, executor: DispatchQueueExecutor, logger: Logger) {
        self.conn = conn
        self.executor = executor
        let socket = PQsocket(conn)
        self.cancel = PQgetCancel(conn).map { PQCancel($0, socket: socket) }
        self.noticeSink = NoticeSink(logger: logger)
        PQsetNoticeProcessor(conn, noticeProcessor, Unmanaged.passUnretained(noticeSink).toOpaque())
    }

    deinit {
        guard !finished else { return }
        // The last reference can go on any thread (often a cooperative one); PQfinish sends a
        // Terminate message, so it runs on the connection's queue like every other libpq call.
        let orphan = OrphanedConnection(conn: conn, noticeSink: noticeSink)
        executor.run { orphan.finish() }
    }

    /// Closes the socket and frees the connection; later calls do nothing.
    func finish() {
        guard !finished else { return }
        PQfinish(conn)
        finished = true
    }
}

/// A `PGconn*` whose ``PQHandle`` is gone, on its way to `PQfinish` on the connection's queue.
///
/// `@unchecked Sendable` because it is made in the handle's `deinit`: nothing else can reach
/// `conn` any more, so the one closure that receives it owns it outright.
private struct OrphanedConnection: @unchecked Sendable {
    let conn: OpaquePointer
    /// Outlives `conn`: libpq may still report a notice while finishing.
    let noticeSink: NoticeSink

    func finish() {
        PQfinish(conn)
        withExtendedLifetime(noticeSink) {}
    }
}

/// libpq's `PGcancel`: what it takes to ask the server to cancel the connection's statement,
/// copied out of the `PGconn` when it connected. Freed in `deinit`.
///
/// `@unchecked Sendable` because libpq documents `PQcancel` as safe from any thread, concurrently
/// with the `PGconn`'s own calls ("the PGcancel object is read-only as far as PQcancel is
/// concerned"), and it does not touch the `PGconn`, which may even have been finished.
final class PQCancel: @unchecked Sendable {
    private let cancel: OpaquePointer
    /// The connection's socket, for ``cut()``.
    private let socket: Int32

    init(_ cancel: OpaquePointer, socket: Int32) {
        self.cancel = cancel
        self.socket = socket
    }

    deinit {
        PQfreeCancel(cancel)
    }

    /// Asks the server to cancel whatever the connection is running. A request that arrives when
    /// nothing runs is ignored by the server.
    func request() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, Int32(buffer.count))
    }

    /// Shuts the connection's socket down both ways, so that a call waiting for a server that
    /// answers neither its statement nor a cancel (a stopped backend, a hung host) ends at once
    /// with the connection lost. The descriptor stays open until libpq closes it: call only while
    /// an operation is in flight, when the connection cannot have been closed and its number
    /// given to another socket.
    func cut() {
        guard socket >= 0 else { return }
        _ = shutdown(socket, Int32(SHUT_RDWR))
    }
}

/// Sends server notices (`NOTICE: table "x" does not exist, skipping`) to the logger instead of
/// libpq's default of printing them on stderr.
final class NoticeSink: Sendable {
    let logger: Logger
    init(logger: Logger) { self.logger = logger }
}

private func noticeProcessor(_ arg: UnsafeMutableRawPointer?, _ message: UnsafePointer<CChar>?) {
    guard let arg, let message else { return }
    let sink = Unmanaged<NoticeSink>.fromOpaque(arg).takeUnretainedValue()
    var text = String(cString: message)
    while text.last == "\n" { text.removeLast() }
    sink.logger.debug("\(text)", metadata: ["db.notice": "true"])
}
