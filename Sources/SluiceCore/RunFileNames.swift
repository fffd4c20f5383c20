/// The names of the files a run writes in its run directory, in one place: the stages and the
/// runner name their files with these, and `sluice check` refuses a write-csv `path` that is
/// one of them (the CSV would overwrite the run's own file, or be refused as it is written).
public enum RunFileNames {
    /// The run's record (see docs/manifest.md).
    public static let manifest = "manifest.json"
    /// The space held back for the final manifest while the run goes.
    public static let manifestReserve = ".manifest.reserve"

    /// A stage's output, spooled as NDJSON for replays.
    public static func spool(stage: String) -> String { "\(stage).ndjson" }

    /// A fetch stage's answers, one per id, for `sluice resume`.
    public static func answers(stage: String) -> String { "\(stage).answers.ndjson" }

    /// A fetch stage's requests over time, for the review page.
    public static func timeline(stage: String) -> String { "\(stage).timeline.csv" }

    /// The rows a stage (a fetch or a validate) set aside.
    public static func rejects(stage: String) -> String { "rejects-\(safe(stage)).csv" }

    /// What an apply stage changed, for `sluice undo`.
    public static func undo(stage: String) -> String { "\(safe(stage)).undo.ndjson" }

    /// An apply stage's review: `review.csv` and `review.html` for a stage named `apply`,
    /// `review-<stage>.*` for any other.
    public static func review(stage: String, extension ext: String) -> String {
        stage == "apply" ? "review.\(ext)" : "review-\(stage).\(ext)"
    }

    /// `stage` with any character but a letter, a digit, `-` and `_` made `_`.
    static func safe(_ stage: String) -> String {
        String(stage.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
    }
}
