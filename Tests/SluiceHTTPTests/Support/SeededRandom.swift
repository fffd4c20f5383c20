/// SplitMix64: a tiny deterministic generator so backoff jitter is the same on every run.
struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Always the largest value: every jittered backoff lands on its ceiling.
struct MaximalRandom: RandomNumberGenerator, Sendable {
    mutating func next() -> UInt64 { .max }
}
