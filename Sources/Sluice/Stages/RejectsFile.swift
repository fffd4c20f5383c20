import Foundation
import SluiceCore
import SluicePipeline

/// The rows one stage set aside, as CSV: `rejects-<stage>.csv` in the run directory.
///
/// One file per stage rather than one per run: fetch and validate run at the same time, and
/// a shared file would need one writer per run directory, a rule for who closes it and one
/// manifest entry for two stages (and replaying one of them would rewrite the other's rows).
/// Per-stage files need none of that and each stage's manifest entry points at its own.
///
/// Columns: `stage,reason,field,value,detail,row`, where `row` is the whole row as a JSON
/// object (keys sorted), so any key field the plan uses is there, and `field` says what
/// `value` is: a row field's name, or for a fetch's id expression `fetch id (EXPRESSION)`
/// (``RequestKeys/idColumn``), which no field of the row (an `id` of its own) is taken for.
/// docs/manifest.md#rejects-files describes them for people. The file is created on the
/// first rejection (a stage that rejects nothing leaves no file), mode 0600, and written
/// through as rows come so that a failed run keeps what it rejected.
/// Not thread-safe: the stage's single run task owns it.
final class RejectsFile {
    static let columns = ["stage", "reason", "field", "value", "detail", "row"]

    let url: URL
    private var writer: PrivateFileWriter?
    private(set) var rows = 0

    init(runDirectory: URL, stage: String) {
        url = runDirectory.appendingPathComponent(RunFileNames.rejects(stage: stage))
    }

    /// Appends the rejections (and counts them on the stage).
    func write(_ rejections: [Rejection], context: StageContext) async throws {
        guard !rejections.isEmpty else { return }
        if writer == nil {
            let writer = try PrivateFileWriter(at: url, bufferSize: 1 << 16)
            try await writer.append { out in Self.appendRecord(Self.columns, to: &out) }
            self.writer = writer
        }
        for rejection in rejections {
            let cells = [
                rejection.stage, rejection.reason, rejection.field ?? "", rejection.value ?? "", rejection.detail,
                JSON.encode(.object(rejection.row)),
            ]
            try await writer?.append { out in Self.appendRecord(cells, to: &out) }
        }
        try await writer?.flush()
        rows += rejections.count
        context.reject(rejections.count)
    }

    /// Closes the file and registers it as the stage's `rejects` artifact, if it was created.
    func finish(context: StageContext) async throws {
        guard let writer else { return }
        self.writer = nil
        let summary = try await writer.close()
        context.registerArtifact(at: summary.url, kind: "rejects", sha256: summary.sha256, rows: rows)
    }

    /// Closes the file after a failure or an interruption, keeping what was written, and
    /// registers it: the rows set aside before the stage stopped are part of the run's record
    /// (its summary lists the file, a resume starts a new one).
    func abandon(context: StageContext) async {
        guard let writer else { return }
        self.writer = nil
        if let summary = try? await writer.close() {
            context.registerArtifact(at: summary.url, kind: "rejects", sha256: summary.sha256, rows: rows)
        } else if let onDisk = try? await PrivateFile.sha256(of: url) {
            // A write that failed may have left part of a record: named by what is on disk.
            context.registerArtifact(at: url, kind: "rejects", sha256: onDisk.sha256, rows: rows)
        }
    }

    private static func appendRecord(_ cells: [String], to out: inout [UInt8]) {
        for (i, cell) in cells.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            CSVFileWriter.appendField(cell, to: &out)
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }
}
