import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-run one stage (or a stage and everything after it) of an earlier run from its manifest.",
        discussion: """
            The replayed stage reads the input the original run recorded (its upstream spool, \
            checked against the sha256 in the manifest) with the parameters the run used, plus \
            any --set overrides. It runs as a new run whose manifest says replay_of. \
            Stages before it are not run: replaying apply never contacts the HTTP API.

              sluice replay runs/20261125-101500-a1b2c3 --from apply --yes
              sluice replay runs/20261125-101500-a1b2c3 --stage verify

            The plan is read again from its file when that is unchanged (same sha256), otherwise \
            from the copy recorded in the manifest; --plan FILE replays with a plan file as it is \
            now instead (a transform fixed since the run), its stages before the replayed one \
            being the run's. Environment variables are needed only for the connections of the \
            stages that run: replaying apply needs DATABASE_URL, not the Spotify credentials.

              sluice replay runs/20261125-101500-a1b2c3 --from transform --plan plans/enrich.yaml
            """)

    @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
    var run: String

    @Option(help: "Re-run only this stage.")
    var stage: String?

    @Option(help: "Re-run this stage and every stage after it.")
    var from: String?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a parameter: STAGE.PARAM=VALUE (repeatable).", valueName: "K=V"))
    var overrides: [String] = []

    @Option(
        name: .customLong("plan"),
        help: ArgumentHelp(
            "Replay with this plan file as it is now, not the plan the run used (a plan fixed since).",
            valueName: "FILE"))
    var planFile: String?

    @OptionGroup var execution: ExecutionOptions

    func validate() throws {
        guard (stage == nil) != (from == nil) else {
            throw ValidationError("give exactly one of --stage NAME or --from NAME")
        }
    }

    func run() async throws {
        let logger = execution.bootstrapLogging()
        let (runURL, original) = try await ExecutionOptions.loadRun(run, runsDir: execution.runsDir)
        try await Self.replay(
            original, at: runURL, mode: stage != nil ? .stage : .from, stage: stage ?? from ?? "",
            overrides: overrides, planFile: planFile, offersPlanFile: true, execution: execution, logger: logger)
    }

    /// Replays `stage` of the run `original` (read from `runURL`) as a new run; with `planFile`
    /// (`--plan`), that file's stages rather than the run's plan. `offersPlanFile`: the command
    /// has `--plan` (`replay`, not `resume`), so a note may point at it. `reusingAnswers`
    /// (`resume`): a fetch that runs reuses the answers `original` recorded. `planLoaded` is
    /// given the plan once it is loaded, before anything runs.
    static func replay(
        _ original: Manifest, at runURL: URL, mode: Manifest.ReplayMode, stage name: String, overrides: [String],
        planFile: String? = nil, offersPlanFile: Bool = false, reusingAnswers: Bool = false,
        execution: ExecutionOptions, logger: Logger, planLoaded: ((Plan) async -> Void)? = nil
    ) async throws {
        let originalDirectory = Manifest.manifestURL(for: runURL).deletingLastPathComponent().standardizedFileURL
        let names = original.stages.map(\.name)
        let running: Set<String> =
            mode == .stage ? [name] : Set(names.drop(while: { $0 != name }))
        let replay = SluicePipeline.Replay(
            original: original, originalDirectory: originalDirectory, mode: mode, stage: name, resumed: reusingAnswers)
        try await refuseEditedReviewFiles(of: replay)
        try await refuseMissingReviews(of: replay, running: running)
        try await refuseRejected(original, at: originalDirectory, replaying: name, execution: execution)
        try await refuseSupersededReviews(
            of: original, running: running, runs: originalDirectory.deletingLastPathComponent(),
            force: execution.force, dryRun: execution.dryRun)
        await noteChangedSources(of: original, running: running, directory: originalDirectory)
        let plan = try await RecordedPlan.load(
            of: original, directory: originalDirectory, overrides: overrides, running: running,
            edited: planFile, offersEdited: offersPlanFile)
        await planLoaded?(plan)
        // The run's stages that its plan still has: a run of `sluice apply` begins with a
        // csv-input stage, which is not the plan's.
        let replayable = names.filter { plan.stage(named: $0) != nil }
        guard replayable.contains(name) else {
            var message =
                "error: run \(original.runID) has no stage '\(name)' to replay (it can replay: "
                + "\(replayable.joined(separator: ", ")))"
            if let file = original.stages.first(where: { $0.name == name })?.appliedCSVPath {
                message +=
                    "; stage '\(name)' read \(file): to read and check it again, run: sluice apply "
                    + "\(Execution.shellQuoted(original.plan.path)) \(Execution.shellQuoted(file))"
            } else if let near = Suggestion.nearest(to: name, in: replayable) {
                message += "; did you mean '\(near)'?"
            }
            Terminal.printError(message)
            throw ExitCode(ExitStatus.usage)
        }
        // A `--set` for a stage this replay does not run changes nothing here: said, not taken in
        // silence as if it had.
        for override in overrides {
            let key = override.prefix { $0 != "=" }
            let stage = String(key.prefix { $0 != "." })
            guard key.contains("."), plan.stage(named: stage) != nil, !running.contains(stage) else { continue }
            let replays = mode == .stage ? "replays '\(name)' alone" : "replays from '\(name)'"
            Terminal.printError(
                "warning: --set \(key)=... is for stage '\(stage)', which this replay does not run (it \(replays)): "
                    + "it changes nothing here")
        }
        let stages: [StageSpec]
        // A run of `sluice apply FILE.csv` is replayed as that pipeline (its csv-input stage's
        // recorded rows into the plan's apply), not as the plan (which would query and fetch).
        var csvApply: CSVApplyPipeline?
        do {
            if let first = original.stages.first, first.kind == CSVInputStage.kindName,
                let file = first.inputs.first(where: { $0.kind == "csv" })
            {
                let pipeline = try CSVApplyPipeline(
                    plan: plan, csv: URL(fileURLWithPath: file.path), displayPath: file.path,
                    applyStage: original.stages.dropFirst().first?.name, execution: execution, logger: logger)
                stages = try pipeline.stages()
                csvApply = pipeline
            } else {
                var builder = PipelineBuilder(
                    plan: plan, logger: logger, dryRun: execution.dryRun, force: execution.force)
                if reusingAnswers {
                    builder.resumeFrom = originalDirectory
                    builder.recordedAnswers = original.recordedAnswers
                }
                stages = try builder.stages()
            }
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
        var options = execution
        if options.runsDir == nil { options.runsDir = originalDirectory.deletingLastPathComponent().path }
        var configuration = try RunConfiguration.make(for: plan, options: options, logger: logger)
        if let csvApply { configuration.approval = csvApply.approval(configuration.approval) }
        configuration.replay = replay
        if mode == .stage {
            let dryRun = options.dryRun
            configuration.continueCommand = { directory, stage in
                Execution.continueCommand(runDirectory: directory, stage: stage, only: true, dryRun: dryRun)
            }
        }
        try await Execution.execute(
            Runner(stages: stages, configuration: configuration), runsDirectory: options.runsDirectory,
            json: options.json)
    }

    /// A replay that runs a stage reading a file (read-csv) reads it again, as it is now: says so
    /// when it is no longer the file the run recorded (its SHA-256 differs).
    static func noteChangedSources(of original: Manifest, running: Set<String>, directory: URL) async {
        for record in original.stages where running.contains(record.name) {
            for input in record.inputs where input.kind == "csv" {
                let url = input.url(in: directory)
                guard let now = try? await PrivateFile.sha256(of: url), now.sha256 != input.sha256 else { continue }
                Terminal.printError(
                    "note: \(url.path) changed since run \(original.runID) read it (sha256 \(now.sha256.prefix(12))…, "
                        + "recorded \(input.sha256.prefix(12))…); stage '\(record.name)' reads it as it is now")
            }
        }
    }

    /// Approving a review made before another apply to the same table committed would write the
    /// reviewed values over that apply's (a newer reviewed decision: a cell the reviewer kept as
    /// it was, which no drift check sees, since it did not change since this review). Refused,
    /// naming the applies; `--force` goes on, saying so. This run's own approvals (its replays)
    /// do not count: approving twice writes nothing new. A manifest in the runs directory that
    /// cannot be read may be such an apply: refused too (``refuseUnreadable(_:held:runs:force:dryRun:)``).
    static func refuseSupersededReviews(
        of original: Manifest, running: Set<String>, runs: URL, force: Bool, dryRun: Bool = false
    ) async throws {
        let held = original.stages.filter { running.contains($0.name) && $0.status != .succeeded && $0.review != nil }
        // Most replays approve no review: the runs directory is read only for one that does.
        guard !held.isEmpty else { return }
        let (loaded, unreadable) = (try? await BlockingIO.run { Manifest.loadEvery(in: runs) }) ?? ([], [])
        let all = loaded.map(\.manifest)
        try refuseUnreadable(unreadable, held: held, runs: runs, force: force, dryRun: dryRun)
        for record in held {
            guard let table = record.parameters["table"].stringValue else { continue }
            let later = supersedingApplies(of: original, stage: record, among: all)
            guard !later.isEmpty else { continue }
            // A dry run writes nothing over them: it says what approving would do, and warns.
            guard force || dryRun else {
                Terminal.printError("error: " + supersededReview(record, by: later))
                throw ExitCode(ExitStatus.failed)
            }
            Terminal.printError(
                "warning: \(force ? "--force: applying" : "a dry run of") a review older than applies to \(table) "
                    + "since: \(UndoCommand.LaterApply.listed(later))")
        }
    }

    /// A manifest in the runs directory that cannot be read (corrupt, not readable by this user)
    /// may be an apply to the table since a review `held` would approve: approving it then could
    /// write its reviewed values over that apply's without a word. Refused, naming each file, why
    /// and what to do, unless `force` (said) or `dryRun` (which writes nothing; warned). Not for a
    /// review that changes nothing.
    static func refuseUnreadable(
        _ unreadable: [ManifestError], held: [Manifest.StageRecord], runs: URL, force: Bool, dryRun: Bool
    ) throws {
        guard !unreadable.isEmpty,
            let record = held.first(where: { $0.review.map { !$0.changesNothing } == true }),
            let review = record.review, let table = record.parameters["table"].stringValue
        else { return }
        let files = unreadable.map { "\($0.path) (\($0.message))" }.joined(separator: ", ")
        let made = ISO8601DateFormatter().string(from: review.reviewedAt)
        let what =
            "cannot tell whether an apply to \(table) committed since the review of stage '\(record.name)' (run "
            + "\(review.runID), \(made)): the run \(unreadable.count == 1 ? "manifest" : "manifests") \(files) cannot be "
            + "read, and may be one (approving the review would then write its reviewed values over that apply's)"
        guard force || dryRun else {
            let advice = Set(unreadable.map(\.advice)).sorted().joined(separator: "; or ")
            Terminal.printError(
                "error: \(what). To go on: \(advice); or move its run directory out of \(runs.path) if it is no run of "
                    + "this table; then approve again, or pass --force to approve without knowing. Nothing was changed."
            )
            throw ExitCode(ExitStatus.failed)
        }
        let going = force ? "--force: approving without knowing" : "a dry run, approving nothing"
        Terminal.printError("warning: \(going): \(what)")
    }

    /// Why approving the review of `record` (a stage at its gate) is refused, and what to do
    /// instead: `later` (``supersedingApplies(of:stage:among:)``) committed since. Said alike by
    /// the approval and by `sluice resume` of the run at the gate.
    static func supersededReview(_ record: Manifest.StageRecord, by later: [UndoCommand.LaterApply]) -> String {
        let table = record.parameters["table"].stringValue ?? "its table"
        let made = record.review.map { " (run \($0.runID), \(ISO8601DateFormatter().string(from: $0.reviewedAt)))" }
        return "the review of stage '\(record.name)'\(made ?? "") is older than applies to \(table) that committed "
            + "since: \(UndoCommand.LaterApply.listed(later)); approving it would write its reviewed values over "
            + "theirs. Review again (run the plan, or sluice apply on an edited CSV, anew), or pass --force to apply "
            + "this review anyway"
    }

    /// The applies among `all` to the table `record` (a stage of `original` with a review that
    /// changes something) applies to, committed after that review: newer reviewed decisions that
    /// approving the review would write over. `original`'s own approvals, and those of the run
    /// that made the review, and any approval of that review (a run that continues its run: the
    /// resume of an approval, say), do not count.
    static func supersedingApplies(
        of original: Manifest, stage record: Manifest.StageRecord, among all: [Manifest]
    ) -> [UndoCommand.LaterApply] {
        guard let review = record.review, !review.changesNothing, let table = record.parameters["table"].stringValue
        else { return [] }
        let ids: Set<String> = [original.runID, review.runID]
        let byID = Manifest.byRunID(all)
        let gate = byID[review.runID]
        // Its approvals, also the resume of one whose process died; the review's other approvals
        // too, however reached (judged the same from a replay of the gate and a resume of one).
        return UndoCommand.laterApplies(
            to: table, after: review.reviewedAt, among: all,
            excluding: { other in
                ids.contains(other.runID) || ids.contains(other.replayOf?.runID ?? "")
                    || other.continues(original, among: byID) || gate.map { other.continues($0, among: byID) } == true
            })
    }

    /// A replay that starts at a gate a person rejected (`sluice reject`) would approve what
    /// they turned down: the rejected run's own approval, or the resume of an approval of it
    /// that failed before its apply. Refused; `--force` goes on, saying so, as does a dry run
    /// (it changes nothing). A replay from an earlier stage makes a review of its own.
    static func refuseRejected(
        _ original: Manifest, at directory: URL, replaying stage: String, execution: ExecutionOptions
    ) async throws {
        guard original.stage(stage)?.status != .succeeded,
            let (rejected, rejectedDirectory) = await rejectedRun(behind: original, at: directory),
            rejected.rejection?.stage == stage,
            let rejection = rejected.rejection
        else { return }
        let what = "run \(rejected.runID)'s \(RejectCommand.describe(rejection))"
        if execution.force || execution.dryRun {
            Terminal.printError("warning: \(execution.force ? "--force: approving" : "a dry run of") \(what)")
            return
        }
        Terminal.printError(
            "error: \(what); approving it is refused. For a new review: \(RejectCommand.newReviewCommand(for: rejected, in: rejectedDirectory)) "
                + "(or pass --force to approve the rejected one anyway)")
        throw ExitCode(ExitStatus.failed)
    }

    /// `manifest` (in `directory`), or the run it replays (and so on back), if one of them was
    /// rejected, with its directory.
    static func rejectedRun(behind manifest: Manifest, at directory: URL) async -> (Manifest, URL)? {
        var (run, directory) = (manifest, directory)
        // A chain of replays is short; the bound only guards against a loop of edited manifests.
        for _ in 0..<32 {
            if run.rejection != nil { return (run, directory) }
            guard let origin = run.replayOf else { return nil }
            directory = URL(fileURLWithPath: origin.path)
            guard let earlier = try? await BlockingIO.run({ [directory] in try Manifest.load(from: directory) }) else {
                return nil
            }
            run = earlier
        }
        return nil
    }

    /// A replay applies the rows the run recorded, not the CSV it wrote for review, nor the CSV
    /// a `sluice apply` run read: when that CSV was edited since, the person most likely meant
    /// their edits to be applied. Refuses, saying how to apply the edited file, rather than
    /// silently applying the recorded rows.
    /// A gate's review file gone (moved, deleted): its approval would be held to a review no one
    /// can read again. Refused naming the file and how to go on, rather than fail on opening it.
    static func refuseMissingReviews(of replay: SluicePipeline.Replay, running: Set<String>) async throws {
        let original = replay.original
        for record in original.stages where running.contains(record.name) && record.status == .awaitingApproval {
            guard let review = record.review else { continue }
            let url = replay.resolve(review.file.path)
            guard !(await BlockingIO.fileExists(atPath: url.path)) else { continue }
            let again = RejectCommand.newReviewCommand(for: original, in: replay.originalDirectory)
            Terminal.printError(
                "error: \(url.path), the review of stage '\(record.name)' that approving run \(original.runID) applies, "
                    + "is gone (moved or deleted); put it back, or review anew: \(again)")
            throw ExitCode(ExitStatus.failed)
        }
    }

    static func refuseEditedReviewFiles(of replay: SluicePipeline.Replay) async throws {
        let original = replay.original
        for record in original.stages.prefix(while: { $0.name != replay.stage }) {
            let read = record.kind == CSVInputStage.kindName ? record.inputs.filter { $0.kind == "csv" } : []
            for file in record.outputs.filter({ $0.kind == "csv" }) + read {
                let url = replay.resolve(file.path)
                guard let now = try? await PrivateFile.sha256(of: url), now.sha256 != file.sha256 else { continue }
                let verb = read.contains(file) ? "read" : "wrote"
                Terminal.printError(
                    """
                    error: \(url.path) was changed after run \(original.runID) \(verb) it (sha256 \(now.sha256.prefix(12))…, \
                    recorded \(file.sha256.prefix(12))…); a replay applies the rows the run recorded, not this file
                        to apply the edited file: sluice apply \(Execution.shellQuoted(original.plan.path)) \(Execution.shellQuoted(url.path))
                        to apply the recorded rows: put the file back as it was (or move it away)
                    """)
                throw ExitCode(ExitStatus.failed)
            }
        }
    }
}

extension Manifest.StageRecord {
    /// The file the csv-input stage of a `sluice apply` run read: as recorded with its hash, or,
    /// when the file failed its check (and so was not recorded), the path the stage was given.
    /// `nil` for any other stage.
    var appliedCSVPath: String? {
        guard kind == CSVInputStage.kindName else { return nil }
        return inputs.first { $0.kind == "csv" }?.path ?? parameters["path"].stringValue
    }
}
