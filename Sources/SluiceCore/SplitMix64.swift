/// SplitMix64 (Steele, Lea and Flood): a tiny, fast generator whose sequence depends only on its
/// seed, for what must come out the same on every run (test inputs, benchmark data, jitter in
/// tests). Not for anything secret.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        defer { state &+= Self.golden }
        return Self.mix(state)
    }

    private static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// The value `next()` gives for a state: a bijection on `UInt64` with good avalanche, also
    /// usable alone as a stateless hash (`SplitMix64.mix(seed ^ index)`).
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ golden
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
