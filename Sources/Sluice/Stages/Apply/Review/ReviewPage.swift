import Foundation
import SluiceApply
import SluiceCore
import SluicePipeline

/// `review.html`: one self-contained page (no script, no network, no external file) made from
/// a review's CSV and summary and the records of the stages before it: the counts per column,
/// a histogram of old and new values per numeric column (inline SVG), the biggest changes, a
/// sample of each change kind, the rejects with their reasons, and the fetch figures.
///
/// Its numbers are gathered from the very cells written to the CSV as the review streams them
/// (or, for `sluice review` on an older run, from the CSV read back), so the page and the CSV
/// cannot disagree.
enum ReviewPage {
    /// What the page shows of the review's cells: the counts per column and kind, and the rest.
    struct Gathered {
        var counts: [String: [String: Int]] = [:]
        var details = ReviewDetails()

        /// From the review as it streamed: its counts are those of the cells it wrote.
        init(summary: ReviewSummary, details: ReviewDetails) {
            for column in summary.columns {
                counts[column.name] = [
                    "fill": column.fill, "update": column.update, "clear": column.clear, "insert": column.insert,
                ]
            }
            self.details = details
        }

        init() {}
    }

    /// Writes the page to `url` (mode 0600, atomically), from `details` gathered while the
    /// review streamed, or else from the CSV at `cells` read once more.
    static func write(
        to url: URL, summary: ReviewSummary, details: ReviewDetails? = nil, cells: URL,
        earlier: [Manifest.StageRecord], runDirectory: URL
    ) async throws -> PrivateFileWriter.Summary {
        let gathered =
            if let details {
                Gathered(summary: summary, details: details)
            } else {
                try await gather(cells, numeric: Set(summary.columns.filter(\.numeric).map(\.name)))
            }
        var rejects: [(stage: String, path: String, rows: [[String]], total: Int)] = []
        for record in earlier {
            for file in record.outputs where file.kind == "rejects" {
                rejects.append(
                    (record.name, file.path, await head(of: file.url(in: runDirectory), rows: 20), file.rows))
            }
        }
        var timelines: [String: [[Int]]] = [:]
        for record in earlier where record.kind == "fetch" {
            guard let file = record.outputs.first(where: { $0.kind == FetchTimeline.kind }) else { continue }
            timelines[record.name] = await head(of: file.url(in: runDirectory), rows: .max).dropFirst().map {
                $0.map { Int($0) ?? 0 }
            }
        }
        let page = render(
            summary: summary, gathered: gathered, rejects: rejects, earlier: earlier, timelines: timelines)
        let writer = try PrivateFileWriter(at: url, atomic: true)
        try await writer.write(page)
        return try await writer.close()
    }

    static func gather(_ cells: URL, numeric: Set<String>) async throws -> Gathered {
        var gathered = Gathered()
        let reader = try CSVReader(url: cells, path: cells.path)
        _ = try await reader.next()
        while let record = try await reader.next() {
            let fields = record.fields.map(\.value)
            guard fields.count == 5 else { continue }
            let (column, old, new, change) = (fields[1], fields[2], fields[3], fields[4])
            gathered.counts[column, default: [:]][change, default: 0] += 1
            // Shown as the review shows them as it streams (the CSV tells no "" from NULL).
            func shown() -> [String] {
                let (o, n) = ReviewCells.shown(old.isEmpty ? nil : old, new.isEmpty ? nil : new)
                return [fields[0].isEmpty ? "" : ReviewCells.shown(fields[0]), column, o, n, change]
            }
            gathered.details.sample(shown(), column: column, change: change)
            guard numeric.contains(column) else { continue }
            let o = ValueCounts.number(old)
            let n = ValueCounts.number(new)
            if let o { gathered.details.old[column, default: ValueCounts()].add(o) }
            if let n { gathered.details.new[column, default: ValueCounts()].add(n) }
            if let o, let n { gathered.details.consider(shown(), size: abs((n - o).double)) }
        }
        return gathered
    }

    /// The first `rows` records of a CSV (the header first); empty when it cannot be read.
    static func head(of url: URL, rows: Int) async -> [[String]] {
        guard let reader = try? CSVReader(url: url, path: url.path) else { return [] }
        var out: [[String]] = []
        while out.count <= rows, let record = try? await reader.next() { out.append(record.fields.map(\.value)) }
        return out
    }

    static func render(
        summary: ReviewSummary, gathered: Gathered,
        rejects: [(stage: String, path: String, rows: [[String]], total: Int)],
        earlier: [Manifest.StageRecord], timelines: [String: [[Int]]] = [:]
    ) -> String {
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <title>Review: \(escape(summary.table))</title>
            <style>
            body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
            table{border-collapse:collapse;margin:.5em 0 1.5em}
            td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}
            td.t,th.t{text-align:left}
            td.t{max-width:40em;overflow-wrap:anywhere;white-space:pre-wrap}
            .cut{color:#777;font-style:italic;white-space:normal}
            .old{fill:#999}.new{fill:#2a6fdb}
            </style></head><body>
            <h1>Review of <code>\(escape(summary.table))</code> (\(escape(summary.mode)))</h1>
            <p id="headline">\(escape(summary.headline)); \(escape(summary.keyCounts)).</p>

            """
        html += "<h2>Changes per column</h2>\n<table id=\"counts\"><tr><th class=\"t\">column</th>"
        let kinds = ReviewSummary.Change.allCases.map(\.rawValue)
        for kind in kinds + ["unchanged", "kept", "coverage after"] { html += "<th>\(kind)</th>" }
        html += "</tr>\n"
        for column in summary.columns {
            html += "<tr data-column=\"\(escape(column.name))\"><td class=\"t\">\(escape(column.name))</td>"
            for kind in kinds {
                html += "<td data-kind=\"\(kind)\">\(gathered.counts[column.name]?[kind] ?? 0)</td>"
            }
            html += "<td data-kind=\"unchanged\">\(column.unchanged)</td><td data-kind=\"kept\">\(column.kept)</td>"
            html +=
                "<td>\(column.valuesAfter) (\(ReviewSummary.format(summary.percent(column.valuesAfter)))%)</td></tr>\n"
        }
        html += "</table>\n"
        if summary.unknownKeys > 0 {
            html += "<p>Unknown \(escape(summary.key)) (not in the table): "
            html += escape(RowChecker.keyList(summary.unknownKeySamples))
            html += summary.unknownKeys > summary.unknownKeySamples.count ? ", …</p>\n" : "</p>\n"
        }
        if let note = summary.triggerNote { html += "<p id=\"triggers\">Note: \(escape(note)).</p>\n" }
        for note in summary.offsetNotes { html += "<p class=\"offsets\">Note: \(escape(note)).</p>\n" }
        for column in summary.columns where column.numeric {
            html += "<h2>\(escape(column.name)): old and new values</h2>\n"
            guard column.old != nil || column.new != nil || column.delta != nil else {
                html +=
                    "<p>\(column.changed == 0 ? "No cell changes." : "No number among the cells that change.")</p>\n"
                continue
            }
            html += "<table><tr><th class=\"t\"></th><th>cells</th><th>min</th><th>median</th><th>max</th></tr>\n"
            for figure in column.figures {
                html +=
                    "<tr><td class=\"t\">\(figure.label)</td><td>\(figure.distribution.count)</td><td>\(figure.min)</td>"
                    + "<td>\(figure.median)</td><td>\(figure.max)</td></tr>\n"
            }
            html += "</table>\n"
            html += histogram(
                old: gathered.details.old[column.name] ?? ValueCounts(),
                new: gathered.details.new[column.name] ?? ValueCounts())
        }
        if !gathered.details.biggest.isEmpty {
            html +=
                "<h2>Biggest changes</h2>\n"
                + table(["key", "column", "old", "new", "change"], gathered.details.biggest.map(\.cell), changes: true)
        }
        html += "<h2>Samples of each change</h2>\n"
        for column in summary.columns {
            for kind in kinds {
                guard let rows = gathered.details.samples[column.name]?[kind], !rows.isEmpty else { continue }
                html +=
                    "<h3>\(escape(column.name)): \(kind)</h3>\n" + table(BulkUpdate.reviewColumns, rows, changes: true)
            }
        }
        html += "<h2>Rejects</h2>\n"
        if rejects.isEmpty { html += "<p>No stage rejected a row.</p>\n" }
        for file in rejects {
            html +=
                "<h3>\(escape(file.stage)): \(file.total.counted("row")) (\(escape(file.path)))</h3>\n"
            if let header = file.rows.first { html += table(header, Array(file.rows.dropFirst())) }
        }
        let fetches = earlier.filter { $0.kind == "fetch" }
        html += "<h2>Fetch</h2>\n"
        if fetches.isEmpty { html += "<p>No fetch stage ran.</p>\n" }
        for record in fetches {
            let c = record.counters
            let seconds = zip(record.startedAt, record.finishedAt).map { $1.timeIntervalSince($0) } ?? 0
            let requests = c["requests", default: 0]
            let rate = seconds > 0 ? Double(requests) / seconds : 0
            html += "<h3>\(escape(record.name))</h3>\n"
            // Pages of paged lists (after each row's first) only for a fetch that read any.
            let pages = c["pages", default: 0]
            html += table(
                ["requests"] + (pages > 0 ? ["pages"] : [])
                    + ["seconds", "requests/s", "retries", "429s", "waits", "waited (s)", "found", "not found"],
                [
                    ["\(requests)"] + (pages > 0 ? ["\(pages)"] : []) + [
                        ReviewSummary.format(seconds), ReviewSummary.format(rate),
                        "\(c["retries", default: 0])",
                        "\(c["http_429", default: 0])", "\(c["waits", default: 0])",
                        ReviewSummary.format(Double(c["wait_ms", default: 0]) / 1000), "\(c["found", default: 0])",
                        "\(c["not_found", default: 0])",
                    ]
                ])
            if let rows = timelines[record.name], !rows.isEmpty { html += timeline(rows) }
        }
        html += "</body></html>\n"
        return html
    }

    /// Old (grey) and new (blue) values in 20 bins over their common range, as inline SVG.
    static func histogram(old: ValueCounts, new: ValueCounts) -> String {
        let all = Array(old.counts.keys) + Array(new.counts.keys)
        guard let lowest = all.min(), let highest = all.max() else { return "" }
        let bins = 20
        // On the doubles nearest (the axis needs no more), clamped: a numeric past a double's range.
        func position(_ value: ExactNumber) -> Double {
            Swift.min(Swift.max(value.double, -.greatestFiniteMagnitude), .greatestFiniteMagnitude)
        }
        let low = position(lowest)
        // In halves: the distance between two finite doubles may not be one (1e308 - -1e308).
        let span = position(highest) / 2 - low / 2
        func bin(_ value: ExactNumber) -> Int {
            guard span > 0 else { return 0 }
            return Swift.max(0, min(bins - 1, Int((position(value) / 2 - low / 2) / span * Double(bins))))
        }
        func counts(_ values: ValueCounts) -> [Int] {
            var out = Array(repeating: 0, count: bins)
            for (value, times) in values.counts { out[bin(value)] += times }
            return out
        }
        let (o, n) = (counts(old), counts(new))
        let top = max(1, (o + n).max() ?? 1)
        // Inline SVG in HTML needs no namespace declaration (and the page names no URL at all).
        var svg = "<svg width=\"620\" height=\"180\" role=\"img\">"
        for bin in 0..<bins {
            let x = 10 + bin * 30
            let ho = Int(140 * Double(o[bin]) / Double(top))
            let hn = Int(140 * Double(n[bin]) / Double(top))
            svg +=
                "<rect class=\"old\" x=\"\(x)\" y=\"\(150 - ho)\" width=\"13\" height=\"\(ho)\"><title>old: \(o[bin])</title></rect>"
            svg +=
                "<rect class=\"new\" x=\"\(x + 14)\" y=\"\(150 - hn)\" width=\"13\" height=\"\(hn)\"><title>new: \(n[bin])</title></rect>"
        }
        svg += "<text x=\"10\" y=\"170\">\(ReviewSummary.format(value: lowest))</text>"
        svg += "<text x=\"610\" y=\"170\" text-anchor=\"end\">\(ReviewSummary.format(value: highest))</text></svg>\n"
        svg += "<p><span style=\"color:#999\">■</span> old <span style=\"color:#2a6fdb\">■</span> new</p>\n"
        return svg
    }

    /// The fetch's requests per second (blue), with its retries (orange) and 429s (red) over
    /// them, from its timeline rows (``FetchTimeline/columns``), in at most 300 bars: a long
    /// fetch gets bars of several seconds, each showing its mean per second.
    static func timeline(_ rows: [[Int]]) -> String {
        guard let end = rows.map({ $0[0] }).max(), end > 0 else { return "" }
        let bars = min(end, 300)
        let span = (end + bars - 1) / bars
        // A timeline written before it had `pages` has one column fewer: no pages.
        var sums = Array(repeating: [0, 0, 0, 0, 0, 0], count: bars)
        for row in rows where row.count >= 6 {
            let bar = min(bars - 1, max(0, row[0] - 1) / span)
            for k in 0..<min(6, row.count - 1) { sums[bar][k] += row[k + 1] }
        }
        let top = max(1, sums.map { $0[0] }.max() ?? 1)
        let width = max(2, 600 / bars)
        var svg = "<svg id=\"timeline\" width=\"\(20 + bars * width)\" height=\"170\" role=\"img\">"
        for (bar, sum) in sums.enumerated() where sum.contains(where: { $0 > 0 }) {
            let x = 10 + bar * width
            func height(_ n: Int) -> Int { Int((120 * Double(n) / Double(top)).rounded(.up)) }
            let first = bar * span + 1
            let seconds = span == 1 ? "second \(first)" : "seconds \(first)–\(first + span - 1)"
            svg +=
                "<g><title>\(seconds): \(sum[0]) requests\(sum[5] > 0 ? " (\(sum[5]) for later pages)" : ""), "
                + "\(sum[1]) retries, \(sum[2]) 429s, \(sum[3]) waits (\(ReviewSummary.format(Double(sum[4]) / 1000)) s)</title>"
            svg +=
                "<rect class=\"new\" x=\"\(x)\" y=\"\(130 - height(sum[0]))\" width=\"\(width - 1)\" height=\"\(height(sum[0]))\"/>"
            if sum[1] > 0 {
                svg +=
                    "<rect fill=\"#e8912d\" x=\"\(x)\" y=\"\(130 - height(sum[1]))\" width=\"\(width - 1)\" height=\"\(height(sum[1]))\"/>"
            }
            if sum[2] > 0 {
                svg +=
                    "<rect fill=\"#d33\" x=\"\(x)\" y=\"\(130 - height(sum[2]))\" width=\"\(width - 1)\" height=\"\(height(sum[2]))\"/>"
            }
            svg += "</g>"
        }
        let peak = ReviewSummary.format(Double(top) / Double(span))
        svg += "<text x=\"10\" y=\"150\">0 s</text>"
        svg += "<text x=\"\(10 + bars * width)\" y=\"150\" text-anchor=\"end\">\(end) s</text>"
        svg += "<text x=\"10\" y=\"165\">peak \(peak) requests/s</text></svg>\n"
        svg +=
            "<p><span style=\"color:#2a6fdb\">■</span> requests <span style=\"color:#e8912d\">■</span> retries "
            + "<span style=\"color:#d33\">■</span> 429s, per \(span == 1 ? "second" : "\(span) seconds")</p>\n"
        return svg
    }

    /// A table of texts, each cell ``excerpt(_:against:)``; with `changes`, rows of
    /// ``BulkUpdate/reviewColumns``, whose old and new value are cut around where they differ.
    static func table(_ header: [String], _ rows: [[String]], changes: Bool = false) -> String {
        var out = "<table><tr>" + header.map { "<th class=\"t\">\(escape($0))</th>" }.joined() + "</tr>\n"
        for row in rows {
            out += "<tr>"
            for (index, text) in row.enumerated() {
                let other = changes && row.count == 5 && (index == 2 || index == 3) ? row[5 - index] : nil
                out += "<td class=\"t\">\(excerpt(text, against: other))</td>"
            }
            out += "</tr>\n"
        }
        return out + "</table>\n"
    }

    /// Characters of a value shown whole; a longer one is cut.
    static let excerptLength = 400

    /// `text` for a cell, escaped: whole up to ``excerptLength`` characters; past it (a page of
    /// 5,000-character values would be too wide to read, or too long) the stretches around where
    /// it first and last differs from `other` (its start and its end without one), with the
    /// characters left out counted between them and its length said, so that no part of a
    /// change is cut away unsaid.
    static func excerpt(_ text: String, against other: String?) -> String {
        let a = Array(text)
        guard a.count > excerptLength else { return escape(text) }
        let b = Array(other ?? "")
        var first = 0
        while first < min(a.count, b.count), a[first] == b[first] { first += 1 }
        var same = 0
        while same < min(a.count, b.count) - first, a[a.count - 1 - same] == b[b.count - 1 - same] { same += 1 }
        let last = a.count - same
        var shown: [Range<Int>] = []
        for window in [max(0, first - 100)..<min(a.count, first + 150), max(0, last - 150)..<min(a.count, last + 100)] {
            if let previous = shown.last, window.lowerBound <= previous.upperBound {
                shown[shown.count - 1] =
                    min(previous.lowerBound, window.lowerBound)..<max(previous.upperBound, window.upperBound)
            } else {
                shown.append(window)
            }
        }
        var out = ""
        var at = 0
        for window in shown {
            if window.lowerBound > at { out += "<span class=\"cut\">[… \(window.lowerBound - at) characters …]</span>" }
            out += escape(String(a[window]))
            at = window.upperBound
        }
        if at < a.count { out += "<span class=\"cut\">[… \(a.count - at) characters …]</span>" }
        return out + "<span class=\"cut\"> (\(a.count) characters in all; review.csv holds the whole value)</span>"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

private func zip<A, B>(_ a: A?, _ b: B?) -> (A, B)? {
    guard let a, let b else { return nil }
    return (a, b)
}

/// Review files of a recorded run, for `sluice review`.
public enum ReviewReport {
    /// What a reviewed apply did: "applied and committed: 232 rows changed" when it wrote what
    /// the review said; when it wrote other (it was applied since, or rows drifted), what it
    /// did write: "applied: 0 of the 200000 rows the review would write; 200000 already held
    /// the values reviewed" (or drifted, or were deleted since the review: "no longer in the
    /// table"). `nil` for a dry run, and for a stage that did not succeed.
    public static func outcome(of stage: Manifest.StageRecord) -> String? {
        guard stage.status == .succeeded, stage.counters["dry_run", default: 0] == 0,
            let review = stage.review, let summary = ReviewSummary(json: review.summary),
            let changed = stage.counters["changed"]
        else { return nil }
        let written = changed + stage.counters["inserted", default: 0]
        // The review says what "would" change; once it did, the summary says so in the past.
        guard written != summary.rowsWritten else {
            return written == 0
                ? "applied: nothing to change"
                : "applied and committed: \(ApplyStage.written(rows: written, counters: stage.counters))"
        }
        var line = "applied: \(written) of the \(summary.rowsWritten) rows the review would write"
        // Of those rows, not of the table's (its `unchanged` counts rows the review left as
        // they were too): what was not written held the values already, or drifted.
        let drifted = stage.counters["drifted", default: 0]
        let skipped = stage.counters["skipped_by_trigger", default: 0]
        // An update's keys the table has lost since the review: rows deleted since, not written.
        let gone =
            summary.mode == BulkUpdate.Mode.update.rawValue
            ? min(
                max(0, stage.counters["unknown_keys", default: 0] - summary.unknownKeys),
                max(0, summary.rowsWritten - written - drifted - skipped)) : 0
        let held = max(0, summary.rowsWritten - written - drifted - skipped - gone)
        if held > 0 { line += "; \(held) of them already held the values reviewed" }
        if gone > 0 {
            line += "; \(gone) of them \(gone == 1 ? "is" : "are") no longer in the table (deleted since the review)"
        }
        if skipped > 0 { line += "; a trigger kept \(skipped) of them from being written" }
        if drifted > 0 { line += "; \(drifted) changed since the review and were left as they are" }
        return line
    }

    /// Writes the HTML page of a recorded review again, from its CSV (checked against the
    /// recorded SHA-256 first) and the run's records. Returns the page's URL.
    /// - Parameters:
    ///   - review: the review record, its paths relative to `directory` or absolute.
    ///   - stages: the run's stage records, for the rejects and the fetch figures.
    /// - Throws: when the CSV is missing or was changed since the review, or the page cannot be written.
    public static func rewritePage(
        of review: Manifest.Review, stage: String, stages: [Manifest.StageRecord], directory: URL
    ) async throws -> URL {
        let csv = review.file.url(in: directory)
        let (sha256, _) = try await PrivateFile.sha256(of: csv)
        guard sha256 == review.file.sha256 else {
            throw ReviewFileError(
                path: csv.path,
                "was changed after the review (sha256 \(sha256.prefix(12))…, reviewed \(review.file.sha256.prefix(12))…)"
            )
        }
        guard let summary = ReviewSummary(json: review.summary) else {
            throw ReviewFileError(path: csv.path, "the manifest holds no summary for this review")
        }
        let html =
            review.files.first { $0.kind == "review-html" }?.url(in: directory)
            ?? csv.deletingPathExtension().appendingPathExtension("html")
        let earlier = stages.prefix { $0.name != stage }
        return try await ReviewPage.write(
            to: html, summary: summary, cells: csv, earlier: Array(earlier), runDirectory: directory
        ).url
    }
}
