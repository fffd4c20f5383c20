import SluiceCore

/// The complete result of one statement, rows decoded by column type.
///
/// Types: `bool` → `.bool`; `int2`/`int4`/`int8`/`oid` → `.int`; `float4`/`float8` → `.double`
/// (`NaN` and `±Infinity` → `.string`, the server's spelling: JSON has none for them);
/// `json`/`jsonb` → an object or array decoded, a scalar as its JSON text (`.string("\"a\"")`);
/// `numeric` → `.string` (exact: a `Double` would lose digits of a money amount); `text`, `varchar`, `uuid`, `timestamptz` (as the server prints
/// it, ISO 8601 with the session's time zone) and every other type → `.string`; NULL → `.null`.
public struct PostgresResult: Sendable, Hashable {
    public var columns: [String]
    public var rows: [[Value]]
    /// Rows inserted, updated, deleted, copied or selected (libpq's `PQcmdTuples`), 0 otherwise.
    public var affectedRows: Int
    /// The command tag, e.g. `UPDATE 3` or `COMMIT`.
    public var commandTag: String

    public init(columns: [String], rows: [[Value]], affectedRows: Int, commandTag: String = "") {
        self.columns = columns
        self.rows = rows
        self.affectedRows = affectedRows
        self.commandTag = commandTag
    }

    /// The rows as one ``Batch``.
    public var batch: Batch { Batch(columns: columns, rows: rows) }

    /// The first column of the first row, `.null` when there is none: for `SELECT count(*)`.
    public var scalar: Value { rows.first?.first ?? .null }
}

extension PostgresResult {
    /// `text` as a result column of type `typeOID` would hold it (the types above): for values
    /// read as text (`::text`) that are also wanted typed.
    public static func value(text: String, typeOID: UInt32) -> Value {
        let decoding = ColumnDecoding(oid: typeOID)
        if case .string = decoding { return .string(text) }
        var text = text
        return text.withUTF8 { decoding.decode($0) }
    }
}
