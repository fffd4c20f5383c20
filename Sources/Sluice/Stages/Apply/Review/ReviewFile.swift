import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline
import SluicePlan

/// The review's cells read back from `review.csv` (``BulkUpdate/reviewColumns``), in batches of
/// `[key, column, old, new]`, as an apply held to the review needs them.
///
/// The file is checked while it is read: it must be the CSV it was when reviewed (its SHA-256,
/// computed over the bytes read, is compared at the end, before the apply can commit), with
/// the review's header and five fields on every row; otherwise reading throws.
struct ReviewFile: AsyncSequence {
    typealias Element = Batch
    let url: URL
    let sha256: String
    var batchSize = 10_000

    /// The file names a stage's review uses: `review.csv` and `review.html` for a stage named
    /// `apply`, `review-<stage>.*` for any other.
    static func url(stage: String, in directory: URL, extension ext: String) -> URL {
        directory.appendingPathComponent(RunFileNames.review(stage: stage, extension: ext))
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let file: ReviewFile
        var reader: CSVReader?
        var done = false

        mutating func next() async throws -> Batch? {
            guard !done else { return nil }
            if reader == nil {
                let opened = try CSVReader(url: file.url, path: file.url.path)
                guard let header = try await opened.next(), header.fields.map(\.value) == BulkUpdate.reviewColumns
                else {
                    throw await refusal(
                        "does not start with the review's header \(BulkUpdate.reviewColumns.joined(separator: ","))")
                }
                reader = opened
            }
            guard let reader else { return nil }
            var batch = Batch(columns: ["key", "column", "old", "new"])
            while batch.count < file.batchSize, let record = try await reader.next() {
                guard record.fields.count == 5, !record.hasProblem else {
                    throw await refusal("line \(record.line) is not a review row")
                }
                batch.rows.append(record.fields.prefix(4).map { .string($0.value) })
            }
            if let problem = reader.diagnostics.first {
                throw await refusal(problem.description)
            }
            if batch.isEmpty {
                done = true
                guard reader.sha256 == file.sha256 else { throw file.changed(reader.sha256) }
                return nil
            }
            return batch
        }

        /// A file that does not read as a review: most likely edited since (a line added by
        /// hand), which is what to say then; else `problem`.
        private func refusal(_ problem: String) async -> ReviewFileError {
            if let now = try? await PrivateFile.sha256(of: file.url).sha256, now != file.sha256 {
                return file.changed(now)
            }
            return ReviewFileError(path: file.url.path, problem)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(file: self) }

    /// Fails as reading would when the file is not the one reviewed: for an apply that may not
    /// read it (its fingerprint matched, ``BulkUpdate/run(on:input:reviewed:fingerprint:onDrift:undo:)``).
    func checkUnchanged() async throws {
        let now: String
        do {
            now = try await PrivateFile.sha256(of: url).sha256
        } catch {
            throw ReviewFileError(path: url.path, "cannot be read: \(error)")
        }
        if now != sha256 { throw changed(now) }
    }

    /// The refusal of a review file whose SHA-256 is now `now`.
    func changed(_ now: String?) -> ReviewFileError {
        ReviewFileError(
            path: url.path,
            "was changed after the review (sha256 \(now?.prefix(12) ?? "?")…, "
                + "reviewed \(sha256.prefix(12))…); an edited review is never applied")
    }
}

extension CSVFileWriter {
    /// Appends review cells as rows of ``BulkUpdate/reviewColumns`` (the writer's columns).
    public func write(_ cells: ReviewCells) async throws {
        let names = cells.columnNames.map { name in
            var out: [UInt8] = []
            Self.appendField(name, to: &out)
            return out
        }
        try await appendRecords(cells.count) { out in
            for index in 0..<cells.count {
                if let key = cells.keys[index] { Self.appendField(key, to: &out) }
                out.append(UInt8(ascii: ","))
                out.append(contentsOf: names[cells.column[index]])
                out.append(UInt8(ascii: ","))
                // An empty text quoted (`""`), NULL an empty field: RFC 4180 tells them apart.
                if let old = cells.old[index] { Self.appendValue(old, to: &out) }
                out.append(UInt8(ascii: ","))
                if let new = cells.new[index] { Self.appendValue(new, to: &out) }
                out.append(UInt8(ascii: ","))
                Self.appendField(cells.change[index].rawValue, to: &out)
                out.append(0x0D)  // RFC 4180: CRLF
                out.append(0x0A)
            }
        }
    }
}

extension CSVFileWriter {
    /// `value` as a field, an empty one as `""` so that it reads back as text, not as nothing.
    static func appendValue(_ value: String, to out: inout [UInt8]) {
        if value.isEmpty { out += emptyField } else { appendField(value, to: &out) }
    }
}

/// A review file that cannot be applied: edited since the review, or not a review.
struct ReviewFileError: Error, CustomStringConvertible, Sendable {
    var path: String
    var message: String

    init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    var description: String { "\(path): \(message)" }
}

/// Writes one review's files as its cells arrive: `review.csv`, then, given the summary,
/// `review.html`, and makes the review the manifest records.
final class ReviewWriter {
    let csvURL: URL
    let htmlURL: URL
    /// The records of the stages before it, for the page: set again before ``finish`` when
    /// they finish later (an upstream streaming into the apply).
    var earlier: [Manifest.StageRecord]
    let runDirectory: URL
    private let writer: CSVFileWriter
    /// Cells a spreadsheet opening review.csv would run as formulas: said in a notice, as
    /// write-csv says it of the audit trail.
    private var formulas = SpreadsheetFormulas(columns: [])

    init(stage: String, context: StageContext, earlier: [Manifest.StageRecord]) async throws {
        csvURL = ReviewFile.url(stage: stage, in: context.runDirectory, extension: "csv")
        htmlURL = ReviewFile.url(stage: stage, in: context.runDirectory, extension: "html")
        runDirectory = context.runDirectory
        self.earlier = earlier
        writer = try await CSVFileWriter(url: csvURL, columns: BulkUpdate.reviewColumns)
    }

    /// Appends a batch of cells to review.csv.
    func write(_ cells: ReviewCells) async throws {
        // Line 1 is the header.
        let firstLine = writer.rows + 2
        // review.csv's own columns: the key, the column's name, its old and new value.
        let names = BulkUpdate.reviewColumns
        for index in 0..<cells.count {
            let line = firstLine + index
            if let key = cells.keys[index] { formulas.count(key, line: line, column: names[0]) }
            if let old = cells.old[index] { formulas.count(old, line: line, column: names[2]) }
            if let new = cells.new[index] { formulas.count(new, line: line, column: names[3]) }
        }
        try await writer.write(cells)
    }

    /// Completes review.csv, writes review.html (from `details`, gathered as the cells streamed,
    /// not from the CSV read again), and returns the review with its text: the
    /// summary, the guard-rails it goes past, and where the files are.
    func finish(
        _ summary: ReviewSummary, details: ReviewDetails, settings: ApplySettings, context: StageContext
    ) async throws
        -> Manifest.Review
    {
        let sha256 = try await writer.commit()
        if let notice = formulas.notice(file: csvURL.lastPathComponent) { context.notice(notice) }
        let page = try await ReviewPage.write(
            to: htmlURL, summary: summary, details: details, cells: csvURL, earlier: earlier,
            runDirectory: runDirectory)
        var text = summary.text
        let guardRails = ReviewGuardRails.check(summary, against: settings).map { "\($0)" }
        for violation in guardRails { text += "  guard-rail: \(violation)\n" }
        text += "  review: \(csvURL.path) (\(writer.rows.counted("cell"))), \(htmlURL.path)\n"
        return Manifest.Review(
            file: Manifest.Artifact(kind: "review", path: csvURL.path, sha256: sha256, rows: writer.rows),
            files: [Manifest.Artifact(kind: "review-html", path: page.url.path, sha256: page.sha256, rows: 0)],
            reviewedAt: context.now(), summary: summary.json, text: text, guardRails: guardRails,
            changesNothing: summary.rowsWritten == 0 && guardRails.isEmpty)
    }

    /// Removes a review.csv that was not finished.
    func abandon() async {
        await writer.abandon()
    }
}
