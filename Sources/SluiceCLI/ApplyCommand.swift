import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

struct ApplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Apply a CSV you reviewed or edited with the plan's apply stage, then verify.",
        discussion: """
            Runs a new run (manifest as usual) of three parts: a csv-input stage that reads FILE, \
            the plan's apply stage (behind its approval gate), and the stages after apply (verify). \
            FILE is usually the audit trail a run wrote (spotify_enrichment_*.csv), perhaps edited.

            Before anything is committed the whole file is checked: UTF-8, RFC 4180 \
            quoting, a header holding the apply stage's key_field and every 'from' column (plus, \
            optionally, the write-csv stage's other columns; any other column is an error), the \
            same number of fields on every row, every value against the rules of the plan's \
            validate stage read as the rule's type, and no key given two different sets of values \
            (a row repeated exactly is fine). Every problem is printed as \
            FILE:LINE:COL: error: ... and the run fails with nothing changed: without --yes before \
            any transaction is opened (the file is checked before the gate); with --yes, where the \
            apply copies and writes rows as the file is read, its transaction is rolled back. Rows \
            the database still refuses (a CHECK constraint the rules let through) are reported \
            with their line, and the transaction is rolled back.

            Needs only the environment of the database connection (DATABASE_URL), not the API's.

              sluice apply plans/spotify-enrichment.yaml edited.csv --dry-run
              sluice apply plans/spotify-enrichment.yaml edited.csv --yes

            Without --yes (and without a terminal to ask on) it stops at the apply's gate after \
            writing the review (review.csv, review.html); `sluice replay RUN --from apply --yes` \
            then applies exactly that review: a row changed since is not overwritten (on_drift).

            Exit status: 0 applied (and verified), 1 failed (a problem in the CSV, or the database \
            refused it: nothing changed), 2 invalid plan, 3 awaiting approval, 5 applied, then \
            verify failed (the database changed: `sluice undo RUN` puts it back), 64 usage error, \
            130 interrupted.
            """)

    @Argument(help: "The plan file (YAML).")
    var plan: String

    @Argument(help: "The CSV to apply (a header row, then one row per key).")
    var file: String

    @Option(help: "The apply stage to feed, when the plan has several.")
    var stage: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a parameter for this run: STAGE.PARAM=VALUE (repeatable).", valueName: "K=V"))
    var overrides: [String] = []

    @OptionGroup var execution: ExecutionOptions

    func run() async throws {
        let logger = execution.bootstrapLogging()
        let csv = URL(fileURLWithPath: file).standardizedFileURL
        let problem = try await BlockingIO.run { () -> String? in
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: csv.path, isDirectory: &isDirectory) else {
                return "no such file"
            }
            if isDirectory.boolValue { return "a directory, not a CSV file" }
            return FileManager.default.isReadableFile(atPath: csv.path) ? nil : "not readable (permission denied)"
        }
        if let problem {
            Terminal.printError("\(file): error: \(problem)")
            throw ExitCode(ExitStatus.failed)
        }
        let plan = try await loadPlan(csv: csv, logger: logger)
        var pipeline: CSVApplyPipeline
        do {
            pipeline = try CSVApplyPipeline(
                plan: plan, csv: csv, displayPath: file, applyStage: stage, execution: execution, logger: logger)
        } catch {
            // A --stage the plan has no apply stage of, or none given where it has several, is a
            // usage error; a plan with no apply stage at all is not one for this command.
            Terminal.report(error)
            throw ExitCode(plan.stages.contains { $0.apply != nil } ? ExitStatus.usage : ExitStatus.invalidPlan)
        }
        var configuration = try RunConfiguration.make(for: plan, options: execution, logger: logger)
        configuration.approval = pipeline.approval(configuration.approval)
        if case .granted = configuration.approval { pipeline.approvedUpFront = true }
        let stages: [StageSpec]
        do {
            stages = try pipeline.stages()
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
        // Stopped at its gate, the run is approved by replaying its apply, held to the review it
        // just wrote (the default continue command). Interrupted or failed, an apply of a CSV
        // continues by applying the same file again, the same way.
        let command = continueCommand(overrides: plan.recordedOverrides)
        configuration.resumeCommand = { _ in command }
        try await Execution.execute(
            Runner(stages: stages, configuration: configuration), runsDirectory: execution.runsDirectory,
            json: execution.json)
    }

    /// The plan, tolerating unset variables of connections that the stages run here do not use
    /// (the Spotify credentials), as `replay` does.
    private func loadPlan(csv: URL, logger: Logger) async throws -> Plan {
        let (path, overrides) = (plan, overrides)
        // Reading the file: off the cooperative pool.
        let loaded = try await BlockingIO.run {
            Result<Plan, PlanError> { () throws(PlanError) in try PlanLoader().load(path: path, overrides: overrides) }
        }
        switch loaded {
        case .success(let plan):
            SecretRegistry.register(plan.secretTexts)
            Terminal.reportWarnings(of: plan)
            return plan
        case .failure(let error):
            let stage = stage
            let bytes = try? await BlockingIO.run { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
            let loaded = bytes.flatMap { bytes in
                RecordedPlan.withPlaceholders(
                    for: error, (bytes, path, overrides),
                    running: { plan in
                        (try? CSVApplyPipeline(
                            plan: plan, csv: csv, displayPath: path, applyStage: stage, logger: logger))?
                            .planStagesRun ?? Set(plan.stages.map(\.name))
                    })
            }
            switch loaded {
            case .success(let plan):
                SecretRegistry.register(plan.secretTexts)
                return plan
            case .failure(let needed): Terminal.report(needed)
            case nil: Terminal.report(error)
            }
            throw ExitCode(ExitStatus.invalidPlan)
        }
    }

    /// The command that runs this apply again as it was run: what an interrupted or failed run
    /// prints, and records for `sluice resume` (so its paths are absolute). It approves only if
    /// this run did (`--yes`, `--approve`) and dry-runs if this run did: a preview interrupted
    /// is continued as a preview, and an apply meant for review stops at its gate again.
    /// `overrides` are the plan's recorded ones: a secret given with --set shows redacted.
    private func continueCommand(overrides: [String]) -> String {
        func absolute(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }
        var words = ["sluice", "apply", absolute(plan), absolute(file)]
        if let stage { words += ["--stage", stage] }
        for override in overrides { words += ["--set", override] }
        if let runsDir = execution.runsDir { words += ["--runs-dir", absolute(runsDir)] }
        if execution.yes { words.append("--yes") }
        for stage in execution.approve { words += ["--approve", stage] }
        if execution.dryRun { words.append("--dry-run") }
        if execution.force { words.append("--force") }
        return words.map(Execution.shellQuoted).joined(separator: " ")
    }
}

extension CSVApplyPipeline {
    /// The pipeline of `sluice apply` (and of its replay) as the command line sets it up: its
    /// problems printed on stderr (once: the summary leaves them out), `--dry-run` and
    /// `--force` from the options.
    init(
        plan: Plan, csv: URL, displayPath: String, applyStage: String?, execution: ExecutionOptions, logger: Logger
    ) throws {
        self = try CSVApplyPipeline(
            plan: plan, csv: csv, displayPath: displayPath, applyStage: applyStage, logger: logger,
            dryRun: execution.dryRun)
        report = { Terminal.printDiagnostic($0) }
        force = execution.force
    }
}
