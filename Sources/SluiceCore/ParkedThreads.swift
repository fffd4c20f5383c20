import Dispatch
import Foundation
import Synchronization

/// Threads for calls that may block for as long as something else decides (a file write
/// waiting on the disk, a child process): each call gets a thread no other call waits behind,
/// as a new thread would give it, but a thread that finished one waits a while for the next
/// instead of exiting (``BlockingIO/runOnOwnThread(_:)``).
///
/// A thread a call no longer needs is worth keeping: a run writes its files a buffer at a time,
/// each on such a thread, and on a two-core machine starting a thread for every buffer (about a
/// hundred for a 200,000-row apply, against a dozen kept) made that apply 3-7% slower.
public final class ParkedThreads: Sendable {
    /// How long a thread with nothing to do waits for a call before it exits.
    public let idleTimeout: Duration
    private struct State {
        /// The threads waiting for a call, the one that waited least last (it is taken first).
        var idle: [Parked] = []
        /// The threads started and not exited, idle or not.
        var threads = 0
    }

    private let state = Mutex(State())

    public init(idleTimeout: Duration) {
        self.idleTimeout = idleTimeout
    }

    /// Runs `job` on an idle thread, else on a new one; returns at once.
    public func run(_ job: @escaping @Sendable () -> Void) {
        if let parked = state.withLock({ $0.idle.popLast() }) {
            parked.hand(job)
        } else {
            start(job)
        }
    }

    /// The threads waiting for a call now.
    public var idleCount: Int { state.withLock(\.idle.count) }

    /// The threads started and not exited: running a call or waiting for one.
    public var threadCount: Int { state.withLock(\.threads) }

    private func start(_ first: @escaping @Sendable () -> Void) {
        let parked = Parked()
        state.withLock { $0.threads += 1 }
        let thread = Thread { [self] in
            var job = first
            while true {
                job()
                guard let next = park(parked) else { return }
                job = next
            }
        }
        thread.stackSize = 512 * 1024
        thread.start()
    }

    /// Waits, on `parked`'s thread, for the next call; `nil` once ``idleTimeout`` passed without
    /// one (the thread then exits).
    private func park(_ parked: Parked) -> (@Sendable () -> Void)? {
        state.withLock { $0.idle.append(parked) }
        if parked.wake.wait(timeout: .now() + idleTimeout.seconds) == .timedOut {
            let stillIdle = state.withLock { state in
                guard let index = state.idle.firstIndex(where: { $0 === parked }) else { return false }
                state.idle.remove(at: index)
                state.threads -= 1
                return true
            }
            if stillIdle { return nil }
            // ``run(_:)`` took this thread just as the wait ended: its call is on the way.
            parked.wake.wait()
        }
        return parked.job.withLock { job in
            defer { job = nil }
            return job
        }
    }
}

/// A thread waiting for its next call.
private final class Parked: Sendable {
    let wake = DispatchSemaphore(value: 0)
    let job = Mutex<(@Sendable () -> Void)?>(nil)

    func hand(_ job: @escaping @Sendable () -> Void) {
        self.job.withLock { $0 = job }
        wake.signal()
    }
}
