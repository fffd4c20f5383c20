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
/// A CSV given to `sluice apply` is not read before its rows stream into the apply, so its state
/// is kept under a key naming the file instead (``init(runDirectory:csv:reviewedParameters:)``),
/// with the SHA-256 of the bytes that apply read: a later apply hashes the file and compares.
///
/// A file that is missing, unreadable or stale costs only the shortcut: the apply compares the
/// table with what it says, and anything else than a match runs the apply as usual. Not a run
/// directory (it has no manifest), so `sluice runs` does not list it.
public struct AppliedStateFile: Sendable {
    static let directoryName = ".applied"

    let url: URL

    private init(url: URL) { self.url = url }

    /// `nil` when the input has no recorded hash (it streams from a running upstream).
    init?(runDirectory: URL, inputSHA256: String?, reviewedParameters: Value) {
        guard let inputSHA256 else { return nil }
        self.init(runDirectory: runDirectory, key: inputSHA256, reviewedParameters: reviewedParameters)
    }

    /// For a CSV read by `csv-input` as it streams into the apply: `csv` names the file and how it
    /// is read (its path and the rules that check it), the SHA-256 of its bytes is kept inside.
    init(runDirectory: URL, csv: String, reviewedParameters: Value) {
        self.init(runDirectory: runDirectory, key: "csv\n" + csv, reviewedParameters: reviewedParameters)
    }

    private init(runDirectory: URL, key: String, reviewedParameters: Value) {
        let key = SHA256.hex(Array((key + "\n" + JSON.encode(reviewedParameters)).utf8))
        url = runDirectory.deletingLastPathComponent().appendingPathComponent(Self.directoryName)
            .appendingPathComponent("\(key).json")
    }

    /// What an earlier apply recorded: the state, the run that recorded it, and for a CSV the
    /// SHA-256 of the bytes it read; `nil` when there is none to use.
    struct Recorded: Sendable {
        var state: BulkUpdate.AppliedState
        var runID: String
        var inputSHA256: String?
    }

    func load() async -> Recorded? {
        let url = url
        guard let data = try? await BlockingIO.run({ try Data(contentsOf: url) }),
            let json = try? JSON.decode([UInt8](data)),
            let state = BulkUpdate.AppliedState(json: json["state"]), case .string(let runID) = json["run_id"]
        else { return nil }
        return Recorded(state: state, runID: runID, inputSHA256: json["input_sha256"].text)
    }

    /// Records `state`, replacing what was there (atomically, mode 0600 in a 0700 directory).
    func save(_ state: BulkUpdate.AppliedState, runID: String, inputSHA256: String? = nil) async throws {
        let directory = url.deletingLastPathComponent()
        try await BlockingIO.run { try PrivateFile.createDirectory(at: directory) }
        var fields: [String: Value] = ["run_id": .string(runID), "state": state.json]
        if let inputSHA256 { fields["input_sha256"] = .string(inputSHA256) }
        try await PrivateFile.writeAtomically(Array((JSON.encode(.object(fields)) + "\n").utf8), to: url)
    }
}

extension AppliedStateFile {
    /// After `runID`'s apply is undone: the states it recorded in `runsDirectory` no longer say
    /// what is in the table, and a later apply that finds the same again would name it as the run
    /// whose values are there. Forgotten, that apply reads its input as a first one does.
    public static func forget(recordedBy runID: String, in runsDirectory: URL) async {
        let directory = runsDirectory.appendingPathComponent(directoryName)
        guard
            let names = try? await BlockingIO.run({
                try FileManager.default.contentsOfDirectory(atPath: directory.path)
            })
        else { return }
        for name in names where name.hasSuffix(".json") {
            let file = AppliedStateFile(url: directory.appendingPathComponent(name))
            guard await file.load()?.runID == runID else { continue }
            let path = file.url.path
            _ = try? await BlockingIO.run { unlink(path) }
        }
    }
}
