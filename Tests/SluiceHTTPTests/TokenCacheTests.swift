import Testing

@testable import SluiceHTTP

@Suite struct TokenCacheTests {
    typealias Cache = TokenCache<TestClock.Instant>

    static func at(_ seconds: Int) -> TestClock.Instant { TestClock.Instant(offset: .seconds(seconds)) }

    @Test func tokenIsReusedUntilAMarginBeforeItExpires() {
        var cache = Cache()
        #expect(cache.lookup(at: Self.at(0)) == .refresh)
        let token = AccessToken(value: "first")
        cache.store(token, lifetime: .seconds(3600), requestedAt: Self.at(0))
        #expect(cache.lookup(at: Self.at(1)) == .fresh(token))
        #expect(cache.lookup(at: Self.at(3539)) == .fresh(token))
        #expect(cache.lookup(at: Self.at(3540)) == .refresh)
    }

    @Test(arguments: [(3600, 60), (600, 60), (100, 10), (10, 1)])
    func marginIsAMinuteOrATenthOfAShortLifetime(lifetime: Int, margin: Int) {
        #expect(Cache.margin(for: .seconds(lifetime)) == .seconds(margin))
    }

    @Test func invalidatingAnOlderTokenKeepsTheNewOne() {
        var cache = Cache()
        let old = AccessToken(value: "old")
        let new = AccessToken(value: "new")
        cache.store(old, lifetime: .seconds(3600), requestedAt: Self.at(0))
        cache.store(new, lifetime: .seconds(3600), requestedAt: Self.at(5))
        let invalidatedOld = cache.invalidate(old)
        #expect(!invalidatedOld)
        #expect(cache.lookup(at: Self.at(6)) == .fresh(new))
        let invalidatedNew = cache.invalidate(new)
        #expect(invalidatedNew)
        #expect(cache.lookup(at: Self.at(6)) == .refresh)
        #expect(cache.issued == 2)
    }
}
