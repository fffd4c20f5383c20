import Foundation
import Logging
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePlan
import SluicePostgres

/// What became of an apply whose run never learnt whether its COMMIT went through: the
/// connection stopped answering during it (``ApplyStage/stagesThatMayHaveApplied(_:)``), or
/// the process died while the stage ran and left its undo file. Asked of the server later by
/// the transaction's id, the undo file's last line (``UndoFile/transactionRecord``).
public enum CommitOutcome: Sendable, Equatable {
    /// The server reports the transaction committed: the run's undo puts the rows back.
    case committed(transaction: Int64)
    /// It was rolled back, or never reached COMMIT: nothing of it is in the table.
    case notCommitted(String)
    /// The server could not be asked, or does not say: why.
    case unknown(String)

    /// The apply stages of the run `manifest` (in `directory`) whose COMMIT's outcome the run
    /// does not know, in plan order.
    public static func stagesInDoubt(of manifest: Manifest, in directory: URL) async -> [String] {
        let doubtful = Set(ApplyStage.stagesThatMayHaveApplied(manifest))
            .union(await unfinishedUndoFiles(of: manifest, in: directory, evenUncommitted: true))
        return manifest.stages.map(\.name).filter(doubtful.contains)
    }

    /// The apply stages of a run whose process died while they ran (``Manifest/isAbandoned``)
    /// that left their undo file in `directory`: their COMMIT may have gone through. Not one
    /// whose file shows it never sent COMMIT (empty, or no transaction line: it was killed
    /// waiting for a lock, or while copying), unless `evenUncommitted`; nor one whose record says
    /// it committed (``Manifest/StageRecord/committedAt``: killed after, during its `ANALYZE`).
    public static func unfinishedUndoFiles(
        of manifest: Manifest, in directory: URL, evenUncommitted: Bool = false
    ) async -> [String] {
        guard manifest.isAbandoned else { return [] }
        var left: [String] = []
        for stage in manifest.stages
        where stage.kind == "apply" && stage.status == .running && stage.committedAt == nil {
            let file = directory.appendingPathComponent(UndoFile.fileName(stage: stage.name))
            guard await BlockingIO.fileExists(atPath: file.path) else { continue }
            if evenUncommitted {
                left.append(stage.name)
                continue
            }
            let marker = try? await BlockingIO.run { try UndoFile.commitMarker(at: file) }
            if marker != UndoFile.CommitMarker.none { left.append(stage.name) }
        }
        return left
    }

    /// Asks the server what became of `stage`'s transaction, on the connection the stage of
    /// `plan` writes with.
    public static func settle(stage: String, in directory: URL, plan: Plan, logger: Logger) async -> CommitOutcome {
        let url = directory.appendingPathComponent(UndoFile.fileName(stage: stage))
        let marker: UndoFile.CommitMarker
        do {
            marker = try await BlockingIO.run { try UndoFile.commitMarker(at: url) }
        } catch {
            return .unknown("its undo file cannot be read: \(error)")
        }
        let transaction: Int64
        switch marker {
        case .transaction(let id):
            transaction = id
        case .none:
            return .notCommitted("it stopped before it sent COMMIT (its undo file has no transaction line)")
        case .notMarked:
            return .unknown("its undo file, written by an earlier version of sluice, does not name its transaction")
        }
        guard let name = plan.stage(named: stage)?.apply?.connection,
            let settings = plan.connection(named: name)?.postgres
        else {
            return .unknown("the plan has no database connection for stage '\(stage)'")
        }
        do {
            let status = try await DatabaseConnector.with(
                settings, logger: logger, applicationName: "sluice commit check"
            ) {
                try await BulkUpdate.transactionStatus(transaction, on: $0)
            }
            switch status {
            case "committed": return .committed(transaction: transaction)
            case "aborted": return .notCommitted("the server reports transaction \(transaction) rolled back")
            case let other?: return .unknown("the server reports transaction \(transaction) '\(other)'")
            case nil: return .unknown("the server no longer remembers transaction \(transaction)")
            }
        } catch {
            return .unknown("asking the server about transaction \(transaction) failed: \(error)")
        }
    }
}

extension UndoFile {
    /// What an undo file says of its COMMIT (``transactionRecord``).
    enum CommitMarker: Equatable {
        /// The transaction's id, written just before COMMIT.
        case transaction(Int64)
        /// A file that marks its commit (`"marks_commit"`) without the line, or an empty one:
        /// never committed.
        case none
        /// An earlier version's file, which does not say.
        case notMarked
    }

    /// Reads the header and the last line of the file at `url`: blocking file I/O. An empty file
    /// never reached COMMIT: what it holds is flushed before COMMIT is sent.
    static func commitMarker(at url: URL) throws -> CommitMarker {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        let head = try handle.read(upToCount: 64 * 1024) ?? Data()
        if head.isEmpty { return .none }
        let firstLine = head.prefix { $0 != UInt8(ascii: "\n") }
        guard let header = try? JSON.decode(Array(firstLine)), header["marks_commit"].boolValue == true else {
            return .notMarked
        }
        let size = try handle.seekToEnd()
        let tail = min(size, 256)
        try handle.seek(toOffset: size - tail)
        let bytes = try handle.readToEnd() ?? Data()
        let lines = bytes.split(separator: UInt8(ascii: "\n"))
        guard let last = lines.last, let line = try? JSON.decode(Array(last)),
            let id = line[transactionRecord].intValue
        else { return .none }
        return .transaction(Int64(id))
    }
}
