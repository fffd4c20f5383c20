import Foundation
import Sluice
import SluiceCore
import SluicePipeline

/// What a person reads after a run (and in `sluice runs show`): how it ended, each stage's
/// figures, the files it wrote, notices, the error, and what to type next.
struct RunSummary {
    var manifest: Manifest
    var directory: URL
    /// Lines of the error already printed on stderr as they were found (a file's located
    /// problems): left out of the error here, which says they are above. `sluice runs show`
    /// prints the whole error.
    var shown: Set<String> = []
    /// The stages whose review was printed with their approval prompt: named here, not
    /// printed again. `sluice runs show` prints every review.
    var reviewsShown: Set<String> = []
    /// The answers files the manifest records that are no longer in the run's directory
    /// (``missingAnswers(of:in:)``): a resume asks the API again for what they held.
    var answersGone = false
    /// The latest run that went on from this one (a resume, an approval), when `sluice runs
    /// show` found one: said in place of the command that would continue it again.
    var continuedBy: String?
    /// The run in ``continuedBy`` committed changes and all were undone since: this one is back
    /// where it stopped.
    var continuationUndone = false
    /// The state as `sluice runs` lists it, when `sluice runs show` read the runs beside this
    /// one (``Manifest/listedState(of:approved:superseded:)``); else the manifest's own.
    var state: String?
    /// The run whose apply superseded this gate's review, when `sluice runs show` found one:
    /// approving it would be refused.
    var supersededBy: String?
    /// The apply stages of a run whose process died while they ran that left an undo file in its
    /// directory (`sluice runs show` looks): their COMMIT may have gone through.
    var unfinishedUndoFiles: [String] = []
    /// For a resume (or replay) that ran from after an apply and failed, the run whose apply
    /// committed what it checked, not undone since (``earlierCommit(of:)``).
    var earlierCommit: EarlierCommit?

    /// An apply of an earlier run, committed and not undone, that a later run checked again.
    struct EarlierCommit {
        var manifest: Manifest
        var directory: URL
        var stage: String
    }

    var text: String {
        var out = headline + "\n"
        // What the run changed of its plan: `--set on_drift=skip` shows in its behaviour only.
        // (A secret given in clear is recorded redacted.)
        if !manifest.overrides.isEmpty {
            out +=
                "overrides: " + manifest.overrides.map { "--set \(Execution.shellQuoted($0))" }.joined(separator: " ")
                + "\n"
        }
        out += stageTable
        let files = manifest.stages.flatMap { stage in
            stage.outputs.filter { $0.kind != Manifest.Artifact.spoolKind }.map { (stage.name, $0) }
        }
        if !files.isEmpty {
            out += "files:\n"
            for (stage, file) in files {
                out +=
                    "  \(stage) \(file.kind): \(display(file.path)) (\(file.rows.counted("row")), sha256 \(file.sha256.prefix(12))…)\n"
            }
        }
        let counters = manifest.stages.filter { !$0.counters.isEmpty && $0.status != .skipped }
        if !counters.isEmpty {
            out += "counters:\n"
            for stage in counters {
                let list = stage.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                out += "  \(stage.name): \(list.joined(separator: " "))\n"
            }
        }
        for stage in manifest.stages where stage.status != .skipped || manifest.replayOf != nil {
            guard let review = stage.review else { continue }
            let html = review.files.first { $0.kind == "review-html" }.map { display($0.path) }
            out += "review (\(stage.name)): \(html ?? display(review.file.path))"
            let outcome = ReviewReport.outcome(of: stage).map { "  \($0)\n" } ?? ""
            guard !reviewsShown.contains(stage.name) else {
                out += " (shown above)\n" + outcome
                continue
            }
            out += "\n"
            out += review.text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                .filter { !$0.hasPrefix("  review: ") }.map { "  " + $0 + "\n" }.joined()
            out += outcome
        }
        if !manifest.notices.isEmpty {
            out += "notices:\n"
            for notice in manifest.notices { out += "  - \(notice)\n" }
        }
        if let error = manifest.error {
            var message = error.message
            // A stage's own error names it too: once is enough.
            if let stage = error.stage, message.hasPrefix("stage '\(stage)': ") {
                message.removeFirst("stage '\(stage)': ".count)
            }
            out += "error\(error.stage.map { " in stage '\($0)'" } ?? ""): \(errorMessage(message))\n"
        }
        // Not those undone since (`sluice runs show` after `sluice undo`).
        let committed = manifest.status == .succeeded ? [] : manifest.committedAppliesNotUndone
        for (stage, undo) in committed {
            let option = committed.count > 1 ? " --stage \(Execution.shellQuoted(stage))" : ""
            out +=
                "the database changed: stage '\(stage)' committed before the run ended "
                + "(\(ApplyStage.written(rows: undo.rows, counters: manifest.stage(stage)?.counters ?? [:]))); "
                + "to see what undoing it restores, then to put back their prior values:\n"
                + "  sluice undo \(Execution.shellQuoted(directory.path))\(option) --dry-run\n"
                + "  sluice undo \(Execution.shellQuoted(directory.path))\(option) --yes\n"
        }
        if let failed = manifest.stageFailedAfterItsCommit, manifest.resumeCommand == nil {
            out += checkAgain(failed)
        }
        if let earlier = earlierCommit, let failed = manifest.error?.stage {
            // Its own apply was skipped: the change it checked is the earlier run's, and so is the undo.
            let path = Execution.shellQuoted(earlier.directory.path)
            let option =
                earlier.manifest.committedApplies.count > 1 ? " --stage \(Execution.shellQuoted(earlier.stage))" : ""
            let undo = earlier.manifest.committedApplies.first { $0.stage == earlier.stage }?.undo
            let written = undo.map {
                " (\(ApplyStage.written(rows: $0.rows, counters: earlier.manifest.stage(earlier.stage)?.counters ?? [:])))"
            }
            out +=
                "stage '\(failed)' failed again on what stage '\(earlier.stage)' of run \(earlier.manifest.runID) "
                + "committed\(written ?? ""), which is still in the table; to see what undoing it restores, then to put "
                + "back their prior values:\n"
                + "  sluice undo \(path)\(option) --dry-run\n"
                + "  sluice undo \(path)\(option) --yes\n"
            if manifest.resumeCommand == nil { out += checkAgain(failed) }
        }
        // Interrupted before it committed: what became of the table is said, as a failure's error
        // says it. Not an apply whose COMMIT may have gone through (`may have applied`), nor one
        // that committed (above).
        let unknown = Set(ApplyStage.stagesThatMayHaveApplied(manifest))
        for stage in manifest.stages
        where manifest.status == .interrupted && stage.kind == "apply"
            && (stage.status == .cancelled || stage.status == .pending) && !unknown.contains(stage.name)
            && !committed.contains(where: { $0.0 == stage.name })
        {
            if let line = interrupted(stage) { out += line + "\n" }
        }
        for undo in manifest.undos {
            // As `sluice undo` said it: rows restored in full, then those restored in part.
            var what = "restored \((undo.restored - undo.partlyRestored).counted("row"))"
            if undo.partlyRestored > 0 { what += " (and \(undo.partlyRestored) in part)" }
            if undo.deleted > 0 { what += ", deleted the \(undo.deleted) it added" }
            if undo.changedSince > 0 {
                what += ", left the cells changed since in \(undo.changedSince.counted("row"))"
            }
            out += "undone (stage '\(undo.stage)') at \(ISO8601DateFormatter().string(from: undo.undoneAt)): \(what)\n"
        }
        for stage in unfinishedUndoFiles where manifest.isAbandoned {
            // Killed between writing its prior values and recording how its COMMIT ended.
            let option =
                manifest.stages.filter { $0.kind == "apply" }.count > 1
                ? " --stage \(Execution.shellQuoted(stage))" : ""
            out +=
                "stage '\(stage)' was running when the process died and left its undo file: its COMMIT may have "
                + "gone through; to see what undoing it would restore (nothing, if it did not commit):\n"
                + "  sluice undo \(Execution.shellQuoted(directory.path))\(option) --dry-run\n"
        }
        if manifest.isAbandoned, let process = manifest.process, continuedBy == nil {
            out +=
                "the process that ran it (pid \(process.pid)) is gone without writing a final status: it was "
                + "killed or crashed, or could no longer write the manifest (a full disk?); "
            if let apply = manifest.applyStoppedAfterItsCommitWithNothingLeft {
                out +=
                    "stage '\(apply)' had committed, and no stage after it was left to run: there is nothing to resume\n"
            } else {
                out +=
                    (manifest.stageStoppedAfterItsCommit.map(Self.keepingTheChange) ?? "") + "continue with:\n  "
                    + (process.resumeCommand ?? "sluice resume \(Execution.shellQuoted(directory.path))") + "\n"
            }
        }
        // Answers a fetch of this run kept, which `sluice resume` reuses (not those of a fetch a
        // replay skipped: resuming a replay of the apply asks the API nothing).
        let kept = manifest.stages.filter { $0.status != .skipped }.flatMap(\.outputs).filter { $0.kind == "answers" }
            .map(\.rows).reduce(0, +)
        if let continuedBy, continuationUndone, manifest.status != .succeeded {
            out +=
                "continued by run \(continuedBy), whose changes were undone since (sluice runs show \(continuedBy))\n"
        }
        if let rejection = manifest.rejection {
            // Turned down: the gate's command would be refused; a new review is the way on.
            out +=
                "\(RejectCommand.describe(rejection)); approving it is refused (--force overrides). For a new review:\n"
                + "  \(RejectCommand.newReviewCommand(for: manifest, in: directory))\n"
        } else if let continuedBy, manifest.status != .succeeded, !continuationUndone {
            out += "continued by run \(continuedBy) (sluice runs show \(continuedBy))\n"
        } else if let supersededBy {
            // The gate's command would be refused: a newer reviewed decision committed since.
            out +=
                "its review was superseded by run \(supersededBy), an apply to the same table since; approving it is "
                + "refused (--force overrides). For a new review:\n"
                + "  \(RejectCommand.newReviewCommand(for: manifest, in: directory))\n"
        } else if let csv = driftedReviewsCSV {
            // Resumed or replayed, the run would be held to the same review and fail again. The
            // error says whether the table changed or the input reads otherwise: said alike here.
            let inputOnly = ApplyStage.failedOnInputDrift(manifest)
            out +=
                (inputOnly
                    ? "the input reads as other values than in the review, on a table that did not change: to "
                        + "review the same rows as they read now, then apply them:"
                    : "the table changed since the review: to review the same rows against the table as it is now, "
                        + "then apply them:")
                + "\n  sluice apply \(Execution.shellQuoted(manifest.plan.path)) \(Execution.shellQuoted(csv))\n"
        } else if earlierCommit != nil {
            // Said above: resuming it runs the checks again, never the fetch.
        } else if manifest.status == .failed, manifest.resumeCommand == nil, kept > 0, committed.isEmpty, answersGone {
            out +=
                "the API's answers to \(kept.counted("id")) are not in \(display(directory.path)) any more (was the "
                + "directory removed?): a resume asks the API for every one of them again:\n"
                + "  sluice resume \(Execution.shellQuoted(directory.path))\n"
        } else if manifest.status == .failed, manifest.resumeCommand == nil, kept > 0, committed.isEmpty {
            // Not resumable by itself (a table to fix, a disk to free), but the answers are kept.
            out +=
                "the API's answers to \(kept.counted("id")) are kept: once the cause is fixed (the table, the disk, "
                + "or the plan with --set), continue with this, which asks only for the rest:\n"
                + "  sluice resume \(Execution.shellQuoted(directory.path))\n"
        } else if let command = manifest.resumeCommand {
            // Only an apply's gate has something to review; another (a paid API's fetch) waits for a yes.
            let gate = manifest.stages.first { $0.status == .awaitingApproval }
            let review =
                gate.map { $0.kind != "apply" } == true
                ? "stage '\(gate?.name ?? "")' waits for approval (requires_approval); to run it, continue with:"
                : (files.isEmpty ? "review what it will apply" : "review the files above") + ", then continue with:"
            let later =
                manifest.notBefore.map { "after \(Self.clockTime($0)), when the API's wait ends," } ?? "later"
            // Interrupted once its apply committed, or its checks cut short by a timeout: the undo
            // is offered above, and this keeps the change.
            let keep =
                (manifest.stageStoppedAfterItsCommit ?? manifest.stageFailedAfterItsCommit).map {
                    "or, " + Self.keepingTheChange(from: $0)
                } ?? ""
            out +=
                manifest.status == .awaitingApproval
                ? "\(review)\n  \(command)\n"
                : "\(keep)continue \(later) with:\n  \(command)\n"
            let secrets = secretsToGiveAgain
            if !secrets.isEmpty {
                // The manifest keeps no secret: the command needs the ones its stages use again.
                let again = secrets.map { "--set \($0)=..." }.joined(separator: " ")
                out += "  (adding \(again) again: the manifest does not keep secrets given with --set)\n"
            }
            if manifest.status == .awaitingApproval {
                out +=
                    "or, to turn it down (recorded; approving it is then refused):\n  sluice reject "
                    + "\(Execution.shellQuoted(directory.standardizedFileURL.path)) --reason '...'\n"
            }
            // That approval would stop at the guard-rails the review goes past: say how to go on.
            let passed = manifest.stages.first { $0.status == .awaitingApproval }?.review?.guardRails ?? []
            if manifest.status == .awaitingApproval, !passed.isEmpty {
                let count = passed.count == 1 ? "a guard-rail" : "\(passed.count) guard-rails"
                out +=
                    "the review goes past \(count), so that stops there; to apply anyway "
                    + "(recorded as a warning):\n  \(command) --force\n"
            }
        }
        return out
    }

    /// The secrets the run was given with `--set` (recorded redacted) that the command
    /// continuing it needs again: those of the stages it runs (from the gate on; all of them
    /// for a resume) and of their connections.
    var secretsToGiveAgain: [String] {
        let gate = manifest.stages.firstIndex { $0.status == .awaitingApproval }
        let from = (manifest.status == .awaitingApproval ? gate : nil) ?? 0
        let running = manifest.stages[from...]
        let names = Set(running.map(\.name))
        let connections = Set(running.compactMap { $0.parameters["connection"].stringValue })
        return manifest.secretOverrides.filter { key in
            let parts = key.split(separator: ".").map(String.init)
            guard let first = parts.first else { return false }
            return names.contains(first)
                || (first == "connections" && parts.count > 1 && connections.contains(parts[1]))
        }
    }

    /// How to keep a committed apply whose later stage `failed` (a verify's checks the table does
    /// not meet) and check again: `sluice resume`, which runs that stage on, not the apply, and
    /// fails the same way until the table or the plan changes.
    func checkAgain(_ failed: String) -> String {
        "or keep the change, and once the table or the plan (--set) is fixed, run stage '\(failed)' and the stages "
            + "after it again (the apply does not run again; until something is fixed, this fails the same way):\n"
            + "  sluice resume \(Execution.shellQuoted(directory.path))\n"
    }

    /// What `sluice resume` does for a run interrupted or killed in `stage`, after its apply
    /// committed (``Manifest/stageStoppedAfterItsCommit``): it keeps the change.
    static func keepingTheChange(from stage: String) -> String {
        "to keep the change and run stage '\(stage)' and the stages after it again (the apply does not run again), "
    }

    /// The run whose apply committed what `manifest`, a run from after that apply (a resume of
    /// its verify), failed on; `nil` when there is none, or it was undone since.
    static func earlierCommit(of manifest: Manifest) async -> EarlierCommit? {
        guard let (stage, undo) = manifest.skippedCommittedApply else { return nil }
        // A skipped stage's record is the earlier run's, its files' paths made absolute.
        let directory = URL(fileURLWithPath: undo.path).deletingLastPathComponent()
        guard let earlier = try? await BlockingIO.run({ try Manifest.load(from: directory) }),
            earlier.committedAppliesNotUndone.contains(where: { $0.stage == stage })
        else { return nil }
        return EarlierCommit(manifest: earlier, directory: directory, stage: stage)
    }

    /// A moment as `21:53:10 UTC`, or with its date when it is not today (UTC).
    static func clockTime(_ date: Date, now: Date = Date()) -> String {
        let format = ISO8601DateFormatter()
        let stamp = format.string(from: date)  // 2026-12-04T21:53:10Z
        let day = stamp.prefix(10)
        return (day == format.string(from: now).prefix(10) ? "" : "\(day) ") + "\(stamp.dropFirst(11).prefix(8)) UTC"
    }

    /// `message` without the lines in ``shown``; its first line says they are above.
    func errorMessage(_ message: String) -> String {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var kept = lines.filter { !shown.contains($0) }
        let left = lines.count - kept.count
        guard left > 0 else { return message }
        let above = left == 1 ? "located above" : "each located above"
        guard !kept.isEmpty else { return above }
        kept[0] += " (\(above))"
        return kept.joined(separator: "\n")
    }

    var headline: String {
        var line = "run \(manifest.runID) \(state ?? Self.status(of: manifest))"
        if let duration = manifest.duration { line += " in \(Self.format(seconds: duration))" }
        if let origin = manifest.replayOf {
            // Named as `sluice runs` lists it.
            line +=
                " (\(origin.resumed ? "resume" : "replay") of \(origin.runID), \(origin.mode.rawValue) \(origin.stage))"
        }
        return line + ": \(display(directory.path))"
    }

    /// The rows an apply that failed because the table changed since its review was given (the
    /// run's audit CSV, or the file `sluice apply` read), or `nil`.
    var driftedReviewsCSV: String? {
        guard ApplyStage.failedOnDrift(manifest) else { return nil }
        let artifacts = manifest.stages.flatMap {
            $0.outputs.filter { $0.kind == "csv" } + $0.inputs.filter { $0.kind == "csv" }
        }
        return artifacts.last.map { $0.url(in: directory).path }
    }

    /// The status as stored (`succeeded (dry run)` when an apply only rolled back), or
    /// `running, process gone` for a run whose process was killed; then what it did to the
    /// database (`apply committed`, `undone`): a run killed during its verify committed its apply.
    static func status(of manifest: Manifest) -> String {
        let dryRun = manifest.isDryRun
        // Each apply stage's latest undo says whether it is complete.
        let latest = Dictionary(manifest.undos.map { ($0.stage, $0) }, uniquingKeysWith: { $1 })
        let undone =
            latest.isEmpty ? "" : latest.values.contains { $0.changedSince > 0 } ? ", partly undone" : ", undone"
        let unknown = ApplyStage.mayHaveApplied(manifest) ? mayHaveApplied : ""
        // A run that failed after its apply committed (a verify that failed): the table changed.
        let committed =
            manifest.status != .succeeded && !dryRun && !manifest.committedAppliesNotUndone.isEmpty
            ? ", apply committed" : ""
        let stored =
            manifest.isAbandoned ? "running, process gone" : manifest.status.rawValue + (dryRun ? " (dry run)" : "")
        return stored + unknown + committed + undone
    }

    /// Whether an answers file the run's manifest records is missing from `directory`.
    static func missingAnswers(of manifest: Manifest, in directory: URL) async -> Bool {
        for answers in manifest.stages.flatMap(\.outputs) where answers.kind == "answers" && answers.rows > 0 {
            if await !BlockingIO.fileExists(atPath: answers.url(in: directory).path) { return true }
        }
        return false
    }

    /// What a run's state adds when one of its applies may have committed, unknown to it.
    static let mayHaveApplied = ", may have applied (commit outcome unknown)"

    /// The stage kinds that end a pipeline: they write to the database, or check it, and send
    /// no rows to a next stage.
    static let endKinds: Set<String> = ["apply", "verify"]

    var stageTable: String {
        var rows = [["stage", "kind", "status", "in", "out", "rejected", "time"]]
        for stage in manifest.stages {
            // Not one that never started: cancelled before it did, failed its check before the run
            // started, or behind a gate a person turned down.
            let ran =
                stage.status != .pending && stage.status != .skipped && stage.status != .awaitingApproval
                && stage.startedAt != nil
            // A replay's skipped stages keep the original run's times in the manifest: not this run's.
            // Stages start together: a stage's time leaves out its wait for its first input
            // (verify's for the apply to end), which is its upstream's time.
            let time = ran ? stage.workedSeconds.map(Self.format(seconds:)) : nil
            // An apply's or verify's "out 0" read as "nothing applied": they pass no rows on.
            let passesRowsOn = !Self.endKinds.contains(stage.kind)
            // Committed, then killed before its end (during its ANALYZE), or still at it.
            let status =
                stage.status.rawValue + (stage.status == .running && stage.committedAt != nil ? ", committed" : "")
            rows.append([
                stage.name, stage.kind, status, ran && stage.input != nil ? "\(stage.rowsIn)" : "-",
                ran && passesRowsOn ? "\(stage.rowsOut)" : "-", ran ? "\(stage.rowsRejected)" : "-", time ?? "-",
            ])
        }
        let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            "  "
                + zip(row, widths).enumerated().map { index, cell in
                    let (text, width) = cell
                    let pad = String(repeating: " ", count: width - text.count)
                    return index >= 3 && index <= 5 ? pad + text : text + pad
                }.joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n"
        }.joined()
    }

    /// A path relative to the current directory when it is inside it.
    func display(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : directory.appendingPathComponent(path).path
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return full.hasPrefix(cwd) ? String(full.dropFirst(cwd.count)) : full
    }

    static func format(seconds: Double) -> String {
        if seconds < 1 { return String(format: "%.0fms", seconds * 1000) }
        if seconds < 120 { return String(format: "%.1fs", seconds) }
        let total = Int(seconds.rounded())
        return total < 7200 ? "\(total / 60)m\(total % 60)s" : "\(total / 3600)h\(total % 3600 / 60)m"
    }
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

extension Manifest {
    /// The apply stages that committed changes, each with its undo file (the prior values of
    /// the rows it changed): a run that then failed has changed the database all the same. Also
    /// one that had not ended (``StageRecord/committedAt``: killed during its `ANALYZE`), but not
    /// the record a replay copied of an apply it skipped: that change is the original run's.
    var committedApplies: [(stage: String, undo: Artifact)] {
        stages.compactMap { stage in
            guard stage.status == .succeeded || (stage.committedAt != nil && stage.status != .skipped),
                let undo = stage.outputs.first(where: { $0.kind == ApplyStage.undoArtifactKind }), undo.rows > 0
            else { return nil }
            return (stage.name, undo)
        }
    }

    /// The stage the run failed in after one of its applies committed (a verify whose checks the
    /// table does not meet), while no undo has put that apply back: `sluice resume` runs that
    /// stage and those after it again, not the apply.
    var stageFailedAfterItsCommit: String? {
        guard status == .failed, let failed = error?.stage, let index = stages.firstIndex(where: { $0.name == failed })
        else { return nil }
        let committed = Set(committedAppliesNotUndone.map(\.stage))
        return stages[..<index].contains { committed.contains($0.name) } ? failed : nil
    }

    /// The first stage that did not finish after the last of the run's applies that committed
    /// (not undone since), for a run interrupted, or whose process died (killed, or its machine
    /// down), after that COMMIT: `sluice resume` runs it and those after it, not the apply. The
    /// manifest holds that COMMIT by then: an apply records it (``StageRecord/committedAt``, with
    /// its undo file and counters) before anything after it, its `ANALYZE` included, and a stage's
    /// end is written before the stages reading it see their input end, so a verify starts its
    /// checks only once it is. `nil` for a run still running here, or stopped before.
    var stageStoppedAfterItsCommit: String? {
        guard let last = lastCommitOfAStoppedRun else { return nil }
        // Not one a replay of the apply alone (`--stage`) left out.
        return stages[(last + 1)...].first { $0.status != .succeeded && $0.status != .skipped }?.name
    }

    /// The last of the run's applies that committed (not undone since), for a run interrupted, or
    /// whose process died, before that apply ended (during its `ANALYZE`), when no stage after it
    /// was left to run: there is nothing to resume. `nil` otherwise.
    var applyStoppedAfterItsCommitWithNothingLeft: String? {
        guard let last = lastCommitOfAStoppedRun, stages[last].status != .succeeded,
            stages[(last + 1)...].allSatisfy({ $0.status == .succeeded || $0.status == .skipped })
        else { return nil }
        return stages[last].name
    }

    /// Where the last apply that committed (not undone since) is in ``stages``, for a run
    /// interrupted or whose process died; `nil` for a run still running here, or another.
    private var lastCommitOfAStoppedRun: Int? {
        guard status == .interrupted || (status == .running && !isInProgress) else { return nil }
        let committed = Set(committedAppliesNotUndone.map(\.stage))
        return stages.lastIndex { committed.contains($0.name) }
    }

    /// For a run from after an apply (a resume of a failed verify) that failed: the apply's
    /// record, kept from the run it replays, when that apply committed changes.
    var skippedCommittedApply: (stage: String, undo: Artifact)? {
        guard status == .failed, replayOf != nil, let failed = error?.stage,
            let index = stages.firstIndex(where: { $0.name == failed })
        else { return nil }
        for stage in stages[..<index].reversed() where stage.kind == "apply" && stage.status == .skipped {
            guard let undo = stage.outputs.first(where: { $0.kind == ApplyStage.undoArtifactKind }), undo.rows > 0
            else { continue }
            return (stage.name, undo)
        }
        return nil
    }

    /// ``committedApplies`` that no `sluice undo` has undone since.
    var committedAppliesNotUndone: [(stage: String, undo: Artifact)] {
        committedApplies.filter { applied in !undos.contains { $0.stage == applied.stage } }
    }

    /// It committed changes and `sluice undo` has put every one of them back since.
    var undoneSince: Bool { !committedApplies.isEmpty && committedAppliesNotUndone.isEmpty }

    /// Per fetch stage, the answers its answers file holds, as recorded.
    var recordedAnswers: [String: Int] {
        Dictionary(
            stages.compactMap { stage in stage.outputs.first { $0.kind == "answers" }.map { (stage.name, $0.rows) } },
            uniquingKeysWith: { $1 })
    }
}

extension RunSummary {
    /// What an apply of an interrupted run that did not commit did to its table, by how far it
    /// got: its transaction rolled back once it began (``ApplyStage/transactionBeganCounter``);
    /// before that nothing was started, whatever was in progress (upstream stages, its review,
    /// its approval, connecting). `nil` for a manifest that cannot tell (written before the
    /// counter was, by an apply that read no row).
    func interrupted(_ stage: Manifest.StageRecord) -> String? {
        let table = stage.parameters["table"].stringValue.map { " in \($0)" } ?? ""
        let nothing = ": nothing was started or changed\(table)"
        let began = stage.counters[ApplyStage.transactionBeganCounter]
        // Rows are read inside the transaction only: an older manifest's rows read say it began.
        if began.map({ $0 > 0 }) ?? (stage.rowsIn > 0) {
            return "stage '\(stage.name)' was interrupted before it committed: its transaction rolled back, nothing "
                + "was changed\(table)"
        }
        if stage.startedAt != nil {
            guard began != nil else { return nil }
            return "stage '\(stage.name)' was interrupted before its transaction began" + nothing
        }
        if stage.status == .pending, stage.review != nil {
            return "stage '\(stage.name)' was interrupted at its approval, before its transaction began" + nothing
        }
        if stage.status == .cancelled, stage.error == nil {
            // The runner records a review cut short so, and nothing else on a stage not started.
            return "stage '\(stage.name)' was interrupted during its review, before its transaction began" + nothing
        }
        // Every stage cut short: which one the others waited on (for its output, or for room in
        // its buffer) is a matter of timing, so none is singled out.
        let running = manifest.stages.filter { $0.startedAt != nil && $0.status == .cancelled }.map { "'\($0.name)'" }
        let stages = "stage\(running.count == 1 ? "" : "s") \(running.joined(separator: ", "))"
        let during = running.isEmpty ? "" : " (the run was interrupted in \(stages))"
        return "stage '\(stage.name)' did not start\(during)" + nothing
    }
}
