import SluiceCore

/// Input values for a `timestamp` (without time zone) column that carry a UTC offset or `Z`
/// (`2024-01-01T00:00:00+05:00`): PostgreSQL drops it without a word and stores the time as
/// written (`2024-01-01 00:00:00`), not the instant the value meant. The apply writes them as
/// they are (it may be meant); its review and the run's notices say so (``note(table:)``).
public struct OffsetTimestamps: Sendable, Hashable {
    /// The column (the key, or one the apply writes).
    public var column: String
    /// How many input values for it carry an offset.
    public var values: Int
    /// The first of them, as the input gave it (cut at ``exampleLimit`` characters).
    public var example: String

    public init(column: String, values: Int, example: String) {
        self.column = column
        self.values = values
        self.example = example
    }

    /// The longest example kept.
    static let exampleLimit = 64

    /// What the review and the run's notices say of them.
    public func note(table: String) -> String {
        "\(values.counted("input value")) for \(column) (timestamp without time zone) \(values == 1 ? "carries" : "carry") "
            + "a UTC offset (e.g. "
            + "\(example)): PostgreSQL drops the offset and stores the time as written, not the instant it meant; "
            + "to keep instants, make the column timestamptz (ALTER TABLE \(table) ALTER COLUMN \(column) TYPE "
            + "timestamptz), or convert the values in a transform"
    }

    /// Whether `text`, a timestamp as PostgreSQL reads one, ends its time of day with an explicit
    /// offset: `Z`, or `+`/`-` and a digit (`+05:00`, `-0800`, ` +05`), after the first `H:M`.
    /// A date alone, a time alone or a zone by name (`PST`) is not one.
    static func hasOffset(_ text: String) -> Bool {
        var bytes = text.utf8.makeIterator()
        // To the first ':' of the time of day.
        while let byte = bytes.next() {
            if byte == UInt8(ascii: ":") { break }
        }
        var next = bytes.next()
        // The rest of the time: digits, ':' and a fraction.
        while let byte = next, Self.isTimeByte(byte) { next = bytes.next() }
        while next == UInt8(ascii: " ") { next = bytes.next() }
        switch next {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            next = bytes.next()
            while next == UInt8(ascii: " ") { next = bytes.next() }
            return next == nil
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let digit = bytes.next() else { return false }
            return digit >= UInt8(ascii: "0") && digit <= UInt8(ascii: "9")
        default:
            return false
        }
    }

    private static func isTimeByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ":")
            || byte == UInt8(ascii: ".")
    }
}

extension OffsetTimestamps {
    /// As a review's summary keeps it (`offset_timestamps`).
    var json: Value {
        .object(["column": .string(column), "values": .int(Int64(values)), "example": .string(example)])
    }

    init?(json: Value) {
        guard case .string(let column) = json["column"], let values = json["values"].intValue,
            case .string(let example) = json["example"]
        else { return nil }
        self.init(column: column, values: Int(values), example: example)
    }
}
