import Foundation
import SluiceCore
import Synchronization
import Testing

/// The watchdog that debug builds of `sluice` run beside every pipeline notices a pool whose
/// every thread is held, and says nothing while the pool is free. Serialized: the first test
/// holds the pool on purpose, which the second must not see.
@Suite(.serialized) struct PoolWatchdogTests {
    @Test func aPoolWhoseEveryThreadIsHeldIsReportedWithHowLongItWas() async throws {
        let seen = try await lags(every: .milliseconds(50), over: .milliseconds(300)) {
            try await Task.sleep(for: .milliseconds(200))
            // Hold every cooperative thread (one per core) for 0.8 s, as blocking calls would.
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<ProcessInfo.processInfo.activeProcessorCount {
                    group.addTask {
                        let end = ContinuousClock.now + .milliseconds(800)
                        while ContinuousClock.now < end {}
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        #expect(!seen.isEmpty, "the held pool went unnoticed")
        #expect(seen.allSatisfy { $0 > .milliseconds(300) })
        #expect(PoolWatchdog.warning(lag: .milliseconds(1449)).hasPrefix(PoolWatchdog.warningPrefix + " 1.4 s"))
    }

    @Test func aFreePoolIsNotReported() async throws {
        let seen = try await lags(every: .milliseconds(20), over: .seconds(1)) {
            try await Task.sleep(for: .milliseconds(500))
        }
        #expect(seen.isEmpty)
    }

    /// The lags a watchdog reported while `body` ran.
    func lags(
        every interval: Duration, over threshold: Duration, during body: () async throws -> Void
    )
        async throws -> [Duration]
    {
        let lags = Mutex<[Duration]>([])
        let watchdog = Task {
            await PoolWatchdog.watch(interval: interval, threshold: threshold) { lag in lags.withLock { $0.append(lag) }
            }
        }
        try await body()
        watchdog.cancel()
        await watchdog.value
        return lags.withLock { $0 }
    }
}
