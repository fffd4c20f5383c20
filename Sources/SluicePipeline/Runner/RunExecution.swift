import Foundation
import Logging
import SluiceCore

/// Runs a laid-out run segment by segment: each segment is one task group with one child task
/// per stage (plus the progress reporter), its stages connected by bounded channels.
struct RunExecution: Sendable {
    /// How the run ended.
    enum Ending: Sendable {
        case succeeded
        case failed
        case interrupted
        /// Stopped before this stage, whose approval was not given.
        case awaitingApproval(String)
    }

    let layout: RunLayout
    let configuration: RunConfiguration
    let recorder: ManifestRecorder
    let runID: String
    let directory: URL
    let startedAt: Date
    let logger: Logger
    let latch = FailureLatch()

    func run() async -> Ending {
        guard await preflight() else { return Task.isCancelled ? .interrupted : .failed }
        for segment in layout.segments {
            if Task.isCancelled { return .interrupted }
            let first = layout.specs[segment[0]]
            if let reason = recorder.writeError {
                // A stage behind a gate changes things (apply): never without a record of it.
                return await refuse(first.name, because: reason)
            }
            if first.requiresApproval {
                if let replay = configuration.replay, replay.original.stage(first.name)?.review != nil,
                    parametersChangedSinceReview(first)
                {
                    let notice =
                        "stage '\(first.name)' is reviewed anew: its parameters differ from those run "
                        + "\(replay.original.runID) reviewed, so that review no longer shows what it would do"
                    logger.notice("\(notice)")
                    await recorder.update { manifest in manifest.notices.append(notice) }
                }
                var nothingToApprove = false
                if let reviewing = first.stage as? any ReviewingStage, !reviewsWhileRunning(first) {
                    guard let reviewed = await review(first, reviewing) else {
                        return Task.isCancelled ? .interrupted : .failed
                    }
                    nothingToApprove = reviewed.changesNothing
                }
                if nothingToApprove {
                    // Nobody need approve a change that changes nothing: the run goes on, and the
                    // stage, held to that review, writes nothing.
                    let notice =
                        "stage '\(first.name)': the review finds nothing to change, so there is nothing to approve"
                    logger.notice("\(notice)")
                    await recorder.update { manifest in manifest.notices.append(notice) }
                }
                let approved = nothingToApprove ? true : await approve(first.name)
                // A prompt interrupted by a signal is an interruption, whatever it answered.
                if Task.isCancelled { return .interrupted }
                guard approved else { return .awaitingApproval(first.name) }
            }
            // Gated stages streaming beside their upstream (approved before the run started).
            for index in segment.dropFirst() where layout.specs[index].requiresApproval {
                _ = await approve(layout.specs[index].name)
            }
            let ending = await runSegment(segment)
            guard case .succeeded = ending else { return ending }
        }
        return .succeeded
    }

    /// Checks the stages that run after others (``PreflightingStage``) before anything runs,
    /// side by side (each on its own connection); returns false (the first failure in stage
    /// order recorded on its stage) when one would fail. A stage in the first segment starts at
    /// once: it finds out as soon, unless one there would find out only after the stages ahead
    /// of it changed something (``PreflightingStage/preflightsInFirstSegment``): then every
    /// stage of that segment is checked first, so that the cause (an apply's missing column)
    /// is named before what it causes (a verify query on that column).
    private func preflight() async -> Bool {
        let first = layout.segments.first ?? []
        let firstToo = first.contains {
            (layout.specs[$0].stage as? any PreflightingStage)?.preflightsInFirstSegment == true
        }
        let checked = (firstToo ? layout.segments : Array(layout.segments.dropFirst())).flatMap { $0 }.compactMap {
            index -> (StageSpec, any PreflightingStage)? in
            let spec = layout.specs[index]
            return (spec.stage as? any PreflightingStage).map { (spec, $0) }
        }
        guard !checked.isEmpty else { return true }
        let failures = await withTaskGroup(of: (Int, (any Error)?).self) { group in
            for (order, (spec, stage)) in checked.enumerated() {
                let context = StageContext(
                    stageName: spec.name, stageKind: spec.stage.kind, runID: runID, runDirectory: directory,
                    runStartedAt: startedAt, logger: logger, hasInput: spec.input != nil,
                    finishedStage: { recorder.finishedStage($0) }, now: configuration.now)
                group.addTask {
                    do {
                        try await stage.preflight(context)
                        return (order, nil)
                    } catch {
                        return (order, error)
                    }
                }
            }
            var failures: [(Int, any Error)] = []
            for await (order, error) in group { if let error { failures.append((order, error)) } }
            return failures
        }
        guard let (order, error) = failures.min(by: { $0.0 < $1.0 }) else { return true }
        let name = checked[order].0.name
        var record = StageExecution.errorRecord(error, now: configuration.now())
        record.stage = name
        let failed = record
        logger.error("preflight failed", metadata: ["stage.name": "\(name)", "error": "\(failed.message)"])
        await recorder.updateStage(name) { stage, manifest in
            stage.status = Task.isCancelled ? .cancelled : .failed
            stage.error = failed
            manifest.error = failed
        }
        return false
    }

    /// Fails the run before `stage` starts: the manifest cannot be written.
    private func refuse(_ stage: String, because reason: String) async -> Ending {
        let message = "the run's manifest cannot be written (\(reason)): not starting stage '\(stage)' without a record"
        logger.error("run stopped", metadata: ["stage.name": "\(stage)", "error": "\(message)"])
        await recorder.update { manifest in manifest.error = Manifest.ErrorRecord(message: message) }
        return .failed
    }

    /// Whether a gated reviewing stage reviews while it runs instead of at its gate: approval is
    /// given before the run reaches it (`--yes`) and no person saw an earlier review of this
    /// input, so the review and the change are made in one transaction.
    private func reviewsWhileRunning(_ spec: StageSpec) -> Bool {
        guard case .granted = configuration.approval, spec.stage is any ReviewingStage else { return false }
        return originalReview(of: spec) == nil
    }

    /// The review a person saw at a gate, when this is a replay on the same input (its paths
    /// made absolute): this replay is its approval, and the stage is held to it. That is the
    /// review of the gate the original run stopped at, or the one the original (a replay held to
    /// it, then interrupted or failed: its transaction rolled back) was held to, so resuming an
    /// approval stays held to what the person saw. (A stage that succeeded since is reviewed
    /// anew, and so is one reviewed in its own transaction: no person saw that review first.)
    private func originalReview(of spec: StageSpec) -> Manifest.Review? {
        let (_, artifact) = inputSource(for: spec)
        guard let replay = configuration.replay, let stopped = replay.original.stage(spec.name),
            var original = stopped.review, original.inputSHA256 != nil, original.inputSHA256 == artifact?.sha256
        else { return nil }
        let atItsGate = stopped.status == .awaitingApproval
        let heldAndStopped =
            (stopped.status == .cancelled || stopped.status == .failed) && original.runID != replay.original.runID
        guard atItsGate || heldAndStopped, !parametersChangedSinceReview(spec) else { return nil }
        original.file.path = replay.resolve(original.file.path).standardizedFileURL.path
        original.files = original.files.map { file in
            var file = file
            file.path = replay.resolve(file.path).standardizedFileURL.path
            return file
        }
        return original
    }

    /// Whether this replay's `spec` writes otherwise than the stage the original run recorded
    /// (`--set` changed what decides its review): the review then no longer shows what it
    /// would do.
    private func parametersChangedSinceReview(_ spec: StageSpec) -> Bool {
        guard let replay = configuration.replay, let recorded = replay.original.stage(spec.name),
            let reviewing = spec.stage as? any ReviewingStage
        else { return false }
        return reviewing.reviewedParameters(spec.stage.parameters) != reviewing.reviewedParameters(recorded.parameters)
    }

    /// Records the review of a gated stage: the original run's, for a replay on the same input,
    /// else a new one, and returns it; `nil` (the failure recorded) when the review fails.
    private func review(_ spec: StageSpec, _ stage: any ReviewingStage) async -> Manifest.Review? {
        let (source, artifact) = inputSource(for: spec)
        var review: Manifest.Review
        if let original = originalReview(of: spec) {
            review = original
        } else {
            let context = StageContext(
                stageName: spec.name, stageKind: spec.stage.kind, runID: runID, runDirectory: directory,
                runStartedAt: startedAt, logger: logger, hasInput: true,
                finishedStage: { recorder.finishedStage($0) }, now: configuration.now)
            let earlier = layout.specs.prefix { $0.name != spec.name }.compactMap { recorder.finishedStage($0.name) }
            let upstream = spec.input
            do {
                review = try await stage.review(
                    context, input: StageInput(upstream: upstream, source: source, progress: nil), earlier: earlier)
            } catch {
                // Interrupted (Ctrl-C): cancelled as a stage is, no error of its own to report.
                let cancelled = Task.isCancelled || error is CancellationError
                var record = cancelled ? nil : StageExecution.errorRecord(error, now: configuration.now())
                record?.stage = spec.name
                let failed = record
                if let failed {
                    logger.error(
                        "review failed", metadata: ["stage.name": "\(spec.name)", "error": "\(failed.message)"])
                }
                await recorder.updateStage(spec.name) { stage, manifest in
                    stage.status = cancelled ? .cancelled : .failed
                    stage.error = failed
                    if let failed { manifest.error = failed }
                    manifest.notices.append(contentsOf: context.notices)
                }
                return nil
            }
            review = recordable(review, input: artifact)
            let notices = context.notices
            await recorder.update { manifest in manifest.notices.append(contentsOf: notices) }
        }
        let recorded = review
        await recorder.updateStage(spec.name) { stage, _ in stage.review = recorded }
        configuration.onReview?(spec.name, recorded)
        return recorded
    }

    /// A new review as the manifest records it: pinned to the input it read and this run, its
    /// paths relative to the run directory.
    private func recordable(_ review: Manifest.Review, input: Manifest.Artifact?) -> Manifest.Review {
        var review = review
        review.inputSHA256 = input?.sha256
        review.runID = runID
        review.reviewedAt = ManifestRecorder.normalized(review.reviewedAt)
        review.file.path = RunDirectory.relativePath(of: URL(fileURLWithPath: review.file.path), in: directory)
        review.files = review.files.map { file in
            var file = file
            file.path = RunDirectory.relativePath(of: URL(fileURLWithPath: file.path), in: directory)
            return file
        }
        return review
    }

    private func approve(_ stage: String) async -> Bool {
        let approved: Bool
        switch configuration.approval {
        case .granted: approved = true
        case .denied: approved = false
        case .ask(let ask): approved = await ask(stage)
        }
        logger.info(
            approved ? "approval given" : "approval not given",
            metadata: ["stage.name": "\(stage)"])
        return approved
    }

    private func runSegment(_ indices: [Int]) async -> Ending {
        let specs = indices.map { layout.specs[$0] }
        let names = Set(specs.map(\.name))
        var inputChannels: [String: BoundedChannel<Batch>] = [:]
        var outputChannels: [String: [BoundedChannel<Batch>]] = [:]
        for spec in specs {
            guard let input = spec.input, names.contains(input) else { continue }
            let channel = BoundedChannel<Batch>(capacity: spec.bufferSize ?? configuration.defaultBufferSize)
            inputChannels[spec.name] = channel
            outputChannels[input, default: []].append(channel)
        }
        let executions = specs.map { spec in
            makeExecution(spec, inputChannel: inputChannels[spec.name], outputChannels: outputChannels[spec.name] ?? [])
        }
        let reporter = ProgressReporter(
            stages: executions.map(\.context.progress), mode: configuration.progress, write: configuration.progressWrite
        )

        // The reporter beside the stages' own group, so that a failure cancelling the stages
        // does not stop it before they have ended: its last line is their final state.
        let statuses = await withTaskGroup(of: [StageStatus]?.self) { outer in
            outer.addTask {
                await withTaskGroup(of: StageStatus.self) { group in
                    for execution in executions {
                        group.addTask { await execution.run() }
                    }
                    var statuses: [StageStatus] = []
                    for await status in group {
                        statuses.append(status)
                        // One stage failing (or being cancelled) stops every other one.
                        if status != .succeeded { group.cancelAll() }
                    }
                    return statuses
                }
            }
            if let reporter {
                outer.addTask {
                    await reporter.run()
                    return nil
                }
            }
            var statuses: [StageStatus] = []
            while let next = await outer.next() {
                guard let next else { continue }
                statuses = next
                // Stops the progress reporter, which draws its last state.
                outer.cancelAll()
            }
            return statuses
        }
        await recordChannelInputs(of: specs, within: names)
        if latch.stage != nil { return .failed }
        // A cancellation that arrives after every stage finished leaves the segment succeeded;
        // `run` sees it before starting the next segment.
        if statuses.contains(where: { $0 != .succeeded }) { return .interrupted }
        return .succeeded
    }

    private func makeExecution(
        _ spec: StageSpec, inputChannel: BoundedChannel<Batch>?, outputChannels: [BoundedChannel<Batch>]
    ) -> StageExecution {
        let recorder = recorder
        // The review recorded at its gate, paths made absolute.
        let review = recorder.manifest.stage(spec.name)?.review.map { review in
            var review = review
            review.file.path = resolve(review.file.path).path
            review.files = review.files.map { file in
                var file = file
                file.path = resolve(file.path).path
                return file
            }
            return review
        }
        var reviewWhileRunning: StageContext.ReviewWhileRunning?
        if spec.requiresApproval, review == nil, reviewsWhileRunning(spec) {
            let before = layout.specs.prefix { $0.name != spec.name }.map(\.name)
            let (_, artifact) = inputSource(for: spec)
            let execution = self
            let upstream = spec.input
            let earlier: @Sendable () -> [Manifest.StageRecord] = {
                before.compactMap { recorder.finishedStage($0) }
            }
            reviewWhileRunning = StageContext.ReviewWhileRunning(earlier: earlier) { review in
                // Streaming beside its upstream, the stage reviews after reading all of its input,
                // and the upstream records its spool before it ends that input.
                let input = artifact ?? upstream.flatMap { recorder.manifest.stage($0)?.spool }
                let recorded = execution.recordable(review, input: input)
                await recorder.updateStage(spec.name) { stage, _ in stage.review = recorded }
            }
        }
        let context = StageContext(
            stageName: spec.name, stageKind: spec.stage.kind, runID: runID, runDirectory: directory,
            runStartedAt: startedAt, logger: logger, hasInput: spec.input != nil, upstream: spec.input,
            finishedStage: { recorder.finishedStage($0) }, now: configuration.now, review: review,
            reviewWhileRunning: reviewWhileRunning)
        var input: StageInput?
        var inputArtifact: Manifest.Artifact?
        if let upstream = spec.input {
            let source: StageInput.Source
            if let inputChannel {
                source = .channel(inputChannel)
            } else {
                (source, inputArtifact) = inputSource(for: spec)
            }
            input = StageInput(upstream: upstream, source: source, progress: context.progress)
        }
        return StageExecution(
            spec: spec, context: context, input: input, inputChannel: inputChannel, inputArtifact: inputArtifact,
            outputChannels: outputChannels, spoolURL: spoolURL(spec.name), recorder: recorder, latch: latch,
            configuration: configuration, runDirectory: directory)
    }

    /// Where a stage that reads no channel gets its input: a replay's recorded spool, or the
    /// spool of a stage of an earlier segment (behind an approval gate).
    private func inputSource(for spec: StageSpec) -> (StageInput.Source, Manifest.Artifact?) {
        guard let upstream = spec.input else { return (.batches([]), nil) }
        if let recorded = layout.recordedInputs[spec.name] {
            // A replay: the original run's output, checked before the run started.
            return (.spool(recorded.url, sha256: recorded.artifact.sha256), recorded.artifact)
        } else if let spool = recorder.manifest.stage(upstream)?.spool {
            return (.spool(resolve(spool.path), sha256: spool.sha256), spool)
        } else {
            // Cannot happen (an earlier segment succeeded, so its spools are recorded); should
            // it, reading the expected file fails the stage with a clear file error.
            return (.spool(spoolURL(upstream), sha256: nil), nil)
        }
    }

    /// Records, as `inputs`, the spool of the upstream of each stage that read a channel.
    private func recordChannelInputs(of specs: [StageSpec], within names: Set<String>) async {
        await recorder.update { manifest in
            for spec in specs {
                guard let upstream = spec.input, names.contains(upstream),
                    let spool = manifest.stage(upstream)?.spool,
                    let index = manifest.stages.firstIndex(where: { $0.name == spec.name }),
                    manifest.stages[index].status != .pending
                else { continue }
                manifest.stages[index].inputs = [spool]
            }
        }
    }

    func spoolURL(_ stage: String) -> URL {
        directory.appendingPathComponent(RunFileNames.spool(stage: stage))
    }

    private func resolve(_ path: String) -> URL {
        Manifest.resolve(path, in: directory)
    }
}
