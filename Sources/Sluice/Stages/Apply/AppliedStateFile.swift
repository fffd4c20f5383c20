import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline

/// Where the runs of one runs directory keep what an apply of an input left in its table
/// (``BulkUpdate/AppliedState``), so that applying that input again (`sluice replay RUN --stage
/// apply --yes`, for one) finds out from one scan that nothing has changed since, instead of
/// copying and joining every row: `<runs>/.applied/<key>.json`, the key a SHA-256 of the input
/// spool's SHA-256 and of what the stage does with it (table, key, key field, columns, mode).
///
/// A file that is missing, unreadable or stale costs only the shortcut: the apply compares the
/// table with what it says, and anything else than a match runs the apply as usual. Not a run
/// directory (it has no manifest), so `sluice runs` does not list it.
struct AppliedStateFile {
    static let directoryName = ".applied"

    let url: URL

    /// `nil` when the input has no recorded hash (it streams from a running upstream).
    init?(runDirectory: URL, inputSHA256: String?, reviewedParameters: Value) {
        guard let inputSHA256 else { return nil }
        let key = SHA256.hex(Array((inputSHA256 + "\n" + JSON.encode(reviewedParameters)).utf8))
        url = runDirectory.deletingLastPathComponent().appendingPathComponent(Self.directoryName)
            .appendingPathComponent("\(key).json")
    }

    /// The state recorded, and the run that recorded it; `nil` when there is none to use.
    func load() async -> (state: BulkUpdate.AppliedState, runID: String)? {
        let url = url
        guard let data = try? await BlockingIO.run({ try Data(contentsOf: url) }),
            let json = try? JSON.decode([UInt8](data)),
            let state = BulkUpdate.AppliedState(json: json["state"]), case .string(let runID) = json["run_id"]
        else { return nil }
        return (state, runID)
    }

    /// Records `state`, replacing what was there (atomically, mode 0600 in a 0700 directory).
    func save(_ state: BulkUpdate.AppliedState, runID: String) async throws {
        let directory = url.deletingLastPathComponent()
        try await BlockingIO.run { try PrivateFile.createDirectory(at: directory) }
        let json = Value.object(["run_id": .string(runID), "state": state.json])
        try await PrivateFile.writeAtomically(Array((JSON.encode(json) + "\n").utf8), to: url)
    }
}
