/// The text forms of a uuid.
public enum UUIDText {
    /// The 128 bits of a uuid in any form PostgreSQL's `uuid_in` reads (32 hex digits in either
    /// case, a hyphen allowed after any group of four, optionally in braces), most significant
    /// first; `nil` for anything else.
    public static func bits(_ text: UnsafeBufferPointer<UInt8>) -> (high: UInt64, low: UInt64)? {
        if let bits = canonicalBits(text) { return bits }
        var index = 0
        var end = text.count
        if end > 0, text[0] == UInt8(ascii: "{") {
            guard end > 1, text[end - 1] == UInt8(ascii: "}") else { return nil }
            index = 1
            end -= 1
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for byteIndex in 0..<16 {
            if byteIndex > 0, byteIndex & 1 == 0, index < end, text[index] == hyphen { index += 1 }
            guard index + 1 < end else { return nil }
            let digits = hexValue(text[index]) << 4 | hexValue(text[index + 1])
            guard digits <= 0xFF else { return nil }
            if byteIndex < 8 {
                high = high << 8 | UInt64(digits)
            } else {
                low = low << 8 | UInt64(digits)
            }
            index += 2
        }
        guard index == end else { return nil }
        return (high, low)
    }

    /// ``bits(_:)`` for the form nearly every key takes (and the one PostgreSQL prints),
    /// 8-4-4-4-12 digits, and nil for any other; read eight digits at a time.
    public static func canonicalBits(_ text: UnsafeBufferPointer<UInt8>) -> (high: UInt64, low: UInt64)? {
        guard text.count == 36, let base = UnsafeRawPointer(text.baseAddress), text[8] == hyphen, text[13] == hyphen,
            text[18] == hyphen, text[23] == hyphen
        else { return nil }
        func word(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        func half(_ offset: Int) -> UInt64 {
            UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }
        guard let a = hex8(word(0)), let b = hex8(half(9) | half(14) << 32),
            let c = hex8(half(19) | half(24) << 32), let d = hex8(word(28))
        else { return nil }
        return (a << 32 | b, c << 32 | d)
    }

    /// ``bits(_:)`` of a string, read in place when its bytes are contiguous (a native string).
    public static func bits(of text: String) -> (high: UInt64, low: UInt64)? {
        text.withUTF8Bytes(bits)
    }

    /// ``canonicalBits(_:)`` of a string, read in place when its bytes are contiguous.
    public static func canonicalBits(of text: String) -> (high: UInt64, low: UInt64)? {
        text.withUTF8Bytes(canonicalBits)
    }

    private static let hyphen = UInt8(ascii: "-")

    /// The value of eight hex digits, the first byte in memory the most significant (`word`
    /// read little-endian), or nil if any byte is no hex digit. Without a branch per digit:
    /// random hex is a coin toss between digits and letters, which a branch predictor loses.
    @inline(__always)
    private static func hex8(_ word: UInt64) -> UInt64? {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let high: UInt64 = 0x8080_8080_8080_8080
        // Per byte (all below 0x80), bit 7 says whether it lies in lo...hi.
        func within(_ bytes: UInt64, _ lo: UInt8, _ hi: UInt8) -> UInt64 {
            (bytes &+ ones &* UInt64(0x80 - lo)) & ~(bytes &+ ones &* UInt64(0x7F - hi)) & high
        }
        let lower = word | ones &* 0x20
        guard word & high == 0, within(word, 0x30, 0x39) | within(lower, 0x61, 0x66) == high else { return nil }
        // '0'...'9' → 0...9; 'a'...'f' and 'A'...'F' (bit 6 set) → 1...6 + 9.
        var x = (word & 0x0F0F_0F0F_0F0F_0F0F) &+ (word >> 6 & ones) &* 9
        x = x.byteSwapped  // the first digit in the top byte
        x = (x | x >> 4) & 0x00FF_00FF_00FF_00FF
        x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF
        return (x | x >> 16) & 0xFFFF_FFFF
    }

    /// A hex digit's value, or 0x100 (more than any digit pair) for anything else.
    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> UInt16 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt16(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt16(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt16(byte &- UInt8(ascii: "A") &+ 10)
        default: return 0x100
        }
    }
}
