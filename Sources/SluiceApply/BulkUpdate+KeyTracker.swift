import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// Watches the keys going into the COPY so the server-side duplicate check (a unique index
    /// built over the input, 0.3–0.6 s per million keys, and a `GROUP BY` when that fails) runs
    /// only when the input may repeat a key.
    ///
    /// It keeps a 64-bit fingerprint of each key, computed from the key's *value* as the column's
    /// type compares it (`A0EEBC99-...` and `a0eebc99...` are one uuid; `007` and `7` one
    /// integer), so equal keys always have equal fingerprints. All fingerprints distinct proves
    /// the keys distinct; a repeated fingerprint (a duplicate, or a one-in-2^64 collision) only
    /// means the exact check on the server runs. They are kept in an array (8 bytes a key) and
    /// sorted once the input is in, to find a repeat. Keys it cannot read exactly as PostgreSQL
    /// does (another type, a value it cannot parse) and inputs of more than ``limit`` rows stop
    /// the tracking, with the same result: the server checks.
    struct KeyTracker {
        /// How the key column's type compares values, as far as the tracker follows it.
        enum Kind: Equatable {
            case uuid
            case integer
            /// `text` under a deterministic collation: equal means byte-for-byte equal.
            case text
            /// Anything else: not tracked.
            case other
        }

        /// Past this many rows the fingerprints are dropped and the server checks: an apply keeps
        /// at most 1.2 MiB of them, so a million-row apply holds no more than a 100,000-row one,
        /// for ~0.3–0.6 s of server time per million keys.
        static let limit = 150_000
        /// The limit for a review at the gate, a step of its own whose memory no apply shares:
        /// 32 MiB at most, sorted in ~0.1 s per million keys, where the server's check of a
        /// million keys takes 0.3–0.6 s.
        static let reviewLimit = 4_000_000

        let kind: Kind
        let limit: Int
        /// Every key's fingerprint, in the order added until ``provesUnique`` sorts them.
        private var fingerprints: [UInt64] = []
        private var sorted = true
        /// A fingerprint repeated, or a key could not be fingerprinted, or there were too many.
        private var gaveUp: Bool

        init(kind: Kind, limit: Int = KeyTracker.limit) {
            self.kind = kind
            self.limit = limit
            gaveUp = kind == .other
        }

        /// Adds one key (never NULL: the caller rejects those).
        mutating func add(_ key: Value) {
            guard !gaveUp else { return }
            guard fingerprints.count < limit, let fingerprint = Self.fingerprint(key, as: kind) else {
                giveUp()
                return
            }
            fingerprints.append(fingerprint)
            sorted = false
        }

        /// Whether every key added had a fingerprint of its own, which proves them distinct.
        /// Sorts the fingerprints (once per batch of adds) to find a repeat.
        var provesUnique: Bool {
            mutating get {
                guard !gaveUp else { return false }
                if !sorted {
                    fingerprints.sort()
                    sorted = true
                    if zip(fingerprints, fingerprints.dropFirst()).contains(where: { $0 == $1 }) { giveUp() }
                }
                return !gaveUp
            }
        }

        private mutating func giveUp() {
            gaveUp = true
            fingerprints = []
        }

        static func fingerprint(_ key: Value, as kind: Kind) -> UInt64? {
            switch (kind, key) {
            case (.uuid, .string(let text)): return UUIDText.bits(of: text).map { mix($0.high ^ mix($0.low)) }
            case (.integer, .int(let number)): return mix(UInt64(bitPattern: number))
            case (.integer, .string(let text)):
                // int2/int4/int8 input: surrounding whitespace and a sign are allowed. Forms
                // Swift does not parse (PostgreSQL 16's `0x1F`, `1_000`) are simply not tracked.
                return Int64(trimmingSpace(text)).map { mix(UInt64(bitPattern: $0)) }
            case (.text, .string(let text)): return fnv1a(text.utf8)
            case (.text, .int(let number)): return fnv1a(String(number).utf8)
            default: return nil
            }
        }

        /// `text` without the leading and trailing white space (`isspace`) integer input skips.
        static func trimmingSpace(_ text: String) -> Substring {
            func isSpace(_ c: Character) -> Bool { c == " " || ("\t"..."\r").contains(c) }
            let start = text.firstIndex { !isSpace($0) } ?? text.endIndex
            let end = text.lastIndex { !isSpace($0) }.map { text.index(after: $0) } ?? start
            return text[start..<end]
        }

        /// Spreads every input bit over the output: SplitMix64's first value for that seed.
        static func mix(_ value: UInt64) -> UInt64 {
            var generator = SplitMix64(seed: value)
            return generator.next()
        }

        static func fnv1a(_ bytes: String.UTF8View) -> UInt64 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            return mix(hash)
        }
    }
}
