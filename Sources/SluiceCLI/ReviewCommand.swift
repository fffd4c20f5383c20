import ArgumentParser
import Foundation
import Sluice
import SluicePipeline

struct ReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "review",
        abstract: "Print a run's review (what its apply would change) and write its HTML page again.",
        discussion: """
            A run that stops before an approval-gated apply (or a --dry-run) reviews what the apply \
            would change and writes review.csv and review.html in the run directory. This prints \
            the summary recorded in the manifest and writes review.html again from review.csv \
            (refusing a review.csv changed since), e.g. for a run made before the page existed. \
            A replay that approved a review (or replays such a run) is held to the review of the \
            run that stopped at the gate: that review is printed, and its page is left to \
            `sluice review` of that run.

              sluice review runs/20261125-101500-a1b2c3
            """)

    @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
    var run: String

    @Option(help: ArgumentHelp("The runs directory, for a bare run id.", valueName: "DIR"))
    var runsDir = "runs"

    func run() async throws {
        let (url, manifest) = try await ExecutionOptions.loadRun(run, runsDir: runsDir)
        let directory = Manifest.manifestURL(for: url).deletingLastPathComponent()
        let reviewed = manifest.stages.filter { $0.review != nil }
        guard !reviewed.isEmpty else {
            var message =
                "error: run \(manifest.runID) has no review: only a run that reached an apply's approval gate has one"
            // A dry run of the apply reviews it, from the rows recorded for it, if any were.
            let apply = manifest.stages.first { $0.kind == "apply" }
            if let origin = manifest.replayOf, origin.mode == .stage, manifest.stage(origin.stage)?.kind != "apply" {
                // A replay of one other stage (`--stage fetch`) never reaches an apply.
                message +=
                    "; it replayed stage '\(origin.stage)' alone; the review, if any, is run \(origin.runID)'s: "
                    + "sluice review \(Execution.shellQuoted(origin.path))"
            } else if let apply, let input = apply.input, manifest.stage(input)?.status == .succeeded {
                message +=
                    "; make one with: sluice replay \(Execution.shellQuoted(directory.path)) "
                    + "--from \(Execution.shellQuoted(apply.name)) --dry-run"
            } else if let file = manifest.stages.first?.appliedCSVPath {
                message +=
                    "; it stopped before its apply had rows to review: mend \(Execution.shellQuoted(file)) and run "
                    + "sluice apply \(Execution.shellQuoted(manifest.plan.path)) \(Execution.shellQuoted(file)) again"
            } else if apply != nil {
                message += "; it stopped before its apply had rows to review: run the plan again"
            }
            Terminal.printError(message)
            throw ExitCode(ExitStatus.failed)
        }
        for stage in reviewed {
            guard let review = stage.review else { continue }
            let csv = review.file.url(in: directory).standardizedFileURL
            guard csv.deletingLastPathComponent().path == directory.standardizedFileURL.path else {
                // A replay held to the review of the run it approved (or a replay of that replay):
                // the stopped run's files, not this one's.
                Terminal.printOutput(review.text, terminator: "")
                let original = csv.deletingLastPathComponent()
                Terminal.printOutput(
                    "  that review belongs to run \(original.lastPathComponent); to write its page again: "
                        + "sluice review \(Execution.shellQuoted(original.path))")
                continue
            }
            do {
                let page = try await ReviewReport.rewritePage(
                    of: review, stage: stage.name, stages: manifest.stages, directory: directory)
                Terminal.printOutput(review.text, terminator: "")
                Terminal.printOutput("  page written: \(page.path)")
                if let rejection = manifest.rejection, rejection.stage == stage.name {
                    Terminal.printOutput("  \(RejectCommand.describe(rejection))")
                }
            } catch {
                Terminal.report(error)
                throw ExitCode(ExitStatus.failed)
            }
        }
    }
}
