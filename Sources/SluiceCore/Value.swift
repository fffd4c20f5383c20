import Foundation

/// One typed value flowing through a pipeline.
///
/// Rows are small ordered records of these; stages pass ``Batch``es of rows. Objects and
/// arrays carry what an HTTP API answered (the fetch stage attaches a whole response item
/// to a row), so a `Value` is also a JSON value.
public enum Value: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// A number whose text a double would not give back: one it cannot hold exactly (more than
    /// 15 significant digits, an integer beyond 64 bits, or past a double's range:
    /// `12345678901234567890`, `19.999999999999999999`, `1e400`), or one written otherwise than
    /// the double's shortest form (`1.50`, `100.000`, `1e3`). Kept as its literal text: written,
    /// stored and sent as it came (a jsonb value keeps its `1.50`). Arithmetic reads it as the
    /// nearest double; ``intValue`` reads a whole one exactly.
    case decimal(String)
    case string(String)
    indirect case array([Value])
    indirect case object([String: Value])
}

extension Value {
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The string payload, or `nil` for any other case.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The integer payload; a double with an integral value also converts.
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        case .decimal(let text):
            // Exactly: `3.00` and `1e3` are whole, 9007199254740993.0 is not a double's 2^53.
            guard let exact = Decimal(string: text), exact.isFinite else { return nil }
            var whole = Decimal()
            var copy = exact
            NSDecimalRound(&whole, &copy, 0, .plain)
            return whole == exact ? Int64(whole.description) : nil
        default: return nil
        }
    }

    /// The number as a double: the nearest one for a ``decimal``.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .decimal(let text): return Double(text)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// An object's keys; none for any other value.
    public var objectKeys: [String] {
        if case .object(let o) = self { return Array(o.keys) }
        return []
    }

    /// Looks up `key` in an object; `.null` for a missing key or a non-object.
    public subscript(key: String) -> Value {
        if case .object(let o) = self { return o[key] ?? .null }
        return .null
    }

    /// The name of this value's type as users see it in diagnostics.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "bool"
        case .int: return "int"
        case .double, .decimal: return "double"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// The value as text for a CSV cell or a SQL parameter: `nil` for null, JSON for
    /// arrays and objects, the shortest round-tripping form for doubles.
    public var text: String? {
        switch self {
        case .null: return nil
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return JSON.format(d)
        case .decimal(let text): return text
        case .string(let s): return s
        case .array, .object: return JSON.encode(self)
        }
    }
}

extension Value {
    /// `text` as a number, when it is one as JSON and SQL write it (digits with a sign, a point
    /// and an exponent; not hex, not `inf` or `nan`): an int when whole and within 64 bits, a
    /// double when that holds it exactly, else a ``decimal`` keeping the text. `nil` otherwise.
    public static func number(parsing text: String) -> Value? {
        if let i = Int64(text) { return .int(i) }
        var digits = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits = true
            case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): break
            default: return nil
            }
        }
        guard digits,
            let d = Double(text)
        else { return nil }
        // Written back, a double is its shortest form: any other spelling (`1.50`, `1e3`, 20
        // digits) is kept as it came, so a jsonb value or an API's number goes on unchanged.
        return JSON.format(d) == text ? .double(d) : .decimal(text)
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
}

extension Value: CustomStringConvertible {
    public var description: String { JSON.encode(self) }
}

extension Value {
    /// Whether a string anywhere in this value (inside arrays and objects too) contains `text`.
    public func containsText(_ text: String) -> Bool {
        switch self {
        case .string(let s): return s.contains(text)
        case .array(let items): return items.contains { $0.containsText(text) }
        case .object(let fields): return fields.values.contains { $0.containsText(text) }
        default: return false
        }
    }
}
