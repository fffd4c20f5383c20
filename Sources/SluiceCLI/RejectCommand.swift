import ArgumentParser
import Foundation
import SluiceCore
import SluicePipeline

struct RejectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject what a run stopped at its approval gate for: it will not be applied.",
        discussion: """
            Records in the run's manifest that its review (or the stage it waits for) was \
            rejected, by whom ($USER and the uid), when and why (--reason). The run is then listed as \
            rejected, and approving it (sluice replay RUN --from STAGE, sluice resume) is refused: \
            --force approves it anyway. Nothing in the database changes. For a new review, run \
            the plan again (or sluice apply an edited CSV).

              sluice reject runs/20261125-101500-a1b2c3 --reason "popularity looks stale"

            A run already approved (a replay of it that applied, or one applying it now) cannot \
            be rejected: undo that replay instead. Exit status: 0 rejected (or rejected before), \
            1 not a run waiting for approval, 64 no such run.
            """)

    @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
    var run: String

    @Option(help: ArgumentHelp("Why, recorded with the rejection.", valueName: "TEXT"))
    var reason: String?

    @Option(help: ArgumentHelp("The runs directory, for a bare run id (default: runs).", valueName: "DIR"))
    var runsDir: String?

    func run() async throws {
        let (url, manifest) = try await ExecutionOptions.loadRun(run, runsDir: runsDir)
        let directory = Manifest.manifestURL(for: url).deletingLastPathComponent().standardizedFileURL
        if let rejection = manifest.rejection {
            Terminal.printError("note: run \(manifest.runID) was rejected already: \(Self.describe(rejection))")
            return
        }
        guard manifest.status == .awaitingApproval,
            let gate = manifest.stages.firstIndex(where: { $0.status == .awaitingApproval })
        else {
            Terminal.printError(
                "error: run \(manifest.runID) is not waiting for approval (\(RunSummary.status(of: manifest))): only a "
                    + "run stopped at its approval gate can be rejected"
                    + (manifest.committedAppliesNotUndone.isEmpty
                        ? "" : "; to put back what it applied: sluice undo \(Execution.shellQuoted(directory.path))"))
            throw ExitCode(ExitStatus.failed)
        }
        try await Self.refuseApproved(manifest, in: directory)
        var rejected = manifest
        let stage = rejected.stages[gate].name
        rejected.status = .rejected
        rejected.stages[gate].status = .cancelled
        let text = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        rejected.rejection = .now(stage: stage, reason: text?.isEmpty == false ? text : nil)
        let bytes = rejected.encoded()
        let file = Manifest.manifestURL(for: url)
        do {
            try await BlockingIO.run { try PrivateFile.writeAtomicallyBlocking(bytes, to: file) }
        } catch {
            Terminal.printError("error: could not record the rejection in \(file.path): \(error)")
            throw ExitCode(ExitStatus.failed)
        }
        Terminal.printOutput(
            "run \(manifest.runID) rejected: stage '\(stage)' will not run, and approving it is refused from now on; "
                + "for a new review:\n  \(Self.newReviewCommand(for: manifest, in: directory))")
    }

    /// Refuses a run that a replay of it approved (one whose committed apply stands, or that
    /// `sluice runs` lists as its approval: ``Manifest/approvedGates(among:)``) or is approving
    /// now: rejecting it then would record what did not happen. An approval whose every change
    /// was undone since leaves the gate waiting, to approve or reject.
    static func refuseApproved(_ manifest: Manifest, in directory: URL) async throws {
        let runs = directory.deletingLastPathComponent()
        let siblings = await Manifest.loadEvery(
            in: runs, warningLeftOutOf: "the check for an approval of run \(manifest.runID) (it may be one)")
        let byID = Manifest.byRunID(siblings.map(\.manifest))
        let approval =
            Manifest.approvedGates(among: siblings.map(\.manifest)).contains(manifest.runID)
            ? Manifest.continuations(among: siblings.map(\.manifest))[manifest.runID] : nil
        // Also the resume of an approval whose process died: it approved this run as well.
        for (replay, other) in siblings where other.continues(manifest, among: byID) {
            let path = Execution.shellQuoted(replay.path)
            if other.isInProgress {
                Terminal.printError(
                    "error: run \(other.runID) is approving run \(manifest.runID) now (pid \(other.process?.pid ?? 0)); "
                        + "to stop it: kill -INT \(other.process?.pid ?? 0)")
                throw ExitCode(ExitStatus.failed)
            }
            let stands = !other.committedAppliesNotUndone.isEmpty
            guard stands || other.runID == approval?.runID else { continue }
            Terminal.printError(
                "error: run \(other.runID) approved run \(manifest.runID) already (\(RunSummary.status(of: other)))"
                    + (stands ? "; to put back what it applied: sluice undo \(path) --dry-run, then --yes" : ""))
            throw ExitCode(ExitStatus.failed)
        }
    }

    /// `by alice at 2026-12-05T14:02:11Z: popularity looks stale`.
    static func describe(_ rejection: Manifest.RejectionRecord) -> String {
        "stage '\(rejection.stage)' rejected"
            + (rejection.user.map { " by \($0)" } ?? rejection.uid.map { " by uid \($0)" } ?? "")
            + " at "
            + ISO8601DateFormatter().string(from: rejection.rejectedAt)
            + (rejection.reason.map { ": \($0)" } ?? " (no reason given)")
    }

    /// The command that makes a new review of what `manifest`'s run (in `directory`) would
    /// apply: the plan run again, or for a run of `sluice apply`, that CSV applied again; with
    /// the run's overrides (but the secret ones, recorded redacted) and its runs directory.
    static func newReviewCommand(for manifest: Manifest, in directory: URL) -> String {
        var words = ["sluice"]
        if let file = manifest.stages.first?.appliedCSVPath {
            words += ["apply", manifest.plan.path, file]
        } else {
            words += ["run", manifest.plan.path]
        }
        let secret = Set(manifest.secretOverrides)
        for override in manifest.overrides {
            let key = override.split(separator: "=", maxSplits: 1).first.map(String.init) ?? override
            if !secret.contains(key) { words += ["--set", override] }
        }
        let runs = directory.standardizedFileURL.deletingLastPathComponent().path
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.path
        if runs != cwd + "/runs" { words += ["--runs-dir", runs] }
        return words.map(Execution.shellQuoted).joined(separator: " ")
    }
}
