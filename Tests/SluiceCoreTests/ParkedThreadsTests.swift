import Dispatch
import Foundation
import SluiceCore
import SluiceTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Calls on ``ParkedThreads`` run on threads of their own, which wait for the next call once
/// done and exit when none comes. Each test has threads of its own, so nothing else takes them.
struct ParkedThreadsTests {
    @Test func aThreadThatFinishedACallRunsTheNext() async throws {
        let threads = ParkedThreads(idleTimeout: .seconds(60))
        let first = await threads.call { UInt(bitPattern: Int(bitPattern: pthread_self())) }
        #expect(try await eventually { threads.idleCount == 1 }, "the thread did not wait for the next call")
        let second = await threads.call { UInt(bitPattern: Int(bitPattern: pthread_self())) }
        #expect(second == first, "the second call started a thread")
        #expect(threads.idleCount == 1)
    }

    @Test func aCallNeverWaitsBehindABlockedOne() async throws {
        let threads = ParkedThreads(idleTimeout: .seconds(60))
        let released = DispatchSemaphore(value: 0)
        // The first call blocks until the second runs: on a thread another call waits behind,
        // both would wait out the timeout.
        async let first = threads.call { released.wait(timeout: .now() + 20) == .success }
        try await Task.sleep(for: .milliseconds(50))
        await threads.call { released.signal() }
        #expect(await first, "the second call waited behind the first")
    }

    @Test func anIdleThreadExitsOnceItsTimeoutPasses() async throws {
        let threads = ParkedThreads(idleTimeout: .milliseconds(300))
        // The thread waits from the end of the call, so it exits 300 ms after this at the soonest.
        let start = ContinuousClock.now
        await threads.call {}
        #expect(try await eventually { threads.threadCount == 0 }, "an idle thread stayed")
        #expect(ContinuousClock.now - start >= .milliseconds(300), "it exited before its timeout")
        #expect(threads.idleCount == 0)
        // And a call after that starts a thread again.
        #expect(await threads.call { 42 } == 42)
    }
}

extension ParkedThreads {
    /// Runs `body` on one of these threads and returns its result.
    fileprivate func call<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in run { continuation.resume(returning: body()) } }
    }
}
