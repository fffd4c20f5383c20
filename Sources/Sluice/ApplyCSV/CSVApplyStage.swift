import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres

/// The plan's apply stage fed from a CSV (`sluice apply`): it runs the apply unchanged, and
/// when the database refuses a row — a value of the wrong type for its column, a CHECK
/// constraint, a key given different values — it says on which line of the CSV that row is.
///
/// ``BulkUpdateError`` names the input row (its position) or its key; to turn that into a line
/// the CSV is read again, only on failure, and only if its SHA-256 is still the one recorded
/// when it was read (so the line numbers are those of the rows that were applied).
public struct CSVApplyStage: ReviewingStage, PreflightingStage, FinalOnReturnStage {
    public let apply: ApplyStage
    public let csvURL: URL
    public let displayPath: String
    /// The CSV's SHA-256 as the csv-input stage read it is taken from that stage's record.
    public let inputStage: String
    public var report: (@Sendable (String) -> Void)?
    /// The input stage's rules type the key as a UUID (``CSVInputSchema/keyIsUUID``): its count
    /// of repeated keys then tells the apply whether the server's duplicate check can be skipped.
    public var keysAreUUIDs = false
    /// Set when this stage streams beside the input stage (``CSVReapply``).
    var reapply: CSVReapply?

    public init(apply: ApplyStage, csvURL: URL, displayPath: String, inputStage: String) {
        self.apply = apply
        self.csvURL = csvURL
        self.displayPath = displayPath
        self.inputStage = inputStage
    }

    public var name: String { apply.name }
    public var kind: String { apply.kind }
    public var parameters: Value { apply.parameters }
    public func reviewedParameters(_ parameters: Value) -> Value { apply.reviewedParameters(parameters) }
    public func preflight(_ context: StageContext) async throws { try await apply.preflight(context) }

    public func review(
        _ context: StageContext, input: StageInput, earlier: [Manifest.StageRecord]
    ) async throws
        -> Manifest.Review
    {
        do {
            return try await checkedApply(context).review(context, input: input, earlier: earlier)
        } catch let error as BulkUpdateError {
            // The review checks the input as the apply does: say where in the CSV the rows are.
            throw await located(error, context: context)
        }
    }

    private func located(_ error: BulkUpdateError, context: StageContext) async -> CSVApplyError {
        let diagnostics = await locate(error, recordedSHA256: Self.csvSHA256(read: inputStage, context: context))
        for diagnostic in diagnostics { report?(diagnostic.description) }
        return CSVApplyError(diagnostics: diagnostics, underlying: error)
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        // Ended without reading or skipping (a failure): the input stage, if waiting, stops.
        defer { reapply?.abandon() }
        do {
            let csvURL = csvURL
            // A stat(2): file I/O, so off the cooperative pool.
            // A CSV's COPY encoding is at most about four times its text (a column of one-digit
            // numbers): files up to a quarter of the spool's limit.
            let writesWhileCopying = try await BlockingIO.run { ApplyStage.spoolHolds(csvURL, expansion: 4) }
            var apply = checkedApply(context, writesWhileCopying: writesWhileCopying)
            if let reapply {
                let inputStage = inputStage
                apply.streamedState = ApplyStage.StreamedState(
                    file: reapply.stateFile(runDirectory: context.runDirectory),
                    earlier: await reapply.offered()?.recorded,
                    readSHA256: { Self.csvSHA256(read: inputStage, context: context) },
                    willRead: { reapply.read() }, skipUnlessRead: { reapply.skipUnlessRead() })
            }
            try await apply.run(context, input: input, output: output)
            // Returned without asking for a row: the table still held what the offer said.
            reapply?.skip()
        } catch let error as BulkUpdateError {
            throw await located(error, context: context)
        }
    }

    /// The SHA-256 of the CSV bytes the input stage read, from its record once it has finished.
    private static func csvSHA256(read inputStage: String, context: StageContext) -> String? {
        context.finishedStage(inputStage)?.inputs.first { $0.kind == "csv" }?.sha256
    }

    /// The apply, told whether its rows come from a file read as fast as it can be, small enough
    /// for it to write them as they come (``BulkUpdate/writesWhileCopying``), and that the keys it copies are
    /// distinct when the csv-input stage — which saw every one of them, as UUIDs — found none
    /// repeated. That is asked once the input is in, when that stage has finished (even when the
    /// apply streams beside it).
    private func checkedApply(_ context: StageContext, writesWhileCopying: Bool = false) -> ApplyStage {
        var apply = apply
        apply.writesWhileCopying = writesWhileCopying
        guard keysAreUUIDs else { return apply }
        let inputStage = inputStage
        apply.inputKeysDistinctAsUUIDs = {
            guard let record = context.finishedStage(inputStage), record.status == .succeeded else { return false }
            return record.counters["repeated_keys"] == 0
        }
        return apply
    }

    /// The CSV positions of the rows `error` is about; empty when they cannot be found.
    func locate(_ error: BulkUpdateError, recordedSHA256: String?) async -> [CSVDiagnostic] {
        let settings = apply.settings
        let fieldOf: (String?) -> String? = { column in
            guard let column else { return nil }
            if column == settings.key { return settings.keyField }
            return settings.columns.first { $0.column == column }?.from
        }
        switch error.reason {
        case .invalidValue:
            guard let row = error.inputRow else { return [] }
            let field = fieldOf(error.column) ?? settings.keyField
            return await scan(recordedSHA256: recordedSHA256) { index, cells, emit in
                guard index == row, let cell = cells[field] else { return index < row }
                // Named by its key too, as a constraint's refusal is (not the key's own cell).
                let key = field == settings.keyField ? nil : cells[settings.keyField].map(\.value)
                let of = key.map { " for \(settings.keyField) \(RowChecker.printable($0))" } ?? ""
                emit(
                    cell,
                    "column '\(field)': \(RowChecker.quoted(cell.value))\(of) is refused by the database: "
                        + (error.underlying?.message ?? error.message))
                return false
            }
        case .constraintViolation:
            guard let key = error.key else { return [] }
            // The column the constraint is about: named by the server, or in the constraint's name.
            let constraint = error.constraint ?? ""
            let column =
                error.column ?? settings.columns.map(\.column).first { constraint.contains($0) }
            let field = fieldOf(column) ?? settings.keyField
            let violated = error.violated ?? error.constraint.map { .constraint($0) } ?? .notNull(column: column)
            return await scan(recordedSHA256: recordedSHA256) { _, cells, emit in
                guard let keyCell = cells[settings.keyField], Self.sameKey(keyCell.value, key),
                    let cell = cells[field]
                else { return true }
                let value = cell.value.isEmpty ? "an empty value" : RowChecker.quoted(cell.value)
                emit(
                    cell,
                    "column '\(field)': \(value) for \(settings.keyField) \(key) "
                        + violated.phrase(of: settings.table, namingTable: true)
                )
                return false
            }
        case .duplicateKeys:
            let keys = error.keys.isEmpty ? error.key.map { [$0] } ?? [] : error.keys
            // The server names a key as its column prints it: an integer key's `1` is the file's
            // `01` and `1` too, which only the same number tells (a text key's are exact).
            var lines: [ExactText: [CSVReader.Field]] = [:]
            var sameNumber: [ExactText: [CSVReader.Field]] = [:]
            _ = await scan(recordedSHA256: recordedSHA256) { _, cells, _ in
                guard let cell = cells[settings.keyField] else { return true }
                if let key = keys.first(where: { Self.sameKey(cell.value, $0) }),
                    lines[ExactText(key), default: []].count < 10
                {
                    lines[ExactText(key), default: []].append(cell)
                }
                if let key = keys.first(where: { Self.sameNumber(cell.value, $0) }),
                    sameNumber[ExactText(key), default: []].count < 10
                {
                    sameNumber[ExactText(key), default: []].append(cell)
                }
                return true
            }
            return keys.compactMap { key in
                let exact = lines[ExactText(key)] ?? []
                let cells = exact.count > 1 ? exact : sameNumber[ExactText(key)] ?? []
                guard cells.count > 1 else { return nil }
                let others = cells.filter { $0 != cells[1] }.map { String($0.line) }.joined(separator: ", ")
                return CSVDiagnostic(
                    path: displayPath, line: cells[1].line, column: cells[1].column,
                    message:
                        "\(settings.keyField) \(key) is given different values here and on line \(others); keep one row per key"
                )
            }
        case .existingKeys:
            // An insert: every line whose key the table already has (a few keys, named by the error).
            return await scan(recordedSHA256: recordedSHA256) { _, cells, emit in
                guard let cell = cells[settings.keyField], error.keys.contains(where: { Self.sameKey(cell.value, $0) })
                else { return true }
                emit(
                    cell,
                    "\(settings.keyField) \(cell.value) is already in table \(settings.table) "
                        + "(mode: insert adds new rows only; mode: upsert also updates existing ones)")
                return true
            }
        default:
            return []
        }
    }

    /// Reads the CSV again, calling `visit` with each data row's 1-based index and cells by
    /// column until it returns `false`. Returns what `visit` emitted; nothing when the file has
    /// changed since it was applied (a stop before the end cannot tell, and is trusted).
    private func scan(
        recordedSHA256: String?,
        visit: (Int, [String: CSVReader.Field], (CSVReader.Field, String) -> Void) -> Bool
    ) async -> [CSVDiagnostic] {
        guard let reader = try? CSVReader(url: csvURL, path: displayPath), let header = try? await reader.next() else {
            return []
        }
        let names = header.fields.map(\.value)
        var found: [CSVDiagnostic] = []
        var index = 0
        let emit: (CSVReader.Field, String) -> Void = { field, message in
            found.append(CSVDiagnostic(path: displayPath, line: field.line, column: field.column, message: message))
        }
        while let record = try? await reader.next() {
            if record.isBlank { continue }
            index += 1
            let cells = Dictionary(zip(names, record.fields), uniquingKeysWith: { first, _ in first })
            guard visit(index, cells, emit) else { break }
        }
        if let sha = reader.sha256, let recordedSHA256, sha != recordedSHA256 { return [] }
        return found
    }

    /// Keys as the database prints them (a UUID in lower case) and as the CSV has them.
    /// Whether `a` and `b` are decimal numbers (`01`, `+1`, `1.50`) of the same value.
    static func sameNumber(_ a: String, _ b: String) -> Bool {
        func number(_ text: String) -> Decimal? {
            let digits = text.drop { $0 == "+" || $0 == "-" }
            guard !digits.isEmpty, digits.count >= text.count - 1,
                digits.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), digits.contains(where: \.isNumber)
            else { return nil }
            return Decimal(string: text.hasPrefix("+") ? String(text.dropFirst()) : text)
        }
        guard let x = number(a), let y = number(b) else { return false }
        return x == y
    }

    static func sameKey(_ a: String, _ b: String) -> Bool {
        if a.hasSameCodePoints(as: b) { return true }
        guard let x = UUID(uuidString: a), let y = UUID(uuidString: b) else { return false }
        return x == y
    }
}

/// The database refused the rows of a CSV; the diagnostics say where they are in the file.
public struct CSVApplyError: Error, CustomStringConvertible, CustomDebugStringConvertible, Sendable {
    public var diagnostics: [CSVDiagnostic]
    public var underlying: BulkUpdateError

    public var description: String {
        (diagnostics.map(\.description) + [underlying.description]).joined(separator: "\n")
    }

    public var debugDescription: String { String(reflecting: underlying) }
}
