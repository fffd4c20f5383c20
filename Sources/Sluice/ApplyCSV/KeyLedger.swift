import SluiceCore

/// The keys of the rows a ``CSVInputStage`` has read, to find a key given two different sets of
/// values before the database does (it would say so only once a transaction is open).
///
/// Per key it keeps the line where it was first seen and a hash of the values apply reads from
/// that row, not the values: memory grows by a few tens of bytes per row, like apply's own
/// `filled_` tallies. A key repeated with the same values is fine (apply keeps one of them);
/// columns apply does not read (the audit trail's `spotify_id`) may differ. A hash collision
/// would let a conflict through to the database, which refuses it too.
struct KeyLedger {
    /// Where the key is in a row.
    let keyIndex: Int
    /// Where the columns apply reads are.
    let valueIndices: [Int]
    /// Compare keys as UUIDs (case-insensitive), as the database does for a `uuid` key.
    let keyIsUUID: Bool
    private var seen: [Value: (line: Int, digest: Int)] = [:]

    /// - Parameter columns: the header; it holds every required column of `schema`.
    init(columns: [String], schema: CSVInputSchema, keyIsUUID: Bool) {
        keyIndex = columns.firstIndex(of: schema.keyField) ?? 0
        valueIndices = schema.required.compactMap { requirement in
            requirement.column == schema.keyField ? nil : columns.firstIndex(of: requirement.column)
        }
        self.keyIsUUID = keyIsUUID
    }

    /// Notes a row's key; returns the line where the same key came with other values, if it did.
    mutating func firstLineWithOtherValues(_ row: [Value], line: Int) -> Int? {
        var key = row[keyIndex]
        if keyIsUUID, let text = key.stringValue { key = .string(text.lowercased()) }
        var hasher = Hasher()
        for index in valueIndices { hasher.combine(row[index]) }
        let digest = hasher.finalize()
        guard let first = seen[key] else {
            seen[key] = (line, digest)
            return nil
        }
        return first.digest == digest ? nil : first.line
    }
}
