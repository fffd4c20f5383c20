import Foundation
import SluiceCore
import SluiceHTTP
import SluicePipeline

/// The fetch stage's requests over time, for the review page: while the stage fetches, the
/// fetcher's counters are read once a second, and `<stage>.timeline.csv` gets one row per
/// second of what happened in it (``columns``), the last row the part-second before the end.
/// `pages` (of paged lists, after each row's first: ``FetchCounters/pages``) comes last, so
/// that the columns before it read as they did before pagination.
enum FetchTimeline {
    static let columns = ["second", "requests", "retries", "http_429", "waits", "wait_ms", "pages"]
    static let kind = "timeline"

    static func url(stage: String, in directory: URL) -> URL {
        directory.appendingPathComponent(RunFileNames.timeline(stage: stage))
    }

    /// Reads `counters` every `interval` on `clock` until the task is cancelled, then once more;
    /// returns one row (``columns``) per interval with any request, retry or wait in it.
    static func record(
        every interval: Duration, on clock: any Clock<Duration>, counters: @Sendable () async -> FetchCounters
    ) async -> [[Int]] {
        var rows: [[Int]] = []
        var last = FetchCounters()
        var second = 0
        func sample() async {
            let now = await counters()
            let row = [
                second, now.requests - last.requests, now.retries - last.retries, now.rateLimited - last.rateLimited,
                now.waits - last.waits, Int(((now.waitSeconds - last.waitSeconds) * 1000).rounded()),
                now.pages - last.pages,
            ]
            if row.dropFirst().contains(where: { $0 != 0 }) { rows.append(row) }
            last = now
        }
        while !Task.isCancelled {
            do {
                try await clock.sleep(for: interval)
            } catch {
                break
            }
            second += 1
            await sample()
        }
        second += 1
        await sample()
        return rows
    }

    /// Writes the rows as `<stage>.timeline.csv` and records it as the stage's `timeline` output.
    static func write(_ rows: [[Int]], stage: String, context: StageContext) async throws {
        let url = url(stage: stage, in: context.runDirectory)
        let writer = try await CSVFileWriter(url: url, columns: columns)
        do {
            try await writer.write(Batch(columns: columns, rows: rows.map { $0.map { .int(Int64($0)) } }))
            let sha256 = try await writer.commit()
            context.registerArtifact(at: url, kind: kind, sha256: sha256, rows: rows.count)
        } catch {
            await writer.abandon()
            throw error
        }
    }
}
