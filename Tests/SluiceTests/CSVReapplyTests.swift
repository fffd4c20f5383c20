import Testing

@testable import Sluice

/// The handshake between `csv-input` and the apply streaming beside it (``CSVReapply``): each
/// side's wait ends however the other ends, so neither stage can hang the run.
@Suite struct CSVReapplyTests {
    private func reapply() -> CSVReapply {
        CSVReapply(identity: "t.csv", reviewedParameters: .object([:]), inputStage: "csv-input")
    }

    @Test func theFirstAnswerCountsAndIsGivenToEveryWaiter() async {
        let shared = reapply()
        async let first = shared.verdict()
        async let second = shared.verdict()
        shared.read()
        shared.skip()
        let answers = await [first, second]
        #expect(answers == [.read, .read])
        #expect(await shared.verdict() == .read)
        shared.offer(nil)
        #expect(await shared.offered() == nil)
    }

    @Test func aReviewSkipsOnlyWhenNoRowWasAskedFor() async {
        let reading = reapply()
        reading.read()
        #expect(!reading.skipUnlessRead())
        #expect(await reading.verdict() == .read)
        let skipping = reapply()
        #expect(skipping.skipUnlessRead())
        skipping.read()
        #expect(await skipping.verdict() == .skip)
    }

    @Test func anApplyThatEndsWithoutAnAnswerStopsTheReader() async {
        let shared = reapply()
        shared.abandon()
        shared.read()
        #expect(await shared.verdict() == .abandoned)
    }

    @Test func aCancelledWaitEndsAndAnswersForEveryone() async {
        let shared = reapply()
        let waiting = Task { await shared.verdict() }
        waiting.cancel()
        #expect(await waiting.value == .abandoned)
        #expect(await shared.verdict() == .abandoned)
        let offered = Task { await shared.offered() }
        offered.cancel()
        #expect(await offered.value == nil)
    }
}
