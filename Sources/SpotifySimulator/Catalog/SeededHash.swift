import SluiceCore

/// Stateless 64-bit hashing used to derive every catalog fact from (seed, input).
///
/// The catalog stores nothing: membership, names, popularity and ISRCs are pure functions
/// of the id and the seed, so two simulators with the same seed agree without sharing state.
enum SeededHash {
    static func mix(_ value: UInt64) -> UInt64 { SplitMix64.mix(value) }

    /// Hashes a string together with a seed and a purpose tag, so that different facts
    /// about the same id are independent.
    static func hash(_ text: some StringProtocol, seed: UInt64, tag: UInt64) -> UInt64 {
        // FNV-1a over the UTF-8 bytes, then mixed with the seed and tag.
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return mix(h ^ mix(seed ^ mix(tag)))
    }

    /// Hashes an integer index with a seed and a purpose tag.
    static func hash(index: UInt64, seed: UInt64, tag: UInt64) -> UInt64 {
        mix(index ^ mix(seed ^ mix(tag)))
    }
}
