import Foundation
import SluiceCore

/// What an apply would change, counted per column: the summary of a review
/// (``BulkUpdate/review(on:input:cells:)``), kept in the run manifest and checked by the
/// guard-rails before anything changes.
///
/// Percentages are of ``rowsAfter``: the table's rows once the apply has run (its rows at the
/// review plus the rows an upsert or insert adds).
public struct ReviewSummary: Sendable, Hashable {
    /// One cell's change.
    public enum Change: String, Sendable, Hashable, CaseIterable {
        /// Empty (NULL) → a value.
        case fill
        /// A value → another value.
        case update
        /// A value → empty.
        case clear
        /// A cell of a row an upsert or insert adds.
        case insert
    }

    /// min, median and max of a set of numbers (over the cells that change), exact: a `bigint`
    /// near 2^63 or a `numeric` of 30 digits keeps every digit.
    public struct Distribution: Sendable, Hashable {
        public var count: Int
        public var min: ExactNumber
        public var median: ExactNumber
        public var max: ExactNumber

        /// `nil` for no values. The median of an even count is the mean of the two middle values.
        public init?(_ counts: ValueCounts) {
            let sorted = counts.sorted
            guard let first = sorted.first, let last = sorted.last else { return nil }
            count = counts.total
            min = first.value
            max = last.value
            // The values at positions middle - 1 and middle of the sorted cells.
            let middle = count / 2
            var seen = 0
            var below: ExactNumber?
            var at = last.value
            for (value, times) in sorted {
                if below == nil, seen + times > middle - 1 { below = value }
                if seen + times > middle {
                    at = value
                    break
                }
                seen += times
            }
            median = count % 2 == 1 ? at : ((below ?? at) + at).halved
        }

        init(count: Int, min: ExactNumber, median: ExactNumber, max: ExactNumber) {
            self.count = count
            self.min = min
            self.median = median
            self.max = max
        }
    }

    public struct Column: Sendable, Hashable {
        public var name: String
        public var numeric: Bool
        public var fill = 0
        public var update = 0
        public var clear = 0
        public var insert = 0
        /// Rows of the table whose value stays as it is (the input's value is the same).
        public var unchanged = 0
        /// Rows whose input value was empty with `on_empty: keep` (counted in ``unchanged`` too).
        public var kept = 0
        /// Rows with a value in this column before the apply, and after it.
        public var valuesBefore = 0
        public var valuesAfter = 0
        /// Of the cells that change: the old values, the new values, and new − old of updates.
        public var old: Distribution?
        public var new: Distribution?
        public var delta: Distribution?

        public init(name: String, numeric: Bool) {
            self.name = name
            self.numeric = numeric
        }

        public func count(_ change: Change) -> Int {
            switch change {
            case .fill: fill
            case .update: update
            case .clear: clear
            case .insert: insert
            }
        }

        /// Cells that change, of every kind.
        public var changed: Int { fill + update + clear + insert }

        /// The min, median and max of ``old``, ``new`` or ``delta`` (`label`) as people read
        /// them, each with its label: with every digit (``ExactNumber/shown``), so no change
        /// reads as none (`1.5 → 1.5000001`: a delta of `0.0000001`, which two decimals would
        /// round to `0`); one of more than 30 digits in scientific notation (`1e-300`).
        public var figures: [(label: String, distribution: Distribution, min: String, median: String, max: String)] {
            [("old", old), ("new", new), ("delta", delta)].compactMap { label, distribution in
                guard let d = distribution else { return nil }
                return (label, d, d.min.shown, d.median.shown, d.max.shown)
            }
        }
    }

    public var table: String
    public var key: String
    /// `update`, `upsert` or `insert`.
    public var mode: String
    public var inputRows = 0
    /// Input rows repeating another row exactly (counted once).
    public var duplicateRows = 0
    /// Distinct input keys with a row in the table.
    public var matched = 0
    /// Existing rows with at least one cell that changes.
    public var changedRows = 0
    /// Rows an upsert or insert adds.
    public var insertedRows = 0
    /// Distinct input keys with no row in the table (an update only).
    public var unknownKeys = 0
    public var unknownKeySamples: [String] = []
    /// The table's rows at the review.
    public var tableRows = 0
    public var columns: [Column] = []
    /// The row-level BEFORE triggers the write fires, which may store other values than it
    /// writes (named at the gate, so the reviewer knows).
    public var triggers: [String] = []
    /// What the review read, as one text (``BulkUpdate/SQL/stateFingerprint``): an apply held to
    /// the review that reads the same on the locked table has nothing that could have drifted,
    /// and skips comparing the reviewed cells one by one. `nil` for a review made inside the
    /// write's own transaction, or where ``BulkUpdate`` reads none (before PostgreSQL 14, a column type with no hash function).
    public var stateFingerprint: String?
    /// The session's `TimeZone` the review read the table in (`SHOW TimeZone`), or `nil` (a
    /// review made before it was recorded): an apply held to the review runs in it
    /// (``BulkUpdate/timeZone``).
    public var timeZone: String?
    /// The session's `DateStyle` the review read its input in (`SHOW DateStyle`: `ISO, DMY`), or
    /// `nil`: an apply held to the review reads `01/02/2024` in the same order
    /// (``BulkUpdate/dateStyle``).
    public var dateStyle: String?
    /// The table the review read (``TableIdentity``), or `nil` (a review made before it was
    /// recorded): an apply held to the review writes that table or nothing
    /// (``BulkUpdate/expectedTarget``).
    public var target: TableIdentity?
    /// The input's values for timestamp columns that carry an offset, which PostgreSQL drops
    /// (``OffsetTimestamps``): noted under the summary, written as they are.
    public var offsetTimestamps: [OffsetTimestamps] = []
    /// What the table holds once the reviewed write is done, for a re-apply of the same input
    /// (``BulkUpdate/AppliedState``): worked out by a review inside the write's transaction that
    /// asked for it; not part of the summary's JSON.
    var appliedState: BulkUpdate.AppliedState?

    public init(table: String, key: String, mode: String) {
        self.table = table
        self.key = key
        self.mode = mode
    }

    /// The table's rows after the apply: the base of every percentage.
    public var rowsAfter: Int { tableRows + insertedRows }

    /// Rows the apply writes: existing rows changed plus rows added.
    public var rowsWritten: Int { changedRows + insertedRows }

    /// `part` as a percentage of ``rowsAfter`` (0 for an empty table).
    public func percent(_ part: Int) -> Double {
        rowsAfter == 0 ? 0 : Double(part) * 100 / Double(rowsAfter)
    }

    /// Cells that change, in all columns.
    public var changedCells: Int { columns.reduce(0) { $0 + $1.changed } }

    /// What changes, in rows: of the table's rows for an update; an upsert or insert says the
    /// rows it changes apart from those it adds (else "1 of 4" would count the row it adds).
    public var headline: String {
        mode == "update"
            ? "\(rowsWritten) of \(rowsAfter) rows would change (\(changedRows) updated, \(insertedRows) inserted)"
            : "\(changedRows) of \(tableRows) rows would change and \(insertedRows) would be added "
                + "(\(rowsAfter) rows after)"
    }

    /// The input's keys: found, not found (an update; an upsert or insert adds them), repeated.
    public var keyCounts: String {
        "\(matched) matched, " + (mode == "update" ? "\(unknownKeys) unknown keys, " : "")
            + "\(duplicateRows) duplicate rows"
    }

    /// The summary as people read it: a headline, one line per column, the unknown keys.
    public var text: String {
        var out = "review of \(table) (\(mode)): \(headline), \(changedCells) cells; \(keyCounts)\n"
        let header = ["column", "fill", "update", "clear", "insert", "unchanged", "kept", "coverage after"]
        var rows = [header]
        for column in columns {
            rows.append([
                column.name, "\(column.fill)", "\(column.update)", "\(column.clear)", "\(column.insert)",
                "\(column.unchanged)", "\(column.kept)",
                "\(column.valuesAfter) (\(Self.format(percent(column.valuesAfter)))%)",
            ])
        }
        let widths = header.indices.map { index in rows.map { $0[index].count }.max() ?? 0 }
        for row in rows {
            out +=
                "  "
                + zip(row, widths).enumerated().map { index, cell in
                    let pad = String(repeating: " ", count: cell.1 - cell.0.count)
                    return index == 0 ? cell.0 + pad : pad + cell.0
                }.joined(separator: "  ") + "\n"
        }
        for column in columns where column.numeric {
            for figure in column.figures {
                out +=
                    "  \(column.name) \(figure.label): min \(figure.min), median \(figure.median), max \(figure.max) "
                    + "(\(figure.distribution.count.counted("cell")))\n"
            }
        }
        if unknownKeys > 0 {
            out +=
                "  unknown \(key) (not in \(table)): \(unknownKeySamples.map(ReviewCells.shown).joined(separator: ", "))"
            out += unknownKeys > unknownKeySamples.count ? ", ...\n" : "\n"
        }
        if let triggerNote { out += "  note: \(triggerNote)\n" }
        for note in offsetNotes { out += "  note: \(note)\n" }
        return out
    }

    /// Says that ``triggers`` may store other values than the review shows, or `nil` for none.
    public var triggerNote: String? {
        guard !triggers.isEmpty else { return nil }
        let event = mode == "update" ? "UPDATE" : mode == "insert" ? "INSERT" : "INSERT or UPDATE"
        return "\(table) has \(triggers.count == 1 ? "a row-level trigger" : "row-level triggers") BEFORE \(event) "
            + "(\(triggers.joined(separator: ", "))) that may store other values than the new ones shown here; the "
            + "apply reads back what is stored, names the cells they altered, and undo restores them"
    }

    /// Says, per column, that input values carry an offset PostgreSQL drops (``offsetTimestamps``).
    public var offsetNotes: [String] { offsetTimestamps.map { $0.note(table: table) } }

    /// A value of the table on an axis (the histogram's ends): every digit of a whole number
    /// (`9223372036854775807`, not `9.2233720368547758e+18`), else rounded to two decimals; one of
    /// more than 30 digits in scientific notation (``ExactNumber/shown``). The figures of a
    /// column show every digit (``Column/figures``).
    public static func format(value number: ExactNumber) -> String {
        number.rounded(places: 2).shown
    }

    /// A number as people read it: no `.0` on whole numbers, else up to two decimals.
    /// Past 1e15 (where `* 100` could overflow to infinity and a double has no cents left),
    /// the double's own shortest spelling.
    public static func format(_ number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        guard abs(number) < 1e15 else { return JSON.format(number) }
        return String((number * 100).rounded() / 100)
    }
}

extension ReviewSummary {
    /// The summary as JSON, for the manifest.
    public var json: Value {
        var fields: [String: Value] = [
            "table": .string(table), "key": .string(key), "mode": .string(mode),
            "input_rows": .int(Int64(inputRows)), "duplicate_rows": .int(Int64(duplicateRows)),
            "matched": .int(Int64(matched)), "changed_rows": .int(Int64(changedRows)),
            "inserted_rows": .int(Int64(insertedRows)), "unknown_keys": .int(Int64(unknownKeys)),
            "unknown_key_samples": .array(unknownKeySamples.map(Value.string)),
            "table_rows": .int(Int64(tableRows)), "columns": .array(columns.map(\.json)),
            "triggers": .array(triggers.map(Value.string)),
        ]
        if let stateFingerprint { fields["state_fingerprint"] = .string(stateFingerprint) }
        if let timeZone { fields["time_zone"] = .string(timeZone) }
        if let dateStyle { fields["date_style"] = .string(dateStyle) }
        if let target { fields["target"] = target.json }
        if !offsetTimestamps.isEmpty { fields["offset_timestamps"] = .array(offsetTimestamps.map(\.json)) }
        return .object(fields)
    }

    /// Reads ``json`` back; `nil` when it is not a review summary.
    public init?(json: Value) {
        guard case .string(let table) = json["table"], case .string(let key) = json["key"],
            case .string(let mode) = json["mode"], case .array(let columns) = json["columns"]
        else { return nil }
        self.init(table: table, key: key, mode: mode)
        func int(_ name: String) -> Int { json[name].intValue.map(Int.init) ?? 0 }
        inputRows = int("input_rows")
        duplicateRows = int("duplicate_rows")
        matched = int("matched")
        changedRows = int("changed_rows")
        insertedRows = int("inserted_rows")
        unknownKeys = int("unknown_keys")
        tableRows = int("table_rows")
        if case .array(let samples) = json["unknown_key_samples"] { unknownKeySamples = samples.compactMap(\.text) }
        if case .array(let names) = json["triggers"] { triggers = names.compactMap(\.text) }
        if case .string(let fingerprint) = json["state_fingerprint"] { stateFingerprint = fingerprint }
        if case .string(let zone) = json["time_zone"] { timeZone = zone }
        if case .string(let style) = json["date_style"] { dateStyle = style }
        target = TableIdentity(json: json["target"])
        if case .array(let offsets) = json["offset_timestamps"] {
            offsetTimestamps = offsets.compactMap(OffsetTimestamps.init(json:))
        }
        self.columns = columns.compactMap(Column.init(json:))
    }
}

extension ReviewSummary.Column {
    var json: Value {
        func distribution(_ d: ReviewSummary.Distribution?) -> Value {
            guard let d else { return .null }
            return .object([
                "count": .int(Int64(d.count)), "min": d.min.json, "median": d.median.json, "max": d.max.json,
            ])
        }
        return .object([
            "name": .string(name), "numeric": .bool(numeric), "fill": .int(Int64(fill)),
            "update": .int(Int64(update)), "clear": .int(Int64(clear)), "insert": .int(Int64(insert)),
            "unchanged": .int(Int64(unchanged)), "kept": .int(Int64(kept)),
            "values_before": .int(Int64(valuesBefore)), "values_after": .int(Int64(valuesAfter)),
            "old": distribution(old), "new": distribution(new), "delta": distribution(delta),
        ])
    }

    init?(json: Value) {
        guard case .string(let name) = json["name"] else { return nil }
        self.init(name: name, numeric: json["numeric"].boolValue ?? false)
        func int(_ key: String) -> Int { json[key].intValue.map(Int.init) ?? 0 }
        fill = int("fill")
        update = int("update")
        clear = int("clear")
        insert = int("insert")
        unchanged = int("unchanged")
        kept = int("kept")
        valuesBefore = int("values_before")
        valuesAfter = int("values_after")
        func distribution(_ key: String) -> ReviewSummary.Distribution? {
            let d = json[key]
            guard let count = d["count"].intValue, let min = ExactNumber(json: d["min"]),
                let median = ExactNumber(json: d["median"]), let max = ExactNumber(json: d["max"])
            else { return nil }
            return ReviewSummary.Distribution(count: Int(count), min: min, median: median, max: max)
        }
        old = distribution("old")
        new = distribution("new")
        delta = distribution("delta")
    }
}

/// Numbers counted by value, for a review's distributions and histograms: exact, in memory that
/// grows with the distinct values rather than with the cells (a popularity column of a million
/// changing cells holds at most 101 entries).
public struct ValueCounts: Sendable {
    public private(set) var counts: [ExactNumber: Int] = [:]
    /// How many values were added.
    public private(set) var total = 0

    public init() {}

    public mutating func add(_ value: ExactNumber) {
        counts[value, default: 0] += 1
        total += 1
    }

    /// A numeric column's value as the server prints it, as an exact number (``ExactNumber``):
    /// `nil` for `NaN` and `±Infinity` (a `float8` may hold them): they have no place on a
    /// histogram's axis, and a change to or from them has no size.
    public static func number(_ text: String) -> ExactNumber? { ExactNumber(text) }

    /// Each distinct value with how many times it was added, smallest first.
    public var sorted: [(value: ExactNumber, times: Int)] {
        counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

extension ExactNumber {
    /// As a manifest keeps it: a JSON integer, or a JSON number holding every digit.
    var json: Value {
        switch self {
        case .integer(let value): .int(value)
        case .decimal: .decimal(description)
        }
    }

    /// From ``json``, or from a double a manifest written before kept.
    init?(json: Value) {
        switch json {
        case .int(let value): self = .integer(value)
        case .double(let value): self.init(JSON.format(value))
        case .decimal(let text), .string(let text): self.init(text)
        default: return nil
        }
    }
}
