import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// Writes the rows to an RFC 4180 CSV file, the audit trail a person reviews before apply,
/// and passes every row on unchanged (apply reads them from this stage's output).
///
/// The path template is rendered with the run's start time, so every stage and the manifest
/// agree on the name; a relative path is inside the run directory. The file appears only
/// when complete (temporary file + rename) and is mode 0600. It never replaces an existing
/// file: with an absolute path that two runs render alike (no `{timestamp}` or `{run_id}`),
/// the second run fails instead of overwriting the first one's audit trail.
public struct WriteCSVStage: Stage {
    public let name: String
    public var kind: String { "write-csv" }
    public let parameters: Value
    public let settings: WriteCSVSettings
    /// The plan's name, for the `{plan}` placeholder.
    let planName: String

    public init(name: String, settings: WriteCSVSettings, planName: String, parameters: Value) {
        self.name = name
        self.settings = settings
        self.planName = planName
        self.parameters = parameters
    }

    /// Where the CSV goes for a run.
    public func url(runDirectory: URL, runID: String, startedAt: Date) -> URL {
        let path = settings.path.render(start: startedAt, runID: runID, plan: planName)
        if path.hasPrefix("/") { return URL(fileURLWithPath: path) }
        return runDirectory.appendingPathComponent(path)
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a write-csv stage needs an input") }
        let url = url(runDirectory: context.runDirectory, runID: context.runID, startedAt: context.runStartedAt)
        if await BlockingIO.fileExists(atPath: url.path) {
            // {timestamp} names the second: two runs started in one second render it alike.
            let unique =
                settings.path.template.contains("{timestamp}")
                ? "{run_id} (unlike {timestamp}, which two runs started in the same second share)"
                : "{timestamp} or {run_id}"
            throw StageError(
                stage: name,
                "\(url.path) already exists (another run's audit trail?) and is never overwritten: put \(unique) "
                    + "in the path, or move the file away")
        }
        let writer = try await CSVFileWriter(
            url: url, columns: settings.columns, header: settings.header, replaceExisting: false)
        do {
            var checked: [String]?
            var formulas = SpreadsheetFormulas(columns: settings.columns)
            for try await batch in input {
                if checked != batch.columns {
                    // A column the input lacks would silently be an empty column: say so instead.
                    if let missing = settings.columns.first(where: { batch.index(of: $0) == nil }) {
                        throw StageError(
                            stage: name,
                            "column '\(missing)' is not in the input (it has: \(batch.columns.joined(separator: ", ")))"
                        )
                    }
                    checked = batch.columns
                }
                let firstLine = writer.rows + (settings.header ? 2 : 1)
                try refuseNUL(in: batch, firstLine: firstLine, file: url.lastPathComponent)
                formulas.count(batch, firstLine: firstLine)
                try await writer.write(batch)
                try await output.send(batch)
            }
            let sha256 = try await writer.commit()
            context.registerArtifact(at: url, kind: "csv", sha256: sha256, rows: writer.rows)
            context.counters.set("csv_rows", writer.rows)
            if let notice = formulas.notice(file: url.lastPathComponent) { context.notice(notice) }
            context.logger.info("wrote CSV", metadata: ["csv.path": "\(url.path)", "csv.rows": "\(writer.rows)"])
        } catch {
            await writer.abandon()
            throw error
        }
    }
}

extension WriteCSVStage {
    /// Fails at the first text cell holding a NUL character, which an API may send (`"a\u0000b"`)
    /// and no CSV reader, nor a PostgreSQL text, takes: it went into the audit trail raw, and the
    /// apply after it failed naming the row but not the field.
    func refuseNUL(in batch: Batch, firstLine: Int, file: String) throws {
        let indices = settings.columns.compactMap { batch.index(of: $0) }
        for (offset, row) in batch.rows.enumerated() {
            for index in indices {
                guard case .string(let text) = row[index], text.utf8.contains(0) else { continue }
                throw StageError(
                    stage: name,
                    "\(file) line \(firstLine + offset), column '\(batch.columns[index])': the value holds a NUL "
                        + "character (\\u0000), which a CSV file and a PostgreSQL text cannot hold: a validate stage "
                        + "before this one rejects such rows (it checks every field for NUL), with the rest going on")
            }
        }
    }
}

/// Text cells a spreadsheet would take for a formula (`=HYPERLINK(...)`, `+cmd`, `@SUM(...)`)
/// and run when a reviewer opens the CSV: counted, with the first one's place, for a notice.
/// The cells are written as they are (the audit trail is also what `sluice apply` reads back).
struct SpreadsheetFormulas {
    let columns: [String]
    private(set) var cells = 0
    private var first: (line: Int, column: String)?

    init(columns: [String]) { self.columns = columns }

    /// Whether a spreadsheet would read `text` as a formula: it starts with `=`, `+`, `-`, `@`,
    /// a tab or a carriage return, and is not a number (`-5`, `+1.5`).
    static func isFormula(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return false }
        return Double(text) == nil
    }

    /// `firstLine`: the file's line the batch's first row goes on.
    mutating func count(_ batch: Batch, firstLine: Int) {
        let indices = columns.compactMap { batch.index(of: $0) }
        for (offset, row) in batch.rows.enumerated() {
            for (index, column) in zip(indices, columns) {
                guard case .string(let text) = row[index] else { continue }
                count(text, line: firstLine + offset, column: column)
            }
        }
    }

    /// Counts `text`, on the file's `line` in `column`, when it is one (``isFormula(_:)``).
    mutating func count(_ text: String, line: Int, column: String) {
        guard Self.isFormula(text) else { return }
        cells += 1
        if first == nil { first = (line, column) }
    }

    func notice(file: String) -> String? {
        guard let first else { return nil }
        return "\(file): \(cells.counted("cell")) begin\(cells == 1 ? "s" : "") with =, +, -, @ or a tab (the first: "
            + "line \(first.line), column \(first.column)), which a spreadsheet opening the file would run as "
            + "formulas: open it as text (an import that treats every column as text), not by double-clicking it"
    }
}
