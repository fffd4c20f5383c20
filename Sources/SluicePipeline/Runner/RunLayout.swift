import Foundation
import SluiceCore

/// What a run will do, decided before anything is created: which stages run, in which
/// segments (split at approval gates), and which recorded spools a replay reads.
///
/// Building one checks the stage list and, for a replay, that every recorded input exists
/// and still has its recorded SHA-256; any problem is a ``RunnerError``.
struct RunLayout: Sendable {
    /// A recorded spool a replayed stage reads: the original run's output of its input.
    struct RecordedInput: Sendable {
        var url: URL
        var artifact: Manifest.Artifact
    }

    let specs: [StageSpec]
    /// Indices of the stages this run executes, in order, in segments: each segment is run as
    /// one task group; a segment after the first starts with a stage that requires approval
    /// (a stage approved up front that ``StageSpec/streamsWhenApproved`` stays in its upstream's).
    let segments: [[Int]]
    /// Stages not run because of a replay (before the replayed stage, or after it in `stage` mode).
    let skipped: Set<String>
    /// The original records of the stages a replay skipped, paths made absolute.
    let originals: [String: Manifest.StageRecord]
    /// For replayed stages whose input was skipped: the recorded spool to read.
    let recordedInputs: [String: RecordedInput]

    /// - Parameter approvedUpFront: approval is given before the run starts: a stage that
    ///   ``StageSpec/streamsWhenApproved`` then shares its upstream's segment.
    init(specs: [StageSpec], replay: Replay?, approvedUpFront: Bool = false) async throws {
        self.specs = specs
        var seen: Set<String> = []
        for spec in specs {
            let name = spec.name
            guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
                throw RunnerError("a stage name must be non-empty, without '/' and not start with '.'", stage: name)
            }
            guard seen.insert(name).inserted else { throw RunnerError("two stages are called '\(name)'") }
            if let input = spec.input, !seen.contains(input) || input == name {
                throw RunnerError("reads '\(input)', which is not an earlier stage", stage: name)
            }
            if let size = spec.bufferSize, size < 0 {
                throw RunnerError("buffer size \(size) is negative", stage: name)
            }
        }

        var runnable = Array(specs.indices)
        var originals: [String: Manifest.StageRecord] = [:]
        var recordedInputs: [String: RecordedInput] = [:]
        if let replay {
            guard let first = specs.firstIndex(where: { $0.name == replay.stage }) else {
                let names = specs.map(\.name).joined(separator: ", ")
                throw RunnerError(
                    "cannot replay stage '\(replay.stage)': the plan has no such stage (stages: \(names))")
            }
            runnable = replay.mode == .stage ? [first] : Array(first..<specs.endIndex)
            for index in specs.indices where index < first {
                let name = specs[index].name
                guard let record = replay.absoluteRecord(name) else {
                    throw RunnerError("the original run \(replay.original.runID) has no record of stage '\(name)'")
                }
                originals[name] = record
            }
            let running = Set(runnable.map { specs[$0].name })
            for index in runnable {
                guard let input = specs[index].input, !running.contains(input) else { continue }
                recordedInputs[specs[index].name] = try await Self.recordedInput(
                    of: input, for: specs[index].name, in: replay)
            }
        }
        let running = Set(runnable)
        self.skipped = Set(specs.indices.filter { !running.contains($0) }.map { specs[$0].name })
        self.originals = originals
        self.recordedInputs = recordedInputs

        var segments: [[Int]] = []
        for index in runnable {
            let spec = specs[index]
            // Behind its gate, unless approved before the run and reading a stage of this segment.
            let streams =
                approvedUpFront && replay == nil && spec.streamsWhenApproved
                && segments.last?.contains { specs[$0].name == spec.input } == true
            if segments.isEmpty || (spec.requiresApproval && !streams) {
                segments.append([index])
            } else {
                segments[segments.count - 1].append(index)
            }
        }
        self.segments = segments
    }

    /// The original spool of `input`, checked: the stage succeeded (or committed: its spool was
    /// complete then, ``Manifest/StageRecord/committedAt``), its spool is recorded, the file
    /// exists and its SHA-256 is the recorded one.
    static func recordedInput(of input: String, for stage: String, in replay: Replay) async throws -> RecordedInput {
        let run = replay.original.runID
        guard let record = replay.original.stage(input) else {
            throw RunnerError("the original run \(run) has no record of its input stage '\(input)'", stage: stage)
        }
        guard record.status == .succeeded || record.status == .skipped || record.committedAt != nil else {
            throw RunnerError(
                "its input stage '\(input)' did not succeed in the original run \(run) (status \(record.status.rawValue)): there is no complete recorded input to replay from",
                stage: stage)
        }
        guard let artifact = record.spool else {
            throw RunnerError("the original run \(run) recorded no spool for its input stage '\(input)'", stage: stage)
        }
        let url = replay.resolve(artifact.path).standardizedFileURL
        // A stage the original skipped (itself a replay) names the spool of the run it replayed,
        // in that run's directory.
        let madeBy =
            record.status == .skipped
            ? "run \(url.deletingLastPathComponent().lastPathComponent), which run \(run) replayed"
            : "run \(run)"
        guard await BlockingIO.fileExists(atPath: url.path) else {
            throw RunnerError(
                "recorded input \(url.path) (output of '\(input)' in \(madeBy)) is missing", stage: stage)
        }
        let actual: String
        do {
            actual = try await PrivateFile.sha256(of: url).sha256
        } catch {
            throw RunnerError("recorded input \(url.path) cannot be read: \(error)", stage: stage)
        }
        guard actual == artifact.sha256 else {
            throw RunnerError(
                "recorded input \(url.path) (output of '\(input)' in \(madeBy)) has changed: sha256 \(actual), recorded \(artifact.sha256)",
                stage: stage)
        }
        var absolute = artifact
        absolute.path = url.path
        return RecordedInput(url: url, artifact: absolute)
    }
}
