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
            // Nearest double, as the server would read the text; past a double's range, the
            // server's own error.
            case .decimal(let text):
                guard let v = Double(text), v.isFinite else { return false }
                d = v
            default: return false
            }
            Self.append(UInt32(8), to: &buffer)
            Self.append(d.bitPattern, to: &buffer)
        case .uuid:
            guard case .string(let s) = value, let bits = UUIDText.bits(of: s) else { return false }
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
