import ArgumentParser
import Dispatch
import Foundation
import SluiceCore
import SluicePipeline

/// Runs a pipeline the way every executing command does: in a task that SIGINT, SIGTERM, SIGHUP
/// (the terminal went away) and SIGQUIT (Ctrl-\, which would otherwise print a crash report and
/// carry on) cancel cleanly, a second signal exiting at once; then prints the run summary on
/// stdout (or, with `--json`, ``runJSON(_:directory:exitCode:)``) and turns the final status into the
/// exit code.
enum Execution {
    /// - Returns: never normally; exits with the code for the run's final status.
    static func execute(_ runner: Runner, runsDirectory: URL, json: Bool = false) async throws -> Never {
        let result: RunResult
        do {
            result = try await interruptible(
                finishing: "finishing the manifest", unfinished: "the manifest may say 'running'"
            ) { try await withPoolWatchdog { try await runner.run() } }
        } catch {
            Terminal.report((error as? Interrupted)?.underlying ?? error)
            throw ExitCode(ExitStatus.failed)
        }
        var status = exitStatus(for: result.manifest)
        // Then the summary is the only complete record of the run: never exit 0 on it.
        if result.manifestWriteError != nil, status == 0 || status == ExitStatus.awaitingApproval {
            status = ExitStatus.failed
        }
        if json {
            Terminal.printJSON(
                JSON.encodePretty(runJSON(result.manifest, directory: result.directory, exitCode: status)))
        } else {
            var summary = RunSummary(manifest: result.manifest, directory: result.directory)
            summary.shown = Terminal.diagnosticsPrinted.withLock { $0 }
            summary.reviewsShown = Terminal.reviewsPrinted.withLock { $0 }
            summary.answersGone = await RunSummary.missingAnswers(of: result.manifest, in: result.directory)
            summary.earlierCommit = await RunSummary.earlierCommit(of: result.manifest)
            Terminal.printOutput(summary.text, terminator: "")
        }
        if let writeError = result.manifestWriteError {
            let file = result.directory.appendingPathComponent(Manifest.fileName).path
            Terminal.printError("error: \(writeError)")
            Terminal.printError(
                "error: \(file) is out of date: it does not record that the run \(result.manifest.status.rawValue) "
                    + "(the \(json ? "JSON" : "summary") above does)")
        }
        throw ExitCode(status)
    }

    /// Runs `body` in a task that the first SIGINT, SIGTERM, SIGHUP or SIGQUIT cancels, saying
    /// it is `finishing`; a second one exits at once, saying what is then `unfinished`.
    static func interruptible<T: Sendable>(
        finishing: String, unfinished: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let task = Task { try await body() }
        let signals = SignalTrap(signals: [SIGINT, SIGTERM, SIGHUP, SIGQUIT]) { number, count in
            if count == 1 {
                let again = number == SIGINT ? "press Ctrl-C again" : "signal again"
                Terminal.printError("\nsluice: interrupting: \(finishing) (\(again) to exit immediately)")
                task.cancel()
            } else {
                Terminal.printError("sluice: exiting immediately; \(unfinished)")
                _exit(ExitStatus.interrupted)
            }
        }
        defer { withExtendedLifetime(signals) {} }
        do {
            return try await task.value
        } catch {
            throw task.isCancelled ? Interrupted(underlying: error) : error
        }
    }

    /// What ``interruptible(finishing:unfinished:_:)`` throws when its body failed after a signal
    /// cancelled it.
    struct Interrupted: Error {
        var underlying: any Error
    }

    /// Runs `body` with a ``PoolWatchdog`` beside it in debug builds, or when
    /// `SLUICE_POOL_WATCHDOG` names a threshold in seconds (`0` turns it off).
    static func withPoolWatchdog<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        guard let threshold = poolWatchdogThreshold else { return try await body() }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await PoolWatchdog.watch(threshold: threshold) { Terminal.printError(PoolWatchdog.warning(lag: $0)) }
                return nil
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    private static var poolWatchdogThreshold: Duration? {
        if let text = ProcessInfo.processInfo.environment["SLUICE_POOL_WATCHDOG"], let seconds = Double(text) {
            return seconds > 0 ? .milliseconds(Int(seconds * 1000)) : nil
        }
        #if DEBUG
        return .seconds(1)
        #else
        return nil
        #endif
    }

    /// A run for scripts (`--json`, `runs show --json`): `directory` (as the summary prints it),
    /// `exit_code` (what its final status exits with), `state` (the status as `sluice runs`
    /// lists it: `failed, apply committed`) and `manifest` (manifest.json's content).
    /// `state`: as `sluice runs` lists it, when the runs beside it were read (a gate approved
    /// since, a review superseded); else what the manifest alone says.
    static func runJSON(_ manifest: Manifest, directory: URL, exitCode: Int32? = nil, state: String? = nil) -> Value {
        .object([
            "directory": .string(displayPath(directory)),
            "exit_code": .int(Int64(exitCode ?? exitStatus(for: manifest))),
            "state": .string(state ?? RunSummary.status(of: manifest)), "manifest": manifest.json,
        ])
    }

    static func exitStatus(for manifest: Manifest) -> Int32 {
        switch manifest.status {
        case .succeeded: return 0
        case .awaitingApproval: return ExitStatus.awaitingApproval
        case .rejected: return ExitStatus.failed
        case .interrupted: return ExitStatus.interrupted
        case .failed, .running:
            // Its own apply committed, or (a resume of a failed verify) the apply it kept did: the
            // table holds a change the checks fail, which the summary's undo puts back.
            if !manifest.committedApplies.isEmpty || manifest.skippedCommittedApply != nil {
                return ExitStatus.failedAfterApply
            }
            return manifest.error?.resumable == true ? ExitStatus.resumable : ExitStatus.failed
        }
    }

    /// The command that continues a run from `stage`, as the user should type it.
    /// `only`: the run replays just that stage (`--stage`), so continuing it must not run the rest.
    /// `gateFollows`: a later stage needs approval too, so the command approves this gate alone
    /// (`--approve STAGE`, not `--yes`) and the later one stops for its own review.
    /// `dryRun`: the run was a dry run, and so is its continuation: a preview stopped at a gate
    /// (a fetch's, which a dry run does not pass) must not go on to write.
    static func continueCommand(
        runDirectory: URL, stage: String, only: Bool = false, gateFollows: Bool = false, dryRun: Bool = false
    ) -> String {
        let approval = !only && gateFollows ? "--approve \(shellQuoted(stage))" : "--yes"
        return
            "sluice replay \(shellQuoted(displayPath(runDirectory))) \(only ? "--stage" : "--from") \(shellQuoted(stage)) \(approval)"
            + (dryRun ? " --dry-run" : "")
    }

    /// The command that continues a run that failed with a resumable error (a long Retry-After,
    /// an API that stopped answering): `sluice resume`, which reuses every answer the run
    /// recorded, and approves (`--yes`, `--approve STAGE`), dry-runs or forces only as the run
    /// did, so a run meant for review still stops before apply and one approved stops at no gate.
    static func resumeCommand(runDirectory: URL, options: ExecutionOptions) -> String {
        var command = "sluice resume \(shellQuoted(displayPath(runDirectory)))"
        if options.yes {
            command += " --yes"
        } else {
            for stage in options.approve { command += " --approve \(shellQuoted(stage))" }
        }
        if options.dryRun { command += " --dry-run" }
        if options.force { command += " --force" }
        return command
    }

    /// `url`'s absolute path: the command is recorded in the manifest, and printed again by
    /// `sluice resume` and `sluice runs show` from wherever they are run.
    private static func displayPath(_ url: URL) -> String {
        url.standardizedFileURL.path
    }

    static func shellQuoted(_ text: String) -> String {
        let safe = text.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "-_./:=@".unicodeScalars.contains($0)
        }
        return safe && !text.isEmpty ? text : "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
