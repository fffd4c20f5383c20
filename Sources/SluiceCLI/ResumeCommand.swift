import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue an interrupted or failed run without asking the API again for what it already answered.",
        discussion: """
            Runs the plan again from its first stage, as a replay of RUN, but every fetch stage \
            reuses the answers RUN recorded (its <stage>.answers.ndjson, written after every \
            batch, so even a run killed with SIGKILL keeps them): only the batches that were in \
            flight, and those never reached, are requested. The query is read again, so rows added \
            since are included. Use it after Ctrl-C, a crash, or a Retry-After longer than \
            max_retry_after. A run whose verify (or a later stage) failed once its apply committed \
            runs that stage and those after it again, not the apply: it fails the same way until \
            the table, or the plan with --set, is fixed (sluice undo RUN puts the apply back \
            instead). One interrupted or killed once its apply committed (during its verify, or the \
            apply's ANALYZE after its COMMIT) runs the stages after the apply that did not finish, not \
            the apply either. A run that succeeded has nothing to resume; one that stopped for \
            review is continued by approving it (the replay command it printed), unless a later run \
            approved it since (nothing left to resume: exit 0) or an apply to the table since \
            superseded its review (approving it is refused: resume says why and exits 1); one whose process \
            is still running it is not resumed beside it; one a later run already continued to \
            success has nothing left to resume, and one whose continuation stopped too is resumed \
            as that continuation (which holds the answers of both; one waiting for approval is \
            approved, not fetched again). Files a killed run left half-written in its \
            directory are removed.

            A run of `sluice apply FILE.csv` is not resumed: resume changes nothing, prints the \
            `sluice apply` command that reads, checks and applies the file again as the run was \
            started (with --yes only if it had it), and exits 1. The approval of such a run's \
            review (`replay --from apply`) is resumed as that replay, on the rows it recorded; a \
            run of either whose verify failed, or was interrupted or killed, after its apply \
            committed runs the verify again.
            """)

    @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
    var run: String

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a parameter: STAGE.PARAM=VALUE (repeatable).", valueName: "K=V"))
    var overrides: [String] = []

    @OptionGroup var execution: ExecutionOptions

    /// The latest run in the same runs directory that went on from where `original` stopped,
    /// itself or by resuming a run that did (``Manifest/continues(_:among:)``), if any.
    static func latestContinuation(of original: Manifest, at runURL: URL) async -> (URL, Manifest)? {
        let runs = Manifest.manifestURL(for: runURL).deletingLastPathComponent().deletingLastPathComponent()
        let all = await Manifest.loadEvery(
            in: runs, warningLeftOutOf: "the search for a run that continued run \(original.runID) (it may be one)")
        let byID = Manifest.byRunID(all.map(\.manifest))
        return all.last { $0.manifest.continues(original, among: byID) }.map { ($0.directory, $0.manifest) }
    }

    /// Takes the lock that one `sluice resume` of a run holds until its process exits (`flock`
    /// on the run's directory), or fails naming the other: two resumes started together would
    /// each ask the API for the ids left and leave two reviews of the same rows.
    static func holdResumeLock(of original: Manifest, at runURL: URL) async throws {
        let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent().path
        let held = try await BlockingIO.run { () throws -> Bool in
            let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard descriptor >= 0 else { throw FileError("open", path: directory, errno: errno) }
            // Kept open: the lock goes with the process.
            if flock(descriptor, LOCK_EX | LOCK_NB) == 0 { return true }
            let failure = errno
            close(descriptor)
            guard failure == EWOULDBLOCK else { throw FileError("lock", path: directory, errno: failure) }
            return false
        }
        guard !held else { return }
        Terminal.printError(
            "error: another sluice process is resuming run \(original.runID) now; wait for it to end "
                + "(sluice runs), then resume it if it still needs to be")
        throw ExitCode(ExitStatus.failed)
    }

    /// Removes the partial files the dead process of `original` left in its directory (a
    /// half-written CSV among them), saying so; a file that cannot be removed is only a note.
    static func removeLeftovers(of original: Manifest, at runURL: URL) async {
        let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent()
        do {
            let removed = try await BlockingIO.run { try Manifest.removeLeftovers(ofRunIn: directory) }
            guard !removed.isEmpty else { return }
            Terminal.printError(
                "note: removed what the killed process of run \(original.runID) left half-written in "
                    + "\(directory.path): \(removed.joined(separator: ", "))")
        } catch {
            Terminal.printError("note: could not remove the partial files in \(directory.path): \(error)")
        }
    }

    func run() async throws {
        let logger = execution.bootstrapLogging()
        let (runURL, original) = try await ExecutionOptions.loadRun(run, runsDir: execution.runsDir)
        try await resume(original, at: runURL, logger: logger)
    }

    private func resume(_ original: Manifest, at runURL: URL, logger: Logger) async throws {
        // Nothing was cut short: running the plan again would fetch and apply anew.
        switch original.status {
        case .succeeded:
            Terminal.printError("note: run \(original.runID) succeeded: there is nothing to resume")
            return
        case .awaitingApproval:
            try await Self.stoppedAtTheGate(original, at: runURL)
            return
        case .rejected:
            // What it waited for was turned down: continuing it would apply it.
            let rejection = original.rejection.map(RejectCommand.describe) ?? "rejected"
            let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent()
            let again = RejectCommand.newReviewCommand(for: original, in: directory)
            Terminal.printError(
                "error: run \(original.runID) was rejected (\(rejection)); there is nothing to resume. For a new "
                    + "review: \(again)")
            throw ExitCode(ExitStatus.failed)
        case .running where original.isInProgress:
            // Another resume would run the plan beside it: both would ask the API, and the second
            // apply would wait for the first's lock, then find nothing left to change.
            let pid = original.process.map { String($0.pid) } ?? "?"
            Terminal.printError(
                "error: run \(original.runID) is still running (pid \(pid)); wait for it to end, or stop it "
                    + "(kill -INT \(pid)) and resume it then")
            throw ExitCode(ExitStatus.failed)
        case .running:
            // A process on another machine cannot be checked from here: say so, and go on (it
            // may have died with that machine).
            if let process = original.process, process.host != ProcessInfo.processInfo.hostName {
                Terminal.printError(
                    "note: run \(original.runID) is recorded as running on \(process.host) (pid \(process.pid)), "
                        + "which cannot be checked from here; if it still runs there, this resume runs beside it")
            }
        case .failed, .interrupted:
            break
        }
        try await Self.holdResumeLock(of: original, at: runURL)
        if original.isAbandoned { await Self.removeLeftovers(of: original, at: runURL) }
        // Its apply committed before it stopped: the resume's apply will find those rows done and
        // change nothing, so its own undo restores nothing. The undo that does is this run's.
        let runDirectory = Manifest.manifestURL(for: runURL).deletingLastPathComponent()
        // A later stage (a verify) failed once the apply committed: running the plan again would
        // find nothing to change and fail the same way. Only that stage and those after it run.
        let failedAfterCommit = original.stageFailedAfterItsCommit
        // Interrupted or killed once the apply committed (during its verify): the same, from the
        // stage it stopped in. Running the plan again would query, fetch and apply anew.
        let stoppedAfterCommit = original.stageStoppedAfterItsCommit
        for (stage, _) in original.committedAppliesNotUndone {
            let undo =
                "sluice undo \(Execution.shellQuoted(runDirectory.path))"
                + (original.committedApplies.count > 1 ? " --stage \(Execution.shellQuoted(stage))" : "")
            if let failed = failedAfterCommit {
                Terminal.printError(
                    "note: stage '\(stage)' of run \(original.runID) committed, then stage '\(failed)' failed: the resume "
                        + "runs '\(failed)' and the stages after it again, not the apply, and fails the same way unless "
                        + "the table or the plan (--set) changed since; to put the apply back instead: \(undo)")
                continue
            }
            let how =
                original.status == .interrupted
                ? "it was interrupted" : original.isAbandoned ? "its process died" : "it stopped"
            if let stopped = stoppedAfterCommit {
                // Killed between its COMMIT and its end (its ANALYZE), or once it had ended.
                let place =
                    original.stage(stage)?.status == .succeeded ? "in stage '\(stopped)'" : "before the stage ended"
                Terminal.printError(
                    "note: stage '\(stage)' of run \(original.runID) committed, then \(how) \(place): the resume runs "
                        + "'\(stopped)' and the stages after it, not the apply, whose change stands; to put the apply "
                        + "back instead: \(undo)")
                continue
            }
            if original.applyStoppedAfterItsCommitWithNothingLeft == stage {
                Terminal.printError(
                    "note: stage '\(stage)' of run \(original.runID) committed, then \(how) before the stage ended, "
                        + "with no stage after it left to run: there is nothing to resume; to put the apply back: \(undo)"
                )
                return
            }
            Terminal.printError(
                "note: stage '\(stage)' of run \(original.runID) committed before the run stopped: the resume's apply "
                    + "finds those rows done and changes nothing; to put them back, undo run \(original.runID): \(undo)"
            )
        }
        // Resumed before: the later run has the answers this one lacks, or finished the job.
        if let (later, laterRun) = await Self.latestContinuation(of: original, at: runURL) {
            let path = Execution.shellQuoted(later.path)
            if laterRun.isInProgress {
                // Resumed beside it, the API would be asked for the same ids twice, and two
                // reviews of the same rows would wait.
                let pid = laterRun.process.map { String($0.pid) } ?? "?"
                Terminal.printError(
                    "error: run \(laterRun.runID) is continuing run \(original.runID) now (pid \(pid)); wait for it "
                        + "to end (sluice runs show \(path)), or stop it (kill -INT \(pid))")
                throw ExitCode(ExitStatus.failed)
            }
            if laterRun.status == .succeeded {
                Self.noteNothingLeft(of: original, continuedBy: laterRun)
                return
            }
            // That run wrote every answer it used, this run's included: resumed, it asks the API
            // only for what neither got, and one waiting for approval is approved, not fetched again.
            Terminal.printError(
                "note: run \(laterRun.runID) already continued run \(original.runID) (\(RunSummary.status(of: laterRun))); "
                    + "resuming run \(laterRun.runID), which holds the answers of both (sluice resume \(path))")
            try await resume(laterRun, at: later, logger: logger)
            return
        }
        if let from = failedAfterCommit ?? stoppedAfterCommit {
            try await Replay.replay(
                original, at: runURL, mode: .from, stage: from, overrides: overrides, reusingAnswers: true,
                execution: execution, logger: logger)
            return
        }
        // A run of `sluice apply FILE.csv` itself; the approval of one (a replay from its apply)
        // is resumed as that replay, below, on the rows it recorded.
        if original.replayOf == nil, let first = original.stages.first, first.kind == CSVInputStage.kindName {
            // As the run was started: with --yes only if it was, since a run killed at its
            // prompt was approved by nobody.
            let file = first.appliedCSVPath.map(Execution.shellQuoted)
            let runsDir = execution.runsDir.map { " --runs-dir \(Execution.shellQuoted($0))" } ?? ""
            let command =
                original.process?.resumeCommand
                ?? "sluice apply \(Execution.shellQuoted(original.plan.path)) \(file ?? "FILE.csv")\(runsDir)"
            Terminal.printError(
                "error: run \(original.runID) applied a CSV file (sluice apply); to continue, apply it again: \(command)"
            )
            throw ExitCode(ExitStatus.failed)
        }
        // A replay that started after the first stage (`replay --from apply`) is continued as
        // that replay again: from the same stage, on the rows it was given, never by running
        // the plan from its query (which would fetch afresh and apply rows nobody reviewed).
        if let origin = original.replayOf, origin.stage != original.stages.first?.name {
            Terminal.printError(
                "note: run \(original.runID) replayed '\(origin.stage)' of run \(origin.runID); "
                    + "resuming replays \(origin.mode == .from ? "from " : "")'\(origin.stage)' again on the same recorded rows"
            )
            // Its fetch, if it runs again, asks only what this run did not get an answer to,
            // once the API's Retry-After that stopped it is over.
            try await Self.waitForTheAPI(original, unless: execution.force)
            try await Replay.replay(
                original, at: runURL, mode: origin.mode, stage: origin.stage, overrides: overrides,
                reusingAnswers: true, execution: execution, logger: logger
            ) { plan in
                await Self.noteAppliesInDoubt(of: original, in: runDirectory, plan: plan, logger: logger)
            }
            return
        }
        let directory = Manifest.manifestURL(for: runURL).deletingLastPathComponent().standardizedFileURL
        let plan = try await RecordedPlan.load(of: original, directory: directory, overrides: overrides)
        await Self.noteAppliesInDoubt(of: original, in: directory, plan: plan, logger: logger)
        try await Self.waitForTheAPI(original, unless: execution.force)
        let stages: [StageSpec]
        do {
            var builder = PipelineBuilder(plan: plan, logger: logger, dryRun: execution.dryRun, force: execution.force)
            builder.resumeFrom = directory
            builder.recordedAnswers = original.recordedAnswers
            stages = try builder.stages()
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
        guard let first = stages.first else { throw ExitCode(ExitStatus.invalidPlan) }
        var options = execution
        if options.runsDir == nil { options.runsDir = directory.deletingLastPathComponent().path }
        var configuration = try RunConfiguration.make(for: plan, options: options, logger: logger)
        configuration.replay = SluicePipeline.Replay(
            original: original, originalDirectory: directory, mode: .from, stage: first.name, resumed: true)
        try await Execution.execute(
            Runner(stages: stages, configuration: configuration), runsDirectory: options.runsDirectory,
            json: options.json)
    }

    /// Says what became of each apply of `original` whose COMMIT's outcome its run never learnt,
    /// asking the server (``CommitOutcome``): one that committed is undone with `original`'s
    /// undo, not the resume's, whose apply finds those rows done and changes nothing.
    static func noteAppliesInDoubt(of original: Manifest, in directory: URL, plan: Plan, logger: Logger) async {
        let stages = await CommitOutcome.stagesInDoubt(of: original, in: directory)
        let path = Execution.shellQuoted(directory.path)
        for stage in stages {
            let option =
                original.stages.filter { $0.kind == "apply" }.count > 1
                ? " --stage \(Execution.shellQuoted(stage))" : ""
            let apply = "stage '\(stage)' of run \(original.runID)"
            switch await CommitOutcome.settle(stage: stage, in: directory, plan: plan, logger: logger) {
            case .committed(let transaction):
                Terminal.printError(
                    "note: \(apply) committed before the run stopped (the server reports transaction \(transaction) "
                        + "committed): the resume's apply finds those rows done and changes nothing; to put them "
                        + "back, undo run \(original.runID): sluice undo \(path)\(option)")
            case .notCommitted(let why):
                Terminal.printError("note: \(apply) did not commit (\(why)): nothing of it is in the table")
            case .unknown(let why):
                Terminal.printError(
                    "note: \(apply) may have committed before the run stopped (\(why)); if it did, the resume's "
                        + "apply finds those rows done and changes nothing, and undoing run \(original.runID) puts "
                        + "them back (to see what that would restore: sluice undo \(path)\(option) --dry-run)")
            }
        }
    }

    /// A run stopped on (or interrupted during) an API's `Retry-After` may continue only once that
    /// wait is over (``Manifest/notBefore``): asking sooner gets another 429, and an API such as
    /// Spotify lengthens the wait for early retries.
    /// `forced` (`--force`): asks now, saying so (a wait the API set absurdly long, a limit
    /// known to be lifted).
    static func waitForTheAPI(_ original: Manifest, unless forced: Bool, now: Date = Date()) async throws {
        guard let notBefore = original.notBefore, notBefore > now else { return }
        let seconds = notBefore.timeIntervalSince(now)
        if forced {
            Terminal.printError(
                "warning: the API asked run \(original.runID) to wait until \(RunSummary.clockTime(notBefore)); "
                    + "--force: resuming now, \(Int(seconds.rounded(.up))) s early (the API may refuse again)")
            return
        }
        // Nothing has started: a signal ends the wait, and the command, as it ends a run. Caught
        // before the note says Ctrl-C stops it, so one sent on reading the note is not missed.
        let wait = Task { try await Task.sleep(for: .seconds(seconds)) }
        let signals = SignalTrap(signals: [SIGINT, SIGTERM, SIGHUP, SIGQUIT]) { _, _ in wait.cancel() }
        defer { withExtendedLifetime(signals) {} }
        Terminal.printError(
            "note: the API asked run \(original.runID) to wait until \(RunSummary.clockTime(notBefore)); "
                + "waiting \(Int(seconds.rounded(.up))) s before resuming (Ctrl-C stops; --force resumes now)")
        do {
            try await wait.value
        } catch {
            Terminal.printError(
                "\nsluice: interrupted while waiting for the API: nothing was run or changed; the same command "
                    + "continues later")
            throw ExitCode(ExitStatus.interrupted)
        }
    }
}
