import SluicePostgres

extension BulkUpdate {
    /// The statements of one run, every name quoted (``PostgresConnection/quoteIdentifier(_:)``).
    struct SQL: Sendable {
        let target: String
        let key: String
        let columns: [String]
        /// The SQL for each column's value after the update (`s.c` or `COALESCE(s.c, t.c)`).
        let newValues: [String]
        let input = "sluice_apply_input"
        /// The target's name as a string literal, for `::regclass`.
        let targetLiteral: String
        let sampleLimit: Int
        /// The input's expected-value columns (``BulkUpdate/guarded``), else empty.
        let expected: [String]
        /// Whether the server knows nondeterministic collations (`collisdeterministic`, 12+).
        let hasCollationDeterminism: Bool

        /// - Throws: ``PostgresError`` when a name cannot be quoted (it contains NUL).
        init(update: BulkUpdate, serverVersion: Int) throws(PostgresError) {
            target = try PostgresConnection.quoteIdentifier(update.table)
            key = try PostgresConnection.quoteIdentifierPart(update.key)
            var columns: [String] = []
            for column in update.columns { columns.append(try PostgresConnection.quoteIdentifierPart(column.name)) }
            self.columns = columns
            newValues = zip(update.columns, columns).map { column, quoted in
                switch column.onEmpty {
                case .clear: return "s.\(quoted)"
                case .keep: return "COALESCE(s.\(quoted), t.\(quoted))"
                }
            }
            targetLiteral = try PostgresConnection.quoteLiteral(target)
            sampleLimit = update.sampleLimit
            expected = update.guarded ? update.columns.indices.map { "sluice_expected_\($0 + 1)" } : []
            hasCollationDeterminism = serverVersion >= 120_000
        }

        private var columnList: String { columns.joined(separator: ", ") }
        /// Every input column after the key, in COPY order.
        private var inputList: String { (columns + expected).joined(separator: ", ") }
        private var join: String { "\(target) AS t JOIN \(input) AS s ON t.\(key) = s.\(key)" }
        private var current: String { columns.map { "t.\($0)" }.joined(separator: ", ") }
        private var differs: String { "(\(newValues.joined(separator: ", "))) IS DISTINCT FROM (\(current))" }
        /// The row holds the values the input expects (always, unless guarded).
        private var holdsExpected: String {
            expected.isEmpty
                ? "true" : "(\(current)) IS NOT DISTINCT FROM (\(expected.map { "s.\($0)" }.joined(separator: ", ")))"
        }

        var lock: String { "LOCK TABLE \(target) IN SHARE ROW EXCLUSIVE MODE" }

        var createInput: String {
            let expectedAs = zip(columns, expected).map { ", \($0) AS \($1)" }.joined()
            return """
                CREATE TEMP TABLE \(input) ON COMMIT DROP AS SELECT \(key), \(columnList)\(expectedAs) \
                FROM \(target) WITH NO DATA
                """
        }

        var copyInput: String { "COPY \(input) (\(key), \(inputList)) FROM STDIN" }

        /// The input key's type and whether its collation compares bytes (false on servers too
        /// old to say). The temp table's first column is the key.
        var keyType: String {
            let deterministic =
                hasCollationDeterminism
                ? "COALESCE((SELECT c.collisdeterministic FROM pg_collation AS c WHERE c.oid = a.attcollation), true)"
                : "false"
            return """
                SELECT a.atttypid::regtype::text, \(deterministic) FROM pg_attribute AS a \
                WHERE a.attrelid = '\(input)'::regclass AND a.attnum = 1
                """
        }

        var anyDuplicate: String { "SELECT 1 FROM \(input) GROUP BY \(key) HAVING count(*) > 1 LIMIT 1" }

        var conflictingDuplicates: String {
            """
            SELECT \(key)::text FROM (SELECT DISTINCT \(key), \(inputList) FROM \(input)) AS d \
            GROUP BY \(key) HAVING count(*) > 1 ORDER BY 1 LIMIT \(sampleLimit)
            """
        }

        var deleteDuplicates: String {
            "DELETE FROM \(input) AS a USING \(input) AS b WHERE a.\(key) = b.\(key) AND a.ctid > b.ctid"
        }

        var unknownKeys: String {
            """
            SELECT s.\(key)::text FROM \(input) AS s \
            WHERE NOT EXISTS (SELECT 1 FROM \(target) AS t WHERE t.\(key) = s.\(key)) ORDER BY 1 LIMIT \(sampleLimit)
            """
        }

        /// Every matched row: its key, its current values, the values the update writes, whether
        /// the update will change it, and whether it is a conflict (it differs but does not hold
        /// the expected values). One pass gives the matched count, the conflicts and the prior values.
        var matchedRows: String {
            """
            SELECT t.\(key), \(current), \(newValues.joined(separator: ", ")), \
            (\(differs)) AND \(holdsExpected), (\(differs)) AND NOT \(holdsExpected) FROM \(join)
            """
        }

        var update: String {
            let assignments = zip(columns, newValues).map { "\($0) = \($1)" }.joined(separator: ", ")
            return
                "UPDATE \(target) AS t SET \(assignments) FROM \(input) AS s WHERE t.\(key) = s.\(key) AND \(differs) "
                + "AND \(holdsExpected)"
        }

        /// `$1` is the constraint name.
        var constraintDefinition: String {
            """
            SELECT pg_get_constraintdef(oid) FROM pg_constraint \
            WHERE conrelid = \(targetLiteral)::regclass AND conname = $1
            """
        }

        var targetColumns: String {
            """
            SELECT attname::text FROM pg_attribute \
            WHERE attrelid = \(targetLiteral)::regclass AND attnum > 0 AND NOT attisdropped \
            ORDER BY attnum
            """
        }

        /// The first key whose row, with the new values, fails `condition` (a CHECK expression
        /// over the target's column names), with the new values of the updated columns.
        func violation(targetColumns: [String], condition: String) throws(PostgresError) -> String {
            let updated = Dictionary(uniqueKeysWithValues: zip(columns, newValues))
            var row: [String] = []
            for name in targetColumns {
                let quoted = try PostgresConnection.quoteIdentifierPart(name)
                row.append("\(updated[quoted] ?? "t.\(quoted)") AS \(quoted)")
            }
            return """
                SELECT \(key)::text, \(columnList) FROM (SELECT \(row.joined(separator: ", ")) FROM \(join)) AS t \
                WHERE NOT (\(condition)) ORDER BY 1 LIMIT 1
                """
        }
    }
}
