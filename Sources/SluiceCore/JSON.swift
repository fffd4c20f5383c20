/// A small, strict JSON codec for ``Value``.
///
/// Hand-written rather than Foundation's because spools must be byte-for-byte reproducible
/// (object keys sorted, one spelling per number) and because integers and doubles must stay
/// distinct (`7` is an int, `7.0` a double), which `JSONSerialization` blurs on Linux.
public enum JSON {
    /// An error in a JSON document, with the byte offset where it was found.
    public struct DecodingError: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var offset: Int
        public var description: String { "invalid JSON at byte \(offset): \(message)" }
    }

    /// One step of a path into a document: an object's key or an array's index.
    public enum PathStep: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    /// An object that names `key` twice with different values (`{"a":1,"a":2}`), at `path` from
    /// the document's root. The decoded object keeps the last; which one the sender meant is unknown.
    public struct DuplicateKey: Sendable, Hashable {
        public var path: [PathStep]
        public var key: String

        public init(path: [PathStep], key: String) {
            self.path = path
            self.key = key
        }

        /// Where the value is: `path` and then `key`.
        public var location: [PathStep] { path + [.key(key)] }
    }

    // MARK: Encoding

    /// Encodes `value` as compact JSON with object keys in sorted order.
    public static func encode(_ value: Value) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        encode(value, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the compact JSON form of `value` to `out`.
    public static func encode(_ value: Value, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): out.append(contentsOf: format(d).utf8)
        case .decimal(let text): out.append(contentsOf: text.utf8)
        case .string(let s): encodeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encode(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encodeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                encode(o[key]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Encodes `value` for people to read: two-space indentation, one member per line, object
    /// keys in sorted order, empty arrays and objects as `[]` and `{}`. Same values, same bytes.
    public static func encodePretty(_ value: Value) -> String {
        var out: [UInt8] = []
        encodePretty(value, indent: 0, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func encodePretty(_ value: Value, indent: Int, into out: inout [UInt8]) {
        func newline(_ depth: Int) {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
        }
        switch value {
        case .array(let a) where !a.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, element) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                encodePretty(element, indent: indent + 1, into: &out)
            }
            newline(indent)
            out.append(UInt8(ascii: "]"))
        case .object(let o) where !o.isEmpty:
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                encodeString(key, into: &out)
                out.append(contentsOf: ": ".utf8)
                encodePretty(o[key]!, indent: indent + 1, into: &out)
            }
            newline(indent)
            out.append(UInt8(ascii: "}"))
        default:
            encode(value, into: &out)
        }
    }

    /// The JSON spelling of a double: shortest round-tripping digits, `null` when not finite.
    public static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        return d.description
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// Whether any byte needs an escape in a JSON string: a control character (below 0x20), a
    /// quote or a backslash. Eight bytes at a time: a word has a byte below `n` when
    /// `(w - n·0x01…) & ~w & 0x80…` is not zero, and a byte equal to `c` when `w ^ c·0x01…` has a
    /// zero byte (the first test with `n` = 1).
    static func needsEscape(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasByteBelow(_ word: UInt64, _ n: UInt64) -> Bool { (word &- ones &* n) & ~word & highs != 0 }
        var index = 0
        if let base = bytes.baseAddress {
            while index + 8 <= bytes.count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                if hasByteBelow(word, 0x20) || hasByteBelow(word ^ (ones &* 0x22), 1)
                    || hasByteBelow(word ^ (ones &* 0x5C), 1)
                {
                    return true
                }
                index += 8
            }
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
            index += 1
        }
        return false
    }

    /// Appends `s` as a quoted JSON string.
    public static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Most strings (keys, codes, names) need no escape: copy them whole.
        let plain = s.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard !needsEscape(bytes) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: Decoding

    /// Decodes one JSON document. Nesting deeper than `maxDepth` is an error, not a stack overflow.
    public static func decode(_ text: String, maxDepth: Int = 512) throws(DecodingError) -> Value {
        try decode(Array(text.utf8), maxDepth: maxDepth)
    }

    /// Decodes one JSON document from UTF-8 bytes.
    public static func decode(_ bytes: [UInt8], maxDepth: Int = 512) throws(DecodingError) -> Value {
        try bytes.withUnsafeBufferPointer { buffer throws(DecodingError) -> Value in
            try decode(buffer, maxDepth: maxDepth)
        }
    }

    /// Decodes one JSON document from UTF-8 bytes.
    public static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 512
    ) throws(DecodingError)
        -> Value
    {
        var duplicates: [DuplicateKey] = []
        return try decode(bytes, maxDepth: maxDepth, duplicates: &duplicates)
    }

    /// Decodes one JSON document from UTF-8 bytes, and says in `duplicates` which objects name a
    /// key twice with different values (the value decoded is the last); a key repeated with the
    /// same value is not one.
    public static func decode(
        _ bytes: [UInt8], maxDepth: Int = 512, duplicates: inout [DuplicateKey]
    ) throws(DecodingError) -> Value {
        try bytes.withUnsafeBufferPointer { buffer throws(DecodingError) -> Value in
            try decode(buffer, maxDepth: maxDepth, duplicates: &duplicates)
        }
    }

    /// Decodes one JSON document from UTF-8 bytes; `duplicates` as in ``decode(_:maxDepth:duplicates:)``.
    public static func decode(
        _ bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int = 512, duplicates: inout [DuplicateKey]
    ) throws(DecodingError) -> Value {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != bytes.count { throw parser.error("unexpected data after the document") }
        // Each path was written from the inside out, as the values holding it were finished.
        duplicates = parser.duplicates.map { DuplicateKey(path: $0.path.reversed(), key: $0.key) }
        return value
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        let maxDepth: Int
        var position = 0
        /// Keys named twice with different values, each path reversed (innermost step first) until
        /// the document is read: found rarely, so nothing is spent on paths until one is.
        var duplicates: [DuplicateKey] = []

        init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func error(_ message: String) -> DecodingError {
            DecodingError(message: message, offset: position)
        }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { position += 1 }
        }

        mutating func expect(_ literal: StaticString, _ value: Value) throws(DecodingError) -> Value {
            let count = literal.utf8CodeUnitCount
            guard position + count <= bytes.count else { throw error("truncated literal") }
            let start = literal.utf8Start
            for i in 0..<count where bytes[position + i] != start[i] { throw error("invalid literal") }
            position += count
            return value
        }

        mutating func parseValue(depth: Int) throws(DecodingError) -> Value {
            guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
            guard let c = current else { throw error("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character")
            }
        }

        mutating func parseObject(depth: Int) throws(DecodingError) -> Value {
            position += 1
            var object: [String: Value] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                position += 1
                return .object(object)
            }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try parseString()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
                position += 1
                skipWhitespace()
                let found = duplicates.count
                let value = try parseValue(depth: depth + 1)
                if duplicates.count != found { addStep(.key(key), since: found) }
                if let earlier = object.updateValue(value, forKey: key), earlier != value {
                    duplicates.append(DuplicateKey(path: [], key: key))
                }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(object)
                default: throw error("expected ',' or '}'")
                }
            }
        }

        mutating func parseArray(depth: Int) throws(DecodingError) -> Value {
            position += 1
            var array: [Value] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                position += 1
                return .array(array)
            }
            while true {
                skipWhitespace()
                let found = duplicates.count
                array.append(try parseValue(depth: depth + 1))
                if duplicates.count != found { addStep(.index(array.count - 1), since: found) }
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(array)
                default: throw error("expected ',' or ']'")
                }
            }
        }

        /// Adds `step`, the place of the value just read, to the paths of the duplicates found in it.
        mutating func addStep(_ step: PathStep, since first: Int) {
            for i in first..<duplicates.count { duplicates[i].path.append(step) }
        }

        /// `\\u` + `surrogate` at `offset` with no partner: text no UTF-8 can hold.
        func unpairedSurrogate(_ surrogate: UInt32, at offset: Int) -> DecodingError {
            let hex = String(surrogate, radix: 16)
            let half =
                surrogate < 0xDC00 ? "a high surrogate without its low half" : "a low surrogate without its high half"
            return DecodingError(message: "invalid UTF-16 escape \\u\(hex) in string (\(half))", offset: offset)
        }

        mutating func parseHex4() throws(DecodingError) -> UInt32 {
            guard position + 4 <= bytes.count else { throw error("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                v = v << 4 | d
                position += 1
            }
            return v
        }

        mutating func parseString() throws(DecodingError) -> String {
            position += 1
            let start = position
            // Fast path: no escapes.
            var ored: UInt8 = 0
            while let c = current, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\"), c >= 0x20 {
                ored |= c
                position += 1
            }
            if current == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<position])
                // ASCII needs no validating: made straight from the bytes. `String(validating:as:)`
                // is generic and unspecialized here: it looked up type metadata for every string
                // (a third of reading a recorded input back).
                let s = ored < 0x80 ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
                guard let s else { throw error("invalid UTF-8 in string") }
                position += 1
                return s
            }
            var out = Array(bytes[start..<position])
            while true {
                guard let c = current else { throw error("unterminated string") }
                position += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in string") }
                    return s
                case UInt8(ascii: "\\"):
                    guard let e = current else { throw error("unterminated escape") }
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                    case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                    case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        // An unpaired surrogate is no character: no UTF-8 text can hold it, so it
                        // is refused like invalid UTF-8, not changed into U+FFFD behind the data's back.
                        let escape = position - 2
                        var scalar = try parseHex4()
                        if (0xD800..<0xDC00).contains(scalar) {
                            var low: UInt32?
                            if current == UInt8(ascii: "\\"), position + 1 < bytes.count,
                                bytes[position + 1] == UInt8(ascii: "u")
                            {
                                position += 2
                                low = try parseHex4()
                            }
                            guard let low, (0xDC00..<0xE000).contains(low) else {
                                throw unpairedSurrogate(scalar, at: escape)
                            }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            throw unpairedSurrogate(scalar, at: escape)
                        }
                        guard let u = Unicode.Scalar(scalar) else { throw error("invalid code point") }
                        out.append(contentsOf: Array(String(Character(u)).utf8))
                    default: throw error("invalid escape")
                    }
                case 0..<0x20: throw error("control character in string")
                default: out.append(c)
                }
            }
        }

        mutating func parseNumber() throws(DecodingError) -> Value {
            let start = position
            if current == UInt8(ascii: "-") { position += 1 }
            guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
                throw error("invalid number")
            }
            // Digits alone (nearly every number) are summed as they are read, without a string.
            var magnitude: UInt64 = 0
            var digitsOnly = true
            scan: while let c = current {
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    let (times10, over1) = magnitude.multipliedReportingOverflow(by: 10)
                    let (sum, over2) = times10.addingReportingOverflow(UInt64(c &- UInt8(ascii: "0")))
                    if over1 || over2 { digitsOnly = false }
                    magnitude = sum
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"):
                    digitsOnly = false
                default: break scan
                }
                position += 1
            }
            if digitsOnly {
                if bytes[start] != UInt8(ascii: "-"), magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
                if bytes[start] == UInt8(ascii: "-"), magnitude <= UInt64(Int64.max) + 1 {
                    return .int(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
                }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            // An int, a double, or (a 20-digit id, money to 18 decimals, 1e400) its text kept.
            guard let number = Value.number(parsing: text) else {
                throw DecodingError(message: "invalid number", offset: start)
            }
            return number
        }
    }
}
