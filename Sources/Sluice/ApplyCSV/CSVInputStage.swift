import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// A source stage that reads a CSV file a person reviewed (or edited) for `sluice apply`.
///
/// The whole file is checked before any row can change the database: the header against the
/// apply stage's columns (``CSVInputSchema``), every row's shape, and every value against the
/// rules of the plan's validate stages, with the value read as the rule's type (`int` "abc" is
/// an error, not a string), and that no key is given two different sets of values
/// (``KeyLedger``). Every problem is collected as a located ``CSVDiagnostic``; if there is any,
/// the stage fails with a ``CSVInputError`` listing them all, and sends no row after the first
/// problem. The apply stage behind it waits at a gate until this stage has succeeded (a bad file
/// never opens a transaction) unless approved up front; then it copies the rows as they come,
/// and this stage's failure stops it before it locks or changes anything.
///
/// Output rows have the CSV's columns; an empty cell is `null`, a value with a typed rule is
/// that type, anything else a string. The file is recorded in the manifest as this stage's
/// input (`kind: csv`, its path, the SHA-256 of the bytes read, and its rows).
public struct CSVInputStage: Stage {
    public static let kindName = "csv-input"

    public let name: String
    public var kind: String { Self.kindName }
    public let url: URL
    /// The file as the user named it, for messages.
    public let displayPath: String
    public let schema: CSVInputSchema
    public var maxRowBytes = CSVReader.defaultMaxRowBytes
    public var batchSize = 1000
    /// Called with each problem as a one-line `FILE:LINE:COL: error: ...` (the CLI prints them).
    public var report: (@Sendable (String) -> Void)?
    /// Set when the apply streams beside this stage: a file it applied before and that is
    /// unchanged may not need reading (``CSVReapply``).
    var reapply: CSVReapply?

    public init(name: String = CSVInputStage.kindName, url: URL, displayPath: String, schema: CSVInputSchema) {
        self.name = name
        self.url = url
        self.displayPath = displayPath
        self.schema = schema
    }

    public var parameters: Value {
        .object([
            "path": .string(url.standardizedFileURL.path),
            "apply_stage": .string(schema.applyStage),
            "required_columns": .array(schema.required.map { .string($0.column) }),
            "optional_columns": .array(schema.optional.map(Value.string)),
            "rules_from": .array(schema.rules.map { .string($0.stage) }),
            "max_row_bytes": .int(Int64(maxRowBytes)),
        ])
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        if let reapply {
            let candidate = await reapply.lookUp(csv: url, runDirectory: context.runDirectory)
            reapply.offer(candidate)
            if let candidate {
                switch await reapply.verdict() {
                case .read: break
                case .skip:
                    record(unread: candidate, context: context)
                    return
                case .abandoned: throw CancellationError()
                }
            }
        }
        let reader = try CSVReader(url: url, path: displayPath, maxRowBytes: maxRowBytes)
        let checker = try RowChecker(schema: schema)
        guard let header = try await reader.next() else {
            if reader.diagnostics.isEmpty {
                reader.report(
                    line: 1, column: 1,
                    "the file is empty: expected a header row (\(schema.allowed.joined(separator: ",")))")
            }
            throw failure(reader)
        }
        guard let columns = checker.checkHeader(header, reader: reader), reader.diagnostics.isEmpty else {
            throw failure(reader)
        }
        var batch = Batch(columns: columns)
        let checked = checker.columns(columns)
        var keys = KeyLedger(columns: columns, schema: schema, keyIsUUID: checker.keyIsUUID)
        var rows = 0
        var blankLine: Int?
        while let record = try await reader.next() {
            // Sending checks too, once a batch; rows not sent (a file with problems) are checked here.
            if reader.records % 1024 == 0 { try Task.checkCancellation() }
            if record.isBlank {
                // A blank line is harmless at the end of the file (editors add them), not between rows.
                blankLine = blankLine ?? record.line
                continue
            }
            if let line = blankLine {
                reader.report(line: line, column: 1, "an empty line between rows (remove it)")
                blankLine = nil
            }
            rows += 1
            if rows == 1024, reader.fileSize > 0 {
                // The rows so far say about how many the file holds: size the key ledger once.
                let estimate = Double(reader.fileSize) / Double(max(reader.bytesConsumed, 1)) * 1024
                keys.reserveCapacity(Int(min(estimate * 1.05, 20_000_000)))
            }
            guard let values = checker.check(record, columns: checked, reader: reader) else { continue }
            if let first = keys.firstLineWithOtherValues(values, line: record.line) {
                let key = record.fields[keys.keyIndex]
                reader.report(
                    line: key.line, column: key.column,
                    "\(schema.keyField) \(RowChecker.quoted(key.value)) is given different values here and on line "
                        + "\(first): keep one row per key (repeating a row exactly is fine)")
                continue
            }
            guard reader.diagnostics.isEmpty else { continue }
            batch.rows.append(values)
            if batch.count >= batchSize {
                try await output.send(batch)
                batch = Batch(columns: columns)
            }
        }
        if rows == 0 && reader.diagnostics.isEmpty {
            // Where the rows should be: the first blank line, or the end of the file.
            let end = reader.location
            reader.report(
                line: blankLine ?? end.line, column: blankLine == nil ? end.column : 1,
                "no rows after the header: there is nothing to apply")
        }
        guard reader.diagnostics.isEmpty, let sha256 = reader.sha256 else { throw failure(reader) }
        if !batch.isEmpty { try await output.send(batch) }
        context.registerInput(at: url.standardizedFileURL, kind: "csv", sha256: sha256, rows: rows)
        context.counters.set("rows", rows)
        context.counters.set("bytes", reader.bytesRead)
        context.counters.set("repeated_keys", keys.repeats)
    }

    /// The table still holds what applying these very bytes left: the file is recorded as read
    /// (the SHA-256 it hashed to), and the earlier run's spool of its rows as this stage's output
    /// (the runner links it into this run).
    private func record(unread candidate: CSVReapply.Candidate, context: StageContext) {
        let spool = candidate.spool
        context.registerInput(at: url.standardizedFileURL, kind: "csv", sha256: candidate.sha256, rows: spool.rows)
        context.recordOutput(asSpoolAt: URL(fileURLWithPath: spool.path), sha256: spool.sha256, rows: spool.rows)
        context.counters.set("rows", candidate.counters["rows"] ?? spool.rows)
        context.counters.set("bytes", candidate.bytes)
        if let repeats = candidate.counters["repeated_keys"] { context.counters.set("repeated_keys", repeats) }
    }

    private func failure(_ reader: CSVReader) -> CSVInputError {
        for diagnostic in reader.diagnostics { report?(diagnostic.description) }
        return CSVInputError(path: displayPath, diagnostics: reader.diagnostics, stoppedEarly: reader.stoppedEarly)
    }
}

/// The header and row checks of ``CSVInputStage``. Not `Sendable` (validators hold `Regex`es):
/// made inside the stage's task.
struct RowChecker {
    let schema: CSVInputSchema
    /// One validator per validate stage, in plan order.
    let validators: [RowValidator]

    init(schema: CSVInputSchema) throws {
        self.schema = schema
        validators = try schema.rules.map { rule in
            do {
                return try RowValidator(stage: rule.stage, settings: rule.settings)
            } catch {
                throw StageError(stage: rule.stage, "a pattern does not compile: \(error)")
            }
        }
    }

    /// Whether a rule types the key as a UUID (so `ABC…` and `abc…` are one key, as in the database).
    var keyIsUUID: Bool { schema.keyIsUUID }

    /// The column names, or `nil` after reporting what is wrong with the header.
    func checkHeader(_ header: CSVReader.Record, reader: CSVReader) -> [String]? {
        let names = header.fields.map(\.value)
        let allowed = schema.allowed
        let expected = allowed.joined(separator: ",")
        if header.isBlank {
            reader.report(
                line: header.line, column: 1,
                "the first line is empty: the file must start with its header (\(expected))")
            return nil
        }
        if names.count == 1, let separator = [";", "\t"].first(where: { names[0].contains($0) }) {
            reader.report(
                line: header.line, column: 1,
                "the header is one column holding \(Self.quoted(separator)): the file looks separated by "
                    + "\(separator == ";" ? "semicolons" : "tabs"); save it comma-separated (\(expected))")
            return nil
        }
        var problem = header.hasProblem
        var seen: [String: Int] = [:]
        for (index, field) in header.fields.enumerated() {
            let name = field.value
            if name.isEmpty {
                reader.report(line: field.line, column: field.column, "column \(index + 1) of the header has no name")
                problem = true
            } else if let first = seen[name] {
                reader.report(
                    line: field.line, column: field.column,
                    "column \(Self.quoted(name)) appears twice in the header (columns \(first + 1) and \(index + 1))")
                problem = true
            } else if !allowed.contains(name) {
                var message =
                    "unexpected column \(Self.quoted(name)): stage '\(schema.applyStage)' reads "
                    + schema.required.map(\.column).joined(separator: ", ")
                if let audit = schema.auditStage, !schema.optional.isEmpty {
                    message +=
                        ", and the audit trail of stage '\(audit)' may also have "
                        + schema.optional.joined(separator: ", ")
                }
                if let near = allowed.first(where: { Self.loosely($0) == Self.loosely(name) }) {
                    message += " (did you mean '\(near)'?)"
                } else {
                    message += "; remove the column"
                }
                reader.report(line: field.line, column: field.column, message)
                problem = true
            }
            if !name.isEmpty && seen[name] == nil { seen[name] = index }
        }
        let missing = schema.required.filter { !names.contains($0.column) }
        if !missing.isEmpty {
            let list = missing.map { "'\($0.column)' (\($0.reason))" }.joined(separator: ", ")
            let has = names.map { $0.isEmpty ? "''" : Self.printable($0) }.joined(separator: ", ")
            reader.report(
                line: header.line, column: 1,
                "the header lacks \(missing.count == 1 ? "column" : "columns") \(list); it has: \(has)")
            problem = true
        }
        return problem ? nil : names
    }

    /// A header column with the rules that check it, found once per file.
    struct Column {
        var name: String
        var rules: [CompiledRule]
        /// The apply stage's key: never empty.
        var isKey: Bool
    }

    /// The header's columns with their rules, in plan order.
    func columns(_ names: [String]) -> [Column] {
        names.map { name in
            Column(
                name: name, rules: validators.flatMap { $0.rules.filter { $0.rule.field == name } },
                isKey: name == schema.keyField)
        }
    }

    /// The row's values, typed, or `nil` after reporting its problems.
    func check(_ record: CSVReader.Record, columns: [Column], reader: CSVReader) -> [Value]? {
        let fields = record.fields
        guard fields.count == columns.count else {
            let message =
                "this row has \(fields.count.counted("field")), the header has \(columns.count)"
            if fields.count > columns.count {
                let extra = fields[columns.count]
                reader.report(
                    line: extra.line, column: extra.column, message + " (a comma too many, or an unquoted comma?)")
            } else {
                reader.report(line: record.endLine, column: record.endColumn, message)
            }
            return nil
        }
        // Values in a row the reader found garbled (bad UTF-8, a stray quote) are not checked further.
        if record.hasProblem { return nil }
        var values: [Value] = []
        values.reserveCapacity(columns.count)
        var valid = true
        for index in fields.indices {
            let field = fields[index]
            if columns[index].isKey && field.value.isEmpty {
                reader.report(
                    line: field.line, column: field.column,
                    "column '\(columns[index].name)' is empty: every row needs its key (key_field of stage "
                        + "'\(schema.applyStage)')")
                valid = false
                values.append(.null)
                continue
            }
            switch typed(field, column: columns[index]) {
            case .success(let value): values.append(value)
            case .failure(let problem):
                reader.report(
                    line: field.line, column: field.column, "column '\(columns[index].name)': \(problem.message)")
                valid = false
                values.append(.null)
            }
        }
        return valid ? values : nil
    }

    struct Problem: Error {
        var message: String
    }

    /// The field's text (null when empty), checked against every rule for its column, each
    /// reading it as its type. The text goes on as written: a rule checks, it does not rewrite
    /// (`01234` under `type: int` stays `01234` for a text column; the table's column type reads
    /// it, as psql's `\copy` would).
    private func typed(_ field: CSVReader.Field, column: Column) -> Result<Value, Problem> {
        let text = field.value
        let written: Value = text.isEmpty ? .null : .string(text)
        var value = written
        for compiled in column.rules {
            var source: String { "(rule from stage '\(compiled.stage)')" }
            if !text.isEmpty {
                switch Self.coerce(text, to: compiled.rule.type) {
                case .some(let coerced): value = coerced
                case .none:
                    return .failure(
                        Problem(message: "\(Self.quoted(text)) is not \(Self.article(compiled.rule.type)) \(source)"))
                }
            }
            // A value made of the rule's type (``coerce(_:to:)``) has it: only its bounds are left.
            if let (reason, _) = text.isEmpty ? compiled.failed(value, present: true) : compiled.outOfBounds(value) {
                return .failure(
                    Problem(message: Self.explain(reason, rule: compiled.rule, value: value) + " " + source))
            }
        }
        return .success(written)
    }

    /// `text` as a rule's type: `nil` when it is not one.
    static func coerce(_ text: String, to type: ValueType) -> Value? {
        switch type {
        case .int:
            return Int64(text).map(Value.int)
        case .double:
            // Decimal text only (not 0x10), its digits kept when a double would lose some.
            switch Value.number(parsing: text) {
            case .int(let i)?: return i.magnitude <= 1 << 53 ? .double(Double(i)) : .decimal(text)
            case .double(let d)? where d.isFinite: return .double(d)
            case .decimal(let exact)?: return .decimal(exact)
            default: return nil
            }
        case .bool:
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return nil
            }
        case .uuid:
            return RowValidator.isUUID(text) ? .string(text) : nil
        case .any, .string:
            return .string(text)
        }
    }

    static func article(_ type: ValueType) -> String {
        switch type {
        case .int: return "an integer"
        case .double: return "a number"
        case .bool: return "true or false"
        case .uuid: return "a UUID"
        case .any, .string: return "a \(type.rawValue)"
        }
    }

    /// A sentence for the reason ``CompiledRule/failed(_:present:)`` gave.
    static func explain(_ reason: RejectionReason, rule: ValidationRule, value: Value) -> String {
        let shown = value.doubleValue != nil ? (value.text ?? "") : quoted(value.text ?? "")
        switch reason {
        case .required: return "empty, but a value is required"
        case .min: return "\(shown) is below the minimum \(Expectation.format(rule.min ?? 0))"
        case .max: return "\(shown) is above the maximum \(Expectation.format(rule.max ?? 0))"
        case .maxLength: return "\(shown) is longer than \(rule.maxLength ?? 0) characters"
        case .pattern: return "\(shown) does not match the pattern \(rule.pattern ?? "")"
        case .oneOf:
            return "\(shown) is not one of \((rule.oneOf ?? []).compactMap(\.text).joined(separator: ", "))"
        case .missingField, .type, .nulCharacter: return "\(shown) breaks the rule '\(reason.rawValue)'"
        }
    }

    /// Keys listed one after another (`a, b`): each as it is, unless that would read as another
    /// list (`A, a ,  c` for `A`, `a `, and a no-break space before `c`): then quoted, and any
    /// space but a plain one written as an escape.
    static func keyList(_ keys: some Sequence<String>) -> String {
        keys.map { key in
            let ambiguous =
                key.isEmpty || key.first?.isWhitespace == true || key.last?.isWhitespace == true
                || key.contains(",")
                || key.unicodeScalars.contains { $0.properties.isWhitespace && $0 != " " }
            return ambiguous ? quoted(key, spaces: true) : printable(key)
        }.joined(separator: ", ")
    }

    /// `text` in quotes, cut at 80 characters and ``printable(_:spaces:)``.
    static func quoted(_ text: String, spaces: Bool = false) -> String {
        "'" + printable(text.count > 80 ? text.prefix(80) + "…" : text, spaces: spaces) + "'"
    }

    /// `text` safe to print inside a one-line message: line ends, control and format characters
    /// (terminal escapes, bidirectional overrides) written as escapes (`\n`, `\u{1B}`); with
    /// `spaces`, any space but a plain one too (`\u{A0}`).
    static func printable(_ text: some StringProtocol, spaces: Bool = false) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator,
                .spaceSeparator where spaces && scalar != " ":
                out += scalar.escapedCode
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    private static func loosely(_ name: String) -> String {
        name.lowercased().filter { $0.isLetter || $0.isNumber }
    }
}
