import Foundation
import SluiceCore

/// The record of one run: `runs/<run-id>/manifest.json`, documented field by field in
/// docs/manifest.md.
///
/// The runner rewrites it atomically at the start, at every stage transition and at the end,
/// so a reader (or a replay) always finds a complete document. Encoded with snake_case keys,
/// sorted keys and ISO 8601 dates; optional fields are written as `null`, never left out.
public struct Manifest: Sendable, Equatable {
    /// The version of this format; bumped when a field changes meaning or disappears.
    public static let currentVersion = 1
    /// The file name inside a run directory.
    public static let fileName = RunFileNames.manifest

    public var manifestVersion: Int
    /// `YYYYMMDD-HHMMSS-xxxxxx` (UTC start time, then six random characters): sorts by time.
    public var runID: String
    public var toolVersion: String
    public var plan: Plan
    /// The plan after `${VARS}` and `--set` overrides, with secrets redacted by the caller.
    public var resolvedPlan: Value
    /// The mappings of ``resolvedPlan`` whose keys were written in another order than sorted,
    /// by JSON Pointer, each with its keys in the plan's order (`resolved_plan_key_order`).
    public var resolvedPlanKeyOrder: [String: [String]] = [:]
    /// The `--set K=V` arguments of this run, as given, except that a secret given in clear is
    /// redacted (the caller's job).
    public var overrides: [String]
    /// The keys of the overrides whose secret values were redacted: a replay must be given them again.
    public var secretOverrides: [String]
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: RunStatus
    public var error: ErrorRecord?
    /// Set when this run replays another.
    public var replayOf: ReplayOrigin?
    /// The process running it; `nil` in manifests written before this field existed.
    public var process: ProcessRecord?
    /// The command that continues a run stopped at an approval gate.
    public var resumeCommand: String?
    /// One-line remarks from stages and the runner, for the run summary.
    public var notices: [String]
    /// Every stage of the pipeline, in plan order, including those that did not run.
    public var stages: [StageRecord]
    /// Each `sluice undo` of the run's applies since, in order.
    public var undos: [UndoRecord]
    /// Set when a person rejected the review the run stopped at (`sluice reject`).
    public var rejection: RejectionRecord?
    /// The run was started with `--dry-run` (`false` in manifests written before that was
    /// recorded, whose applies' `dry_run` counters say it).
    public var dryRun = false

    public init(
        runID: String, toolVersion: String, plan: Plan, resolvedPlan: Value, overrides: [String],
        secretOverrides: [String] = [], startedAt: Date, status: RunStatus = .running, replayOf: ReplayOrigin? = nil,
        stages: [StageRecord] = []
    ) {
        self.manifestVersion = Self.currentVersion
        self.runID = runID
        self.toolVersion = toolVersion
        self.plan = plan
        self.resolvedPlan = resolvedPlan
        self.overrides = overrides
        self.secretOverrides = secretOverrides
        self.startedAt = startedAt
        self.finishedAt = nil
        self.status = status
        self.error = nil
        self.replayOf = replayOf
        self.process = nil
        self.resumeCommand = nil
        self.notices = []
        self.stages = stages
        self.undos = []
        self.rejection = nil
    }

    /// The record of the stage called `name`.
    public func stage(_ name: String) -> StageRecord? {
        stages.first { $0.name == name }
    }

    /// When the wait an API asked for ends, for a run that stopped before it (on a `Retry-After`
    /// over the cap, or interrupted during one): the latest of the error's and the stages'
    /// `not_before`. Continuing sooner would be refused again.
    public var notBefore: Date? {
        ([error?.notBefore] + stages.map(\.notBefore)).compactMap { $0 }.max()
    }

    /// Whether this run went on from where `original` stopped: a replay of it (a resume, an
    /// approval) from a stage at or before the first one that did not succeed. A replay from a
    /// later stage (`--from verify` of a run whose fetch failed) leaves the rest undone.
    public func continues(_ original: Manifest) -> Bool {
        // A dry run changed nothing: the original still waits for what it was stopped for.
        guard !isDryRun, let origin = replayOf, origin.runID == original.runID, origin.mode == .from,
            let from = original.stages.firstIndex(where: { $0.name == origin.stage })
        else { return false }
        let stopped =
            original.stages.firstIndex { $0.status != .succeeded && $0.status != .skipped } ?? original.stages.count
        return from <= stopped
    }

    /// `runs` by run id, as ``continuedRuns(among:)`` takes them (the last of a duplicated id).
    public static func byRunID(_ runs: some Sequence<Manifest>) -> [String: Manifest] {
        Dictionary(runs.map { ($0.runID, $0) }, uniquingKeysWith: { $1 })
    }

    /// The runs this one went on from where they stopped, nearest first: the run it continues
    /// (``continues(_:)``), the one that run continues, and so on. The resume of an approval
    /// whose process died goes on from the approval and from its gate. `runs` holds the runs of
    /// the directory by id.
    public func continuedRuns(among runs: [String: Manifest]) -> [Manifest] {
        var chain: [Manifest] = []
        var run = self
        // A chain is short; the bound only guards against a loop of edited manifests.
        while chain.count < 32, let origin = run.replayOf, let previous = runs[origin.runID], run.continues(previous) {
            chain.append(previous)
            run = previous
        }
        return chain
    }

    /// Whether this run went on from where `original` stopped, itself or through the runs it
    /// continued (``continuedRuns(among:)``).
    public func continues(_ original: Manifest, among runs: [String: Manifest]) -> Bool {
        continuedRuns(among: runs).contains { $0.runID == original.runID }
    }

    /// A `--dry-run`: its applies roll back (each counts `dry_run`), also one that failed or
    /// stopped before any did.
    public var isDryRun: Bool {
        dryRun || stages.contains { $0.counters["dry_run", default: 0] > 0 }
    }

    /// Still `running` on disk, but the process that ran it is gone (killed, crashed, the
    /// machine restarted): it will never write a final status.
    public var isAbandoned: Bool {
        status == .running && process?.isGone == true
    }

    /// Still `running` on disk, and its process is known to be running it now (on this machine,
    /// with the pid and start it recorded): continuing it would start a second run beside it.
    public var isInProgress: Bool {
        status == .running && process?.isRunning == true
    }

    /// Wall-clock duration, when finished.
    public var duration: TimeInterval? {
        finishedAt.map { $0.timeIntervalSince(startedAt) }
    }
}

/// How a run ended (or that it is still going).
public enum RunStatus: String, Sendable, CaseIterable {
    case running
    case succeeded
    case failed
    /// Cancelled from outside (SIGINT/SIGTERM): the manifest holds what completed.
    case interrupted
    /// Stopped before a stage that needs approval; `resume_command` continues it.
    case awaitingApproval = "awaiting-approval"
    /// Stopped at a gate, then a person rejected what it waited for (`sluice reject`):
    /// `rejection` says who, when and why. Approving it is refused.
    case rejected
}

/// Where one stage is in its life.
public enum StageStatus: String, Sendable, CaseIterable {
    /// Not started (yet, or ever: the run ended or stopped at a gate before it).
    case pending
    case running
    case succeeded
    case failed
    /// Not run because this run is a replay that starts after it.
    case skipped
    /// Stopped because another stage failed or the run was interrupted, or never run because
    /// a person rejected the review at its gate.
    case cancelled
    /// The gate this stage sits behind was not approved.
    case awaitingApproval = "awaiting-approval"
}
