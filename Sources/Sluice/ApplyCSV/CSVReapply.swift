import Foundation
import SluiceCore
import SluicePipeline
import Synchronization

/// How `sluice apply FILE.csv --yes` applies a file it has applied before without reading it.
///
/// An apply approved up front streams beside the `csv-input` stage, so its input has no SHA-256
/// before it is read, and the apply cannot look up what an earlier apply of it left the way a
/// replay does (``AppliedStateFile``). Reading and checking the file is most of what a
/// re-apply costs (about 1.8 s per million rows), so the two stages settle it first:
///
/// 1. `csv-input` looks up the state kept under the file's path and how it is read and applied
///    (``AppliedStateFile/init(runDirectory:csv:reviewedParameters:)``). Only when there is one,
///    the run that kept it still has its spool of the file's rows, and the file hashes to the
///    SHA-256 that run read does it offer that state (``offer(_:)``); else it offers nothing and
///    reads on at once.
/// 2. The apply takes the offer (``offered()``) before it opens its transaction. With one, it
///    compares the table with the state in one scan; the first time it asks for a row it says
///    ``read()``; if the table still holds what that apply left it says ``skip()`` without
///    reading any, and waits for its input to end (`csv-input` has then recorded the file)
///    before it records its review.
/// 3. Told to skip, `csv-input` records the file as read (the SHA-256 it hashed) and the earlier
///    run's spool as its own output (linked into this run's directory), so the run can be
///    replayed like any other; told to read, it reads and checks the file as usual.
///
/// Only for a pipeline whose apply streams beside its input (approved up front, not a dry run):
/// behind a gate the apply starts only once `csv-input` has finished, so `csv-input` would wait
/// for an answer that never comes.
final class CSVReapply: Sendable {
    /// What an earlier apply of the same file left, and where the rows it read are recorded.
    struct Candidate: Sendable {
        var recorded: AppliedStateFile.Recorded
        /// The file's SHA-256, hashed before anything else was read.
        var sha256: String
        var bytes: Int
        /// The earlier run's `csv-input` spool (an absolute path) and its record's counters.
        var spool: Manifest.Artifact
        var counters: [String: Int]
    }

    enum Verdict: Sendable {
        case read
        case skip
        /// The apply ended (failed, cancelled) without asking for a row or skipping.
        case abandoned
    }

    /// Names the file and how it is read and applied: its path, the `csv-input` stage's
    /// parameters and the rules of the validate stages it checks rows with.
    let identity: String
    /// The apply stage's parameters that say what is written where.
    let reviewedParameters: Value
    let inputStage: String

    private let offerSlot = OneShot<Candidate?>()
    private let verdictSlot = OneShot<Verdict>()

    init(identity: String, reviewedParameters: Value, inputStage: String) {
        self.identity = identity
        self.reviewedParameters = reviewedParameters
        self.inputStage = inputStage
    }

    func stateFile(runDirectory: URL) -> AppliedStateFile {
        AppliedStateFile(runDirectory: runDirectory, csv: identity, reviewedParameters: reviewedParameters)
    }

    // MARK: csv-input's side

    /// The state kept for `csv` when the file is still what that apply read, hashing it only
    /// when there is one; `nil` otherwise (nothing kept, the file changed, the run that read it
    /// gone). Never throws: what cannot be read costs only the shortcut.
    func lookUp(csv: URL, runDirectory: URL) async -> Candidate? {
        let file = stateFile(runDirectory: runDirectory)
        guard let recorded = await file.load(), let recordedSHA256 = recorded.inputSHA256 else { return nil }
        let runs = runDirectory.deletingLastPathComponent()
        let inputStage = inputStage
        let earlier = try? await BlockingIO.run { () -> (Manifest.Artifact, [String: Int])? in
            let directory = runs.appendingPathComponent(recorded.runID)
            let manifest = try Manifest.load(from: directory)
            guard let record = manifest.stage(inputStage), record.status == .succeeded, var spool = record.spool
            else { return nil }
            let url = Manifest.resolve(spool.path, in: directory).standardizedFileURL
            guard FileManager.default.isReadableFile(atPath: url.path) else { return nil }
            spool.path = url.path
            return (spool, record.counters)
        }
        guard let (spool, counters) = earlier ?? nil,
            let (sha256, bytes) = try? await PrivateFile.sha256(of: csv), sha256 == recordedSHA256
        else { return nil }
        return Candidate(recorded: recorded, sha256: sha256, bytes: bytes, spool: spool, counters: counters)
    }

    /// Offers `candidate` (or nothing) to the apply; only the first call counts.
    func offer(_ candidate: Candidate?) { offerSlot.set(candidate) }

    /// What the apply decided about the offer; `.read` when nothing was offered.
    func verdict() async -> Verdict { await verdictSlot.value(whenCancelled: .abandoned) }

    // MARK: the apply's side

    /// What `csv-input` offered (`nil`: read the file as usual).
    func offered() async -> Candidate? { await offerSlot.value(whenCancelled: nil) }

    func read() { verdictSlot.set(.read) }
    func skip() { verdictSlot.set(.skip) }

    /// ``skip()`` unless the apply asked for a row already; whether `csv-input` skips.
    func skipUnlessRead() -> Bool {
        verdictSlot.set(.skip)
        return verdictSlot.current == .skip
    }

    func abandon() { verdictSlot.set(.abandoned) }
}

/// A value set once and awaited by any number of tasks; a waiter that is cancelled before it is
/// set sets it to what it was told to take then.
final class OneShot<T: Sendable>: Sendable {
    private let state = Mutex<(value: T?, waiters: [CheckedContinuation<T, Never>])>((nil, []))

    /// Sets the value unless it is set already, waking every waiter.
    func set(_ value: T) {
        let waiters = state.withLock { state -> [CheckedContinuation<T, Never>] in
            guard state.value == nil else { return [] }
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    /// The value, if set.
    var current: T? { state.withLock { $0.value } }

    func value(whenCancelled fallback: T) async -> T {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T, Never>) in
                let ready = state.withLock { state -> T? in
                    if let value = state.value { return value }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            set(fallback)
        }
    }
}
