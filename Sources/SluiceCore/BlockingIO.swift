import Foundation
import NIOPosix

/// Where blocking calls go: threads of their own, outside Swift's cooperative pool.
///
/// The cooperative pool has one thread per core (two on the machines this runs on). A call
/// that blocks one of them (`fsync`, `write(2)` to a slow disk, `waitpid`, a `sleep`) stalls
/// every task scheduled behind it: pacing slips, timeouts fire late, and a test suite can
/// starve itself. So the rule in this codebase is: **nothing blocks the cooperative pool.**
/// File I/O goes through ``run(_:)``; waits that last as long as something else decides (a
/// child process, a server starting) through ``runOnOwnThread(_:)``; libpq calls run on each
/// connection's own serial executor; sleeps are `Task.sleep` / `Clock.sleep`. See
/// docs/architecture.md.
///
/// Not `DispatchQueue.global()`: on Linux, Swift's cooperative pool *is* that queue's threads.
///
/// ```swift
/// let bytes = try await BlockingIO.run { try readWholeFile(path) }
/// ```
public enum BlockingIO {
    /// Four threads for file I/O: enough that one slow `fsync` (a manifest on a slow disk) never
    /// holds up a spool flush, few enough to cost nothing when idle. Started once, never shut down.
    static let pool: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Runs `body` (file I/O: bounded by the disk) on a blocking-I/O thread and returns its
    /// result; the calling task is suspended meanwhile, its cooperative thread free.
    ///
    /// `body` runs even when the calling task is cancelled: a cancelled run still closes its
    /// spools and writes its manifest.
    /// - Throws: what `body` throws.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            pool.submit { _ in continuation.resume(with: Result(catching: body)) }
        }
    }

    /// Whether something exists at `path`, asked on a blocking-I/O thread: a `stat(2)`, which on
    /// a network file system can wait as long as a read.
    public static func fileExists(atPath path: String) async -> Bool {
        (try? await run { FileManager.default.fileExists(atPath: path) }) ?? false
    }

    /// Writes all of `bytes` to `descriptor` on a blocking-I/O thread; returns why not, if not.
    public static func write(_ bytes: ArraySlice<UInt8>, to descriptor: Int32) async -> String? {
        let result = try? await run { () -> String? in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes {
                    Foundation.write(descriptor, $0.baseAddress! + offset, $0.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    return String(cString: strerror(errno))
                }
                offset += written
            }
            return nil
        }
        return result ?? nil
    }

    /// Runs `body` on a thread of its own (one left idle by an earlier call, else a new one): for
    /// waits whose length something else decides (a file write waiting on the disk, a child
    /// process, `initdb`), which must not hold the file-I/O threads either.
    /// - Throws: what `body` throws.
    public static func runOnOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            ownThreads.run { continuation.resume(with: Result(catching: body)) }
        }
    }

    /// The threads ``runOnOwnThread(_:)`` runs calls on; one idle for 5 s exits.
    static let ownThreads = ParkedThreads(idleTimeout: .seconds(5))
}
