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
            throw StageError(
                stage: name,
                "\(url.path) already exists (another run's audit trail?) and is never overwritten: put {timestamp} "
                    + "or {run_id} in the path, or move the file away")
        }
        let writer = try await CSVFileWriter(
            url: url, columns: settings.columns, header: settings.header, replaceExisting: false)
        do {
            var checked: [String]?
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
                try await writer.write(batch)
                try await output.send(batch)
            }
            let sha256 = try await writer.commit()
            context.registerArtifact(at: url, kind: "csv", sha256: sha256, rows: writer.rows)
            context.counters.set("csv_rows", writer.rows)
            context.logger.info("wrote CSV", metadata: ["csv.path": "\(url.path)", "csv.rows": "\(writer.rows)"])
        } catch {
            await writer.abandon()
            throw error
        }
    }
}
