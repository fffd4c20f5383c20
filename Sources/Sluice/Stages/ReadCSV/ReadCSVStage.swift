import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// A source stage that reads rows from a CSV file (RFC 4180, a header row first): enrich a
/// file, not only a query.
///
/// The whole file is checked before the first row is sent — the header (no empty or repeated
/// names, every `columns` entry present), every row's field count, the quoting — so a bad
/// file is one located error listing every problem (`FILE:LINE:COL`) and nothing downstream
/// runs. Then it is read again and sent on; the bytes must be the ones checked (SHA-256), or
/// the stage fails (and the run with it: rows already sent never reach a commit). The file is recorded in the manifest's inputs with that SHA-256.
///
/// An empty cell is `null`, anything else a string (`int(...)` in a transform makes numbers).
public struct ReadCSVStage: Stage {
    public let name: String
    public var kind: String { StageKind.readCSV.rawValue }
    public let parameters: Value
    public let settings: ReadCSVSettings
    /// Relative paths are resolved against this directory (the working directory by default).
    public var baseDirectory: URL

    public init(
        name: String, settings: ReadCSVSettings, parameters: Value,
        baseDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    ) {
        self.name = name
        self.settings = settings
        self.parameters = parameters
        self.baseDirectory = baseDirectory
    }

    var url: URL {
        settings.path.hasPrefix("/")
            ? URL(fileURLWithPath: settings.path) : baseDirectory.appendingPathComponent(settings.path)
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        let url = url.standardizedFileURL
        let checked = try await read(url, send: nil)
        let sent = try await read(url) { batch in try await output.send(batch) }
        guard sent.sha256 == checked.sha256 else {
            throw StageError(
                stage: name,
                "\(settings.path) changed between its check and its read; the run stops here, so nothing is applied from it"
            )
        }
        context.registerInput(at: url, kind: "csv", sha256: sent.sha256, rows: sent.rows)
        context.counters.set("rows", sent.rows)
        context.counters.set("bytes", sent.bytes)
        if !sent.blankLines.isEmpty {
            // Not a row (a one-column file's empty value is written ""), but not silently.
            let lines = sent.blankLines.prefix(5).map(String.init).joined(separator: ", ")
            context.notice(
                "\(settings.path): \(sent.blankLines.count.counted("blank line")) skipped (line "
                    + "\(lines)\(sent.blankLines.count > 5 ? ", ..." : "")); an empty value of a one-column file is "
                    + "written \"\"")
        }
    }

    /// Reads the file once, checking it; with `send`, also sends its rows in batches.
    private func read(
        _ url: URL, send: ((Batch) async throws -> Void)?
    ) async throws -> (sha256: String, rows: Int, bytes: Int, blankLines: [Int]) {
        let reader: CSVReader
        do {
            reader = try CSVReader(url: url, path: settings.path)
        } catch {
            throw StageError(stage: name, "cannot read \(settings.path): \(error)")
        }
        guard let header = try await reader.next(), !header.isBlank else {
            reader.report(line: 1, column: 1, "the file is empty: expected a header row")
            throw failure(reader)
        }
        let names = header.fields.map { $0.value.trimmingCharacters(in: .whitespaces) }
        var seen: [String: Int] = [:]
        for (index, (field, name)) in zip(header.fields, names).enumerated() {
            if name.isEmpty {
                let last = index > 0 && index == names.count - 1
                reader.report(
                    line: field.line, column: field.column,
                    "an empty column name in the header" + (last ? " (a comma at the end of the header line?)" : ""))
            } else if let first = seen[name] {
                reader.report(
                    line: field.line, column: field.column, "column '\(name)' repeats column \(first + 1) of the header"
                )
            } else {
                seen[name] = seen.count
            }
        }
        let wanted = settings.columns ?? names
        // An empty name is reported above, once.
        for column in wanted where seen[column] == nil && !column.isEmpty {
            let near = Suggestion.nearest(to: column, in: names).map { "; did you mean '\($0)'?" } ?? ""
            reader.report(
                line: header.line, column: 1,
                "the header has no column '\(column)' (it has: \(names.joined(separator: ", ")))\(near)")
        }
        guard reader.diagnostics.isEmpty else { throw failure(reader) }
        let positions = wanted.map { seen[$0]! }
        var batch = Batch(columns: wanted)
        var rows = 0
        var blankLines: [Int] = []
        while let record = try await reader.next() {
            try Task.checkCancellation()
            if record.isBlank {
                blankLines.append(record.line)
                continue
            }
            guard record.fields.count == names.count else {
                reader.report(
                    line: record.line, column: 1,
                    "this row has \(record.fields.count.counted("field")), the header "
                        + "\(names.count)")
                continue
            }
            rows += 1
            guard let send, reader.diagnostics.isEmpty else { continue }
            batch.rows.append(
                positions.map { record.fields[$0].value.isEmpty ? .null : .string(record.fields[$0].value) })
            if batch.count >= settings.batchSize {
                try await send(batch)
                batch = Batch(columns: wanted)
            }
        }
        guard reader.diagnostics.isEmpty, let sha256 = reader.sha256 else { throw failure(reader) }
        if let send, !batch.isEmpty { try await send(batch) }
        return (sha256, rows, reader.bytesRead, blankLines)
    }

    private func failure(_ reader: CSVReader) -> any Error {
        StageError(
            stage: name,
            "\(CSVInputError(path: settings.path, diagnostics: reader.diagnostics, stoppedEarly: reader.stoppedEarly))"
                .replacingOccurrences(of: "; nothing was changed", with: "; no row was sent on"))
    }
}
