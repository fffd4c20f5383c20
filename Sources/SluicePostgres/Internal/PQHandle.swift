internal import CLibPQ
import Logging
import Synchronization

/// The single owner of a `PGconn*` and its `PGcancel*`; both are freed in `deinit`.
///
/// `@unchecked Sendable` because it is shared by the connection actor (which alone runs queries
/// on `conn`) and by cancellation handlers on other threads, which only use what libpq
/// documents as thread-safe: `PQcancel` on the separate `PGcancel` object.
final class PQHandle: @unchecked Sendable {
    let conn: OpaquePointer
    private let cancel: OpaquePointer?
    private let finished = Mutex(false)
    /// Kept alive as long as `conn` because libpq holds a raw pointer to it for notices.
    private let noticeSink: NoticeSink

    init(conn: OpaquePointer, logger: Logger) {
        self.conn = conn
        self.cancel = PQgetCancel(conn)
        self.noticeSink = NoticeSink(logger: logger)
        PQsetNoticeProcessor(conn, noticeProcessor, Unmanaged.passUnretained(noticeSink).toOpaque())
    }

    deinit {
        finish()
        if let cancel { PQfreeCancel(cancel) }
    }

    var isFinished: Bool { finished.withLock { $0 } }

    /// Closes the socket and frees the connection; later calls do nothing.
    func finish() {
        finished.withLock { done in
            guard !done else { return }
            PQfinish(conn)
            done = true
        }
    }

    /// Asks the server to cancel whatever this connection is running. Safe from any thread;
    /// a request that arrives when nothing runs is ignored by the server.
    func requestCancel() {
        guard let cancel else { return }
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(cancel, &buffer, Int32(buffer.count))
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
