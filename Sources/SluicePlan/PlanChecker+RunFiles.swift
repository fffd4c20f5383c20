import Foundation
import SluiceCore

extension PlanChecker {
    /// The files a run of `stages` writes in its run directory (``RunFileNames``), each with
    /// what writes it, for a write-csv path that names one of them.
    static func runFiles(of stages: [CheckedStage]) -> [String: String] {
        var files = [
            RunFileNames.manifest: "the run's manifest",
            RunFileNames.manifestReserve: "the space the run holds back for its manifest",
        ]
        for s in stages {
            func add(_ name: String, _ what: String) {
                if files[name] == nil { files[name] = "stage '\(s.name)' (\(what))" }
            }
            add(RunFileNames.spool(stage: s.name), "its output spool")
            switch s.kind {
            case .fetch:
                add(RunFileNames.answers(stage: s.name), "its answers")
                add(RunFileNames.timeline(stage: s.name), "its requests over time")
                add(RunFileNames.rejects(stage: s.name), "the rows it rejects")
            case .validate:
                add(RunFileNames.rejects(stage: s.name), "the rows it rejects")
            case .apply:
                add(RunFileNames.undo(stage: s.name), "its undo file")
                add(RunFileNames.review(stage: s.name, extension: "csv"), "its review")
                add(RunFileNames.review(stage: s.name, extension: "html"), "its review page")
            case .query, .readCSV, .chunk, .transform, .writeCSV, .verify:
                break
            }
        }
        return files
    }

    /// The file a write-csv path names, as a run renders it, when that is the same for every
    /// run (no `{timestamp}`, `{date}` or `{run_id}`): relative paths without `.` or empty
    /// steps (`./out.csv` is `out.csv`), absolute ones as written.
    func fixedFile(of template: PathTemplate) -> String? {
        let varying = PathTemplate.placeholders.filter { $0 != "plan" }
        guard !varying.contains(where: { template.template.contains("{\($0)}") }) else { return nil }
        let path = template.render(start: Date(timeIntervalSince1970: 0), runID: "", plan: planName ?? "")
        if path.hasPrefix("/") { return path }
        return path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// Refuses a write-csv path that names no file, or a file the run writes itself (its
    /// manifest, a review, a stage's spool, answers, rejects or undo file, another write-csv's
    /// CSV): the CSV would overwrite that file, or the run would stop when the CSV finds it there.
    mutating func checkWriteCSVFile(
        _ writeCSV: WriteCSVSettings, stage s: StageDefinition, path: String, stages: [CheckedStage]
    ) {
        let at = location("\(path).path", or: s.location)
        // `exports/` names a directory (the run would fail creating the CSV); `./` is said below.
        let template = writeCSV.path.template
        if template.hasSuffix("/"), fixedFile(of: writeCSV.path)?.isEmpty != true {
            validator.diagnostics.error(
                "path '\(template)' ends in '/': it names a directory, not the CSV file", at: at,
                notes: ["name the file in it, e.g. path: \(template)\(s.name)-rows.csv"])
            return
        }
        guard let file = fixedFile(of: writeCSV.path) else { return }
        if file.isEmpty {
            validator.diagnostics.error(
                writeCSV.path.template.isEmpty
                    ? "path is empty: it must name the CSV file"
                    : "path '\(writeCSV.path.template)' names the run directory, not a file",
                at: at,
                notes: ["name the file, e.g. path: \(s.name)-rows.csv (a relative path is inside the run directory)"])
            return
        }
        var files = file.hasPrefix("/") ? [:] : Self.runFiles(of: stages)
        for other in stages {
            guard other.name != s.name else { break }
            if case .writeCSV(let earlier)? = other.definition?.configuration, let name = fixedFile(of: earlier.path),
                files[name] == nil
            {
                files[name] = "stage '\(other.name)' (its CSV)"
            }
        }
        guard let writer = files[file] else { return }
        validator.diagnostics.error(
            "path '\(writeCSV.path.template)' names \(file), a file the run writes itself: \(writer) writes it",
            at: at,
            notes: [
                "name the CSV otherwise, e.g. path: \(s.name)-rows.csv"
                    + (file.hasPrefix("/")
                        ? " or put {run_id} in it" : " (a relative path is inside the run directory)")
            ])
    }
}
