import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluicePipeline

/// Options shared by the commands that execute stages (`run`, `replay`).
struct ExecutionOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Approve every stage that needs approval (e.g. apply) without asking.")
    var yes = false

    @Option(
        help: ArgumentHelp(
            "Approve this stage's gate without asking, and only this one (repeatable); a later gate still asks "
                + "or stops.", valueName: "STAGE"))
    var approve: [String] = []

    @Flag(help: "Run apply stages in a transaction that is rolled back: report what would change, change nothing.")
    var dryRun = false

    @Option(
        help: ArgumentHelp(
            "Where run directories go (default: runs/; for replay and resume, the original run's).", valueName: "DIR"))
    var runsDir: String?

    @Flag(
        help: """
            Go on past a refusal, recorded as a warning: an apply's guard-rail, a transform field whose key \
            looks misspelt, a fetch with on_not_found: keep whose API found none of its ids, approving a \
            rejected review or one older than applies since, a resume's wait for the end of the API's \
            Retry-After.
            """)
    var force = false

    @Flag(name: .shortAndLong, help: "No progress on stderr; only the summary and errors.")
    var quiet = false

    @Flag(
        help: ArgumentHelp(
            "Print the run as JSON on stdout instead of the summary: its directory, exit code, state and manifest."))
    var json = false

    @Option(help: "trace, debug, info, notice, warning, error or critical (logs go to stderr).")
    var logLevel: Logger.Level = .warning

    /// The runs directory as a URL, relative to the current directory unless absolute.
    var runsDirectory: URL {
        URL(
            fileURLWithPath: runsDir ?? "runs",
            relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        )
        .standardizedFileURL
    }

    /// Sends swift-log output to stderr at the requested level. Call once per process.
    func bootstrapLogging() -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return SecretMaskingLogHandler(handler)
        }
        var logger = Logger(label: "sluice")
        logger.logLevel = level
        return logger
    }

    /// How the runner decides on a stage that needs approval: `--yes` approves every one,
    /// `--approve` the stages it names, and `--dry-run` those that change the database (their
    /// transactions roll back; a paid API's fetch is not a dry run). On a terminal the user is
    /// asked about the rest; otherwise the run stops before it and prints the command that
    /// continues it. `changesDatabase` says which stages write (the prompt says so).
    func approval(changesDatabase: @escaping @Sendable (String) -> Bool) -> Approval {
        if yes { return .granted }
        let approved = Set(approve)
        let asks = Terminal.stdinIsTerminal && Terminal.stderrIsTerminal
        if approved.isEmpty, !asks, !dryRun { return .denied }
        let dryRun = dryRun
        return .ask { stage in
            if approved.contains(stage) || (dryRun && changesDatabase(stage)) { return true }
            guard asks else { return false }
            let what = changesDatabase(stage) ? "changes the database" : "waits for approval (requires_approval)"
            return await Terminal.confirm("Stage '\(stage)' \(what). Run it now?")
        }
    }

    var progress: ProgressMode {
        if quiet { return .off }
        return Terminal.stderrIsTerminal ? .terminal(color: Terminal.colorOnStderr) : .lines(every: .seconds(15))
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

extension ExecutionOptions {
    /// A run given on the command line: a run directory or its manifest, or a bare run id
    /// found in the runs directory (`--runs-dir`, default `runs`).
    static func runURL(_ run: String, runsDir: String?) async -> URL {
        let given = URL(fileURLWithPath: run)
        if await BlockingIO.fileExists(atPath: given.path) { return given }
        let inRuns = URL(fileURLWithPath: runsDir ?? "runs").appendingPathComponent(run)
        return await BlockingIO.fileExists(atPath: inRuns.path) ? inRuns : given
    }

    /// ``runURL(_:runsDir:)`` when something is there; otherwise the command fails saying the
    /// run is not found (rather than that its manifest cannot be read), as a usage error: a
    /// script tells a run id that names nothing from a run that failed.
    static func existingRunURL(_ run: String, runsDir: String?) async throws -> URL {
        let url = await runURL(run, runsDir: runsDir)
        guard await BlockingIO.fileExists(atPath: url.path) else {
            let listing = runsDir.map { " --runs-dir \(Execution.shellQuoted($0))" } ?? ""
            Terminal.printError(
                "error: no run '\(run)': not a run directory, and not a run id in \(runsDir ?? "runs")/ "
                    + "(sluice runs\(listing) lists them)")
            throw ExitCode(ExitStatus.usage)
        }
        return url
    }

    /// The run given on the command line and its manifest; a manifest that cannot be read is
    /// reported and the command fails.
    static func loadRun(_ run: String, runsDir: String?) async throws -> (url: URL, manifest: Manifest) {
        let url = try await existingRunURL(run, runsDir: runsDir)
        do {
            return (url, try await BlockingIO.run { try Manifest.load(from: url) })
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.failed)
        }
    }
}
