import SluiceCore

/// The rows of a binary COPY that its encoding declined (``BinaryCopyEncoding``: a value it could
/// not encode exactly as the server would read it), kept in text format with their row numbers,
/// to follow the binary rows in a text COPY of their own.
public struct DeclinedRows: Sendable {
    var text: [UInt8] = []
    /// Their row numbers, ascending.
    var rows: [Int] = []

    var isEmpty: Bool { rows.isEmpty }

    /// Adds row number `number`.
    mutating func add(_ row: [Value], number: Int) {
        PostgresText.appendCopyRow(row, to: &text)
        rows.append(number)
    }

    /// Adds `later`'s rows, numbered after these.
    mutating func append(_ later: DeclinedRows) {
        text += later.text
        rows += later.rows
    }

    /// The row number of line `line` of the binary COPY that sent the rows from `firstRow` on
    /// but these: its `line`-th row not declined.
    func row(ofBinaryLine line: Int, firstRow: Int = 1) -> Int {
        var row = firstRow + line - 1
        for declinedRow in rows where declinedRow <= row { row += 1 }
        return row
    }

    /// Sends them into `sql` (a `COPY ... FROM STDIN` in text format) on `connection`; returns
    /// the rows copied. A server error's `line` is renumbered to the row's number.
    func copy(into connection: PostgresConnection, _ sql: String) async throws -> Int {
        do {
            return try await connection.copyText(sql, text)
        } catch let error as PostgresError {
            throw error.renumberingCopyLine { rows[min(max($0, 1), rows.count) - 1] }
        }
    }
}
