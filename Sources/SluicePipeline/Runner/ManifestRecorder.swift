import Foundation
import Logging
import Synchronization

/// The run's manifest while it runs: every change goes through here and is written to
/// `manifest.json` at once (atomically, mode 0600), so the file always holds the latest
/// complete state.
///
/// Changes happen at stage transitions only (a handful per stage), never per batch, so each
/// is written out rather than coalesced; encoding and writing happen under the lock so that
/// the file can never go back to an older state.
final class ManifestRecorder: Sendable {
    let url: URL
    private let state: Mutex<Manifest>
    /// The original run's records of the stages a replay skipped (paths made absolute).
    private let originals: [String: Manifest.StageRecord]
    private let logger: Logger
    private let writeFailed = Atomic<Bool>(false)

    init(manifest: Manifest, directory: URL, originals: [String: Manifest.StageRecord], logger: Logger) {
        self.url = directory.appendingPathComponent(Manifest.fileName)
        self.state = Mutex(manifest)
        self.originals = originals
        self.logger = logger
    }

    var manifest: Manifest { state.withLock { $0 } }

    /// Writes the manifest as it is now.
    /// - Throws: the encoding or file error.
    func write() throws {
        try state.withLock { manifest in try PrivateFile.writeAtomically(manifest.encoded(), to: url) }
    }

    /// Changes the manifest and writes it. A failed write is logged (once) rather than thrown:
    /// the run goes on, and the next write may succeed.
    func update(_ body: (inout Manifest) -> Void) {
        state.withLock { manifest in
            body(&manifest)
            do {
                try PrivateFile.writeAtomically(manifest.encoded(), to: url)
            } catch {
                if !writeFailed.exchange(true, ordering: .relaxed) {
                    logger.error("cannot write the run manifest", metadata: ["error": "\(error)", "path": "\(url.path)"])
                }
            }
        }
    }

    /// Changes the record of the stage `name` and writes the manifest.
    func updateStage(_ name: String, _ body: (inout Manifest.StageRecord, inout Manifest) -> Void) {
        update { manifest in
            guard let index = manifest.stages.firstIndex(where: { $0.name == name }) else { return }
            var record = manifest.stages[index]
            body(&record, &manifest)
            manifest.stages[index] = record
        }
    }

    /// The record of a stage that finished in this run, or the original record of a stage
    /// this replay skipped; `nil` for a stage that has not finished.
    func finishedStage(_ name: String) -> Manifest.StageRecord? {
        let record = state.withLock { $0.stage(name) }
        switch record?.status {
        case .succeeded?, .failed?, .cancelled?: return record
        case .skipped?: return originals[name]
        default: return nil
        }
    }

    /// `date` as it reads back from the manifest (whole milliseconds), so that a manifest
    /// loaded from disk equals the one the run returned.
    static func normalized(_ date: Date) -> Date {
        Manifest.milliseconds(date)
    }
}
