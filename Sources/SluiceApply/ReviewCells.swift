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

    /// Cell `index` as a row of ``BulkUpdate/reviewColumns`` as the page shows it: NULL as "",
    /// an empty text as `""` (which it is not, in a CSV, told apart from).
    public func texts(_ index: Int) -> [String] {
        // Quoted when empty or edged with white space: a change of spaces alone shows. A
        // character that shows as nothing (a zero-width space, a byte-order mark, a control
        // character) is written as its code, `\u{200B}`, and the text quoted: a change of one
        // alone shows too.
        func shown(_ value: String?) -> String {
            guard let value else { return "" }
            let invisible = value.unicodeScalars.contains(where: Self.isInvisible)
            let text =
                invisible
                ? value.unicodeScalars.map {
                    Self.isInvisible($0) ? "\\u{\(String($0.value, radix: 16, uppercase: true))}" : String($0)
                }.joined() : value
            let edged = value.first?.isWhitespace == true || value.last?.isWhitespace == true
            return value.isEmpty || edged || invisible ? "\"\(text)\"" : text
        }
        return [
            keys[index] ?? "", columnNames[column[index]], shown(old[index]), shown(new[index]), change[index].rawValue,
        ]
    }

    /// A format or control character (not a tab or a line break): one that takes no room.
    static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .format: return true
        case .control: return scalar != "\t" && scalar != "\n" && scalar != "\r"
        default: return false
        }
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
