import SluiceCore
import SluicePostgres

extension BulkUpdate {
    /// The columns of the cells a review hands out: one row per cell that would change.
    public static let reviewColumns = ["key", "column", "old", "new", "change"]

    /// Reads what ``run(on:input:undo:)`` would change, changing nothing: every cell that would
    /// change with its current and new value (``reviewColumns``), and the counts per column.
    ///
    /// The input goes into a session temporary table and its keys are checked first; then
    /// everything is read in one `READ ONLY` `REPEATABLE READ` transaction, so the current
    /// values, the table's row count and its coverage all come from one snapshot. The input is
    /// checked as the apply checks it: a key given twice with different values, or
    /// (``Mode/insert``) a key already in the table, fails the review with the apply's error.
    ///
    /// Values are compared as the apply compares them (`IS DISTINCT FROM` with the column's
    /// type), and shown as PostgreSQL's text for them, empty for NULL.
    /// - Parameters:
    ///   - connection: used for nothing else until this returns; its temporary table is dropped.
    ///   - cells: receives batches of changing cells, in no particular order.
    /// - Returns: the summary.
    public func review<Input: AsyncSequence>(
        on connection: PostgresConnection, input: Input, cells: (ReviewCells) async throws -> Void
    ) async throws -> ReviewSummary where Input.Element == Batch {
        try await reviewWithDetails(on: connection, input: input, cells: cells).summary
    }

    /// ``review(on:input:cells:)``, also returning what a page shows besides the counts.
    public func reviewWithDetails<Input: AsyncSequence>(
        on connection: PostgresConnection, input: Input, cells: (ReviewCells) async throws -> Void
    ) async throws -> (summary: ReviewSummary, details: ReviewDetails) where Input.Element == Batch {
        var sql = try validate(serverVersion: connection.serverVersion)
        var phase = BulkUpdateError.Phase.prepare
        do {
            try await readTextCompared(&sql, on: connection)
            _ = try await connection.execute(sql.createInput(onCommitDrop: false))
            try await checkRowsCanBeAdded(sql, on: connection)
            var summary = ReviewSummary(table: table, key: key, mode: mode.rawValue)
            // A step of its own: it can keep every key's fingerprint (see reviewLimit).
            var keys = try await keyTracker(sql, on: connection, limit: KeyTracker.reviewLimit)
            // The input is the session's own: copied and checked before the read-only snapshot
            // (which could not build the index that proves its keys distinct).
            phase = .copy
            var rows = InputRows(self)
            try await describeInput(sql, on: connection, into: &rows)
            let copied = try await copy(input, into: sql, on: connection, rows: &rows, keys: &keys, spool: nil)
            summary.inputRows = copied.rows
            summary.offsetTimestamps = copied.offsetTimestamps
            phase = .check
            if try await !keyMatchesOneRow(sql, on: connection) {
                try await refuseKeysMatchingSeveralRows(sql, on: connection)
            }
            try await analyzeInput(sql, on: connection)
            if !keys.provesUnique && !keysProvenDistinct(keys) {
                summary.duplicateRows = try await removeDuplicates(sql, on: connection, inTransaction: false)
            }
            let inputCounts = summary.duplicateRows == 0 ? copied.counts : nil
            _ = try await connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if mode == .insert { try await refuseExistingKeys(sql, on: connection) }
            // The reviewer is told when what is stored may not be what they read.
            summary.triggers = try await writeTriggers(sql, on: connection)
            phase = .recordPrior
            let details = try await tallyReview(
                sql, on: connection, into: &summary, inputCounts: inputCounts, cells: cells
            ).details
            // From the same snapshot as the cells: what an apply held to this review compares first.
            summary.stateFingerprint = try await stateFingerprint(sql, on: connection)
            _ = try await connection.execute("ROLLBACK")
            _ = try await connection.execute("DROP TABLE IF EXISTS \(sql.input)")
            return (summary, details)
        } catch let error as BulkUpdateError {
            await dropReviewInput(sql, on: connection)
            throw error
        } catch let error as PostgresError {
            await dropReviewInput(sql, on: connection)
            throw BulkUpdateError(table: table, phase: phase, postgres: error)
        } catch {
            await dropReviewInput(sql, on: connection)
            throw error
        }
    }

    /// What the write would do now (``SQL/stateFingerprint``), prefixed with a hash of the
    /// statement that reads it, which names the table, key and columns and how each is written:
    /// the same rows written into another column give another fingerprint. `nil` before
    /// PostgreSQL 14, or when a column's type has no hash function (`money`): read behind a
    /// savepoint, so that failure leaves the transaction as it was.
    func stateFingerprint(_ sql: SQL, on connection: PostgresConnection) async throws -> String? {
        guard sql.hasRecordHash else { return nil }
        let statement = sql.stateFingerprint
        let state = try await hashedRow(statement, on: connection)?.first?.text
        return state.map { SHA256.hex(statement).prefix(16) + ":" + $0 }
    }

    /// Reads, in the current transaction, what the write would change given the input table as
    /// it now is: the coverage before, then the rows that change (or are new, or unknown) beside
    /// their current row, counted into `summary` and handed out as changing cells; the rows left
    /// as they are are counted from the input's own counts.
    ///
    /// With `undo` (a review inside the update's transaction, which then reads nothing else),
    /// the rows the update will change or add are also handed to `undo` as its records
    /// (``undoColumns``), typed as the update's own prior-value read types them.
    ///
    /// With `recordsState`, it also keeps in `summary.appliedState` what a re-apply of this input
    /// counts (``AppliedState``), its fingerprint left for the update to read once it has written.
    ///
    /// Returns, besides the page's details, per column the input rows giving it a value whose key
    /// the table has or gets (what ``BulkUpdateStats/filled`` counts), from `inputCounts` (the
    /// input's rows, then per column those with a value) and the unknown keys streamed, when the
    /// caller counted them as it copied the input table as it still is, else read with the
    /// input's row count.
    func tallyReview(
        _ sql: SQL, on connection: PostgresConnection, into summary: inout ReviewSummary, inputCounts: [Int]?,
        recordsState: Bool = false, cells: (ReviewCells) async throws -> Void,
        undo: ((Batch) async throws -> Void)? = nil
    ) async throws -> (details: ReviewDetails, filled: [Int]) {
        let types = try await connection.execute(sql.columnTypes).rows
        let records = ReviewUndoRecords(
            typeOIDs: types.prefix(1 + columns.count).map { UInt32(truncatingIfNeeded: $0.first?.intValue ?? 0) },
            flagsInserted: mode != .update)
        let undoColumns = undoColumns
        // Keeping the state: the table's hash from the same scan, and what each row streamed
        // changes in it, make the hash after the write (no scan after it). Where a type has no
        // hash function, the coverage alone, and no state.
        var hash: Int64?
        var coverage: [Value] = []
        if recordsState, sql.hasRecordHash,
            let row = try await hashedRow(sql.coverage(text: Self.textColumns(types), hashed: true), on: connection),
            let text = row.last?.text, let value = Int64(text)
        {
            hash = value
            coverage = Array(row.dropLast())
        } else {
            coverage = try await connection.execute(sql.coverage(text: Self.textColumns(types))).rows.first ?? []
        }
        summary.tableRows = coverage.first?.intValue.map(Int.init) ?? 0
        summary.columns = reviewColumns(types: types, coverage: coverage)
        var tally = ReviewTally(columns: summary.columns, inserts: mode != .update)
        let adds = mode != .update
        var added = 0
        // As text: every value but the flags is wanted as text, and a million rows cost the client
        // a line each rather than a result each.
        let rows = hash == nil ? sql.reviewRows : sql.reviewRowsHashed
        _ = try await connection.streamText(rows, batchSize: undoBatchSize) { batch in
            if let before = hash {
                var after: Int64? = before
                for row in batch.rows {
                    // An update leaves a key the table has not as it is: not in the table after.
                    guard adds || ReviewRow.flag(row[ReviewRow.exists]) else { continue }
                    if !ReviewRow.flag(row[ReviewRow.exists]) { added += 1 }
                    guard let text = row.last?.text, let delta = Int64(text) else {
                        after = nil
                        break
                    }
                    after = after.map { $0 ^ delta }
                }
                hash = after
            }
            let changing = tally.add(batch)
            if !changing.isEmpty { try await cells(changing) }
            if let undo {
                let rows = records.rows(of: batch)
                if !rows.isEmpty { try await undo(Batch(columns: undoColumns, rows: rows)) }
            }
        }
        let details = tally.finish(into: &summary, sampleLimit: sampleLimit)
        // What stays as it is was not streamed; it follows from the input's counts. Every input
        // row has its key in the table or was streamed (an unknown key, or a row to add).
        var counts = inputCounts ?? []
        if inputCounts == nil, let row = try await connection.execute(sql.inputCounts).rows.first {
            counts = row.map { $0.intValue.map(Int.init) ?? 0 }
        }
        let filled = settle(&summary, tally: tally, counts: counts)
        // A table much larger than the input: the scan after the write would cost more than the
        // copy and join a re-apply skips with it.
        if recordsState, summary.tableRows <= Self.appliedStateTableRatio * max(summary.inputRows, 1) {
            // After the write an upsert's new keys are matched: a re-apply finds none unknown.
            let update = mode == .update
            // The hash after the write, when read: the table's rows then are its rows now and those added.
            let written = hash.flatMap { hash in
                appliedFingerprint(sql, rows: .int(Int64(summary.tableRows + added)), hash: .string(String(hash)))
            }
            summary.appliedState = AppliedState(
                fingerprint: written ?? "", inputRows: summary.inputRows, duplicateRows: summary.duplicateRows,
                inputCounts: counts,
                unknownKeys: update ? summary.unknownKeys : 0,
                unknownKeySamples: update ? summary.unknownKeySamples : [],
                emptyOfUnknown: update ? tally.emptyOfStreamedNew : columns.map { _ in 0 })
        }
        return (details, filled)
    }

    /// Only for a table of at most this many times the input's rows is an ``AppliedState``
    /// recorded: its scan costs ~0.2 µs a row here, the copy and join a re-apply skips ~2.5 µs
    /// an input row.
    public static let appliedStateTableRatio = 10

    /// Per column after the key, as ``SQL/columnTypes`` reads them: whether it is text, which may
    /// hold `''` (no value, to the coverage).
    static func textColumns(_ types: [[Value]]) -> [Bool] {
        types.dropFirst().map { $0.count > 4 && $0[4].boolValue == true }
    }

    /// The review's columns, numeric or not as ``SQL/columnTypes`` reads them (`types`), each with
    /// its coverage before (`coverage`: the table's rows, then per column those holding a value).
    func reviewColumns(types: [[Value]], coverage: [Value]) -> [ReviewSummary.Column] {
        let numeric = types.dropFirst().map { $0[2].boolValue ?? false }
        return columns.enumerated().map { index, column in
            var summary = ReviewSummary.Column(name: column.name, numeric: index < numeric.count && numeric[index])
            summary.valuesBefore = index + 1 < coverage.count ? coverage[index + 1].intValue.map(Int.init) ?? 0 : 0
            return summary
        }
    }

    /// Counts into `summary`, once `tally` has every streamed row, the rows left as they are,
    /// which follow from `counts` (the input's rows, then per column those giving a value);
    /// returns per column the input rows giving it a value whose key the table has or gets.
    func settle(_ summary: inout ReviewSummary, tally: ReviewTally, counts: [Int]) -> [Int] {
        func count(_ index: Int) -> Int { index < counts.count ? counts[index] : 0 }
        let rows = count(0)
        summary.matched = rows - (mode == .update ? summary.unknownKeys : summary.insertedRows)
        for index in summary.columns.indices {
            let column = summary.columns[index]
            summary.columns[index].unchanged = summary.matched - column.fill - column.update - column.clear
            // An empty input keeps the current value (on_empty: keep): unchanged, and counted kept.
            let emptyOfMatched = (rows - count(1 + index)) - tally.emptyOfStreamedNew[index]
            summary.columns[index].kept = columns[index].onEmpty == .keep ? emptyOfMatched : 0
        }
        // Filled counts keys the table has (or gets): an unknown key's value goes nowhere.
        let unknownFilled = columns.indices.map {
            mode == .update ? tally.unknownKeys - tally.emptyOfStreamedNew[$0] : 0
        }
        return columns.indices.map { count(1 + $0) - unknownFilled[$0] }
    }

    private func dropReviewInput(_ sql: SQL, on connection: PostgresConnection) async {
        await connection.rollbackQuietly()
        _ = try? await connection.execute("DROP TABLE IF EXISTS \(sql.input)")
    }
}

/// Where a value sits in a row of ``BulkUpdate/SQL/reviewRows``: the key, whether the row
/// exists, then three values per column. The one reading of that layout for the tally and the
/// undo records.
enum ReviewRow {
    static let key = 0
    static let exists = 1
    /// The column's current value, as text.
    static func old(_ column: Int) -> Int { 2 + column * 3 }
    /// The value the write would leave, as text; for a row that does not exist, the input's
    /// (NULL when it gave no value).
    static func new(_ column: Int) -> Int { 2 + column * 3 + 1 }
    /// Whether the two differ (as the column's type compares them).
    static func differs(_ column: Int) -> Int { 2 + column * 3 + 2 }

    /// A flag (``exists``, ``differs(_:)``) as the stream spells it: `t`, or a boolean.
    static func flag(_ value: Value) -> Bool {
        switch value {
        case .bool(let b): b
        case .string(let text): text == "t"
        default: false
        }
    }
}

/// Turns a review's rows (``BulkUpdate/SQL/reviewRows``) into an undo's records
/// (``BulkUpdate/undoColumns``): for each row the update changes, the key, its current values
/// and the values written; for each row an upsert or insert adds, NULL prior values and the
/// inserted flag. The review reads values as text; they are typed by the input's column types
/// (`typeOIDs`: the key's, then each column's), as a query reading them typed would hold them.
/// Pure: no I/O.
struct ReviewUndoRecords {
    let typeOIDs: [UInt32]
    /// Records end with ``BulkUpdate/insertedColumn`` (an upsert or insert).
    let flagsInserted: Bool

    func rows(of batch: Batch) -> [[Value]] {
        let columnCount = typeOIDs.count - 1
        var records: [[Value]] = []
        for row in batch.rows {
            let exists = ReviewRow.flag(row[ReviewRow.exists])
            if exists {
                guard (0..<columnCount).contains(where: { ReviewRow.flag(row[ReviewRow.differs($0)]) }) else {
                    continue
                }
            } else if !flagsInserted {
                continue  // an unknown key: nothing to write, nothing to undo
            }
            var record: [Value] = [typed(row[ReviewRow.key], typeOIDs[0])]
            record.reserveCapacity(1 + 2 * columnCount + 1)
            for index in 0..<columnCount {
                record.append(exists ? typed(row[ReviewRow.old(index)], typeOIDs[1 + index]) : .null)
            }
            for index in 0..<columnCount { record.append(typed(row[ReviewRow.new(index)], typeOIDs[1 + index])) }
            if flagsInserted { record.append(.bool(!exists)) }
            records.append(record)
        }
        return records
    }

    private func typed(_ value: Value, _ oid: UInt32) -> Value {
        guard case .string(let text) = value else { return value }
        return PostgresResult.value(text: text, typeOID: oid)
    }
}

/// Counts a review's rows (``BulkUpdate/SQL/reviewRows``) into cells and per-column figures.
/// Pure: no I/O.
struct ReviewTally {
    var columns: [ReviewSummary.Column]
    let columnNames: [String]
    /// New keys are rows to insert (upsert, insert) rather than unknown keys (update).
    let inserts: Bool
    var changedRows = 0
    var insertedRows = 0
    var unknownKeys = 0
    var unknownKeySamples: [String] = []
    var old: [ValueCounts]
    var new: [ValueCounts]
    var delta: [ValueCounts]
    /// Per column, the rows added with a value.
    var insertedValues: [Int]
    /// Per column, the streamed rows whose key is not in the table with an empty input.
    var emptyOfStreamedNew: [Int]
    /// What a page shows besides the counts, gathered from the same cells.
    var details = ReviewDetails()
    /// Per column and change kind (``changeKinds``), the cells sampled into ``details``.
    var sampled: [Int]
    static let changeKinds = ReviewSummary.Change.allCases

    init(columns: [ReviewSummary.Column], inserts: Bool) {
        self.columns = columns
        columnNames = columns.map(\.name)
        self.inserts = inserts
        old = Array(repeating: ValueCounts(), count: columns.count)
        new = old
        delta = old
        insertedValues = Array(repeating: 0, count: columns.count)
        sampled = Array(repeating: 0, count: columns.count * Self.changeKinds.count)
        emptyOfStreamedNew = insertedValues
    }

    /// Counts a batch of review rows; returns its changing cells.
    mutating func add(_ batch: Batch) -> ReviewCells {
        var cells = ReviewCells(columnNames: columnNames)
        for row in batch.rows {
            let key = row[ReviewRow.key]
            let exists = ReviewRow.flag(row[ReviewRow.exists])
            if !exists {
                for index in columns.indices where row[ReviewRow.new(index)] == .null {
                    emptyOfStreamedNew[index] += 1
                }
            }
            if !exists && !inserts {
                unknownKeys += 1
                if unknownKeySamples.count < 1000, let text = key.text { unknownKeySamples.append(text) }
                continue
            }
            if !exists { insertedRows += 1 }
            var changes = false
            for index in columns.indices {
                let before = row[ReviewRow.old(index)].text.flatMap { $0.isEmpty ? nil : $0 }
                let after = row[ReviewRow.new(index)].text.flatMap { $0.isEmpty ? nil : $0 }
                let differs = ReviewRow.flag(row[ReviewRow.differs(index)])
                let change: ReviewSummary.Change
                if !exists {
                    change = .insert
                    columns[index].insert += 1
                    if after != nil { insertedValues[index] += 1 }
                } else if !differs {
                    // Counted with the rows that do not change at all, on the server.
                    continue
                } else if before == nil, after != nil {
                    change = .fill
                    columns[index].fill += 1
                } else if after == nil, before != nil {
                    change = .clear
                    columns[index].clear += 1
                } else {
                    // Also both empty and yet differing: an empty text that becomes NULL, no value
                    // lost or gained (the coverage counts neither), shown as "" -> (empty).
                    change = .update
                    columns[index].update += 1
                }
                if exists { changes = true }
                // As they are: review.csv tells an empty text ("") from NULL (an empty field).
                cells.append(
                    key: key.text, column: index, old: row[ReviewRow.old(index)].text,
                    new: row[ReviewRow.new(index)].text, change: change)
                // Counted here, so the page's few samples cost the other cells no lookup.
                let kind = index * Self.changeKinds.count + (Self.changeKinds.firstIndex(of: change) ?? 0)
                if sampled[kind] < ReviewDetails.sampleLimit {
                    sampled[kind] += 1
                    details.sample(cells.texts(cells.count - 1), column: columnNames[index], change: change.rawValue)
                }
                if columns[index].numeric {
                    let o = before.flatMap(ValueCounts.number)
                    let n = after.flatMap(ValueCounts.number)
                    if let o { old[index].add(o) }
                    if let n { new[index].add(n) }
                    if let o, let n {
                        let change = n - o
                        delta[index].add(change)
                        details.consider(cells.texts(cells.count - 1), size: abs(change.double))
                    }
                }
            }
            if changes { changedRows += 1 }
        }
        return cells
    }

    /// Writes the figures into `summary`; the coverage after is the coverage before plus fills
    /// and new values, minus clears.
    func finish(into summary: inout ReviewSummary, sampleLimit: Int) -> ReviewDetails {
        var details = details
        for (index, column) in columns.enumerated() where column.numeric {
            details.old[column.name] = old[index]
            details.new[column.name] = new[index]
        }
        summary.changedRows = changedRows
        summary.insertedRows = insertedRows
        summary.unknownKeys = unknownKeys
        summary.unknownKeySamples = Array(unknownKeySamples.sorted().prefix(sampleLimit))
        summary.columns = columns.enumerated().map { index, column in
            var column = column
            column.old = ReviewSummary.Distribution(old[index])
            column.new = ReviewSummary.Distribution(new[index])
            column.delta = ReviewSummary.Distribution(delta[index])
            column.valuesAfter = column.valuesBefore + column.fill - column.clear + insertedValues[index]
            return column
        }
        return details
    }
}

/// What a review's page shows besides the counts, gathered from the cells as they stream:
/// the first cells of each kind per column, the biggest numeric changes, and per numeric column
/// the old and new values counted.
public struct ReviewDetails: Sendable {
    /// A cell (``BulkUpdate/reviewColumns``) and the size of its change.
    public struct Change: Sendable {
        public var size: Double
        public var cell: [String]
    }

    public static let sampleLimit = 5
    public static let biggestLimit = 10

    /// Column → change kind → up to ``sampleLimit`` cells, the first the review met.
    public var samples: [String: [String: [[String]]]] = [:]
    /// The ``biggestLimit`` largest |new − old| among numeric cells with both, largest first.
    public var biggest: [Change] = []
    /// Numeric column → its old and new values.
    public var old: [String: ValueCounts] = [:]
    public var new: [String: ValueCounts] = [:]

    public init() {}

    /// Keeps `cell` if its column has fewer than ``sampleLimit`` of its kind.
    public mutating func sample(_ cell: @autoclosure () -> [String], column: String, change: String) {
        guard samples[column]?[change]?.count ?? 0 < Self.sampleLimit else { return }
        samples[column, default: [:]][change, default: []].append(cell())
    }

    /// Keeps `cell` if its change is among the ``biggestLimit`` largest so far.
    public mutating func consider(_ cell: @autoclosure () -> [String], size: Double) {
        guard biggest.count < Self.biggestLimit || size > biggest[biggest.count - 1].size else { return }
        biggest.append(Change(size: size, cell: cell()))
        biggest.sort { $0.size > $1.size }
        if biggest.count > Self.biggestLimit { biggest.removeLast() }
    }
}
