import SluicePostgres

extension BulkUpdate {
    /// The statements of one run, every name quoted (``PostgresConnection/quoteIdentifier(_:)``).
    struct SQL: Sendable {
        let target: String
        let key: String
        let columns: [String]
        /// Each column's value from the input row (`s.c` or `COALESCE(s.c, t.c)`).
        private let inputValues: [String]
        /// The SQL for each column's value after the update (`s.c` or `COALESCE(s.c, t.c)`;
        /// guarded, the cell's own value where it changed since).
        var newValues: [String] {
            guard !expected.isEmpty else { return inputValues }
            // Guarded (an undo), cell by cell: a cell still holding what the undone apply wrote
            // gets its prior value back, a cell changed since keeps what it holds.
            return zip(inputValues, zip(columns, expected)).enumerated().map { index, pair in
                let (value, (column, expected)) = pair
                return "CASE WHEN \(same("t.\(column)", "s.\(expected)", index)) THEN \(value) ELSE t.\(column) END"
            }
        }
        /// The places in ``columns`` of those whose `=` holds between values that print
        /// differently as text (``textComparedColumns``): compared, and hashed, by their text.
        var textCompared: Set<Int> = []
        /// The same for the `ON CONFLICT DO UPDATE` of an upsert, where the input row is `EXCLUDED`.
        let excludedValues: [String]
        /// Each column's value in the row an upsert proposes (``upsert``): the input's, or for a
        /// column whose empty cell keeps the table's value, `COALESCE(s.c, cur.c)` (the current row
        /// joined as `cur`), so that a NOT NULL column's kept cell is no NULL the server refuses
        /// before it finds the conflict.
        let proposedValues: [String]
        let input = "sluice_apply_input"
        /// The target's name as a string literal, for `::regclass`.
        let targetLiteral: String
        /// The key's name, unquoted, as a literal.
        let keyLiteral: String
        let sampleLimit: Int
        /// The input's expected-value columns (``BulkUpdate/guarded``), else empty.
        let expected: [String]
        /// Whether the server knows nondeterministic collations (`collisdeterministic`, 12+).
        let hasCollationDeterminism: Bool
        /// The input's column flagging rows the undone apply inserted (``BulkUpdate/deletesInserted``).
        let inserted: String?
        let mode: Mode
        /// Each updated column's name as a string literal.
        let columnLiterals: [String]
        /// Each updated column's name, unquoted.
        let columnNames: [String]
        /// An undo of added rows (``inserted``): the target's columns the undone apply did not
        /// write and that have no default, quoted. A row the apply added was NULL there; a value
        /// in one now is someone's since, and the row is not deleted (``untouched``). An upsert or
        /// insert into a table with triggers finds them too, to say which a trigger filled
        /// (``filledAdded``).
        var unwritten: [String] = []
        /// ``unwritten``, unquoted.
        var unwrittenNames: [String] = []
        /// The target's row-level BEFORE triggers for the write (``writeTriggers``), by name.
        var triggers: [String] = []
        /// The target has such triggers: each write first records the values it means to write
        /// in ``intended``, and the values stored are read back before COMMIT (``storedRows``).
        var readsBack: Bool { !triggers.isEmpty }
        /// Whether the server has `pg_partition_tree` (12+), to find the triggers of partitions.
        let hasPartitionTree: Bool
        /// Whether the server has `hash_record_extended` and `bit_xor` (14+), for ``stateFingerprint``.
        let hasRecordHash: Bool
        /// `SET LOCAL TimeZone` and `DateStyle` to ``BulkUpdate/timeZone`` and
        /// ``BulkUpdate/dateStyle``, for each connection's transaction.
        let sessionSettings: [String]

        /// - Throws: ``PostgresError`` when a name cannot be quoted (it contains NUL).
        init(update: BulkUpdate, serverVersion: Int) throws(PostgresError) {
            target = try PostgresConnection.quoteIdentifier(update.table)
            key = try PostgresConnection.quoteIdentifierPart(update.key)
            var columns: [String] = []
            for column in update.columns { columns.append(try PostgresConnection.quoteIdentifierPart(column.name)) }
            self.columns = columns
            func values(from row: String) -> [String] {
                zip(update.columns, columns).map { column, quoted in
                    switch column.onEmpty {
                    case .clear: return "\(row).\(quoted)"
                    case .keep: return "COALESCE(\(row).\(quoted), t.\(quoted))"
                    }
                }
            }
            let expected = update.guarded ? update.columns.indices.map { "sluice_expected_\($0 + 1)" } : []
            inputValues = values(from: "s")
            excludedValues = values(from: "EXCLUDED")
            proposedValues = zip(update.columns, columns).map { column, quoted in
                switch column.onEmpty {
                case .clear: return "s.\(quoted)"
                case .keep: return "COALESCE(s.\(quoted), cur.\(quoted))"
                }
            }
            targetLiteral = try PostgresConnection.quoteLiteral(target)
            keyLiteral = try PostgresConnection.quoteLiteral(update.key)
            sampleLimit = update.sampleLimit
            self.expected = expected
            hasCollationDeterminism = serverVersion >= 120_000
            hasPartitionTree = serverVersion >= 120_000
            hasRecordHash = serverVersion >= 140_000
            var settings: [String] = []
            if let zone = update.timeZone {
                settings.append("SET LOCAL TimeZone = \(try PostgresConnection.quoteLiteral(zone))")
            }
            if let style = update.dateStyle {
                settings.append("SET LOCAL DateStyle = \(try PostgresConnection.quoteLiteral(style))")
            }
            sessionSettings = settings
            inserted = update.deletesInserted ? "sluice_inserted" : nil
            mode = update.mode
            var literals: [String] = []
            for column in update.columns { literals.append(try PostgresConnection.quoteLiteral(column.name)) }
            columnLiterals = literals
            columnNames = update.columns.map(\.name)
        }

        private var columnList: String { columns.joined(separator: ", ") }
        /// Every input column after the key, in COPY order.
        private var inputList: String { (columns + expected + (inserted.map { [$0] } ?? [])).joined(separator: ", ") }
        private var join: String { "\(target) AS t JOIN \(input) AS s ON t.\(key) = s.\(key)" }
        private var current: String { columns.map { "t.\($0)" }.joined(separator: ", ") }

        /// `value`, a cell of the column at `index`, as the write compares and hashes it: as text
        /// under the byte order `"C"` for a column in ``textCompared`` (`citext`, a text under a
        /// case-insensitive collation: their `=` calls `abc` and `ABC` the same, yet they are two
        /// values the review shows, the undo restores and a reader sees), else as it is, which
        /// for every other type is cheaper and tells the same.
        func comparable(_ value: String, _ index: Int) -> String {
            textCompared.contains(index) ? "(\(value))::text COLLATE \"C\"" : value
        }

        /// `a IS DISTINCT FROM b`, cells of the column at `index`, compared as ``comparable(_:_:)``.
        func distinct(_ a: String, _ b: String, _ index: Int) -> String {
            "\(comparable(a, index)) IS DISTINCT FROM \(comparable(b, index))"
        }

        /// `a IS NOT DISTINCT FROM b`, cells of the column at `index`, as ``distinct(_:_:)``.
        func same(_ a: String, _ b: String, _ index: Int) -> String {
            "\(comparable(a, index)) IS NOT DISTINCT FROM \(comparable(b, index))"
        }

        /// `values` (one per column), each as ``comparable(_:_:)``, listed.
        private func comparableList(_ values: [String]) -> String {
            values.enumerated().map { comparable($1, $0) }.joined(separator: ", ")
        }

        /// ``comparableList(_:)`` in a row.
        private func comparableRow(_ values: [String]) -> String { "(\(comparableList(values)))" }

        private var differs: String {
            "\(comparableRow(newValues)) IS DISTINCT FROM \(comparableRow(columns.map { "t.\($0)" }))"
        }
        /// The row holds the values the input expects (always, unless guarded).
        private var holdsExpected: String {
            expected.isEmpty
                ? "true"
                : "\(comparableRow(columns.map { "t.\($0)" })) IS NOT DISTINCT FROM "
                    + comparableRow(expected.map { "s.\($0)" })
        }

        /// Guarded, per column: the cell was changed since — it holds neither what the input
        /// expects nor (unless the undone apply added the row) the value to restore. A cell the
        /// undone apply left as it was (its prior value is what it wrote) is not its to restore:
        /// a change there since is someone else's, and no conflict of this undo.
        private var changedSince: [String] {
            zip(columns, expected).enumerated().map { index, pair in
                let (column, expected) = pair
                let prior = distinct("t.\(column)", "s.\(column)", index)
                let wrote = distinct("s.\(column)", "s.\(expected)", index)
                let notPrior = inserted.map { "(s.\($0) OR \(prior))" } ?? prior
                let written = inserted.map { "(s.\($0) OR \(wrote))" } ?? wrote
                return "(\(distinct("t.\(column)", "s.\(expected)", index)) AND \(notPrior) AND \(written))"
            }
        }

        /// The columns no one wrote since the apply added the row: ``unwritten`` still NULL.
        private var untouched: String {
            unwritten.isEmpty ? "true" : "(" + unwritten.map { "t.\($0) IS NULL" }.joined(separator: " AND ") + ")"
        }

        /// An added row the undo deletes: it holds the expected values, and nothing else was
        /// written in it since.
        private var deletable: String { "(\(holdsExpected) AND \(untouched))" }

        /// The matched row changes: its values differ, or (an undo of rows an apply added) it is
        /// deleted, which it is when it holds the expected values and nothing else since.
        private var changes: String {
            inserted.map { "((s.\($0) AND \(deletable)) OR (NOT s.\($0) AND \(differs)))" } ?? "(\(differs))"
        }

        /// Guarded, per column (``changedSince``), then for an added row a value written since
        /// in a column the apply did not write (the last flag, when there are such columns).
        private var changedSinceFlags: [String] {
            guard let inserted, !unwritten.isEmpty else { return changedSince }
            return changedSince + ["(s.\(inserted) AND NOT \(untouched))"]
        }

        /// Guarded: some cell of the matched row was changed since (``changedSince``); else `false`.
        private var conflicts: String {
            expected.isEmpty ? "false" : "(\(changedSinceFlags.joined(separator: " OR ")))"
        }

        var lock: String { "LOCK TABLE \(target) IN SHARE ROW EXCLUSIVE MODE" }

        /// The planner's estimate of the table's rows (0 before its first ANALYZE or VACUUM), and
        /// whether this role may `ANALYZE` the table: it (or a role it is in) owns the table or the
        /// database. Any other role's `ANALYZE` only warns and skips the table.
        var analyzeCheck: String {
            """
            SELECT greatest(c.reltuples, 0)::int8, pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE') \
            FROM pg_class AS c, pg_database AS d \
            WHERE c.oid = \(targetLiteral)::regclass AND d.datname = current_database()
            """
        }

        /// Refreshes the statistics of what the write changed: an update's columns, or the whole
        /// table when rows were added or deleted.
        var analyze: String {
            let changedOnlyColumns = mode == .update && inserted == nil
            return "ANALYZE \(target)" + (changedOnlyColumns ? " (\(columnList))" : "")
        }

        var createInput: String { createInput(onCommitDrop: true) }

        /// The input table; a review creates it for the session (`onCommitDrop: false`) before its
        /// read-only transaction, which may write temporary tables but not create them.
        func createInput(onCommitDrop: Bool) -> String {
            let expectedAs = zip(columns, expected).map { ", \($0) AS \($1)" }.joined()
            let insertedAs = inserted.map { ", NULL::boolean AS \($0)" } ?? ""
            return """
                CREATE TEMP TABLE \(input)\(onCommitDrop ? " ON COMMIT DROP" : "") AS SELECT \(key), \(columnList)\
                \(expectedAs)\(insertedAs) FROM \(target) WITH NO DATA
                """
        }

        // MARK: The review and the drift check

        /// The input's columns in COPY order (``copyInput``: the key, each updated column, then
        /// any the apply adds): each one's type OID, its modifier, whether it is numeric
        /// (`pg_type.typcategory = 'N'`), whether it is an array (`'A'`) and whether it is text
        /// (`'S'`: it may hold `''`); a domain has its base type's category. Then the type the
        /// values are of once domains are taken to their base type and an array to its element's
        /// (recursively: a domain over `int` and an array of one end at `int4`), which decides how
        /// a value goes in (``InputRows/integerPositions``); last, whether that resolution passes
        /// `timestamp` without time zone (``OffsetTimestamps``).
        var columnTypes: String {
            """
            WITH RECURSIVE resolved(attnum, oid, step) AS (\
            SELECT attnum, atttypid, 0 FROM pg_attribute \
            WHERE attrelid = '\(input)'::regclass AND attnum > 0 AND NOT attisdropped \
            UNION ALL SELECT r.attnum, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, r.step + 1 \
            FROM resolved AS r JOIN pg_type AS t ON t.oid = r.oid \
            WHERE r.step < 16 AND (t.typtype = 'd' OR (t.typcategory = 'A' AND t.typelem <> 0))) \
            SELECT a.atttypid::int8, a.atttypmod, (ty.typcategory = 'N'), (ty.typcategory = 'A'), \
            (ty.typcategory = 'S'), \
            (SELECT r.oid::int8 FROM resolved AS r WHERE r.attnum = a.attnum ORDER BY r.step DESC LIMIT 1), \
            EXISTS (SELECT FROM resolved AS r WHERE r.attnum = a.attnum AND r.oid = 'timestamp'::regtype) \
            FROM pg_attribute AS a JOIN pg_type AS ty ON ty.oid = a.atttypid \
            WHERE a.attrelid = '\(input)'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """
        }

        /// The target's rows and, per column, how many hold a value: the coverage before. An empty
        /// text is no value (an apply writes an empty input as NULL, and the review calls `''`
        /// becoming a value a fill): `text` says which columns may hold one.
        /// `hashed`: then last, ``tableHash``'s hash, from the same scan.
        func coverage(text: [Bool], hashed: Bool = false) -> String {
            let counts = zip(columns, text).map { column, text in
                text ? ", count(NULLIF(\(column), ''))" : ", count(\(column))"
            }
            return "SELECT count(*)" + counts.joined() + (hashed ? ", \(rowsHash)" : "") + " FROM \(target)"
        }

        /// The table's rows, and every row's key and written columns hashed by their types (64
        /// bits) and the hashes XORed, as text (``BulkUpdate/AppliedState``). Fails for a type with
        /// no hash function (`money`).
        var tableHash: String { "SELECT count(*), \(rowsHash) FROM \(target)" }

        private var rowsHash: String {
            "COALESCE(bit_xor(hash_record_extended(ROW(\(key), \(comparableList(columns))), 0)), 0)::text"
        }

        /// The input rows the write would change or add, or whose key is not in the table, beside
        /// their current row: the key, whether the row exists, then per column the current value,
        /// the value after the write (as text) and whether they differ (``ReviewRow`` reads
        /// them). Where the row does not exist the value after the write is the input's (NULL
        /// when it was empty: the COPY sent an empty input as NULL). Rows left as they are stay
        /// on the server: ``inputCounts`` counts them.
        var reviewRows: String { reviewRows(andThen: nil) }

        private func reviewRows(andThen extra: String?) -> String {
            let cells = zip(columns, newValues).enumerated().map { index, pair in
                "t.\(pair.0)::text, (\(pair.1))::text, \(distinct("(\(pair.1))", "t.\(pair.0)", index))"
            }
            let changes = zip(columns, newValues).enumerated().map { distinct("(\($1.1))", "t.\($1.0)", $0) }
            return """
                SELECT s.\(key)::text, t.\(key) IS NOT NULL, \(cells.joined(separator: ", "))\(extra.map { ", " + $0 } ?? "") \
                FROM \(input) AS s LEFT JOIN \(target) AS t ON t.\(key) = s.\(key) \
                WHERE t.\(key) IS NULL OR \(changes.joined(separator: " OR "))
                """
        }

        /// ``reviewRows`` with one more column: what each row changes in ``tableHash``'s hash, for
        /// the hash after the write without a scan of the table after it (``BulkUpdate/AppliedState``).
        /// A row the table has: its key and written columns hashed as they are and as the write
        /// leaves them, XORed; a row it has not: them hashed as an upsert adds them (what an
        /// update does with it, nothing, is the caller's to know).
        var reviewRowsHashed: String {
            // Hashed as ``rowsHash`` hashes the table's rows.
            func hashed(_ key: String, _ values: [String]) -> String {
                "hash_record_extended(ROW(\(key), \(comparableList(values))), 0)"
            }
            let before = hashed("t.\(key)", columns.map { "t.\($0)" })
            let after = hashed("t.\(key)", newValues)
            let added = hashed("s.\(key)", columns.map { "s.\($0)" })
            return reviewRows(
                andThen: "(CASE WHEN t.\(key) IS NOT NULL THEN \(before) # \(after) ELSE \(added) END)::text")
        }

        /// What the write would do now, as one text: per input row its key and values, whether
        /// the table has the row, and every written cell's current and new value, hashed by the
        /// columns' types (64 bits, `hash_record_extended`) and the hashes XORed, so the order of
        /// rows does not matter (the keys are distinct), with the row count: `ROWS:XOR`
        /// (``BulkUpdate``'s `stateFingerprint(_:on:)` adds which table, key and columns, written
        /// how). ~0.2 s per 200,000 rows here, most of it the join; the rows read as text and
        /// hashed took more than twice that. A
        /// review records it (``ReviewSummary/stateFingerprint``); an apply held to the review that
        /// reads the same on the locked table would write exactly the reviewed cells, so nothing
        /// has drifted.
        var stateFingerprint: String {
            let cells = zip(columns, newValues).enumerated().map { index, pair in
                "\(comparable("t.\(pair.0)", index)), \(comparable(pair.1, index))"
            }.joined(separator: ", ")
            let inputValues = columns.map { "s.\($0)" }.joined(separator: ", ")
            return """
                SELECT count(*)::text || ':' || COALESCE(bit_xor(h), 0)::text \
                FROM (SELECT hash_record_extended(ROW(s.\(key), \(inputValues), t.\(key) IS NOT NULL, \(cells)), 0) AS h \
                FROM \(input) AS s LEFT JOIN \(target) AS t ON t.\(key) = s.\(key)) AS x
                """
        }

        /// The input's rows, then per column how many give a value: with what ``reviewRows``
        /// streams, the rows left as they are follow without a second join.
        var inputCounts: String {
            "SELECT count(*)" + columns.map { ", count(\($0))" }.joined() + " FROM \(input)"
        }

        /// The reviewed cells an apply is held to, one row per key (typed as the input's key):
        /// per column `l<i>`, whether the review lists a cell, and its old and new value
        /// (`o<i>`, `n<i>`: text, an empty text as NULL, as a CSV reads back).
        let reviewed = "sluice_apply_reviewed"

        var createReviewed: String {
            let cells = columns.indices.map { ", NULL::boolean AS l\($0), NULL::text AS o\($0), NULL::text AS n\($0)" }
            return """
                CREATE TEMP TABLE \(reviewed) ON COMMIT DROP AS SELECT s.\(key) AS k\(cells.joined()) \
                FROM \(input) AS s WITH NO DATA
                """
        }

        var copyReviewed: String { "COPY \(reviewed) FROM STDIN" }

        /// The rows the write would still change whose cells differ from the review, one row
        /// each: the key, then per column whether the write would change the cell now (`w<i>`)
        /// with its old and new value as the review shows them (`a<i>`, `b<i>`), the reviewed
        /// cell (`l<i>`, `o<i>`, `n<i>`), and whether the two differ (`d<i>`: only one side
        /// has the cell, or their values differ). A row that already holds what the write would
        /// write (the reviewed apply ran already, or someone wrote the same values) is written
        /// nothing, so it cannot be overwritten and is not here. A new row (upsert, insert) has
        /// every cell, as the review lists it.
        ///
        /// One pass: the input joined with the table and with the review, both on the key
        /// (each holds a key at most once: the input's keys are distinct, the review is pinned
        /// by its hash and lists a row's cells together).
        var driftedRows: String {
            let exists = "t.\(key) IS NOT NULL"
            var now: [String] = []
            var drifts: [String] = []
            for (index, pair) in zip(columns, newValues).enumerated() {
                let (column, new) = pair
                now.append(
                    """
                    CASE WHEN \(exists) THEN \(distinct("(\(new))", "t.\(column)", index)) ELSE true END AS w\(index), \
                    NULLIF(t.\(column)::text, '') AS a\(index), NULLIF((\(new))::text, '') AS b\(index), \
                    COALESCE(r.l\(index), false) AS l\(index), r.o\(index), r.n\(index)
                    """)
                drifts.append(
                    """
                    (w\(index) <> l\(index) OR (w\(index) AND (a\(index) IS DISTINCT FROM o\(index) \
                    OR b\(index) IS DISTINCT FROM n\(index)))) AS d\(index)
                    """)
            }
            let anyChange = columns.indices.map { "w\($0)" }.joined(separator: " OR ")
            let anyDrift = columns.indices.map { "d\($0)" }.joined(separator: " OR ")
            return """
                CREATE TEMP TABLE sluice_apply_drift ON COMMIT DROP AS SELECT * FROM (SELECT *, \
                \(drifts.joined(separator: ", ")) FROM (SELECT s.\(key) AS k, \(now.joined(separator: ", ")) \
                FROM \(input) AS s \(mode == .update ? "JOIN" : "LEFT JOIN") \(target) AS t ON t.\(key) = s.\(key) \
                LEFT JOIN \(reviewed) AS r ON r.k = s.\(key)) AS x WHERE \(anyChange)) AS y WHERE \(anyDrift)
                """
        }

        /// The updated columns' places in ``columns``, in the order of their names: the order
        /// ``driftSummary`` gives their cells in.
        var driftColumns: [Int] { zip(columns.indices, columnNames).sorted { $0.1 < $1.1 }.map(\.0) }

        /// The first drifted rows by key: the key, how many there are in all, whether the table
        /// holds, in every cell that drifted, what the review saw, then per column of
        /// ``driftColumns`` six: whether the review's cell drifted (`d AND l`), its old and new
        /// value, whether the cell as the write would make it now drifted (`d AND w`), its old and
        /// new value (the empty text as NULL). The values are described by
        /// ``BulkUpdate/driftSample(_:columns:)``, as the review shows them, not here.
        var driftSummary: String {
            let cells = driftColumns.map { index in
                "d\(index) AND l\(index), o\(index), n\(index), d\(index) AND w\(index), a\(index), b\(index)"
            }
            // Whether the table holds, in every cell that drifted, what the review saw: then the
            // input reads as other values now (`now`, `today`, a setting that reads it otherwise).
            let tableAsReviewed = columns.indices.map { i in
                "(NOT d\(i) OR (l\(i) AND w\(i) AND a\(i) IS NOT DISTINCT FROM o\(i)))"
            }.joined(separator: " AND ")
            return """
                SELECT k::text, count(*) OVER (), \(tableAsReviewed), \(cells.joined(separator: ", ")) \
                FROM sluice_apply_drift ORDER BY 1 LIMIT \(sampleLimit)
                """
        }

        var deleteDrifted: String {
            "DELETE FROM \(input) AS s WHERE s.\(key) IN (SELECT k FROM sluice_apply_drift)"
        }

        var copyInput: String { "COPY \(input) (\(key), \(inputList)) FROM STDIN" }

        /// Empties the input table for the next rows (``BulkUpdate/copyAhead``).
        var emptyInput: String { "TRUNCATE \(input)" }

        /// Statistics on the input's key from a sample of 3,000 rows (``BulkUpdate/analyzeInput(_:on:)``).
        var analyzeInput: [String] {
            ["ALTER TABLE \(input) ALTER COLUMN \(key) SET STATISTICS 10", "ANALYZE \(input) (\(key))"]
        }

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

        /// The written columns (by name) whose `=` holds between values that print differently,
        /// so a change of one to the other would pass for none (``textCompared``): those of a
        /// string type (`pg_type.typcategory = 'S'`, through domains and to an array's elements)
        /// other than PostgreSQL's own, whose `=` compares the text (`citext`, which ignores
        /// case), and those under a nondeterministic collation (12+); `interval`, whose `=`
        /// compares a length (`1 day` = `24:00:00`, which a `timestamptz` adds differently across
        /// a DST change); and the geometric types, whose `=` compares an area or a count (two
        /// boxes of one area, two paths of as many points). Numbers (`numeric` `1.0` and `1.00`,
        /// `float8` `0` and `-0`, in `jsonb` too) are one value however spelled, and compare by it.
        var textComparedColumns: String {
            let nondeterministic =
                hasCollationDeterminism
                ? " OR NOT COALESCE((SELECT c.collisdeterministic FROM pg_collation AS c WHERE c.oid = r.coll), true)"
                : ""
            return """
                WITH RECURSIVE r(name, oid, coll, step) AS (\
                SELECT attname::text, atttypid, attcollation, 0 FROM pg_attribute \
                WHERE attrelid = \(targetLiteral)::regclass AND attnum > 0 AND NOT attisdropped \
                AND attname::text IN (\(columnLiterals.joined(separator: ", "))) \
                UNION ALL SELECT r.name, CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.typelem END, r.coll, \
                r.step + 1 FROM r JOIN pg_type AS t ON t.oid = r.oid \
                WHERE r.step < 16 AND (t.typtype = 'd' OR (t.typcategory = 'A' AND t.typelem <> 0))) \
                SELECT DISTINCT r.name FROM r JOIN pg_type AS t ON t.oid = r.oid \
                WHERE t.typtype <> 'd' AND ((t.typcategory = 'S' AND (t.oid NOT IN \
                ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'name'::regtype)\(nondeterministic))) \
                OR t.oid = 'interval'::regtype OR t.typcategory = 'G')
                """
        }

        /// Per updated column, the input rows giving it a value (not NULL): with one row per key,
        /// the distinct keys given one.
        var filledCounts: String {
            "SELECT \(columns.map { "count(\($0))" }.joined(separator: ", ")) FROM \(input)"
        }

        /// Per updated column, the input rows giving it a value whose key the table does not have
        /// (an update's unknown keys): what ``filledCounts`` counted that was not filled.
        var filledOfUnknownKeys: String {
            """
            SELECT \(columns.map { "count(s.\($0))" }.joined(separator: ", ")) FROM \(input) AS s \
            WHERE NOT EXISTS (SELECT 1 FROM \(target) AS t WHERE t.\(key) = s.\(key))
            """
        }

        var anyDuplicate: String { "SELECT 1 FROM \(input) GROUP BY \(key) HAVING count(*) > 1 LIMIT 1" }

        /// A unique index over the input's keys: built only to prove them distinct (it fails when
        /// two are equal), then dropped, so it changes no later plan.
        let keyIndex = "sluice_apply_input_key"
        var createKeyIndex: String { "CREATE UNIQUE INDEX \(keyIndex) ON \(input) (\(key))" }
        var dropKeyIndex: String { "DROP INDEX \(keyIndex)" }

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

        /// The matched rows the write changes (or, guarded, with a cell changed since): the key,
        /// the current values, the values the update writes, guarded then per column whether the
        /// cell was changed since (``changedSince``), then whether the update changes the row and
        /// whether it has a cell changed since. Rows that already hold the new values are left on
        /// the server, so re-applying an input that changes nothing sends nothing back
        /// (``matchedCount`` counts them all). A row the undone apply inserted (``inserted``)
        /// changes — it is deleted — when it holds the expected values.
        var matchedRows: String {
            guard !expected.isEmpty else {
                return """
                    SELECT t.\(key), \(current), \(newValues.joined(separator: ", ")), \
                    \(changes), false FROM \(join) WHERE \(changes)
                    """
            }
            return """
                SELECT t.\(key), \(current), \(newValues.joined(separator: ", ")), \
                \(changedSinceFlags.joined(separator: ", ")), \(changes), \(conflicts) FROM \(join) \
                WHERE \(changes) OR \(conflicts)
                """
        }

        /// Of the input's first 2,000 rows (as stored: in the order copied): how many the write
        /// would change or add, and how many were looked at. A hint, not a count: ~4 ms, each
        /// row found through the target's key index.
        var sampledWrites: String {
            let adds = mode == .update ? "false" : "t.\(key) IS NULL"
            return """
                SELECT count(*) FILTER (WHERE (t.\(key) IS NOT NULL AND \(differs)) OR \(adds)), count(*) \
                FROM (SELECT * FROM \(input) LIMIT 2000) AS s \
                LEFT JOIN \(target) AS t ON t.\(key) = s.\(key)
                """
        }

        /// How many input rows have a row in the target, and how many of those ``matchedRows`` returns.
        var matchedCount: String {
            let returned = expected.isEmpty ? changes : "\(changes) OR \(conflicts)"
            return "SELECT count(*), count(*) FILTER (WHERE \(returned)) FROM \(join)"
        }

        /// The statement that writes the input: by ``BulkUpdate/mode``.
        var write: String {
            switch mode {
            case .update: return update
            case .upsert: return upsert
            case .insert: return insert
            }
        }

        /// `column = value`, or, for a row with several columns written, only where the value
        /// differs: a cell equal to it (`1.0` and `1.000` in a numeric, `0` and `-0`) keeps its own
        /// spelling, as the review showed it unchanged. An undo restores its prior values exactly.
        private func assignments(_ values: [String]) -> String {
            zip(columns, values).enumerated().map { index, pair in
                let (column, value) = pair
                guard columns.count > 1, expected.isEmpty else { return "\(column) = \(value)" }
                let differs = distinct(value, "t.\(column)", index)
                return "\(column) = CASE WHEN \(differs) THEN \(value) ELSE t.\(column) END"
            }.joined(separator: ", ")
        }

        var update: String {
            let assignments = assignments(newValues)
            return
                "UPDATE \(target) AS t SET \(assignments) FROM \(input) AS s WHERE t.\(key) = s.\(key) AND \(differs)"
                + (inserted.map { " AND NOT s.\($0)" } ?? "")
        }

        /// Inserts the rows whose key is new; of the others, updates those whose values differ.
        /// Needs a unique index on the key alone (the conflict's arbiter).
        var upsert: String {
            let assignments = assignments(excludedValues)
            // The current row only where a kept cell needs it (an update reads it anyway).
            let proposed =
                proposedValues == columns.map({ "s.\($0)" })
                ? "SELECT \(inputRow) FROM \(input) AS s"
                : "SELECT s.\(key), \(proposedValues.joined(separator: ", ")) FROM \(input) AS s "
                    + "LEFT JOIN \(target) AS cur ON cur.\(key) = s.\(key)"
            return """
                INSERT INTO \(target) AS t (\(key), \(columnList)) \(proposed) \
                ON CONFLICT (\(key)) DO UPDATE SET \(assignments) \
                WHERE \(comparableRow(excludedValues)) IS DISTINCT FROM \(comparableRow(columns.map { "t.\($0)" }))
                """
        }

        var insert: String {
            "INSERT INTO \(target) AS t (\(key), \(columnList)) SELECT \(inputRow) FROM \(input) AS s"
        }

        /// The key and the columns of an input row, as inserted.
        private var inputRow: String { ([key] + columns).map { "s.\($0)" }.joined(separator: ", ") }

        private var isNew: String { "NOT EXISTS (SELECT 1 FROM \(target) AS t WHERE t.\(key) = s.\(key))" }

        /// The input rows whose key is not in the target: the rows an upsert or insert adds.
        var newRows: String { "SELECT \(inputRow) FROM \(input) AS s WHERE \(isNew)" }

        /// A few of the input keys already in the target, each with how many there are in all.
        var existingKeys: String {
            """
            SELECT s.\(key)::text, count(*) OVER () FROM \(input) AS s WHERE NOT \(isNew) \
            ORDER BY 1 LIMIT \(sampleLimit)
            """
        }

        /// Deletes the rows the undone apply inserted that still hold what it wrote.
        var deleteInserted: String? {
            inserted.map {
                "DELETE FROM \(target) AS t USING \(input) AS s WHERE t.\(key) = s.\(key) AND s.\($0) AND \(deletable)"
            }
        }

        // MARK: Reading back what triggers stored

        /// The names of the row-level BEFORE triggers of the target (or of its partitions) that
        /// fire on the write: for UPDATE when it updates, for INSERT when it adds rows. Only those
        /// can store other values than the ones written; internal triggers (foreign keys) and
        /// disabled ones cannot. `pg_trigger.tgtype` bits: ROW 1, BEFORE 2, INSERT 4, UPDATE 16.
        var writeTriggers: String {
            let events =
                switch mode {
                case .update: 16
                case .upsert: 4 | 16
                case .insert: 4
                }
            // `pg_partition_tree` lists nothing for a table that is not partitioned.
            let relations =
                "tgrelid = \(targetLiteral)::regclass"
                + (hasPartitionTree
                    ? " OR tgrelid IN (SELECT relid FROM pg_partition_tree(\(targetLiteral)::regclass))" : "")
            return """
                SELECT DISTINCT tgname::text FROM pg_trigger WHERE (\(relations)) AND NOT tgisinternal \
                AND tgenabled <> 'D' AND tgtype::int & 3 = 3 AND tgtype::int & \(events) <> 0 ORDER BY 1
                """
        }

        /// The values each write means to store, by key, as typed as the target's: what undo
        /// would otherwise expect the rows to hold.
        let intended = "sluice_apply_intended"

        var createIntended: String {
            """
            CREATE TEMP TABLE \(intended) ON COMMIT DROP AS SELECT \(key), \(columnList), NULL::boolean AS sluice_added \
            FROM \(target) WITH NO DATA
            """
        }

        /// Records, just before a write, the rows it changes and the values it writes to them:
        /// the matched rows that differ (``newValues``: `keep` computed against the values they
        /// hold now) and, for an upsert or insert, the rows it adds as the input gives them
        /// (`sluice_added`).
        var recordIntended: String {
            // As ``update`` picks them: an undo's added rows are deleted (or kept whole), not written.
            let matched =
                "SELECT t.\(key), \(newValues.joined(separator: ", ")), false FROM \(join) WHERE \(differs)"
                + (inserted.map { " AND NOT s.\($0)" } ?? "")
            let added = "SELECT \(inputRow), true FROM \(input) AS s WHERE \(isNew)"
            switch mode {
            case .update: return "INSERT INTO \(intended) \(matched)"
            case .upsert: return "INSERT INTO \(intended) \(matched) UNION ALL \(added)"
            case .insert: return "INSERT INTO \(intended) \(added)"
            }
        }

        /// The rows each write stored, as it returned them (after the triggers), and whether a
        /// row had that key before the write (`sluice_existed`): what the triggers made of
        /// ``intended``. An upsert's or insert's undo deletes the rows added, under the keys they
        /// were stored with, and only those (``addedRows``).
        let returned = "sluice_apply_returned"

        var createReturned: String {
            """
            CREATE TEMP TABLE \(returned) ON COMMIT DROP AS SELECT \(key), \(columnList), \
            NULL::boolean AS sluice_existed FROM \(target) WITH NO DATA
            """
        }

        /// ``write``, its rows recorded in ``returned`` when the table's triggers are read back.
        /// The outer query reads the table as it was before the write (one snapshot for the
        /// whole statement): whether each row's key was there.
        var recordedWrite: String {
            guard readsBack else { return write }
            let returning = ([key] + columns).map { "t.\($0)" }.joined(separator: ", ")
            return """
                WITH w AS (\(write) RETURNING \(returning)) INSERT INTO \(returned) \
                SELECT w.*, EXISTS (SELECT 1 FROM \(target) AS b WHERE b.\(key) = w.\(key)) FROM w
                """
        }

        /// The keys of rows a trigger made the write land elsewhere than meant, each with how
        /// many there are in all: a row meant to be updated whose key is gone (a trigger gave
        /// it another), and a row written that was there before but not meant to be written
        /// (an upsert's new row a trigger gave an existing key, so `ON CONFLICT` updated that
        /// one). Undo finds rows by their key and restores the prior values it read: it could
        /// put back neither.
        var redirectedRows: String {
            let meant = "EXISTS (SELECT 1 FROM \(intended) AS i WHERE i.\(key) = r.\(key) AND NOT i.sluice_added)"
            return """
                SELECT k::text, count(*) OVER () FROM (\
                SELECT i.\(key) AS k FROM \(intended) AS i WHERE NOT i.sluice_added \
                AND NOT EXISTS (SELECT 1 FROM \(target) AS t WHERE t.\(key) = i.\(key)) \
                UNION SELECT r.\(key) FROM \(returned) AS r WHERE r.sluice_existed AND NOT \(meant)) AS x ORDER BY 1 LIMIT \(sampleLimit)
                """
        }

        /// Of the rows the writes added, how many hold a value in an ``unwritten`` column (a
        /// trigger filled it: their undo will keep them), then per such column how many.
        var filledAdded: String {
            let join = "\(returned) AS r JOIN \(target) AS t ON t.\(key) = r.\(key) WHERE NOT r.sluice_existed"
            let columns = unwritten.map { ", count(t.\($0))" }.joined()
            return "SELECT count(*) FILTER (WHERE NOT \(untouched))\(columns) FROM \(join)"
        }

        /// The rows the writes added, as stored: their key and columns.
        var addedRows: String {
            let row = ([key] + columns).map { "r.\($0)" }.joined(separator: ", ")
            return "SELECT \(row) FROM \(returned) AS r WHERE NOT r.sluice_existed"
        }

        /// After the writes, the rows holding other values than written, by key: the key, the
        /// values stored, the values written, then per column whether they differ. Compared as
        /// undo compares (`IS DISTINCT FROM`), so a numeric `1.0` stored as written `1.000` is
        /// the same value.
        var storedRows: String {
            let differing = columns.enumerated().map { distinct("t.\($1)", "i.\($1)", $0) }
            return """
                SELECT t.\(key), \(current), \(columns.map { "i.\($0)" }.joined(separator: ", ")), \
                \(differing.joined(separator: ", ")) FROM \(intended) AS i JOIN \(target) AS t ON t.\(key) = i.\(key) \
                WHERE \(differing.joined(separator: " OR ")) ORDER BY 1
                """
        }

        /// `$1` is the constraint name.
        var constraintDefinition: String {
            """
            SELECT pg_get_constraintdef(oid) FROM pg_constraint \
            WHERE conrelid = \(targetLiteral)::regclass AND conname = $1
            """
        }

        /// The target's columns a row cannot be added without: NOT NULL, with no default (a
        /// generated column has one), not an identity.
        var requiredColumns: String {
            """
            SELECT attname::text FROM pg_attribute \
            WHERE attrelid = \(targetLiteral)::regclass AND attnum > 0 AND NOT attisdropped \
            AND attnotnull AND NOT atthasdef AND attidentity = '' ORDER BY attnum
            """
        }

        /// Whether the key alone has a unique index in the target (a primary key, a unique
        /// constraint): the arbiter an upsert's `ON CONFLICT` needs.
        var keyHasUniqueIndex: String {
            """
            SELECT EXISTS (SELECT 1 FROM pg_index AS i JOIN pg_attribute AS a \
            ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
            WHERE i.indrelid = \(targetLiteral)::regclass AND i.indisunique AND i.indnkeyatts = 1 \
            AND i.indpred IS NULL AND i.indexprs IS NULL AND a.attname = \(keyLiteral))
            """
        }

        /// Whether each key matches at most one row of an update: the key has a unique index
        /// (``keyHasUniqueIndex``) and the target has no inheritance children, whose rows an
        /// `UPDATE` of the parent writes too and its index does not cover (a partitioned table's
        /// unique index spans its partitions).
        var keyMatchesOneRow: String {
            keyHasUniqueIndex + """
                 AND NOT EXISTS (SELECT 1 FROM pg_inherits AS h JOIN pg_class AS p ON p.oid = h.inhparent \
                WHERE h.inhparent = \(targetLiteral)::regclass AND p.relkind <> 'p')
                """
        }

        /// The input keys that match more than one target row (a few, and how many in all).
        var keysMatchingSeveralRows: String {
            """
            SELECT k::text, count(*) OVER () FROM (SELECT t.\(key) AS k FROM \(target) AS t \
            WHERE t.\(key) IN (SELECT s.\(key) FROM \(input) AS s) GROUP BY t.\(key) HAVING count(*) > 1) AS d \
            ORDER BY 1 LIMIT \(sampleLimit)
            """
        }

        /// The target's columns an added row is NULL in unless someone wrote them (``unwritten``):
        /// not the key or a column written, no default, not generated or an identity.
        var unwrittenColumns: String {
            let written = ([keyLiteral] + columnLiterals).joined(separator: ", ")
            return """
                SELECT attname::text FROM pg_attribute \
                WHERE attrelid = \(targetLiteral)::regclass AND attnum > 0 AND NOT attisdropped AND NOT atthasdef \
                AND attidentity = '' AND attname::text NOT IN (\(written)) ORDER BY attnum
                """
        }

        /// The target's columns in order (``TargetColumn``): each one's name, the default the server
        /// gives it when a row leaves it out (its own, else its domain's), unless that calls a
        /// volatile function (a serial's `nextval` would consume the sequence's values; `random()`
        /// or `clock_timestamp()` would not give what the server gave) or it is an identity column
        /// (its sequence's next value), a generated column's expression, and its type. A volatile function is
        /// told by the expression's tree, whose function calls (`:funcid`) and operators
        /// (`:opfuncid`) name their functions.
        var targetColumns: String {
            """
            SELECT a.attname::text, \
            CASE WHEN a.attgenerated = '' AND a.attidentity = '' AND NOT EXISTS (SELECT 1 \
            FROM regexp_matches(coalesce(d.adbin, y.typdefaultbin)::text, ':(?:op)?funcid ([0-9]+)', 'g') AS m \
            JOIN pg_proc AS p ON p.oid = m[1]::oid WHERE p.provolatile = 'v') \
            THEN coalesce(pg_get_expr(d.adbin, d.adrelid), pg_get_expr(y.typdefaultbin, 0)) END, \
            CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END, \
            format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
            LEFT JOIN pg_type AS y ON y.oid = a.atttypid AND y.typtype = 'd' \
            WHERE a.attrelid = \(targetLiteral)::regclass AND a.attnum > 0 AND NOT a.attisdropped \
            ORDER BY a.attnum
            """
        }

        /// A column of the target (``targetColumns``), as the refusal search fills a row that an
        /// upsert or insert adds without writing it.
        struct TargetColumn: Sendable, Hashable {
            var name: String
            /// The expression of the value the server gives it, evaluated in the search; `nil` for
            /// none, or one the search must not evaluate (it is NULL there).
            var defaultValue: String?
            /// A generated column's expression over the row's other columns.
            var generated: String?
            /// Its type, as `format_type` prints it: what its value in the search is cast to.
            var type: String
        }

        /// A foreign key of the target (`$1`: its name), pair by pair: the target's column, the
        /// column it references, the referenced table (as `regclass` prints it, quoted), and the
        /// key's `confmatchtype` (`f` for MATCH FULL).
        var foreignKeyColumns: String {
            """
            SELECT a.attname::text, r.attname::text, c.confrelid::regclass::text, c.confmatchtype::text \
            FROM pg_constraint AS c CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(own, referenced, n) \
            JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.own \
            JOIN pg_attribute AS r ON r.attrelid = c.confrelid AND r.attnum = k.referenced \
            WHERE c.conrelid = \(targetLiteral)::regclass AND c.conname = $1 AND c.contype = 'f' ORDER BY k.n
            """
        }

        /// The key columns of a unique index of the target (`$1`: its name, which a unique
        /// violation gives as its constraint's) over columns alone, with no predicate; none for
        /// another index.
        var uniqueIndexColumns: String {
            """
            SELECT a.attname::text FROM pg_index AS i JOIN pg_class AS x ON x.oid = i.indexrelid \
            CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
            JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
            WHERE i.indrelid = \(targetLiteral)::regclass AND x.relname = $1 AND i.indisunique \
            AND i.indpred IS NULL AND i.indexprs IS NULL AND k.n <= i.indnkeyatts ORDER BY k.n
            """
        }

        /// The row-level security policies of the target for `command` (`"a"` INSERT, `"w"` UPDATE,
        /// `"r"` SELECT; a policy for ALL is one of each), for this role (its own, PUBLIC's, or a
        /// role's it is a member of): each one's name, whether it is permissive, the expression a row
        /// is held to (with `check`, the `WITH CHECK` a new row must pass, else its `USING`; an
        /// INSERT policy has only the one, a SELECT policy only `USING`) and the target's columns it
        /// reads (joined by commas).
        func rowPolicies(for command: Character, check: Bool) -> String {
            let expression = check ? "coalesce(p.polwithcheck, p.polqual)" : "p.polqual"
            return """
                SELECT p.polname::text, p.polpermissive, coalesce(pg_get_expr(\(expression), p.polrelid), 'true'), \
                (SELECT string_agg(a.attname::text, ',' ORDER BY a.attnum) FROM pg_depend AS d JOIN pg_attribute AS a \
                ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                WHERE d.classid = 'pg_policy'::regclass AND d.objid = p.oid AND d.refobjid = p.polrelid) \
                FROM pg_policy AS p WHERE p.polrelid = \(targetLiteral)::regclass AND p.polcmd IN ('*', '\(command)') \
                AND (0 = ANY (p.polroles) OR EXISTS (SELECT 1 FROM unnest(p.polroles) AS r(oid) \
                WHERE pg_has_role(current_user, r.oid, 'MEMBER'))) ORDER BY 2 DESC, 1
                """
        }

        /// Whether the target is partitioned, and whether it is a partition itself: a CHECK
        /// violation (23514) without a constraint's name comes from its partitioning.
        var partitioning: String {
            "SELECT relkind = 'p', relispartition FROM pg_class WHERE oid = \(targetLiteral)::regclass"
        }

        /// The columns of the partition key the target's rows are routed by: its own when it is
        /// partitioned, else its parent's.
        var partitionKeyColumns: String {
            """
            SELECT a.attname::text FROM pg_partitioned_table AS p \
            CROSS JOIN LATERAL unnest(p.partattrs::int2[]) WITH ORDINALITY AS k(attnum, n) \
            JOIN pg_attribute AS a ON a.attrelid = p.partrelid AND a.attnum = k.attnum \
            WHERE p.partrelid = coalesce((SELECT partrelid FROM pg_partitioned_table \
            WHERE partrelid = \(targetLiteral)::regclass), \
            (SELECT inhparent FROM pg_inherits WHERE inhrelid = \(targetLiteral)::regclass LIMIT 1)) ORDER BY k.n
            """
        }

        /// For ``violation(targetColumns:condition:)``: the condition a row must meet to be taken,
        /// over the target's column names. A partitioned target takes a row that one of its
        /// leaf partitions takes (each one's constraint includes its ancestors'; a default partition
        /// alone has none, and takes any row); a partition, one within its own bounds.
        var partitionCondition: String {
            """
            SELECT CASE WHEN c.relkind = 'p' THEN \
            (SELECT coalesce(string_agg('(' || coalesce(pg_get_partition_constraintdef(t.relid), 'true') || ')', \
            ' OR '), 'false') FROM pg_partition_tree(c.oid) AS t WHERE t.isleaf) \
            ELSE coalesce(pg_get_partition_constraintdef(c.oid), 'true') END \
            FROM pg_class AS c WHERE c.oid = \(targetLiteral)::regclass
            """
        }

        /// For ``violation(targetColumns:condition:)``: the row `t` leaves `columns` (quoted) as
        /// the table holds them for its key. The server checks a foreign key or a unique index
        /// only where a row changes them (or is added).
        private func keeps(_ columns: [String]) -> String {
            let held = columns.map { "c.\($0)" }.joined(separator: ", ")
            let new = columns.map { "t.\($0)" }.joined(separator: ", ")
            return
                "EXISTS (SELECT 1 FROM \(target) AS c WHERE c.\(key) = t.\(key) AND (\(held)) IS NOT DISTINCT FROM (\(new)))"
        }

        /// For ``violation(targetColumns:condition:)``: the row `t` meets the foreign key whose
        /// `columns` (quoted) reference `referenced` (quoted) of `table`: a NULL in one of them
        /// (in all of them for MATCH FULL), or a referenced row holding their values.
        func meetsForeignKey(
            _ columns: [String], referencing referenced: [String], of table: String, matchFull: Bool
        ) -> String {
            let nulls = columns.map { "t.\($0) IS NULL" }.joined(separator: matchFull ? " AND " : " OR ")
            let found = zip(columns, referenced).map { "r.\($1) = t.\($0)" }.joined(separator: " AND ")
            return "(\(keeps(columns)) OR (\(nulls)) OR EXISTS (SELECT 1 FROM \(table) AS r WHERE \(found)))"
        }

        /// For ``violation(targetColumns:condition:)``: the row `t` meets the unique index over
        /// `columns` (quoted): no other row of the table holds its values there, nor does another
        /// row the write leaves or adds (a NULL equals nothing).
        func meetsUniqueIndex(_ columns: [String]) -> String {
            meetsExclusion(columns.map { ($0, "=") })
        }

        /// For ``violation(targetColumns:condition:)``: the row `t` meets the exclusion constraint
        /// (or unique index) whose columns (quoted) are compared each by its operator (`=`, or
        /// `OPERATOR(pg_catalog.&&)`): no other row of the table, nor another row the write leaves
        /// or adds, holds values that each of them calls the same as (or overlapping) its own. The
        /// server checks each row as it is written, against the rows as they were before as much as
        /// against the others written.
        func meetsExclusion(_ pairs: [(column: String, operator: String)]) -> String {
            func same(_ alias: String) -> String {
                pairs.map { "\(alias).\($0.column) \($0.operator) t.\($0.column)" }.joined(separator: " AND ")
                    + " AND \(alias).\(key) IS DISTINCT FROM t.\(key)"
            }
            return "(\(keeps(pairs.map(\.column))) OR NOT (EXISTS (SELECT 1 FROM \(target) AS o WHERE \(same("o"))) "
                + "OR EXISTS (SELECT 1 FROM t AS n WHERE \(same("n")))))"
        }

        /// The columns of an exclusion constraint of the target (`$1`: its name) and the
        /// operator each is compared by (`schema.name`, for `OPERATOR()`), then how many elements
        /// it has: fewer rows than that when an element is an expression. None for a constraint
        /// with a predicate (`WHERE`), which holds over some rows only.
        var exclusionColumns: String {
            """
            SELECT a.attname::text, quote_ident(n.nspname) || '.' || o.oprname, cardinality(c.conkey) \
            FROM pg_constraint AS c CROSS JOIN LATERAL unnest(c.conkey, c.conexclop) WITH ORDINALITY AS k(attnum, op, n) \
            JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = k.attnum \
            JOIN pg_operator AS o ON o.oid = k.op JOIN pg_namespace AS n ON n.oid = o.oprnamespace \
            WHERE c.conrelid = \(targetLiteral)::regclass AND c.conname = $1 AND c.contype = 'x' \
            AND NOT EXISTS (SELECT 1 FROM pg_index AS i WHERE i.indexrelid = c.conindid AND i.indpred IS NOT NULL) \
            ORDER BY k.n
            """
        }

        /// Which rows ``violation(targetColumns:condition:rows:)`` holds to its condition.
        enum CheckedRows {
            /// The rows as written: the updated ones with their new values, and for an upsert or
            /// insert the ones it adds.
            case written
            /// The updated rows alone, with their new values.
            case updated
            /// The rows an upsert or insert proposes to add, one per input row, whether its key is
            /// in the table or not (an upsert's `ON CONFLICT` turns an existing one into an update).
            case proposed
            /// The rows an upsert updates as they are before it (named by their new values).
            case existing
        }

        /// The first key (in the key's own order: 9 before 10) whose row (`rows`: by default with
        /// the new values) fails `condition` (a CHECK expression over the target's column names, or
        /// one of the conditions above over `t`), with the new values of the updated columns. For an
        /// upsert or insert the rows it adds are looked at too: their key and columns from the input,
        /// their other columns what the server gives them (``TargetColumn``): a default, evaluated
        /// (`current_user`, `now()`), but NULL for a volatile one (a serial's `nextval`, which would
        /// consume the sequence's values) and for an identity column. A generated column is computed
        /// from the row (an updated one's too), as the server computes it.
        func violation(
            targetColumns: [TargetColumn], condition: String, rows checked: CheckedRows = .written
        ) throws(PostgresError) -> String {
            let updated = Dictionary(uniqueKeysWithValues: zip(columns, newValues))
            let proposedColumns = Dictionary(uniqueKeysWithValues: zip(columns, proposedValues))
            var row: [String] = []
            var current: [String] = []
            var added: [String] = []
            var proposed: [String] = []
            var computed: [String] = []
            for column in targetColumns {
                let quoted = try PostgresConnection.quoteIdentifierPart(column.name)
                let unwritten = "CAST(\(column.defaultValue ?? "NULL") AS \(column.type))"
                row.append("\(updated[quoted] ?? "t.\(quoted)") AS \(quoted)")
                current.append("t.\(quoted)")
                added.append(quoted == key || updated[quoted] != nil ? "s.\(quoted)" : "\(unwritten) AS \(quoted)")
                proposed.append(quoted == key ? "s.\(quoted)" : "\(proposedColumns[quoted] ?? unwritten) AS \(quoted)")
                computed.append(column.generated.map { "(\($0)) AS \(quoted)" } ?? quoted)
            }
            var output = columnList
            var rows: String
            switch checked {
            case .written, .updated:
                rows = "SELECT \(row.joined(separator: ", ")) FROM \(join)"
                if checked == .written, mode != .update {
                    rows += " UNION ALL SELECT \(added.joined(separator: ", ")) FROM \(input) AS s WHERE \(isNew)"
                }
            case .proposed:
                rows =
                    "SELECT \(proposed.joined(separator: ", ")) FROM \(input) AS s "
                    + "LEFT JOIN \(target) AS cur ON cur.\(key) = s.\(key)"
            case .existing:
                // The new values under names of their own, the row's own holding what it holds.
                let named = newValues.enumerated().map { "\($1) AS sluice_new_\($0)" }
                rows = "SELECT \((current + named).joined(separator: ", ")) FROM \(join)"
                output = newValues.indices.map { "sluice_new_\($0)" }.joined(separator: ", ")
            }
            // A generated column's expression reads the row's columns by their names.
            if checked != .existing, targetColumns.contains(where: { $0.generated != nil }) {
                rows = "SELECT \(computed.joined(separator: ", ")) FROM (\(rows)) AS t"
            }
            return """
                WITH t AS (\(rows)) SELECT \(key)::text, \(output) FROM t \
                WHERE NOT (\(condition)) ORDER BY t.\(key) LIMIT 1
                """
        }
    }
}
