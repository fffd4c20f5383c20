#if os(Linux)
@preconcurrency import Dispatch
#else
import Dispatch
#endif

/// A serial executor that runs jobs on one private dispatch queue.
///
/// libpq calls block (network round trips, `PQgetResult` waiting for a slow query); running them
/// here keeps them off the cooperative thread pool, which has only as many threads as cores.
/// This is GRDB's `DispatchQueueActor` executor.
final class DispatchQueueExecutor: SerialExecutor {
    private let queue: DispatchQueue

    init(label: String) {
        self.queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: UnownedJob) {
        queue.async {
            job.runSynchronously(on: self.asUnownedSerialExecutor())
        }
    }

    /// Runs `work` on the queue, after every job already enqueued; for cleanup that has no
    /// actor left to run on (a connection dropped without being closed).
    func run(_ work: @escaping @Sendable () -> Void) {
        queue.async(execute: work)
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    func checkIsolated() {
        dispatchPrecondition(condition: .onQueue(queue))
    }
}

#if os(Linux) || os(Android) || os(Windows)
// Safe: the only stored property is a DispatchQueue, which is thread-safe; it is simply not
// annotated Sendable in swift-corelibs-libdispatch.
extension DispatchQueueExecutor: @unchecked Sendable {}
#endif
