import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run's manifest while it runs: every change goes through here and is written to
/// `manifest.json` at once (atomically, mode 0600), so the file always holds the latest
/// complete state.
///
/// Changes happen at stage transitions only (a handful per stage), never per batch, so each
/// is written out rather than coalesced; encoding and writing happen under the lock so that
/// the file can never go back to an older state.
///
/// So that a full disk cannot keep the run's end from being recorded, the recorder holds
/// space back in the run directory (``reserveFileName``, see ``reserveSpace()``) and gives it up
/// only to write the final manifest (``finish(_:)``).
final class ManifestRecorder: Sendable {
    static let reserveFileName = ".manifest.reserve"
    /// The least space held back for the final manifest.
    static let minimumReserve = 64 << 10

    let url: URL
    let reserveURL: URL
    private let state: Mutex<State>
    /// The original run's records of the stages a replay skipped (paths made absolute).
    private let originals: [String: Manifest.StageRecord]
    private let logger: Logger

    private struct State {
        var manifest: Manifest
        /// Why the last write failed; `nil` when the file holds the latest state.
        var writeError: String?
        var loggedWriteError = false
    }

    init(manifest: Manifest, directory: URL, originals: [String: Manifest.StageRecord], logger: Logger) {
        self.url = directory.appendingPathComponent(Manifest.fileName)
        self.reserveURL = directory.appendingPathComponent(Self.reserveFileName)
        self.state = Mutex(State(manifest: manifest))
        self.originals = originals
        self.logger = logger
    }

    var manifest: Manifest { state.withLock { $0.manifest } }

    /// Why the manifest on disk is behind the run (its last write failed), or `nil` when it is current.
    var writeError: String? { state.withLock { $0.writeError } }

    /// Writes the manifest as it is now.
    /// - Throws: the encoding or file error.
    func write() throws {
        try state.withLock { state in try PrivateFile.writeAtomically(state.manifest.encoded(), to: url) }
    }

    /// Holds back space for the final manifest: a file of zeros, four times the manifest's
    /// present size and at least ``minimumReserve``, that ``finish(_:)`` removes.
    /// - Throws: the file error when there is not even that much room.
    func reserveSpace() throws {
        let size = try max(Self.minimumReserve, 4 * state.withLock { try $0.manifest.encoded().count })
        let writer = try PrivateFileWriter(at: reserveURL, bufferSize: 1 << 16)
        try writer.write(repeatElement(UInt8(0), count: size))
        _ = try writer.close()
    }

    /// Changes the manifest and writes it. A failed write is logged (once) rather than thrown,
    /// and kept in ``writeError`` until a later write succeeds: the runner starts no new segment
    /// while the manifest cannot be written.
    func update(_ body: (inout Manifest) -> Void) {
        state.withLock { state in
            body(&state.manifest)
            Self.write(&state, to: url, logger: logger)
        }
    }

    /// Makes the final change and writes it; when that fails, gives up the reserved space and
    /// tries once more, so a full disk still gets the run's final status. Removes the reserve.
    func finish(_ body: (inout Manifest) -> Void) {
        state.withLock { state in
            body(&state.manifest)
            Self.write(&state, to: url, logger: logger)
            if state.writeError != nil, unlink(reserveURL.path) == 0 {
                Self.write(&state, to: url, logger: logger)
            }
        }
        unlink(reserveURL.path)
    }

    private static func write(_ state: inout State, to url: URL, logger: Logger) {
        do {
            try PrivateFile.writeAtomically(state.manifest.encoded(), to: url)
            state.writeError = nil
        } catch {
            // The temporary file's name would only confuse: name the manifest itself.
            let reason = (error as? FileError).map { String(cString: strerror($0.errno)) } ?? "\(error)"
            state.writeError = "cannot write \(url.path): \(reason)"
            if !state.loggedWriteError {
                state.loggedWriteError = true
                logger.error("cannot write the run manifest", metadata: ["error": "\(reason)", "path": "\(url.path)"])
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
        let record = state.withLock { $0.manifest.stage(name) }
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
