import SluiceCore

/// Draws faults from a seeded random sequence, one draw per eligible request.
struct FaultInjector: Sendable {
    private var random: SplitMix64
    private(set) var seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        self.random = SplitMix64(seed: seed)
    }

    /// The fault for the next request, or `nil` for a normal answer.
    mutating func draw(rate: Double, kinds: [Fault]) -> Fault? {
        guard rate > 0, !kinds.isEmpty else { return nil }
        // 53 random bits make a uniform Double in [0, 1).
        let roll = Double(random.next() >> 11) / Double(UInt64(1) << 53)
        guard roll < rate else { return nil }
        return kinds[Int(random.next() % UInt64(kinds.count))]
    }
}
