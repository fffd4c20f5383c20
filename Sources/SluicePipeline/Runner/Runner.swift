import Foundation
import Logging
import SluiceCore

/// Runs a pipeline of stages and records it in a run directory.
///
/// Every stage runs in its own child task of one task group, connected to its consumers by
/// bounded channels (backpressure); its output is also spooled to `<stage>.ndjson` in the run
/// directory. Stages that require approval split the pipeline into segments run one after
/// the other; a stage behind a gate reads its input back from the spool. The manifest
/// (`manifest.json`, see docs/manifest.md) is rewritten at every stage transition.
public struct Runner: Sendable {
    public let stages: [StageSpec]
    public let configuration: RunConfiguration

    /// - Parameters:
    ///   - stages: every stage of the plan, in plan order (for a replay too: the configuration's
    ///     ``RunConfiguration/replay`` says which of them run).
    public init(stages: [StageSpec], configuration: RunConfiguration) {
        self.stages = stages
        self.configuration = configuration
    }

    /// Runs the pipeline.
    ///
    /// Stage failures do not throw: the returned manifest's status says how the run ended
    /// (succeeded, failed, interrupted or awaiting-approval), with the error and the failing
    /// stage. When the manifest could not be written (the run directory became unwritable),
    /// the result's ``RunResult/manifestWriteError`` says so: the file on disk is behind. Cancelling the calling task cancels every stage; the run then ends `interrupted`
    /// and this still returns normally.
    /// - Throws: ``RunnerError`` when nothing could start: an invalid stage list, an unknown
    ///   replay stage, a replay's recorded input missing or changed, a run directory or
    ///   manifest that cannot be created. A replay's inputs are checked before anything is created.
    public func run() async throws -> RunResult {
        var approvedUpFront = false
        if case .granted = configuration.approval { approvedUpFront = true }
        let layout = try await RunLayout(
            specs: stages, replay: configuration.replay, approvedUpFront: approvedUpFront)
        let startedAt = ManifestRecorder.normalized(configuration.now())
        let runsDirectory = configuration.runsDirectory
        let (runID, directory, createdRuns) = try await BlockingIO.run {
            try RunDirectory.create(in: runsDirectory, at: startedAt)
        }
        var logger = configuration.logger
        logger[metadataKey: "run.id"] = "\(runID)"

        var initial = initialManifest(runID: runID, startedAt: startedAt, layout: layout, directory: directory)
        if createdRuns {
            // A mistyped --runs-dir splits the history: undo and approvals look in one directory.
            initial.notices.append(
                "created the runs directory \(runsDirectory.path) (it did not exist): undo, approvals and "
                    + "`sluice runs` see only the runs of one directory")
        }
        let recorder = ManifestRecorder(
            manifest: initial,
            directory: directory,
            originals: layout.originals, logger: logger,
            writeFile: configuration.manifestFileWriter ?? ManifestRecorder.diskWriter)
        do {
            try await recorder.write()
            try await recorder.reserveSpace()
        } catch {
            _ = try? await BlockingIO.run { try FileManager.default.removeItem(at: directory) }
            throw RunnerError("cannot write the run manifest in \(directory.path): \(error)")
        }
        logger.info(
            "run started",
            metadata: ["run.directory": "\(directory.path)", "plan.name": "\(configuration.plan.name)"])

        let execution = RunExecution(
            layout: layout, configuration: configuration, recorder: recorder, runID: runID, directory: directory,
            startedAt: startedAt, logger: logger)
        let ending = await execution.run()
        await recorder.finish { manifest in finish(&manifest, ending: ending, directory: directory) }

        let manifest = recorder.manifest
        logger.info("run finished", metadata: ["run.status": "\(manifest.status.rawValue)"])
        return RunResult(manifest: manifest, directory: directory, manifestWriteError: recorder.writeError)
    }

    private func initialManifest(runID: String, startedAt: Date, layout: RunLayout, directory: URL) -> Manifest {
        let replayOf = configuration.replay.map { replay in
            Manifest.ReplayOrigin(
                runID: replay.original.runID, path: replay.originalDirectory.standardizedFileURL.path,
                stage: replay.stage, mode: replay.mode, resumed: replay.resumed)
        }
        var manifest = Manifest(
            runID: runID, toolVersion: configuration.toolVersion, plan: configuration.plan,
            resolvedPlan: configuration.resolvedPlan, overrides: configuration.overrides,
            secretOverrides: configuration.secretOverrides, startedAt: startedAt,
            replayOf: replayOf)
        manifest.resolvedPlanKeyOrder = configuration.resolvedPlanKeyOrder
        manifest.process = .current
        manifest.dryRun = configuration.dryRun
        // If the process dies, this is how to go on: as after an interruption, approval included.
        manifest.process?.resumeCommand = configuration.resumeCommand?(directory)
        manifest.stages = stages.map { spec in
            if var original = layout.originals[spec.name] {
                original.status = .skipped
                return original
            }
            return Manifest.StageRecord(
                name: spec.name, kind: spec.stage.kind, parameters: spec.stage.parameters, input: spec.input,
                requiresApproval: spec.requiresApproval,
                status: layout.skipped.contains(spec.name) ? .skipped : .pending)
        }
        return manifest
    }

    private func finish(_ manifest: inout Manifest, ending: RunExecution.Ending, directory: URL) {
        manifest.finishedAt = ManifestRecorder.normalized(configuration.now())
        for index in manifest.stages.indices where manifest.stages[index].status == .running {
            // Not expected: every stage task has ended. Never leave a stage looking alive.
            manifest.stages[index].status = .cancelled
        }
        switch ending {
        case .succeeded:
            manifest.status = .succeeded
        case .failed:
            manifest.status = .failed
        case .interrupted:
            manifest.status = .interrupted
            manifest.resumeCommand = configuration.resumeCommand?(directory)
        case .awaitingApproval(let stage):
            manifest.status = .awaitingApproval
            if let index = manifest.stages.firstIndex(where: { $0.name == stage }) {
                manifest.stages[index].status = .awaitingApproval
            }
            manifest.resumeCommand = configuration.continueCommand(directory, stage)
        }
    }
}
