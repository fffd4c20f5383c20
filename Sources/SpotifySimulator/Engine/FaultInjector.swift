/// Draws faults from a seeded random sequence, one draw per eligible request.
struct FaultInjector: Sendable {
    private var state: UInt64
    private(set) var seed: UInt64

    init(seed: UInt64) {
        self.seed = seed
        self.state = seed
    }

    /// The fault for the next request, or `nil` for a normal answer.
    mutating func draw(rate: Double, kinds: [Fault]) -> Fault? {
        guard rate > 0, !kinds.isEmpty else { return nil }
        // 53 random bits make a uniform Double in [0, 1).
        let roll = Double(next() >> 11) / Double(UInt64(1) << 53)
        guard roll < rate else { return nil }
        return kinds[Int(next() % UInt64(kinds.count))]
    }

    /// SplitMix64: tiny, seedable and good enough to pick faults.
    private mutating func next() -> UInt64 {
        defer { state &+= 0x9E37_79B9_7F4A_7C15 }
        return SeededHash.mix(state)
    }
}
