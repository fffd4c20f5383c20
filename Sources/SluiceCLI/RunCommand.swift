import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a plan: every stage, with a manifest and spools in runs/<run-id>/.",
        discussion: """
            Stages that need approval (apply in the Spotify plan) run only with --yes or after a yes \
            on a terminal; otherwise the run stops before them with status awaiting-approval and \
            prints the command that continues it (sluice replay RUN --from STAGE --yes).

            Exit status: 0 succeeded, 1 failed, 2 invalid plan, 3 awaiting approval, \
            4 failed but resumable (a Retry-After longer than max_retry_after, a paged list that changed \
            while it was read, the database unreachable or restarted, a lock held past the server's \
            lock_timeout: `sluice resume RUN` \
            continues it), 5 failed after \
            an apply committed (the database changed: `sluice undo RUN` puts it back), 64 usage error \
            (an unknown option, a missing argument), 130 interrupted.
            """)

    @OptionGroup var plan: PlanOptions
    @OptionGroup var execution: ExecutionOptions

    func run() async throws {
        let logger = execution.bootstrapLogging()
        let plan = try await self.plan.load()
        let stages: [StageSpec]
        do {
            stages = try PipelineBuilder(plan: plan, logger: logger, dryRun: execution.dryRun, force: execution.force)
                .stages()
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
        let configuration = try RunConfiguration.make(for: plan, options: execution, logger: logger)
        try await Execution.execute(
            Runner(stages: stages, configuration: configuration), runsDirectory: execution.runsDirectory,
            json: execution.json)
    }
}

extension Plan {
    /// Whether a stage after `stage` (in the plan's order) needs approval too.
    func hasGate(after stage: String) -> Bool {
        guard let index = stages.firstIndex(where: { $0.name == stage }) else { return false }
        return stages[(index + 1)...].contains(where: \.requiresApproval)
    }
}

extension RunConfiguration {
    /// The configuration every executing command shares.
    static func make(for plan: Plan, options: ExecutionOptions, logger: Logger) throws -> RunConfiguration {
        var configuration = RunConfiguration(
            runsDirectory: options.runsDirectory, toolVersion: SluiceVersion.current,
            // Absolute: a replay or resume run from another directory finds the same file.
            plan: Manifest.Plan(
                path: URL(fileURLWithPath: plan.path).standardizedFileURL.path, sha256: plan.sha256, name: plan.name),
            resolvedPlan: plan.resolved.value, overrides: plan.recordedOverrides, logger: logger,
            continueCommand: { directory, stage in
                Execution.continueCommand(
                    runDirectory: directory, stage: stage, gateFollows: plan.hasGate(after: stage),
                    dryRun: options.dryRun)
            })
        configuration.secretOverrides = plan.secretOverrideKeys
        configuration.resolvedPlanKeyOrder = plan.resolved.keyOrder
        configuration.dryRun = options.dryRun
        configuration.resumeCommand = { Execution.resumeCommand(runDirectory: $0, options: options) }
        let writers = Set(plan.stages.filter { $0.kind == .apply }.map(\.name))
        configuration.approval = options.approval { writers.contains($0) }
        // A misspelt --approve would approve nothing and stop at the gate it meant to pass.
        for stage in options.approve where !plan.stages.contains(where: { $0.name == stage && $0.requiresApproval }) {
            let gates = plan.stages.filter(\.requiresApproval).map { "'\($0.name)'" }
            Terminal.printError(
                "error: --approve \(stage): the plan has no stage '\(stage)' that needs approval"
                    + (gates.isEmpty ? "" : " (its gates: \(gates.joined(separator: ", ")))"))
            throw ExitCode(ExitStatus.usage)
        }
        configuration.progress = options.progress
        if case .ask = configuration.approval, Terminal.stdinIsTerminal, Terminal.stderrIsTerminal {
            // The person about to answer the prompt sees what they approve. A stage approved
            // without asking (--approve, a dry run's apply) has its review in the summary, on
            // stdout, like any run's.
            let (approved, dryRun) = (Set(options.approve), options.dryRun)
            configuration.onReview = { stage, review in
                guard !approved.contains(stage), !(dryRun && writers.contains(stage)) else { return }
                Terminal.printReview(review.text, of: stage)
            }
        }
        return configuration
    }
}
