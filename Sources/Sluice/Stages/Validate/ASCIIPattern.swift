import SluiceCore

/// A whole-string matcher for the simple patterns plans use (`[0-9A-Za-z]{22}`,
/// `[A-Z]{2}[A-Z0-9]{3}[0-9]{7}`), on bytes, with the same answers as `Regex.wholeMatch` for
/// the texts it accepts to judge.
///
/// Swift's `Regex` costs microseconds per match; the csv-input stage checks two patterns per
/// row, so at a million rows the regex alone took seconds (issue 15). This matcher reads a
/// pattern made only of ASCII letters and digits, `\d`, and bracket classes of those with
/// ranges, each optionally quantified (`?`, `*`, `+`, `{n}`, `{n,}`, `{n,m}`); ``init(_:)``
/// returns `nil` for anything else and the caller keeps using `Regex`.
///
/// It judges only pure-ASCII texts without a carriage return (``matches(_:)`` returns `nil`
/// otherwise): there every `Character` is one byte, so matching bytes is matching characters.
struct ASCIIPattern: Sendable {
    /// One element of the sequence: a set of bytes, repeated `min...max` times.
    struct Atom: Sendable {
        /// Bit `b` of word `b >> 6` is set when byte `b` belongs to the set (bytes < 128 only).
        var set: (UInt64, UInt64)
        var min: Int
        var max: Int

        func contains(_ byte: UInt8) -> Bool {
            byte < 64 ? set.0 & (1 << UInt64(byte)) != 0 : byte < 128 && set.1 & (1 << UInt64(byte - 64)) != 0
        }
    }

    let atoms: [Atom]

    /// The pattern's atoms, or `nil` when it uses anything beyond the subset described above.
    init?(_ pattern: String) {
        let bytes = Array(pattern.utf8)
        var atoms: [Atom] = []
        var index = 0
        func isWordByte(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
        }
        func add(_ low: UInt8, _ high: UInt8, to set: inout (UInt64, UInt64)) {
            for byte in low...high {
                if byte < 64 { set.0 |= 1 << UInt64(byte) } else { set.1 |= 1 << UInt64(byte - 64) }
            }
        }
        func number() -> Int? {
            var value: Int?
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                value = (value ?? 0) * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                guard value! <= 1000 else { return nil }
                index += 1
            }
            return value
        }
        let digits = (UInt8(ascii: "0"), UInt8(ascii: "9"))
        while index < bytes.count {
            var set: (UInt64, UInt64) = (0, 0)
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "d") else { return nil }
                add(digits.0, digits.1, to: &set)
                index += 2
            } else if byte == UInt8(ascii: "[") {
                index += 1
                var members = 0
                while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                    if bytes[index] == UInt8(ascii: "\\") {
                        guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "d") else { return nil }
                        add(digits.0, digits.1, to: &set)
                        index += 2
                    } else {
                        let low = bytes[index]
                        guard isWordByte(low) else { return nil }
                        if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "-"),
                            bytes[index + 2] != UInt8(ascii: "]")
                        {
                            let high = bytes[index + 2]
                            guard isWordByte(high), low <= high else { return nil }
                            add(low, high, to: &set)
                            index += 3
                        } else {
                            add(low, low, to: &set)
                            index += 1
                        }
                    }
                    members += 1
                }
                guard index < bytes.count, members > 0 else { return nil }
                index += 1
            } else if isWordByte(byte) {
                add(byte, byte, to: &set)
                index += 1
            } else {
                return nil
            }
            var atom = Atom(set: set, min: 1, max: 1)
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "?"): (atom.min, atom.max, index) = (0, 1, index + 1)
                case UInt8(ascii: "*"): (atom.min, atom.max, index) = (0, Int.max, index + 1)
                case UInt8(ascii: "+"): (atom.min, atom.max, index) = (1, Int.max, index + 1)
                case UInt8(ascii: "{"):
                    index += 1
                    guard let low = number() else { return nil }
                    var high = low
                    if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                        index += 1
                        high = number() ?? Int.max
                    }
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "}"), low <= high else { return nil }
                    index += 1
                    (atom.min, atom.max) = (low, high)
                default: break
                }
                // A lazy or possessive quantifier, or a quantifier on a quantifier: leave it to Regex.
                if index < bytes.count,
                    [UInt8(ascii: "?"), UInt8(ascii: "+"), UInt8(ascii: "*"), UInt8(ascii: "{")]
                        .contains(bytes[index])
                {
                    return nil
                }
            }
            atoms.append(atom)
        }
        self.atoms = atoms
    }

    /// Whether the whole of `text` matches; `nil` when the text is not one this matcher judges
    /// (a byte outside ASCII, or a carriage return).
    func matches(_ text: String) -> Bool? {
        text.withUTF8Bytes { matches(bytes: $0) }
    }

    func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        for byte in bytes where byte >= 0x80 || byte == UInt8(ascii: "\r") { return nil }
        // Bit p of `reachable`: the atoms so far can match exactly the first p bytes.
        guard bytes.count < 64 else { return matchesLong(bytes) }
        var reachable: UInt64 = 1
        for atom in atoms {
            var next: UInt64 = 0
            var starts = reachable
            while starts != 0 {
                let start = starts.trailingZeroBitCount
                starts &= starts - 1
                var length = 0
                while true {
                    if length >= atom.min { next |= 1 << UInt64(start + length) }
                    guard length < atom.max, start + length < bytes.count, atom.contains(bytes[start + length]) else {
                        break
                    }
                    length += 1
                }
            }
            guard next != 0 else { return false }
            reachable = next
        }
        return reachable & (1 << UInt64(bytes.count)) != 0
    }

    /// ``matches(bytes:)`` for texts of 64 bytes or more.
    private func matchesLong(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var reachable = [Bool](repeating: false, count: bytes.count + 1)
        reachable[0] = true
        var next = reachable
        for atom in atoms {
            for p in next.indices { next[p] = false }
            var any = false
            for start in 0...bytes.count where reachable[start] {
                var length = 0
                while true {
                    if length >= atom.min {
                        next[start + length] = true
                        any = true
                    }
                    guard length < atom.max, start + length < bytes.count, atom.contains(bytes[start + length]) else {
                        break
                    }
                    length += 1
                }
            }
            guard any else { return false }
            swap(&reachable, &next)
        }
        return reachable[bytes.count]
    }
}
