import SluiceCore

/// A batch of a review's cells, the rows of ``BulkUpdate/reviewColumns``: per cell the row's
/// key, the column, its current and new value (nil: NULL; `""`: an empty text) and the kind of
/// change. Held column
/// by column: a review of a million rows hands out millions of cells, and an array per cell
/// was most of what they cost.
public struct ReviewCells: Sendable {
    /// The reviewed columns' names, which ``column`` indexes.
    public let columnNames: [String]
    public private(set) var keys: [String?] = []
    /// Per cell, its column's place in ``columnNames``.
    public private(set) var column: [Int] = []
    public private(set) var old: [String?] = []
    public private(set) var new: [String?] = []
    public private(set) var change: [ReviewSummary.Change] = []

    public init(columnNames: [String]) {
        self.columnNames = columnNames
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    mutating func append(key: String?, column: Int, old: String?, new: String?, change: ReviewSummary.Change) {
        keys.append(key)
        self.column.append(column)
        self.old.append(old)
        self.new.append(new)
        self.change.append(change)
    }

    /// Cell `index` as a row of ``BulkUpdate/reviewColumns`` as the page shows it, its old and
    /// new value as ``shown(_:_:)`` shows them (and the key as ``shown(_:)``).
    public func texts(_ index: Int) -> [String] {
        let (old, new) = Self.shown(old[index], new[index])
        return [keys[index].map(Self.shown) ?? "", columnNames[column[index]], old, new, change[index].rawValue]
    }

    /// A cell's old and new value as people read them, so that no change hides: each as
    /// ``shown(_:)`` shows it (NULL as ""). Two values that differ but would still read the same
    /// (`café` composed and decomposed, a Cyrillic `а` for a Latin `a`) have the characters of
    /// the stretch where they differ that are not ASCII written as their codes too:
    /// `"caf\u{E9}"` against `"cafe\u{301}"`.
    public static func shown(_ old: String?, _ new: String?) -> (old: String, new: String) {
        guard let old, let new, let (inOld, inNew) = hiddenDifference(old, new) else {
            return (old.map(Self.shown) ?? "", new.map(Self.shown) ?? "")
        }
        return (shown(old, codes: [inOld]), shown(new, codes: [inNew]))
    }

    /// Values a message on one line names side by side (a drift names a cell's old and new
    /// value as reviewed and as they are now): each as ``shown(_:)`` shows it, NULL as
    /// `(empty)`, and as ``shown(_:_:)`` shows it against each value `pairs` compares it with
    /// (indices into `values`), so that a difference between any two of them that would not read
    /// shows.
    public static func named(_ values: [String?], comparing pairs: [(Int, Int)]) -> [String] {
        var codes = [[Range<Int>]](repeating: [], count: values.count)
        for (one, other) in pairs {
            guard let a = values[one], let b = values[other], let (inA, inB) = hiddenDifference(a, b) else { continue }
            codes[one].append(inA)
            codes[other].append(inB)
        }
        return zip(values, codes).map { value, codes in value.map { shown($0, codes: codes) } ?? "(empty)" }
    }

    /// Where `old` and `new` differ (the stretch of each, as offsets of its scalars) when they
    /// would still read the same: the same once normalized, or look-alike there
    /// (``lookAlike(_:_:)``); `nil` when they are equal or read as different.
    static func hiddenDifference(_ old: String, _ new: String) -> (old: Range<Int>, new: Range<Int>)? {
        let (a, b) = (Array(old.unicodeScalars), Array(new.unicodeScalars))
        var prefix = 0
        while prefix < min(a.count, b.count), a[prefix] == b[prefix] { prefix += 1 }
        guard prefix < max(a.count, b.count) else { return nil }
        var suffix = 0
        while suffix < min(a.count, b.count) - prefix, a[a.count - 1 - suffix] == b[b.count - 1 - suffix] {
            suffix += 1
        }
        let (inOld, inNew) = (prefix..<(a.count - suffix), prefix..<(b.count - suffix))
        // `==` on strings is canonical equivalence: what renders the same, normalization aside.
        guard shown(old) == shown(new) || lookAlike(a[inOld], b[inNew]) else { return nil }
        return (inOld, inNew)
    }

    /// A value as people read it, so that a change of characters that do not show shows:
    /// quoted when empty, edged with white space or with a quote (else it could read as
    /// quoted); quoted, with a character that shows as nothing or as some other one written as
    /// its code, when it holds one: a control character (`\t`, `\n`, `\r`, `\u{1B}`), a format or
    /// other default-ignorable one (`\u{200B}`, a byte-order mark, a variation selector), a
    /// space other than the plain one (`\u{A0}`), a line or paragraph separator, a private-use
    /// or unassigned one. Inside the quotes a backslash and a quote are escaped (`\\`, `\"`),
    /// so a value that holds the text `\u{A0}` reads otherwise than one holding the space.
    public static func shown(_ value: String) -> String {
        shown(value, codes: [])
    }

    /// ``shown(_:)``, with every character not ASCII at a position (of the value's scalars) in
    /// one of `codes` written as its code too.
    static func shown(_ value: String, codes: [Range<Int>]) -> String {
        func coded(_ offset: Int, _ scalar: Unicode.Scalar) -> Bool {
            scalar.isInvisible || (!scalar.isASCII && codes.contains { $0.contains(offset) })
        }
        let scalars = value.unicodeScalars
        let quoted =
            value.isEmpty || value.first?.isWhitespace == true || value.last?.isWhitespace == true
            || scalars.first == "\"" || scalars.last == "\"" || scalars.enumerated().contains { coded($0, $1) }
        guard quoted else { return value }
        var out = "\""
        for (offset, scalar) in scalars.enumerated() {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            // `\t`, `\n`, `\r`, else `\u{1B}`.
            case _ where coded(offset, scalar): out += scalar.escapedCode
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// Whether the stretches where two values differ may read the same: one ASCII, the other as
    /// many characters of the scripts and forms whose letters look like Latin ones (Greek,
    /// Cyrillic, Armenian, Cherokee, letter-like symbols, full-width forms, mathematical letters).
    static func lookAlike(_ a: ArraySlice<Unicode.Scalar>, _ b: ArraySlice<Unicode.Scalar>) -> Bool {
        func latinLike(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x0370...0x058F, 0x13A0...0x13FF, 0x2100...0x214F, 0xFF00...0xFFEF, 0x1D400...0x1D7FF: true
            default: false
            }
        }
        func characters(_ scalars: ArraySlice<Unicode.Scalar>) -> Int {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            return String(view).count
        }
        let (ascii, other) = a.allSatisfy(\.isASCII) ? (a, b) : (b, a)
        return ascii.allSatisfy(\.isASCII) && !other.isEmpty && other.allSatisfy { $0.isASCII || latinLike($0) }
            && !other.allSatisfy(\.isASCII) && characters(ascii) == characters(other)
    }

    /// The cells as a batch of ``BulkUpdate/reviewColumns``, empty values NULL.
    public var batch: Batch {
        var batch = Batch(columns: BulkUpdate.reviewColumns)
        batch.rows = keys.indices.map { index in
            [
                keys[index].map(Value.string) ?? .null, .string(columnNames[column[index]]),
                old[index].map(Value.string) ?? .null, new[index].map(Value.string) ?? .null,
                .string(change[index].rawValue),
            ]
        }
        return batch
    }
}
