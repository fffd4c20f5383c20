import Foundation
import Logging
import SluiceCore

/// One stage's run inside its segment's task group: marks it running, runs it, closes its
/// spool and channels, and records how it ended.
struct StageExecution: Sendable {
    let spec: StageSpec
    let context: StageContext
    let input: StageInput?
    /// The channel `input` reads, when it reads one: released when the stage ends so that its
    /// producer never waits on a consumer that is gone.
    let inputChannel: BoundedChannel<Batch>?
    /// The recorded spool `input` reads, for the manifest's `inputs`.
    let inputArtifact: Manifest.Artifact?
    let outputChannels: [BoundedChannel<Batch>]
    let spoolURL: URL
    let recorder: ManifestRecorder
    let latch: FailureLatch
    let configuration: RunConfiguration
    let runDirectory: URL

    /// - Returns: how the stage ended, for the segment's task group.
    func run() async -> StageStatus {
        let name = spec.name
        let logger = context.logger
        await recorder.updateStage(name) { record, _ in
            record.status = .running
            record.startedAt = ManifestRecorder.normalized(configuration.now())
            if let inputArtifact { record.inputs = [inputArtifact] }
        }
        context.progress.setStatus(.running)
        logger.info("stage started", metadata: ["stage.kind": "\(spec.stage.kind)"])

        var failure: (any Error)?
        var output: StageOutput?
        do {
            let out = StageOutput(
                stageName: name, spool: try SpoolWriter(at: spoolURL), channels: outputChannels,
                progress: context.progress)
            output = out
            context.whenCommitted { await recordCommitted(output: out) }
            try await spec.stage.run(context, input: input, output: out)
            // A stage that returns after the run was cancelled may have seen only part of its
            // input, unless what it did is final once it returns (an apply that committed).
            if !(spec.stage is any FinalOnReturnStage) { try Task.checkCancellation() }
        } catch {
            failure = error
        }
        inputChannel?.stopReceiving()

        var status = failure.map(classify) ?? .succeeded
        var spool: (summary: PrivateFileWriter.Summary, rows: Int)?
        let channelError = failure.map { _ in UpstreamStageError(stage: name, status: status) }
        do {
            spool = try await output?.closeSpool()
        } catch {
            // The spool could not be completed: a failure of this stage even if it ran well.
            if failure == nil {
                failure = error
                status = classify(error)
            }
        }
        context.progress.setStatus(status)
        // Record first, then end the channels: a consumer that sees the end of its input (verify
        // reading apply's counters) finds this stage's record complete.
        await record(status: status, failure: failure, spool: spool)
        let endError = failure == nil ? nil : channelError ?? UpstreamStageError(stage: name, status: status)
        for channel in outputChannels { channel.finish(throwing: endError) }
        logger.info(
            "stage finished",
            metadata: [
                "stage.status": "\(status.rawValue)", "rows.in": "\(context.progress.rowsIn)",
                "rows.out": "\(context.progress.rowsOut)",
            ])
        return status
    }

    /// A failure is this stage's own only when the run was not already cancelled or failing.
    private func classify(_ error: any Error) -> StageStatus {
        if Task.isCancelled { return .cancelled }
        return latch.claim(spec.name) ? .failed : .cancelled
    }

    private func record(
        status: StageStatus, failure: (any Error)?, spool: (summary: PrivateFileWriter.Summary, rows: Int)?
    ) async {
        let progress = context.progress
        let counters = context.counters.snapshot
        let notices = context.notices
        var outputs: [Manifest.Artifact] = []
        if let spool, spool.rows == 0, status == .succeeded, let recorded = context.recordedSpool {
            // Its rows are an earlier run's spool: linked in place of the empty one, so that this
            // run keeps them whatever becomes of the earlier one; named where it is if it cannot be.
            let (own, earlier) = (spool.summary.url, recorded.url.standardizedFileURL)
            let linked =
                (try? await BlockingIO.run { unlink(own.path) == 0 && link(earlier.path, own.path) == 0 }) ?? false
            outputs.append(
                Manifest.Artifact(
                    kind: recorded.kind,
                    path: linked ? RunDirectory.relativePath(of: own, in: runDirectory) : earlier.path,
                    sha256: recorded.sha256, rows: recorded.rows))
        } else if let spool {
            outputs.append(spoolArtifact(spool))
        }
        outputs += registeredArtifacts
        // Files a source stage read (its own input, not a spool), after the recorded spool if any.
        let readFiles = context.inputs.map { artifact in
            Manifest.Artifact(
                kind: artifact.kind, path: RunDirectory.relativePath(of: artifact.url, in: runDirectory),
                sha256: artifact.sha256, rows: artifact.rows)
        }
        let notBefore = status == .succeeded ? nil : context.notBefore.map(ManifestRecorder.normalized)
        var errorRecord = status == .failed ? failure.map { Self.errorRecord($0, now: configuration.now()) } : nil
        errorRecord?.stage = spec.name
        await recorder.updateStage(spec.name) { record, manifest in
            record.status = status
            record.finishedAt = ManifestRecorder.normalized(configuration.now())
            record.waitedForInputMilliseconds = progress.waitedForInput.map { Int(($0.seconds * 1000).rounded()) }
            record.rowsIn = progress.rowsIn
            record.rowsOut = progress.rowsOut
            record.rowsRejected = progress.rowsRejected
            record.counters = counters
            record.outputs = outputs
            if !readFiles.isEmpty { record.inputs = (inputArtifact.map { [$0] } ?? []) + readFiles }
            record.error = errorRecord
            record.notBefore = notBefore
            manifest.notices.append(contentsOf: notices.map(SecretRegistry.masking))
            if let errorRecord {
                manifest.error = errorRecord
                if errorRecord.resumable {
                    // Once a stage that needed approval (an apply) has done its work, continuing
                    // means this stage and the rest, not the run again from its start.
                    let approvedDone = manifest.stages.contains {
                        $0.requiresApproval && $0.status == .succeeded && $0.name != spec.name
                    }
                    manifest.resumeCommand =
                        approvedDone
                        ? configuration.continueCommand(runDirectory, spec.name)
                        : configuration.resumeCommand?(runDirectory)
                            ?? configuration.continueCommand(runDirectory, spec.name)
                }
            }
        }
    }

    /// The stage's spool as its record names it.
    private func spoolArtifact(_ spool: (summary: PrivateFileWriter.Summary, rows: Int)) -> Manifest.Artifact {
        Manifest.Artifact(
            kind: Manifest.Artifact.spoolKind, path: RunDirectory.relativePath(of: spool.summary.url, in: runDirectory),
            sha256: spool.summary.sha256, rows: spool.rows)
    }

    /// The files the stage registered so far, as its record names them.
    private var registeredArtifacts: [Manifest.Artifact] {
        context.artifacts.map { artifact in
            Manifest.Artifact(
                kind: artifact.kind, path: RunDirectory.relativePath(of: artifact.url, in: runDirectory),
                sha256: artifact.sha256, rows: artifact.rows)
        }
    }

    /// ``StageContext/recordCommitted()``: the stage's record as it stands, its spool closed, with
    /// `committed_at`, written before the stage goes on. Its status, its end and its notices are
    /// left to its end (``record(status:failure:spool:)``), which writes the rest.
    private func recordCommitted(output: StageOutput) async {
        // A spool that cannot be closed fails the stage at its end, as it would have.
        let spool = try? await output.closeSpool()
        let progress = context.progress
        let counters = context.counters.snapshot
        let outputs = (spool.flatMap { $0 }.map { [spoolArtifact($0)] } ?? []) + registeredArtifacts
        await recorder.updateStage(spec.name) { record, _ in
            record.committedAt = ManifestRecorder.normalized(configuration.now())
            record.rowsIn = progress.rowsIn
            record.rowsOut = progress.rowsOut
            record.rowsRejected = progress.rowsRejected
            record.counters = counters
            record.outputs = outputs
        }
    }

    static func errorRecord(_ error: any Error, now: Date) -> Manifest.ErrorRecord {
        let message = String(describing: error)
        let detail = String(reflecting: error)
        let resumable = (error as? any ResumableError)?.isResumable ?? false
        let wait = resumable ? (error as? any ResumableError)?.resumableAfter : nil
        return Manifest.ErrorRecord(
            message: message, detail: detail == message ? nil : detail, resumable: resumable,
            notBefore: wait.map { now.addingTimeInterval($0.seconds) })
    }
}
