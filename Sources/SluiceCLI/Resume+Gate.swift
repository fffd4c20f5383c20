import ArgumentParser
import Foundation
import Sluice
import SluicePipeline

extension Resume {
    /// A run stopped at its approval gate is continued by approving it, which resume does not
    /// give: it prints the approval's command and exits as the stop did. Not when the runs beside
    /// it say otherwise (as `sluice runs` lists it): approved since, it has nothing left to do
    /// (exit 0); its review superseded by an apply to the table since, that command would be
    /// refused, so it says why, as the approval would, and what to do instead (exit 1).
    static func stoppedAtTheGate(_ original: Manifest, at runURL: URL) async throws {
        let runs = await Manifest.loadEvery(
            in: Manifest.manifestURL(for: runURL).deletingLastPathComponent().deletingLastPathComponent(),
            warningLeftOutOf: "the runs that say whether run \(original.runID) was approved or superseded since"
        ).map(\.manifest)
        if Manifest.approvedGates(among: runs).contains(original.runID),
            let approval = Manifest.continuations(among: runs)[original.runID]
        {
            noteNothingLeft(of: original, continuedBy: approval)
            return
        }
        let approve = original.resumeCommand
        for record in original.stages where record.status == .awaitingApproval {
            let later = Replay.supersedingApplies(of: original, stage: record, among: runs)
            guard !later.isEmpty else { continue }
            Terminal.printError(
                "error: run \(original.runID) stopped at a gate, and approving it is refused: "
                    + Replay.supersededReview(record, by: later) + (approve.map { " (\($0) --force)" } ?? ""))
            throw ExitCode(ExitStatus.failed)
        }
        Terminal.printError(
            "note: run \(original.runID) stopped at a gate and waits for approval; to go on\(approve.map { ": \($0)" } ?? "")"
        )
        throw ExitCode(ExitStatus.awaitingApproval)
    }

    /// Says that `later` went on from `original` and succeeded, so resuming it would do nothing.
    static func noteNothingLeft(of original: Manifest, continuedBy later: Manifest) {
        Terminal.printError(
            "note: run \(later.runID) already continued run \(original.runID) and succeeded: there is nothing to resume"
        )
    }
}
