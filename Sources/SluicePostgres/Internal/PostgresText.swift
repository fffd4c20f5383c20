import SluiceCore

/// How values are spelled for PostgreSQL's text input: parameters and `COPY ... FROM STDIN`.
enum PostgresText {
    /// A parameter's text, `nil` for SQL NULL.
    static func parameter(_ value: Value) -> String? {
        switch value {
        case .null: return nil
        case .bool(let b): return b ? "t" : "f"
        case .double(let d): return double(d)
        default: return value.text
        }
    }

    /// PostgreSQL's spelling of a double; `JSON.format` would say `null` for NaN and infinities.
    static func double(_ d: Double) -> String {
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return d.description
    }

    /// Appends one text-format COPY line (tab-separated fields, `\N` for NULL, newline).
    @inline(__always)
    static func appendCopyRow(_ row: [Value], to buffer: inout [UInt8]) {
        for (index, value) in row.enumerated() {
            if index > 0 { buffer.append(tab) }
            appendCopyField(value, to: &buffer)
        }
        buffer.append(newline)
    }

    static func appendCopyField(_ value: Value, to buffer: inout [UInt8]) {
        switch value {
        case .null:
            buffer.append(backslash)
            buffer.append(UInt8(ascii: "N"))
        case .bool(let b):
            buffer.append(b ? UInt8(ascii: "t") : UInt8(ascii: "f"))
        case .int(let i):
            // Integers are at most 20 characters: a small string, no allocation.
            buffer.append(contentsOf: String(i).utf8)
        case .double(let d):
            buffer.append(contentsOf: double(d).utf8)
        case .string(var s):
            s.withUTF8 { appendEscaped($0, to: &buffer) }
        case .array, .object:
            var json: [UInt8] = []
            JSON.encode(value, into: &json)
            json.withUnsafeBufferPointer { appendEscaped($0, to: &buffer) }
        }
    }

    /// Copies `bytes`, escaping the four bytes text-format COPY gives meaning to. Scans first so
    /// the common case (nothing to escape) is one bulk append.
    @inline(__always)
    static func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to buffer: inout [UInt8]) {
        var needsEscape = false
        for byte in bytes where byte == backslash || byte == tab || byte == newline || byte == carriageReturn {
            needsEscape = true
            break
        }
        guard needsEscape else {
            buffer.append(contentsOf: bytes)
            return
        }
        for byte in bytes {
            switch byte {
            case backslash: buffer.append(contentsOf: [backslash, backslash])
            case tab: buffer.append(contentsOf: [backslash, UInt8(ascii: "t")])
            case newline: buffer.append(contentsOf: [backslash, UInt8(ascii: "n")])
            case carriageReturn: buffer.append(contentsOf: [backslash, UInt8(ascii: "r")])
            default: buffer.append(byte)
            }
        }
    }

    static let backslash = UInt8(ascii: "\\")
    static let tab = UInt8(ascii: "\t")
    static let newline = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
}
