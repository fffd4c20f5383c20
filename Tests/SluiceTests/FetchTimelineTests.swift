import SluiceHTTP
import Synchronization
import Testing

@testable import Sluice

/// The fetch timeline: one row per interval with anything in it, whose columns add up to the
/// fetcher's totals, however the sampling falls.
@Suite struct FetchTimelineTests {
    @Test func itsRowsAddUpToTheCountersAndQuietIntervalsAreLeftOut() async throws {
        let counters = Mutex(FetchCounters())
        let recording = Task {
            await FetchTimeline.record(every: .milliseconds(5), on: ContinuousClock()) {
                counters.withLock { $0 }
            }
        }
        for step in 1...40 {
            counters.withLock { counters in
                counters.requests += 1
                if step % 3 == 0 { counters.pages += 1 }
                if step % 10 == 0 { counters.rateLimited += 1 }
                if step % 7 == 0 {
                    counters.retries += 1
                    counters.waits += 1
                    counters.waitSeconds += 0.25
                }
            }
            // A quiet stretch in the middle: no row for it.
            try await Task.sleep(for: .milliseconds(step == 20 ? 60 : 2))
        }
        recording.cancel()
        let rows = await recording.value
        let total = counters.withLock { $0 }
        #expect(rows.map { $0[1] }.reduce(0, +) == total.requests)
        #expect(rows.map { $0[2] }.reduce(0, +) == total.retries)
        #expect(rows.map { $0[3] }.reduce(0, +) == total.rateLimited)
        #expect(rows.map { $0[4] }.reduce(0, +) == total.waits)
        #expect(rows.map { $0[5] }.reduce(0, +) == 1_250)
        #expect(rows.map { $0.dropFirst(6).first ?? 0 }.reduce(0, +) == total.pages && total.pages == 13)
        #expect(rows.allSatisfy { $0.count == FetchTimeline.columns.count && $0.dropFirst().contains { $0 != 0 } })
        #expect(zip(rows, rows.dropFirst()).allSatisfy { $0[0] < $1[0] }, "seconds go up")
    }
}
