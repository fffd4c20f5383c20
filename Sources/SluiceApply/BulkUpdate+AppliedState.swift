import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// What a committed apply left in its table, kept so that a later apply of the *same input*
    /// (its caller's word: the same bytes, the same plan) can tell from one scan of the table
    /// that it would write nothing, and skip copying and joining the input.
    ///
    /// An apply with no triggers to store other values is idempotent: once written, applying the
    /// same input again leaves every row as it is. So a table whose key and written columns are
    /// still, row for row, what that apply left is one this input changes nothing in. The
    /// ``fingerprint`` says what it left: every row's key and written columns hashed by their
    /// types (64 bits, `hash_record_extended`), the hashes XORed, with the row count
    /// (``SQL/tableHash``) as the table is once written, the table still locked against other
    /// writers: worked out by the review (its coverage scan hashes the table, and each row it
    /// reads says what the write changes in that hash, ``SQL/reviewRowsHashed``), else read by
    /// one scan after the write, before COMMIT (~40 ms per 200,000 rows here). Recorded
    /// only by an apply that writes (a re-apply that finds nothing to change locks nothing, so
    /// what it could read is not known to be what it left), reviewed in its own transaction, with
    /// a unique key, no triggers, not an undo, not a dry run, into a table of at most
    /// ``appliedStateTableRatio`` times its input's rows (a larger one would pay more for the scan
    /// than a re-apply saves).
    ///
    /// The rest is what a review of a re-apply counts from its input, which a skipping apply does
    /// not read: the summary and counts it gives are those a re-apply that reads it gives.
    public struct AppliedState: Sendable, Hashable {
        /// `STATEMENT:ROWS:XOR`: a hash of the statement describing what is written where (table,
        /// key, columns, how each is written), the table's rows, and their hashes XORed.
        public var fingerprint: String
        public var inputRows: Int
        public var duplicateRows: Int
        /// The input's rows once duplicates are dropped, then per column those giving a value.
        public var inputCounts: [Int]
        /// Keys not in the table (an update: an upsert has added them), and a few of them.
        public var unknownKeys: Int
        public var unknownKeySamples: [String]
        /// Per column, the unknown keys whose input gives no value.
        public var emptyOfUnknown: [Int]

        public init(
            fingerprint: String, inputRows: Int, duplicateRows: Int, inputCounts: [Int], unknownKeys: Int,
            unknownKeySamples: [String], emptyOfUnknown: [Int]
        ) {
            self.fingerprint = fingerprint
            self.inputRows = inputRows
            self.duplicateRows = duplicateRows
            self.inputCounts = inputCounts
            self.unknownKeys = unknownKeys
            self.unknownKeySamples = unknownKeySamples
            self.emptyOfUnknown = emptyOfUnknown
        }

        public var json: Value {
            .object([
                "fingerprint": .string(fingerprint), "input_rows": .int(Int64(inputRows)),
                "duplicate_rows": .int(Int64(duplicateRows)),
                "input_counts": .array(inputCounts.map { .int(Int64($0)) }),
                "unknown_keys": .int(Int64(unknownKeys)),
                "unknown_key_samples": .array(unknownKeySamples.map(Value.string)),
                "empty_of_unknown": .array(emptyOfUnknown.map { .int(Int64($0)) }),
            ])
        }

        /// Reads ``json`` back; `nil` when anything is missing.
        public init?(json: Value) {
            func ints(_ name: String) -> [Int]? {
                guard case .array(let values) = json[name] else { return nil }
                let ints = values.compactMap { $0.intValue.map(Int.init) }
                return ints.count == values.count ? ints : nil
            }
            guard case .string(let fingerprint) = json["fingerprint"], let inputRows = json["input_rows"].intValue,
                let duplicateRows = json["duplicate_rows"].intValue, let unknownKeys = json["unknown_keys"].intValue,
                let inputCounts = ints("input_counts"), let emptyOfUnknown = ints("empty_of_unknown"),
                case .array(let samples) = json["unknown_key_samples"]
            else { return nil }
            self.init(
                fingerprint: fingerprint, inputRows: Int(inputRows), duplicateRows: Int(duplicateRows),
                inputCounts: inputCounts, unknownKeys: Int(unknownKeys), unknownKeySamples: samples.compactMap(\.text),
                emptyOfUnknown: emptyOfUnknown)
        }
    }

    /// Whether this update may record or use an ``AppliedState``: a plain write (not an undo nor
    /// a dry run, not held to a review), one that may run again unchanged (not an insert, which
    /// refuses its own rows), with a unique key, no triggers to store other values, and a server
    /// that hashes rows.
    func tracksAppliedState(_ sql: SQL, keyIsUnique: Bool) -> Bool {
        !guarded && !dryRun && mode != .insert && keyIsUnique && sql.triggers.isEmpty && sql.hasRecordHash
    }

    /// The row of `statement`, one that hashes rows (``SQL/tableHash``, ``SQL/stateFingerprint``):
    /// `nil` where a column's type has no hash function, read behind a savepoint so that failure
    /// leaves the transaction usable.
    func hashedRow(_ statement: String, on connection: PostgresConnection) async throws -> [Value]? {
        _ = try await connection.execute("SAVEPOINT sluice_apply_state")
        let row: [Value]?
        do {
            row = try await connection.execute(statement).rows.first
        } catch let error as PostgresError where error.kind == .server {
            _ = try await connection.execute("ROLLBACK TO SAVEPOINT sluice_apply_state")
            return nil
        }
        _ = try await connection.execute("RELEASE SAVEPOINT sluice_apply_state")
        return row
    }

    /// The ``AppliedState/fingerprint`` of a row ending with the table's rows and hash: prefixed by
    /// which statement, on which table, key and columns, written how, in which mode.
    func appliedFingerprint(_ sql: SQL, rows: Value?, hash: Value?) -> String? {
        guard let rows = rows?.intValue, let hash = hash?.text else { return nil }
        let statement = String(SHA256.hex(sql.reviewRows + "\n" + mode.rawValue).prefix(16))
        return "\(statement):\(rows):\(hash)"
    }

    /// After the write, before COMMIT, the table locked: the fingerprint of what it holds, for
    /// the state a review kept (`nil` where it cannot be read).
    func fingerprintWritten(_ sql: SQL, on connection: PostgresConnection) async throws -> String? {
        guard let row = try await hashedRow(sql.tableHash, on: connection) else { return nil }
        return appliedFingerprint(sql, rows: row.first, hash: row.last)
    }

    /// With `state` recorded by an apply of this same input: reads the table's coverage and
    /// fingerprint in one scan and, when the table is still as that apply left it, returns the
    /// review a re-apply would make (nothing changes; the input's counts from `state`) and the
    /// input's filled counts; else `nil`, and the update goes on as usual.
    func alreadyApplied(
        _ state: AppliedState, _ sql: SQL, on connection: PostgresConnection
    ) async throws -> (summary: ReviewSummary, details: ReviewDetails, filled: [Int])? {
        guard state.inputCounts.count == 1 + columns.count, state.emptyOfUnknown.count == columns.count else {
            return nil
        }
        let types = try await connection.execute(sql.columnTypes).rows
        guard let row = try await hashedRow(sql.coverage(text: Self.textColumns(types), hashed: true), on: connection),
            let rows = row.first?.intValue,
            appliedFingerprint(sql, rows: row.first, hash: row.last) == state.fingerprint
        else { return nil }
        let coverage = Array(row.dropLast())
        var summary = ReviewSummary(table: table, key: key, mode: mode.rawValue)
        summary.inputRows = state.inputRows
        summary.duplicateRows = state.duplicateRows
        summary.tableRows = Int(rows)
        summary.columns = reviewColumns(types: types, coverage: coverage)
        var tally = ReviewTally(columns: summary.columns, inserts: mode != .update)
        tally.unknownKeys = state.unknownKeys
        tally.unknownKeySamples = state.unknownKeySamples
        tally.emptyOfStreamedNew = state.emptyOfUnknown
        let details = tally.finish(into: &summary, sampleLimit: sampleLimit)
        let filled = settle(&summary, tally: tally, counts: state.inputCounts)
        return (summary, details, filled)
    }
}
