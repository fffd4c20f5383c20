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
        case .decimal(let text):
            // Digits, a sign, a point and an exponent: nothing COPY would read as special.
            buffer.append(contentsOf: text.utf8)
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

/// Reads the lines of a text-format `COPY ... TO STDOUT`.
enum CopyText {
    /// One line (its newline optional) as `.string` values, `.null` for `\N`; padded with
    /// `.null` to `width` values if it has fewer (room for `width` is made at once).
    static func row(_ line: UnsafeBufferPointer<UInt8>, width: Int) -> [Value] {
        var end = line.count
        if end > 0, line[end - 1] == PostgresText.newline { end -= 1 }
        var values: [Value] = []
        values.reserveCapacity(max(width, 1))
        var start = 0
        var index = 0
        var escaped = false
        while index <= end {
            if index == end || line[index] == PostgresText.tab {
                let field = UnsafeBufferPointer(rebasing: line[start..<index])
                values.append(escaped ? unescape(field) : .string(TextDecoding.string(field)))
                start = index + 1
                escaped = false
            } else if line[index] == PostgresText.backslash {
                escaped = true
                // The escaped byte is never a separator (a backslash ending the line is kept).
                if index + 1 < end { index += 1 }
            }
            index += 1
        }
        while values.count < width { values.append(.null) }
        return values
    }

    /// A field holding a backslash: `\N` alone is NULL; `\b \f \n \r \t \v` are those
    /// control characters; a backslash before any other byte stands for that byte (what the
    /// server writes: it escapes only those and the backslash).
    private static func unescape(_ field: UnsafeBufferPointer<UInt8>) -> Value {
        if field.count == 2, field[0] == PostgresText.backslash, field[1] == UInt8(ascii: "N") { return .null }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(field.count)
        var index = 0
        while index < field.count {
            let byte = field[index]
            index += 1
            guard byte == PostgresText.backslash, index < field.count else {
                bytes.append(byte)
                continue
            }
            let next = field[index]
            index += 1
            switch next {
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "v"): bytes.append(0x0B)
            default: bytes.append(next)
            }
        }
        return .string(String(decoding: bytes, as: UTF8.self))
    }
}
