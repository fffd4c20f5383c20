import ArgumentParser
import Foundation
import Sluice
import SluiceCore
import SluicePipeline

extension Manifest {
    /// Every run in `runs`, oldest first. A manifest there that cannot be read is left out with
    /// a warning naming it, why, and what it is left out `of`: a run it may have been counts
    /// there (a later apply, an approval), so leaving it out in silence could mislead.
    static func loadEvery(in runs: URL, warningLeftOutOf of: String) async -> [(directory: URL, manifest: Manifest)] {
        let (all, unreadable) = (try? await BlockingIO.run { Manifest.loadEvery(in: runs) }) ?? ([], [])
        for error in unreadable { Terminal.printError("warning: \(error); left out of \(of)") }
        return all
    }

    /// The runs waiting for approval of a review that an apply to the same table committed
    /// since (one that approving it is refused for), each with the first such apply's run. A
    /// run approved since (``approvedGates(among:)``) waits for nothing.
    static func supersededReviews(among runs: [Manifest]) -> [String: String] {
        var superseded: [String: String] = [:]
        let approved = approvedGates(among: runs)
        for manifest in runs where manifest.status == .awaitingApproval && !approved.contains(manifest.runID) {
            for record in manifest.stages where record.status == .awaitingApproval {
                guard let later = Replay.supersedingApplies(of: manifest, stage: record, among: runs).first
                else { continue }
                superseded[manifest.runID] = later.runID
            }
        }
        return superseded
    }

    /// For each run that stopped, the run that went on from it (a resume, an approval, or the
    /// resume of one: ``Manifest/continues(_:among:)``), most telling first:
    /// 1. the latest that succeeded and committed a change not undone since;
    /// 2. else the latest that succeeded changing nothing (the table held it already) after
    ///    every undo of the others (of any status: an approval killed after its COMMIT, undone,
    ///    leaves the resume that found its rows written no approval): still an approval;
    /// 3. else the latest whose every change was undone since (``undoneSince``), one that
    ///    succeeded first: the run it continued is back where it stopped;
    /// 4. else the latest (a failed attempt).
    static func continuations(among runs: [Manifest]) -> [String: Manifest] {
        let byID = Manifest.byRunID(runs)
        var candidates: [String: [Manifest]] = [:]
        for manifest in runs {
            for original in manifest.continuedRuns(among: byID) {
                candidates[original.runID, default: []].append(manifest)
            }
        }
        return candidates.compactMapValues { later in
            let succeeded = later.filter { $0.status == .succeeded }
            let lastUndo = later.flatMap(\.undos).map(\.undoneAt).max()
            return succeeded.last { !$0.committedAppliesNotUndone.isEmpty }
                ?? succeeded.last { run in
                    run.committedApplies.isEmpty && lastUndo.map { (run.finishedAt ?? run.startedAt) > $0 } ?? true
                }
                ?? succeeded.last { $0.undoneSince } ?? later.last { $0.undoneSince } ?? later.last
        }
    }

    /// The runs stopped at an approval gate that a later run went on from and finished (an
    /// approval that committed, or found nothing to change): they wait for nothing, though their
    /// own status stays. An approval whose every change was undone since leaves its gate waiting
    /// again (``continuations(among:)``).
    static func approvedGates(among runs: [Manifest]) -> Set<String> {
        let continuations = continuations(among: runs)
        return Set(
            runs.filter { gate in
                guard gate.status == .awaitingApproval, let approval = continuations[gate.runID] else { return false }
                return approval.status == .succeeded && !approval.undoneSince
            }.map(\.runID))
    }

    /// The state `sluice runs` lists: the status with what is known of it
    /// (``RunSummary/status(of:)``), and for a gate, whether it was approved since or its review
    /// superseded.
    /// `inDoubt`: the run's process died while an apply ran and left its undo file
    /// (``CommitOutcome/unfinishedUndoFiles(of:in:evenUncommitted:)``): its COMMIT may have gone
    /// through, which a run killed before it changed nothing does not say.
    static func listedState(
        of run: Manifest, approved: Set<String>, superseded: [String: String], inDoubt: Bool = false
    ) -> String {
        RunSummary.status(of: run) + (inDoubt && !ApplyStage.mayHaveApplied(run) ? RunSummary.mayHaveApplied : "")
            + (approved.contains(run.runID) ? ", approved" : superseded[run.runID] != nil ? ", superseded" : "")
    }
}

struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List runs (id, plan, command, status, started, duration, rows, link), or show one.",
        subcommands: [List.self, Show.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the runs in the runs directory, oldest first.")

        @Option(help: ArgumentHelp("The runs directory.", valueName: "DIR"))
        var runsDir = "runs"

        @Flag(help: "Print the list as a JSON array on stdout, one object per run.")
        var json = false

        func run() async throws {
            let directory = URL(fileURLWithPath: runsDir)
            guard await BlockingIO.fileExists(atPath: directory.path) else {
                Terminal.printError(
                    "error: no runs directory \(runsDir)/ (runs are written to --runs-dir, default runs/)")
                throw ExitCode(ExitStatus.failed)
            }
            let runs = await Manifest.loadEvery(in: directory, warningLeftOutOf: "the list")
            let superseded = Manifest.supersededReviews(among: runs.map(\.manifest))
            let approved = Manifest.approvedGates(among: runs.map(\.manifest))
            var inDoubt = Set<String>()
            for (directory, manifest) in runs
            where await !CommitOutcome.unfinishedUndoFiles(of: manifest, in: directory).isEmpty {
                inDoubt.insert(manifest.runID)
            }
            if json {
                let continuedBy = Manifest.continuations(among: runs.map(\.manifest))
                let listed = runs.map {
                    Self.json(
                        $0.manifest, directory: $0.directory, continuedBy: continuedBy, approved: approved,
                        superseded: superseded, inDoubt: inDoubt.contains($0.manifest.runID))
                }
                Terminal.printJSON(JSON.encodePretty(.array(listed)))
                return
            }
            guard !runs.isEmpty else {
                Terminal.printError("no runs in \(runsDir)/")
                return
            }
            // The links between runs go last, so that the columns before them line up.
            var rows = [["run", "plan", "command", "status", "started", "duration", "rows", "link"]]
            let formatter = ISO8601DateFormatter()
            let continuedBy = Manifest.continuations(among: runs.map(\.manifest))
            for (_, manifest) in runs {
                let source = manifest.stages.first { $0.status != .skipped } ?? manifest.stages.first
                var link = manifest.replayOf.map { "\($0.resumed ? "resume" : "replay") of \($0.runID)" } ?? ""
                if manifest.status != .succeeded, let later = continuedBy[manifest.runID] {
                    link +=
                        (link.isEmpty ? "" : "; ") + "continued by \(later.runID)"
                        + (later.undoneSince ? " (undone since)" : "")
                }
                if let later = superseded[manifest.runID] {
                    link += (link.isEmpty ? "" : "; ") + "review superseded by \(later)"
                }
                rows.append([
                    manifest.runID, manifest.plan.name, Self.command(of: manifest),
                    Manifest.listedState(
                        of: manifest, approved: approved, superseded: superseded,
                        inDoubt: inDoubt.contains(manifest.runID)),
                    formatter.string(from: manifest.startedAt),
                    manifest.duration.map { RunSummary.format(seconds: $0) } ?? "-",
                    // The rows the run started from: what its first stage read (a replayed apply)
                    // or, for a source stage, produced.
                    source.map { "\($0.input != nil ? $0.rowsIn : $0.rowsOut)" } ?? "-", link,
                ])
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                Terminal.printOutput(
                    zip(row, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }
                        .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
            }
        }

        /// One run of `runs --json`: what the table's columns show, as values.
        static func json(
            _ manifest: Manifest, directory: URL, continuedBy: [String: Manifest], approved: Set<String> = [],
            superseded: [String: String] = [:], inDoubt: Bool = false
        ) -> Value {
            let supersededBy = superseded[manifest.runID]
            let source = manifest.stages.first { $0.status != .skipped } ?? manifest.stages.first
            let continued = manifest.status != .succeeded ? continuedBy[manifest.runID] : nil
            return .object([
                "run_id": .string(manifest.runID), "plan": .string(manifest.plan.name),
                "command": .string(command(of: manifest)), "status": .string(manifest.status.rawValue),
                "state": .string(
                    Manifest.listedState(
                        of: manifest, approved: approved, superseded: superseded, inDoubt: inDoubt)),
                "superseded_by": supersededBy.map(Value.string) ?? .null,
                "exit_code": .int(Int64(Execution.exitStatus(for: manifest))),
                "started_at": .string(Manifest.format(manifest.startedAt)),
                "finished_at": manifest.finishedAt.map { .string(Manifest.format($0)) } ?? .null,
                "duration_seconds": manifest.duration.map { .double(($0 * 1000).rounded() / 1000) } ?? .null,
                "rows": source.map { .int(Int64($0.input != nil ? $0.rowsIn : $0.rowsOut)) } ?? .null,
                "replay_of": manifest.replayOf.map { .string($0.runID) } ?? .null,
                "continued_by": continued.map { .string($0.runID) } ?? .null,
                "continuation_undone": continued.map { .bool($0.undoneSince) } ?? .null,
                "directory": .string(directory.standardizedFileURL.path),
            ])
        }

        /// The command that made the run: `run` (a plan), `apply` (`sluice apply FILE.csv`, whose
        /// run reads the file in a `csv-input` stage), `replay` or `resume`.
        static func command(of manifest: Manifest) -> String {
            if let origin = manifest.replayOf { return origin.resumed ? "resume" : "replay" }
            return manifest.stages.contains { $0.kind == "csv-input" } ? "apply" : "run"
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one run's stages, counters, files and errors.")

        @Argument(help: "The run directory (or its manifest.json), or a run id in the runs directory.")
        var run: String

        @Option(help: ArgumentHelp("The runs directory, for a bare run id.", valueName: "DIR"))
        var runsDir = "runs"

        @Flag(help: "Print the run as JSON on stdout: its directory, exit code, state and manifest.")
        var json = false

        func run() async throws {
            let url = try await ExecutionOptions.existingRunURL(run, runsDir: runsDir == "runs" ? nil : runsDir)
            do {
                let manifest = try await BlockingIO.run { try Manifest.load(from: url) }
                let directory = Manifest.manifestURL(for: url).deletingLastPathComponent()
                var summary = RunSummary(manifest: manifest, directory: directory)
                summary.unfinishedUndoFiles = await CommitOutcome.unfinishedUndoFiles(of: manifest, in: directory)
                summary.answersGone = await RunSummary.missingAnswers(of: manifest, in: directory)
                summary.earlierCommit = await RunSummary.earlierCommit(of: manifest)
                if manifest.status != .succeeded {
                    // Its siblings say whether a later run went on from it, approved its gate, or
                    // superseded its review: the state `sluice runs` lists.
                    let siblings = await Manifest.loadEvery(
                        in: directory.deletingLastPathComponent(),
                        warningLeftOutOf: "the runs that say whether this one was continued, approved or superseded")
                    let runs = siblings.map(\.manifest)
                    let superseded = Manifest.supersededReviews(among: runs)
                    summary.state = Manifest.listedState(
                        of: manifest, approved: Manifest.approvedGates(among: runs), superseded: superseded,
                        inDoubt: !summary.unfinishedUndoFiles.isEmpty)
                    summary.supersededBy = superseded[manifest.runID]
                    let continuation = Manifest.continuations(among: runs)[manifest.runID]
                    summary.continuedBy = continuation?.runID
                    summary.continuationUndone = continuation?.undoneSince ?? false
                }
                if json {
                    Terminal.printJSON(
                        JSON.encodePretty(Execution.runJSON(manifest, directory: directory, state: summary.state)))
                    return
                }
                Terminal.printOutput(summary.text, terminator: "")
            } catch {
                Terminal.report(error)
                throw ExitCode(ExitStatus.failed)
            }
        }
    }
}
