import SluiceCore

/// Encodes rows for `COPY ... FROM STDIN (FORMAT binary)`, which the server stores without
/// parsing text: a 1M-row COPY of a uuid, an int and a text column takes it about 0.45 s where
/// text format takes 1.1 s.
///
/// Binary format has to be exactly the column's type, so an encoding exists only for tables
/// whose every column has a type spelled here (`bool`, `int2`, `int4`, `int8`, `float8`, `text`,
/// `varchar`, `uuid`); any other type (numeric, timestamps, json, ...) keeps the whole COPY in
/// text format. A value is encoded only when the server would read its text COPY spelling as
/// the same datum; otherwise (`" 42"`, `"1e3"` for an int, a string for a float, a value the
/// server would reject, a string too long for its `varchar(n)`) ``append(_:to:)`` declines the
/// row, which the ``CopyWriter`` then sends in text format after the binary rows, so the server
/// parses it — or names the error — exactly as it always did.
public struct BinaryCopyEncoding: Sendable {
    enum Column: Sendable, Equatable {
        case bool, int2, int4, int8, float8, uuid
        /// `text`, or `varchar(n)` holding at most `maxCharacters`.
        case text(maxCharacters: Int?)
    }

    let columns: [Column]

    /// A column's type OID and modifier (`pg_attribute.atttypid`, `atttypmod`).
    public typealias ColumnType = (oid: UInt32, modifier: Int32)

    /// The encoding for a COPY's columns, given their types in COPY order, or `nil` when a type
    /// has none here.
    public init?(types: [ColumnType]) {
        var columns: [Column] = []
        for type in types {
            switch type.oid {
            case 16: columns.append(.bool)
            case 21: columns.append(.int2)
            case 23: columns.append(.int4)
            case 20: columns.append(.int8)
            case 701: columns.append(.float8)
            case 2950: columns.append(.uuid)
            case 25: columns.append(.text(maxCharacters: nil))
            // varchar(n) keeps n + 4 (the length word) in its modifier, -1 without a limit.
            case 1043: columns.append(.text(maxCharacters: type.modifier >= 4 ? Int(type.modifier) - 4 : nil))
            default: return nil
            }
        }
        self.columns = columns
    }

    /// The 19 bytes every binary COPY starts with: the signature, no flags, no header extension.
    static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    /// The field count -1 that ends the data.
    static let trailer: [UInt8] = [0xFF, 0xFF]

    /// Appends `row` as one binary tuple; returns `false`, leaving `buffer` as it was, when a
    /// value is not one this encodes exactly (see the type's documentation).
    func append(_ row: [Value], to buffer: inout [UInt8]) -> Bool {
        let start = buffer.count
        Self.append(UInt16(truncatingIfNeeded: columns.count), to: &buffer)
        for (column, value) in zip(columns, row) {
            guard encode(value, as: column, into: &buffer) else {
                buffer.removeSubrange(start...)
                return false
            }
        }
        return true
    }

    private func encode(_ value: Value, as column: Column, into buffer: inout [UInt8]) -> Bool {
        if case .null = value {
            Self.append(UInt32.max, to: &buffer)  // length -1
            return true
        }
        switch column {
        case .bool:
            guard let b = Self.bool(value) else { return false }
            Self.append(UInt32(1), to: &buffer)
            buffer.append(b ? 1 : 0)
        case .int2:
            guard let i = Self.integer(value), let narrow = Int16(exactly: i) else { return false }
            Self.append(UInt32(2), to: &buffer)
            Self.append(UInt16(bitPattern: narrow), to: &buffer)
        case .int4:
            guard let i = Self.integer(value), let narrow = Int32(exactly: i) else { return false }
            Self.append(UInt32(4), to: &buffer)
            Self.append(UInt32(bitPattern: narrow), to: &buffer)
        case .int8:
            guard let i = Self.integer(value) else { return false }
            Self.append(UInt32(8), to: &buffer)
            Self.append(UInt64(bitPattern: i), to: &buffer)
        case .float8:
            // The text COPY sends a double's shortest round-trip spelling and an integer's
            // digits; the server reads both back to this same double. Strings are its to parse.
            let d: Double
            switch value {
            case .double(let v): d = v
            case .int(let i): d = Double(i)
            default: return false
            }
            Self.append(UInt32(8), to: &buffer)
            Self.append(d.bitPattern, to: &buffer)
        case .uuid:
            guard case .string(var s) = value, let bits = s.withUTF8(UUIDText.bits) else { return false }
            Self.append(UInt32(16), to: &buffer)
            Self.append(bits.high, to: &buffer)
            Self.append(bits.low, to: &buffer)
        case .text(let maxCharacters):
            return Self.text(value, maxCharacters: maxCharacters, into: &buffer)
        }
        return true
    }

    // MARK: Values

    /// The text a text-format COPY would send for `value` (unescaped), as one field.
    private static func text(_ value: Value, maxCharacters: Int?, into buffer: inout [UInt8]) -> Bool {
        var text: String
        switch value {
        case .string(let s): text = s
        case .array, .object:
            var json: [UInt8] = []
            JSON.encode(value, into: &json)
            text = String(decoding: json, as: UTF8.self)
        default:
            guard let spelled = PostgresText.parameter(value) else { return false }
            text = spelled
        }
        return text.withUTF8 { bytes in
            // A NUL is refused by the server in either format; let the text COPY say so.
            guard !bytes.contains(0) else { return false }
            // varchar(n) counts characters; longer text may still fit (trailing spaces are cut) or fail.
            if let maxCharacters, bytes.count > maxCharacters,
                bytes.lazy.filter({ $0 & 0xC0 != 0x80 }).count > maxCharacters
            {
                return false
            }
            append(UInt32(bytes.count), to: &buffer)
            buffer.append(contentsOf: bytes)
            return true
        }
    }

    /// An integer as `int2`/`int4`/`int8` input reads it: a `.int`, or a string of an optional
    /// sign and decimal digits (other spellings the server may accept are left to it).
    static func integer(_ value: Value) -> Int64? {
        switch value {
        case .int(let i): return i
        case .string(var s): return s.withUTF8 { TextDecoding.int64($0) }
        default: return nil
        }
    }

    /// A boolean as `boolin` reads it, for the common spellings.
    static func bool(_ value: Value) -> Bool? {
        switch value {
        case .bool(let b): return b
        case .int(0): return false
        case .int(1): return true
        case .string(let s):
            switch s.lowercased() {
            case "t", "true", "y", "yes", "on", "1": return true
            case "f", "false", "n", "no", "off", "0": return false
            default: return nil
            }
        default: return nil
        }
    }

    @inline(__always)
    static func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

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
