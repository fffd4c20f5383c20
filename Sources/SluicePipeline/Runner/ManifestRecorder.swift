import Foundation
import Logging
import SluiceCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The run's manifest while it runs: every change goes through here and is written to
/// `manifest.json` (atomically, mode 0600) before the change's `await` returns, so the file
/// always holds a complete state, and the latest one once nothing is being written.
///
/// Encoding and writing (`write`, `fsync`, `rename`) happen on a ``BlockingIO`` thread, never
/// on the cooperative pool: on a slow disk, stages waiting for their record are suspended,
/// and every other stage (a fetch pacing its requests) keeps its timing. One write is in
/// flight at a time and each writes the newest state, so the file never goes back to an older
/// state and a burst of changes costs one or two writes, not one each.
///
/// So that a full disk cannot keep the run's end from being recorded, the recorder holds
/// space back in the run directory (``reserveFileName``, see ``reserveSpace()``) and gives it up
/// only to write the final manifest (``finish(_:)``).
final class ManifestRecorder: Sendable {
    static let reserveFileName = RunFileNames.manifestReserve
    /// The least space held back for the final manifest.
    static let minimumReserve = 64 << 10

    /// Writes encoded bytes to a path atomically, blocking the calling thread until they are on
    /// disk; always called on a ``BlockingIO`` thread. A test passes a slow one to stand for a
    /// slow disk.
    typealias FileWriter = @Sendable (_ bytes: [UInt8], _ url: URL) throws -> Void

    /// The real thing: ``PrivateFile/writeAtomicallyBlocking(_:to:)``. In a debug build,
    /// `SLUICE_DEBUG_SLOW_MANIFEST_SYNC=SECONDS` makes every write take that much longer, as on
    /// a disk whose `fsync` takes seconds (the end-to-end tests' slow disk); release builds
    /// ignore it.
    static let diskWriter: FileWriter = {
        #if DEBUG
        if let text = ProcessInfo.processInfo.environment["SLUICE_DEBUG_SLOW_MANIFEST_SYNC"],
            let seconds = Double(text), seconds > 0
        {
            return { bytes, url in
                Thread.sleep(forTimeInterval: seconds)
                try PrivateFile.writeAtomicallyBlocking(bytes, to: url)
            }
        }
        #endif
        return { try PrivateFile.writeAtomicallyBlocking($0, to: $1) }
    }()

    let url: URL
    let reserveURL: URL
    private let state: Mutex<State>
    /// The original run's records of the stages a replay skipped (paths made absolute).
    private let originals: [String: Manifest.StageRecord]
    private let logger: Logger
    private let writeFile: FileWriter

    private struct State {
        var manifest: Manifest
        /// Bumped by every change.
        var version = 0
        /// The version the last finished write wrote (successfully or not).
        var written = -1
        /// Whether a write is in flight.
        var writing = false
        /// Callers waiting until their version has been written.
        var waiters: [(version: Int, continuation: CheckedContinuation<Void, Never>)] = []
        /// Why the last write failed; `nil` when the file holds the latest state.
        var writeError: String?
        var loggedWriteError = false
    }

    init(
        manifest: Manifest, directory: URL, originals: [String: Manifest.StageRecord], logger: Logger,
        writeFile: @escaping FileWriter = ManifestRecorder.diskWriter
    ) {
        self.url = directory.appendingPathComponent(Manifest.fileName)
        self.reserveURL = directory.appendingPathComponent(Self.reserveFileName)
        self.state = Mutex(State(manifest: manifest))
        self.originals = originals
        self.logger = logger
        self.writeFile = writeFile
    }

    var manifest: Manifest { state.withLock { $0.manifest } }

    /// Why the manifest on disk is behind the run (its last write failed), or `nil` when it is current.
    var writeError: String? { state.withLock { $0.writeError } }

    /// Writes the manifest as it is now.
    /// - Throws: the encoding or file error.
    func write() async throws {
        try await writeOffPool(manifest)
    }

    /// Holds back space for the final manifest: a file of zeros, four times the manifest's
    /// present size and at least ``minimumReserve``, that ``finish(_:)`` removes.
    /// - Throws: the file error when there is not even that much room.
    func reserveSpace() async throws {
        let size = max(Self.minimumReserve, 4 * manifest.encoded().count)
        let writer = try PrivateFileWriter(at: reserveURL, bufferSize: 1 << 16)
        try await writer.write(repeatElement(UInt8(0), count: size))
        _ = try await writer.close()
    }

    /// Changes the manifest and returns once a write that includes the change has ended. A
    /// failed write is logged (once) rather than thrown, and kept in ``writeError`` until a
    /// later write succeeds: the runner starts no new segment while the manifest cannot be written.
    func update(_ body: (inout Manifest) -> Void) async {
        let version = state.withLock { state in
            body(&state.manifest)
            state.version += 1
            return state.version
        }
        await written(version)
    }

    /// Makes the final change and writes it; when that fails, gives up the reserved space and
    /// tries once more, so a full disk still gets the run's final status. Removes the reserve.
    func finish(_ body: (inout Manifest) -> Void) async {
        await update(body)
        let reserve = reserveURL.path
        let removed = { @Sendable () async -> Bool in
            (try? await BlockingIO.run { unlink(reserve) == 0 }) ?? false
        }
        if writeError != nil, await removed() {
            await update { _ in }
        }
        _ = await removed()
    }

    /// Encodes and writes `manifest` on a ``BlockingIO`` thread.
    private func writeOffPool(_ manifest: Manifest) async throws {
        let (writeFile, url) = (self.writeFile, self.url)
        try await BlockingIO.run { try writeFile(manifest.encoded(), url) }
    }

    /// Returns once `version` (or a later one) has been written, starting the writer if none runs.
    private func written(_ version: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (done, start) = state.withLock { state -> (Bool, Bool) in
                if state.written >= version { return (true, false) }
                state.waiters.append((version, continuation))
                defer { state.writing = true }
                return (false, !state.writing)
            }
            if done { continuation.resume() }
            if start { Task { await self.drain() } }
        }
    }

    /// Writes the newest state until what is on disk is the newest, then wakes the waiters
    /// each write satisfied.
    private func drain() async {
        while true {
            let next: (Manifest, Int)? = state.withLock { state in
                if state.written == state.version {
                    state.writing = false
                    return nil
                }
                return (state.manifest, state.version)
            }
            guard let (manifest, version) = next else { return }
            var failure: String?
            do {
                try await writeOffPool(manifest)
            } catch {
                // The temporary file's name would only confuse: name the manifest itself.
                let reason = (error as? FileError).map { String(cString: strerror($0.errno)) } ?? "\(error)"
                failure = "cannot write \(url.path): \(reason)"
            }
            let (ready, logFailure) = state.withLock { state in
                state.written = version
                state.writeError = failure
                let logFailure = failure != nil && !state.loggedWriteError
                if logFailure { state.loggedWriteError = true }
                let ready = state.waiters.filter { $0.version <= version }.map(\.continuation)
                state.waiters.removeAll { $0.version <= version }
                return (ready, logFailure)
            }
            if logFailure, let failure {
                logger.error("cannot write the run manifest", metadata: ["error": "\(failure)", "path": "\(url.path)"])
            }
            for continuation in ready { continuation.resume() }
        }
    }

    /// Changes the record of the stage `name` and writes the manifest.
    func updateStage(_ name: String, _ body: (inout Manifest.StageRecord, inout Manifest) -> Void) async {
        await update { manifest in
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
