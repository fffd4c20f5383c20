import SluiceCore
import SluiceHTTP
import SluicePlan

/// One input batch of the fetch stage on its way through: the ids to ask for, then the rows
/// with the answers attached. Pure, so the matching rules are testable without a server.
///
/// Answers are matched to rows by position (Spotify relinks ids: the returned `id` may differ
/// from the requested one), rows repeating an id each get the item, and a row whose id is
/// empty never reaches the API.
struct FetchedBatch {
    /// The input batch as received.
    let batch: Batch
    /// The ids to request, in row order, one per row that has an id.
    private(set) var ids: [String] = []
    /// How the rejects file's `field` column names the id (``RequestKeys/idColumn``).
    private let idColumn: String
    /// For each requested id, the input row it came from.
    private var rowForID: [Int] = []
    /// For each request of a per-item fetch, what names its row (``RequestKeys/Key``); empty
    /// for batch requests, whose key is the id.
    private var itemIDs: [(field: String, value: String)?] = []
    /// Rows rejected before any request (no id, or one the plan's `id_pattern` refuses), then
    /// those the answers reject.
    private(set) var rejections: [Rejection] = []
    /// Rows without an id.
    private var missingIDs = 0
    /// Rows whose id does not match `id_pattern`.
    private var malformedIDs = 0

    /// Tallies of what the answers said.
    struct Tally {
        var found = 0
        var notFound = 0
        var rejected = 0
        /// Ids the answer named in several different items.
        var ambiguous = 0
        /// Ids whose list the API answered with more pages than `max_pages`: found, but not used.
        var tooManyPages = 0
        var missingID = 0
        /// Ids the plan's `id_pattern` refused, never sent.
        var malformedID = 0
        /// Answers taken from an earlier run's answers file instead of the API.
        var reused = 0
    }

    /// Works out every row's request key; a row without one, or whose id does not match the
    /// plan's `id_pattern`, is rejected here and never sent.
    init(batch: Batch, keys: RequestKeys, stage: String) {
        self.batch = batch
        idColumn = keys.idColumn
        for (index, row) in batch.rows.enumerated() {
            switch keys.key(for: row) {
            case .key(let key, let id):
                ids.append(key)
                rowForID.append(index)
                if keys.perItem { itemIDs.append(id) }
            case .missing(let field, let value):
                missingIDs += 1
                // A placeholder's field is named as the row names it, as in the other rejections.
                let placeholder = field.hasPrefix("{") && field.hasSuffix("}")
                rejections.append(
                    Rejection(
                        stage: stage, reason: "missing_id",
                        field: placeholder ? String(field.dropFirst().dropLast()) : field, value: value,
                        detail: placeholder
                            ? "the request needs \(field), which is empty in this row"
                            : "the row has no id (\(keys.idText) is empty)",
                        row: Self.object(batch.columns, row)))
            case .malformed(let id):
                malformedIDs += 1
                rejections.append(
                    Rejection(
                        stage: stage, reason: "invalid_id", field: keys.idColumn, value: id,
                        detail: "the id does not match id_pattern \(keys.patternText); not sent to the API",
                        row: Self.object(batch.columns, row)))
            }
        }
    }

    /// The output batch: input columns plus `responseField` (replaced if already there),
    /// found rows (and not-found ones when `keepNotFound`); the rest become rejections.
    mutating func assemble(
        _ results: [ItemResult], responseField: String, keepNotFound: Bool, stage: String, tally: inout Tally
    ) -> Batch {
        precondition(results.count == ids.count, "one result per requested id")
        let existing = batch.index(of: responseField)
        let columns = existing == nil ? batch.columns + [responseField] : batch.columns
        var answers = [ItemResult?](repeating: nil, count: batch.count)
        for (position, result) in results.enumerated() { answers[rowForID[position]] = result }
        tally.missingID += missingIDs
        tally.malformedID += malformedIDs
        var out = Batch(columns: columns)
        out.rows.reserveCapacity(batch.count)
        for (index, row) in batch.rows.enumerated() {
            guard let answer = answers[index] else { continue }  // rejected for a missing id
            let attached: Value
            switch answer {
            case .found(let item):
                tally.found += 1
                attached = item
            case .notFound(let because):
                tally.notFound += 1
                guard keepNotFound else {
                    let detail = "the API does not know this id" + (because.map { " (\($0))" } ?? "")
                    rejections.append(reject(row, "not_found", detail, stage: stage, index))
                    continue
                }
                attached = .null
            case .rejected(let reason):
                tally.rejected += 1
                rejections.append(reject(row, "invalid_id", "the API refused this id: \(reason)", stage: stage, index))
                continue
            case .gaveUp(let reason):
                // Counted in `gave_up` as the request failed, not as a verdict on the id.
                rejections.append(
                    reject(
                        row, "gave_up",
                        "the API failed every attempt at this id's request (on_give_up: reject), which says nothing "
                            + "of the id: a later run asks again; the last error: \(reason)", stage: stage, index))
                continue
            case .tooManyPages(let fetched):
                tally.tooManyPages += 1
                rejections.append(
                    reject(
                        row, "too_many_pages",
                        "the API's list for this row has more pages than paginate.max_pages allows: \(fetched) were "
                            + "fetched and the last names another; none of its items is used (a partial list would "
                            + "read as the whole): raise max_pages", stage: stage, index))
                continue
            case .ambiguous(let reason):
                tally.ambiguous += 1
                rejections.append(
                    reject(
                        row, "ambiguous_answer",
                        "\(reason); which one is meant is unknown, so none is used: a later run asks again",
                        stage: stage, index))
                continue
            }
            var newRow = row
            if let existing { newRow[existing] = attached } else { newRow.append(attached) }
            out.rows.append(newRow)
        }
        return out
    }

    /// A row the answer rejects: its id, or for a per-item request without one, the request.
    private func reject(_ row: [Value], _ reason: String, _ detail: String, stage: String, _ index: Int) -> Rejection {
        let position = rowForID.firstIndex(of: index)
        let key = position.map { ids[$0] }
        var field = idColumn
        var value = key
        var detail = detail
        if let position, position < itemIDs.count, let key {
            let request = RequestKeys.display(key)
            detail += " (request \(request))"
            if let id = itemIDs[position] { (field, value) = id } else { (field, value) = ("fetch request", request) }
        }
        return Rejection(
            stage: stage, reason: reason, field: field, value: value, detail: detail,
            row: Self.object(batch.columns, row))
    }

    static func object(_ columns: [String], _ row: [Value]) -> [String: Value] {
        Dictionary(zip(columns, row), uniquingKeysWith: { first, _ in first })
    }
}

/// A fetch stage's `id_pattern`, compiled once per stage run.
///
/// Not `Sendable` (`Regex` is not): the stage's run task owns it.
struct IDPattern {
    let text: String
    private let regex: Regex<AnyRegexOutput>

    /// - Throws: the regex error (`sluice check` reports it first, located).
    init(_ text: String) throws {
        self.text = text
        regex = try Regex(text)
    }

    func matches(_ id: String) -> Bool {
        (try? regex.wholeMatch(in: id)) != nil
    }
}
