import Foundation
import SluiceCore

extension Manifest {
    /// The plan file a run came from.
    public struct Plan: Sendable, Equatable {
        public var path: String
        /// SHA-256 of the plan file's bytes.
        public var sha256: String
        public var name: String

        public init(path: String, sha256: String, name: String) {
            self.path = path
            self.sha256 = sha256
            self.name = name
        }
    }

    /// A file a stage read or wrote: its path (relative to the run directory when inside
    /// it), SHA-256, row count and role.
    public struct Artifact: Sendable, Equatable {
        /// `spool` for the runner's spools; stages name their own (`csv`, `rejects`, `undo`, ...).
        public var kind: String
        public var path: String
        public var sha256: String
        public var rows: Int

        public init(kind: String, path: String, sha256: String, rows: Int) {
            self.kind = kind
            self.path = path
            self.sha256 = sha256
            self.rows = rows
        }

        /// The file itself: ``path`` resolved against the directory of the run that recorded it.
        public func url(in runDirectory: URL) -> URL { Manifest.resolve(path, in: runDirectory) }

        public static let spoolKind = "spool"
    }

    /// What went wrong, and where.
    public struct ErrorRecord: Sendable, Equatable {
        /// For people: the error's description.
        public var message: String
        /// The stage that failed, or `nil` for a failure of the runner itself.
        public var stage: String?
        /// For debugging: the error's debug description, when it says more than `message`.
        public var detail: String?
        /// Whether continuing the run (`resume_command`) can pick up where it stopped: set when
        /// the error is a ``ResumableError`` that says so (e.g. fetch hit a rate limit).
        public var resumable: Bool
        /// For a resumable error that came with a wait (an API's `Retry-After`): when continuing
        /// may start. `sluice resume` waits until then rather than be refused again.
        public var notBefore: Date?

        public init(
            message: String, stage: String? = nil, detail: String? = nil, resumable: Bool = false,
            notBefore: Date? = nil
        ) {
            // A failure may quote what it failed on (PostgreSQL's `LINE 1:`), secrets and all.
            self.message = SecretRegistry.masking(message)
            self.stage = stage
            self.detail = detail.map(SecretRegistry.masking)
            self.resumable = resumable
            self.notBefore = notBefore
        }
    }

    /// The process that ran (or runs) the run, so a reader can tell a run still going from one
    /// whose process was killed before it could write a final status.
    ///
    /// A pid alone cannot say that: after a crash or a restart the number is given to another
    /// process. With the machine's boot and the process's start (Linux's `boot_id`, and the
    /// start time in `/proc/PID/stat`), a process that exists *is* the run's only when both
    /// match. Both are `nil` in manifests written before they were recorded, and where `/proc`
    /// cannot be read.
    public struct ProcessRecord: Sendable, Equatable {
        public var pid: Int
        public var host: String
        /// The kernel's id of the boot the process ran in (`/proc/sys/kernel/random/boot_id`).
        public var bootID: String?
        /// When the process started, in clock ticks since that boot (`/proc/PID/stat`, field 22).
        public var startTicks: Int?
        /// The command that continues the run if this process dies before it ends (the one an
        /// interruption would record as ``Manifest/resumeCommand``); `nil` for `sluice resume RUN`.
        public var resumeCommand: String?
        /// The login name the process was given (`$USER`, else `$LOGNAME`; ``account(in:)``):
        /// who ran the run, and so who approved what it applied, as the environment says it;
        /// `nil` where neither is set (cron sets `LOGNAME`; systemd and `docker exec` may set
        /// neither) and in manifests written before it was recorded.
        public var user: String?
        /// The effective user id the process ran with: always known, and not taken from the
        /// environment (`nil` in manifests written before it was recorded).
        public var uid: Int?

        public init(
            pid: Int, host: String, bootID: String? = nil, startTicks: Int? = nil, resumeCommand: String? = nil,
            user: String? = nil, uid: Int? = nil
        ) {
            self.pid = pid
            self.host = host
            self.bootID = bootID
            self.startTicks = startTicks
            self.resumeCommand = resumeCommand
            self.user = user
            self.uid = uid
        }

        /// This process, on this machine.
        public static var current: ProcessRecord {
            let pid = Int(getpid())
            return ProcessRecord(
                pid: pid, host: ProcessInfo.processInfo.hostName, bootID: ProcFS.bootID,
                startTicks: ProcFS.startTicks(of: pid), user: Self.account(), uid: Int(geteuid()))
        }

        /// The account name the login gave the process (`$USER`, else `$LOGNAME`, as cron sets):
        /// no lookup in the password database, which may ask a directory server.
        static func account(in environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
            (environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["LOGNAME"])
                .flatMap { $0.isEmpty ? nil : $0 }
        }

        /// True when the process ran on this machine and no longer exists: no process has its
        /// pid, the machine has restarted since, or the process with its pid started at another
        /// time (the pid was reused). A process on another machine is not known to be gone, nor
        /// one with its pid in a manifest that recorded no start.
        public var isGone: Bool {
            guard host == ProcessInfo.processInfo.hostName, pid > 0 else { return false }
            if let bootID, let now = ProcFS.bootID, bootID != now { return true }
            if kill(pid_t(pid), 0) == -1 && errno == ESRCH { return true }
            guard let startTicks, let now = ProcFS.startTicks(of: pid) else { return false }
            return now != startTicks
        }

        /// True when the process is known to be running still: on this machine, in this boot,
        /// with its pid and its start. What a manifest from before the start was recorded cannot
        /// prove.
        public var isRunning: Bool {
            guard host == ProcessInfo.processInfo.hostName, pid > 0, let bootID, let startTicks,
                bootID == ProcFS.bootID
            else { return false }
            return ProcFS.startTicks(of: pid) == startTicks
        }
    }

    /// The run a replay re-runs part of.
    public struct ReplayOrigin: Sendable, Equatable {
        public var runID: String
        /// The original run's directory.
        public var path: String
        public var stage: String
        public var mode: ReplayMode
        /// Made by `sluice resume` (asking again only what the original did not get an answer
        /// to), not `sluice replay`.
        public var resumed: Bool

        public init(runID: String, path: String, stage: String, mode: ReplayMode, resumed: Bool = false) {
            self.runID = runID
            self.path = path
            self.stage = stage
            self.mode = mode
            self.resumed = resumed
        }
    }

    /// A `sluice undo` of one of the run's apply stages, once it committed.
    public struct UndoRecord: Sendable, Equatable {
        public var stage: String
        public var undoneAt: Date
        /// Rows given back their prior values.
        public var restored: Int
        /// Rows the apply (an upsert or insert) had added, deleted.
        public var deleted: Int
        /// Rows with cells changed since the apply, those cells left as they are.
        public var changedSince: Int
        /// Of the ``changedSince`` rows, those whose other cells were restored (counted in
        /// ``restored`` too).
        public var partlyRestored: Int

        public init(
            stage: String, undoneAt: Date, restored: Int, deleted: Int, changedSince: Int, partlyRestored: Int = 0
        ) {
            self.stage = stage
            self.undoneAt = undoneAt
            self.restored = restored
            self.deleted = deleted
            self.changedSince = changedSince
            self.partlyRestored = partlyRestored
        }
    }

    /// A person's rejection of what a run stopped at a gate for (`sluice reject`): the run is
    /// `rejected`, and approving it is refused.
    public struct RejectionRecord: Sendable, Equatable {
        /// The stage whose gate it stopped at.
        public var stage: String
        public var rejectedAt: Date
        /// Who rejected it, as ``ProcessRecord/user`` and ``ProcessRecord/uid`` say.
        public var user: String?
        public var uid: Int?
        /// Why, as given (`--reason`).
        public var reason: String?

        public init(stage: String, rejectedAt: Date, user: String?, uid: Int? = nil, reason: String?) {
            self.stage = stage
            self.rejectedAt = rejectedAt
            self.user = user
            self.uid = uid
            self.reason = reason
        }

        /// A rejection of `stage` by this process's account, now.
        public static func now(stage: String, reason: String?) -> RejectionRecord {
            RejectionRecord(
                stage: stage, rejectedAt: Manifest.milliseconds(Date()), user: ProcessRecord.account(),
                uid: Int(geteuid()), reason: reason)
        }
    }

    /// `stage`: that stage alone; `from`: that stage and every later one.
    public enum ReplayMode: String, Sendable {
        case stage
        case from
    }

    /// What a stage that changes things (apply) would change, read before its approval gate:
    /// the file a person reviews, pinned by its SHA-256, and its summary. The stage, once
    /// approved, does exactly what the review shows.
    public struct Review: Sendable, Equatable {
        /// The review itself (`review.csv` for apply): what the approval pins.
        public var file: Artifact
        /// Other files made from it (`review.html`).
        public var files: [Artifact]
        /// The SHA-256 of the input the review read; a replay on the same input keeps the review.
        public var inputSHA256: String?
        /// The run that made the review (a replay keeps its original run's review).
        public var runID: String
        public var reviewedAt: Date
        /// The stage's summary as JSON.
        public var summary: Value
        /// The summary as people read it (what `sluice runs show` prints).
        public var text: String
        /// The guard-rails the reviewed change goes past, as sentences: an approval without
        /// `--force` stops at them.
        public var guardRails: [String]
        /// The stage would change nothing (an apply that writes no row): there is nothing to
        /// approve, so its gate lets the run go on.
        public var changesNothing: Bool

        public init(
            file: Artifact, files: [Artifact] = [], inputSHA256: String? = nil, runID: String = "",
            reviewedAt: Date, summary: Value, text: String, guardRails: [String] = [], changesNothing: Bool = false
        ) {
            self.file = file
            self.files = files
            self.inputSHA256 = inputSHA256
            self.runID = runID
            self.reviewedAt = reviewedAt
            self.summary = summary
            self.text = text
            self.guardRails = guardRails
            self.changesNothing = changesNothing
        }
    }

    /// One stage's part in a run.
    public struct StageRecord: Sendable, Equatable {
        public var name: String
        public var kind: String
        /// Resolved parameters, already redacted by the stage.
        public var parameters: Value
        /// The stage it reads from; `nil` for a source.
        public var input: String?
        public var requiresApproval: Bool
        public var status: StageStatus
        public var startedAt: Date?
        public var finishedAt: Date?
        /// When what the stage did became final though it had not ended (an apply's COMMIT,
        /// before its `ANALYZE`): its record was written then, counters, files and spool as they
        /// are once it ends (``StageContext/recordCommitted()``). A run killed after it still says
        /// `running` for the stage, and this says it committed. `nil` for a stage that has no such
        /// moment, or did not reach it.
        public var committedAt: Date?
        /// How long, in milliseconds, it waited for its input to give it anything (its first
        /// batch, or the end of an input that sends no rows on, as verify's after apply): stages
        /// start together and stream, so one downstream waits on its upstream. `nil` for a
        /// source, or a stage that never read its input.
        public var waitedForInputMilliseconds: Int?
        /// Rows the stage took from its input.
        public var rowsIn: Int
        /// Rows the stage sent to its output.
        public var rowsOut: Int
        /// Rows the stage set aside as invalid.
        public var rowsRejected: Int
        /// The stage's own counters (requests, retries, ...).
        public var counters: [String: Int]
        public var inputs: [Artifact]
        /// The spool first, then the files the stage registered.
        public var outputs: [Artifact]
        public var error: ErrorRecord?
        /// When a wait a server asked for ends, for a stage that stopped (failed, or interrupted)
        /// during it (a fetch in an API's `Retry-After`): `sluice resume` asks nothing before it.
        /// `nil` otherwise (``StageContext/continueNoSoonerThan(_:)``).
        public var notBefore: Date?
        /// What it would change, read at its approval gate (``ReviewingStage``).
        public var review: Review?

        public init(
            name: String, kind: String, parameters: Value, input: String?, requiresApproval: Bool = false,
            status: StageStatus = .pending
        ) {
            self.name = name
            self.kind = kind
            self.parameters = parameters
            self.input = input
            self.requiresApproval = requiresApproval
            self.status = status
            self.rowsIn = 0
            self.rowsOut = 0
            self.rowsRejected = 0
            self.counters = [:]
            self.inputs = []
            self.outputs = []
        }

        /// This stage's output spool.
        public var spool: Artifact? {
            outputs.first { $0.kind == Artifact.spoolKind }
        }

        /// How long the stage worked: its start to its end, less the wait for its first input
        /// (``waitedForInputMilliseconds``); `nil` until it ends.
        public var workedSeconds: TimeInterval? {
            guard let startedAt, let finishedAt else { return nil }
            let waited = Double(waitedForInputMilliseconds ?? 0) / 1000
            return max(0, finishedAt.timeIntervalSince(startedAt) - waited)
        }
    }
}

extension Manifest {
    /// A path as a manifest records it (relative to the run directory when inside it, else
    /// absolute) as a file URL.
    public static func resolve(_ path: String, in runDirectory: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : runDirectory.appendingPathComponent(path)
    }
}
