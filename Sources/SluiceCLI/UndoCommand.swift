import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline

struct UndoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo",
        abstract: "Put back the values an apply stage changed, from the prior values its run recorded.",
        discussion: """
            Before it commits, apply writes the old values of every row it changes, and the \
            values it wrote, to an undo file in its run directory. This writes the old values \
            back, in one transaction, to the cells that still hold what the apply wrote, and \
            deletes the rows an apply with mode upsert or insert added. A cell changed since (by \
            a later apply, a trigger or someone else) is left as it is, and its row named; the \
            row's other cells are restored. Undo what changed it (later applies first), then run \
            this undo again to restore it.

            With --dry-run it does all of that, says what it restored, then rolls back: nothing \
            changes, and no confirmation is asked. Its exit status is the one the undo would have \
            now (0 or 6), so `sluice undo RUN --dry-run && sluice undo RUN --yes` undoes only \
            what it can undo completely.

            Undo tells a cell changed since by its value only: a later run that wrote the same \
            value looks like this apply's. So an apply undone completely before is not undone \
            again (nothing is left), and one that later runs in the runs directory applied to the \
            same table after is refused, naming them: undo those first (newest first), or pass \
            --force to undo this one anyway.

            Exit status: 0 every row the apply changed is back (or already was), 1 failed \
            (nothing changed), 3 not confirmed, 6 partly undone: the rest was restored and \
            committed, but cells changed since were left as they are; 64 usage error (a --stage \
            the run does not have), 130 interrupted (rolled back: nothing changed).
            """)

    @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
    var run: String

    @Option(help: "The apply stage to undo, when the run has several.")
    var stage: String?

    @Option(help: ArgumentHelp("The runs directory, for a bare run id (default: runs).", valueName: "DIR"))
    var runsDir: String?

    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.")
    var yes = false

    @Flag(help: "Say what undo would restore now, then roll back: nothing changes.")
    var dryRun = false

    @Flag(help: "Undo even though later runs applied to the same table (cells they set to this run's values too).")
    var force = false

    @Option(help: "trace, debug, info, notice, warning, error or critical (logs go to stderr).")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        var options = try ExecutionOptions.parse([])
        options.logLevel = logLevel
        let logger = options.bootstrapLogging()
        let runURL = try await ExecutionOptions.existingRunURL(run, runsDir: runsDir)
        var loaded: (manifest: Manifest, directory: URL)?
        do {
            let manifest: Manifest
            do {
                manifest = try await BlockingIO.run { try Manifest.load(from: runURL) }
            } catch let error as ManifestError {
                try await Self.refuseUnreadable(error, runURL: runURL)
            }
            let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent().standardizedFileURL
            loaded = (manifest, directory)
            if stage != nil {
                // A stage the run does not have is a usage error, as for replay.
                do { _ = try Undo.applyStage(in: manifest, named: stage) } catch {
                    Terminal.report(error)
                    throw ExitCode(ExitStatus.usage)
                }
            }
            let applies = Set(manifest.stages.filter { $0.kind == "apply" }.map(\.name))
            let plan = try await RecordedPlan.load(
                of: manifest, directory: directory, overrides: [], running: stage.map { [$0] } ?? applies,
                offersOverrides: false)
            let undo = try Undo(runDirectory: directory, manifest: manifest, plan: plan, stage: stage)
            if let done = manifest.undos.last(where: { $0.stage == undo.stage }), done.changedSince == 0 {
                // Undoing it again would find only cells a later run may have set to its values.
                Terminal.printError(
                    "note: stage '\(undo.stage)' of run \(manifest.runID) was undone completely at "
                        + "\(ISO8601DateFormatter().string(from: done.undoneAt)); nothing is left to undo")
                return
            }
            // An apply whose COMMIT its run never heard back about: the server says whether
            // there is anything to undo (``CommitOutcome``).
            if await CommitOutcome.stagesInDoubt(of: manifest, in: directory).contains(undo.stage),
                case .notCommitted(let why) = await CommitOutcome.settle(
                    stage: undo.stage, in: directory, plan: plan, logger: logger)
            {
                Terminal.printError(
                    "note: stage '\(undo.stage)' of run \(manifest.runID) did not commit (\(why)): nothing to undo")
                return
            }
            if let record = manifest.stage(undo.stage), record.status == .succeeded,
                record.outputs.first(where: { $0.kind == ApplyStage.undoArtifactKind })?.rows == 0
            {
                // An apply that wrote nothing (a second approval of a review, a re-apply): no
                // undo of it to record, which would read as if it had changed something.
                Terminal.printError(
                    "note: stage '\(undo.stage)' of run \(manifest.runID) changed nothing (the rows already held "
                        + "its values): nothing to undo")
                return
            }
            let file = try await undo.undoFile()
            let (later, unreadable) = await Self.laterApplies(after: undo.stage, of: manifest, in: directory)
            if let first = unreadable.first {
                // A later apply recorded there would be undone without a word.
                let what =
                    "cannot tell whether a later run applied to the same table: \(unreadable.count.counted("run manifest")) "
                    + "in \(directory.deletingLastPathComponent().path) cannot be read (\(first))"
                guard force else {
                    Terminal.printError(
                        "error: \(what); mend or move it away, or pass --force to undo this run anyway")
                    throw ExitCode(ExitStatus.failed)
                }
                Terminal.printError("warning: --force: \(what)")
            }
            if !later.isEmpty {
                let list = LaterApply.listed(later)
                let advice =
                    "undo a cell here only when it still holds this run's value, which a later run may have set "
                    + "again; undo the later runs first, newest first (\(undoCommand(later.last!.runID)))"
                if !force {
                    Terminal.printError(
                        "error: later runs applied to \(later[0].table) after this one and are not undone: \(list); "
                            + advice + ", or pass --force to undo this run anyway")
                    throw ExitCode(ExitStatus.failed)
                }
                Terminal.printError("warning: --force: later runs applied to \(later[0].table) after this one: \(list)")
            }
            if !yes && !dryRun {
                guard Terminal.stdinIsTerminal else {
                    Terminal.printError(
                        "error: undo changes the database; pass --yes to confirm (no terminal to ask on); "
                            + "--dry-run says what it would restore")
                    throw ExitCode(ExitStatus.awaitingApproval)
                }
                let stageOption = stage.map { " --stage \(Execution.shellQuoted($0))" } ?? ""
                Terminal.printError(
                    "sluice undo \(Execution.shellQuoted(directory.path))\(stageOption) --dry-run says what this "
                        + "would restore, changing nothing")
                guard await Terminal.confirm("Restore the values recorded in \(file.path)?") else {
                    throw ExitCode(ExitStatus.awaitingApproval)
                }
            }
            let report: UndoReport
            let progress = Undo.Progress()
            do {
                report = try await Execution.interruptible(
                    finishing: "rolling the undo back, unless it has committed already",
                    unfinished: "the server rolls it back when the connection closes"
                ) { try await undo.run(logger: logger, dryRun: dryRun, progress: progress) }
            } catch let interrupted as Execution.Interrupted {
                // Before BEGIN whatever ended it (a connect cut short) changed nothing. In the
                // transaction anything but the cancellation (a COMMIT whose outcome is unknown)
                // says what became of it itself.
                let phase = progress.phase
                guard phase != .inTransaction || interrupted.underlying is CancellationError else {
                    throw interrupted.underlying
                }
                switch phase {
                case .inTransaction:
                    // Cancelled before COMMIT: the undo's transaction was rolled back.
                    Terminal.printError("sluice: undo interrupted: rolled back, nothing was changed")
                case .connecting:
                    Terminal.printError(
                        "sluice: undo interrupted while connecting to the database, before its transaction began: "
                            + "nothing was started or changed")
                case .reading:
                    Terminal.printError(
                        "sluice: undo interrupted while reading its undo file, before its transaction began: "
                            + "nothing was started or changed")
                }
                throw ExitCode(ExitStatus.interrupted)
            }
            Terminal.printOutput("\(report)")
            if report.isPartial, later.isEmpty, !dryRun {
                // An apply waiting for the table when the check above ran committed before this
                // undo got its lock: the cells left are most likely its.
                // (Its run may not have recorded the commit yet: one still in its apply counts.)
                let (since, _) = await Self.laterApplies(
                    after: undo.stage, of: manifest, in: directory, orStillApplying: true)
                if let latest = since.last {
                    Terminal.printError(
                        "note: \(since.count == 1 ? "a later run" : "later runs") applied to \(latest.table) while "
                            + "this undo waited for the table: \(LaterApply.listed(since)); to put back all the way, "
                            + "undo \(since.count == 1 ? "it" : "them, newest first,") then this run again "
                            + "(\(undoCommand(latest.runID)))")
                }
            }
            // Recorded when it put something back, or when it finds complete an undo recorded as
            // partial, or partial one not recorded so (every cell it would restore changed since),
            // or finds rows holding their prior values already (put back by hand): the run is then
            // undone, or partly undone when it left cells changed since (once: finding the same
            // again records nothing new).
            let partial = manifest.undos.last { $0.stage == report.stage }.map { $0.changedSince > 0 } ?? false
            if !dryRun,
                report.restored + report.deleted > 0 || partial != report.isPartial
                    || (report.alreadyRestored > 0 && !(partial && report.isPartial))
            {
                guard await record(report, in: manifest, at: Manifest.manifestURL(for: runURL)) else {
                    throw ExitCode(ExitStatus.failed)
                }
                if report.restored + report.deleted > 0 {
                    let runs = Manifest.manifestURL(for: runURL).deletingLastPathComponent().deletingLastPathComponent()
                    await AppliedStateFile.forget(recordedBy: manifest.runID, in: runs)
                }
            }
            if report.isPartial { throw ExitCode(ExitStatus.partlyUndone) }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Terminal.report(error)
            if let (manifest, directory) = loaded { await nameTheRunsThatApplied(manifest, in: directory) }
            throw ExitCode(ExitStatus.failed)
        }
    }

    /// The run's own manifest cannot be read: refused, saying why and what to do. Its undo file
    /// alone is not enough: the manifest names the database the apply wrote to (its resolved
    /// plan), says whether the apply committed and whether it was undone already, and is where
    /// this undo would be recorded; without it an undo could write to another database, or undo
    /// again what a later run set to the same values.
    static func refuseUnreadable(_ error: ManifestError, runURL: URL) async throws -> Never {
        let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent()
        let names =
            (try? await BlockingIO.run { try FileManager.default.contentsOfDirectory(atPath: directory.path) }) ?? []
        let undoFiles = names.filter { $0.hasSuffix(".undo.ndjson") && !$0.hasPrefix(".") }.sorted()
        let needs =
            "undo needs the manifest: it names the database the apply wrote to, says whether the apply committed "
            + "and whether it was undone already, and records this undo"
        let kept =
            undoFiles.isEmpty
            ? needs.prefix(1).uppercased() + needs.dropFirst()
            : "\(undoFiles.count == 1 ? "Its undo file" : "Its undo files") \(undoFiles.joined(separator: ", ")) "
                + "\(undoFiles.count == 1 ? "is" : "are") still there, untouched, but \(needs)"
        Terminal.printError(
            "error: cannot undo run \(directory.lastPathComponent): its manifest \(error.path) cannot be read: "
                + "\(error.message). \(kept). To go on: \(error.advice), then run this undo again. Nothing was changed."
        )
        throw ExitCode(ExitStatus.failed)
    }

    /// Adds the undo to the run's manifest (``Manifest/undos``), so `sluice runs` shows the run
    /// as undone. False, having said so, when the manifest cannot be written: the undo has
    /// committed, but the run still reads as not undone, which later undos and approvals trust.
    private func record(_ report: UndoReport, in manifest: Manifest, at file: URL) async -> Bool {
        var manifest = manifest
        manifest.undos.append(
            Manifest.UndoRecord(
                stage: report.stage, undoneAt: Manifest.milliseconds(Date()), restored: report.restored,
                deleted: report.deleted, changedSince: report.rowsNotRestored, partlyRestored: report.partlyRestored))
        let bytes = manifest.encoded()
        do {
            try await BlockingIO.run { try PrivateFile.writeAtomicallyBlocking(bytes, to: file) }
            return true
        } catch {
            Terminal.printError(
                "error: the undo committed (the table holds the prior values again), but \(file.path) could not "
                    + "record it: \(error); until it does, sluice runs lists the run as not undone and a later undo or "
                    + "approval trusts that")
            return false
        }
    }

    /// A later apply to the same table, recorded in the runs directory.
    struct LaterApply {
        var runID: String
        var stage: String
        var table: String

        /// `RUN (stage 'apply'), ...`, as the messages name them.
        static func listed(_ applies: [LaterApply]) -> String {
            applies.map { "\($0.runID) (stage '\($0.stage)')" }.joined(separator: ", ")
        }
    }

    /// The command that undoes run `runID` of this runs directory.
    func undoCommand(_ runID: String) -> String {
        "sluice undo \(runID)" + (runsDir.map { " --runs-dir \(Execution.shellQuoted($0))" } ?? "") + " --yes"
    }

    /// The runs beside `manifest`'s whose apply to the table `stage` wrote finished after it
    /// (after it started, for one whose process died in it) and is not undone completely,
    /// oldest first; and why the manifests beside it that cannot be read (any of which may be
    /// such a run) cannot.
    /// `orStillApplying`: also the runs whose apply to the table is running now (committed
    /// perhaps, not recorded yet), last.
    static func laterApplies(
        after stage: String, of manifest: Manifest, in directory: URL, orStillApplying: Bool = false
    ) async -> (later: [LaterApply], unreadable: [String]) {
        let runs = directory.deletingLastPathComponent()
        let (all, unreadable) = (try? await BlockingIO.run { Manifest.loadEvery(in: runs) }) ?? ([], [])
        guard let record = manifest.stage(stage), let table = record.parameters["table"].stringValue else {
            return ([], unreadable.map { "\($0)" })
        }
        let since = record.finishedAt ?? record.committedAt ?? record.startedAt ?? manifest.startedAt
        var later = laterApplies(
            to: table, after: since, among: all.map(\.manifest), excluding: { $0.runID == manifest.runID })
        if orStillApplying {
            for other in all.map(\.manifest) where other.isInProgress && other.runID != manifest.runID {
                // One that committed already (its record written at COMMIT, the stage still running
                // its ANALYZE) is among `later` once.
                for running in other.stages
                where running.kind == "apply" && running.status == .running
                    && running.parameters["table"].stringValue == table
                    && !later.contains(where: { $0.runID == other.runID && $0.stage == running.name })
                {
                    later.append(LaterApply(runID: other.runID, stage: running.name, table: table))
                }
            }
        }
        return (later, unreadable.map { "\($0)" })
    }

    /// The runs among `all` (but those `excluding` names) whose apply to `table` committed after
    /// `date` and is not undone completely, oldest first.
    static func laterApplies(
        to table: String, after date: Date, among all: [Manifest], excluding: (Manifest) -> Bool
    ) -> [LaterApply] {
        all.flatMap { other -> [(Date, LaterApply)] in
            guard !excluding(other) else { return [] }
            return other.committedApplies.compactMap { applied in
                guard let theirs = other.stage(applied.stage), theirs.parameters["table"].stringValue == table,
                    let when = theirs.finishedAt ?? theirs.committedAt, when > date,
                    !other.undos.contains(where: { $0.stage == applied.stage && $0.changedSince == 0 })
                else { return nil }
                return (when, LaterApply(runID: other.runID, stage: applied.stage, table: table))
            }
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// After a failure: the replays of `manifest`'s run beside it whose apply committed (the
    /// approval of a run stopped at its gate is a run of its own), each with its undo.
    private func nameTheRunsThatApplied(_ manifest: Manifest, in directory: URL) async {
        let runs = directory.deletingLastPathComponent()
        let replays = await Manifest.loadEvery(
            in: runs, warningLeftOutOf: "the search for replays of run \(manifest.runID) that applied (it may be one)"
        ).filter { $0.manifest.replayOf?.runID == manifest.runID && !$0.manifest.committedApplies.isEmpty }
        for (replay, record) in replays {
            // One undone since has nothing left to undo.
            let undone = record.committedAppliesNotUndone.isEmpty
            Terminal.printError(
                "note: run \(record.runID), a replay of this run, applied it"
                    + (undone
                        ? ", and has been undone since"
                        : "; to undo that: sluice undo \(Execution.shellQuoted(replay.path)) --yes"))
        }
    }
}
