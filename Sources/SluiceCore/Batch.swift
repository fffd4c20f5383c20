/// A group of rows sharing one column list: the unit that crosses every edge of a pipeline.
///
/// Stages never pass rows one at a time across an async hop; a batch amortises the cost of
/// suspension and of the column names (which are shared copy-on-write by every row).
public struct Batch: Sendable, Hashable {
    /// Column names, in order. Every row has exactly this many values.
    public var columns: [String]
    public var rows: [[Value]]

    public init(columns: [String], rows: [[Value]] = []) {
        self.columns = columns
        self.rows = rows
    }

    public var count: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }

    /// The index of `column`, or `nil` when the batch has no such column.
    public func index(of column: String) -> Int? {
        columns.firstIndex(of: column)
    }

    /// The value of `column` in row `row`, `.null` when the column is absent.
    public func value(_ column: String, row: Int) -> Value {
        guard let i = index(of: column) else { return .null }
        return rows[row][i]
    }
}
