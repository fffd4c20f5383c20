import Foundation
import Sluice
import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport

/// Times ``BulkUpdate`` against a plain psql baseline on the same data: `\copy` into a temp table
/// plus the same `UPDATE ... FROM`, in one transaction. Both start from the same table state
/// (the updated columns NULL, the table vacuumed), so the ratio is fair.
public struct ApplyBenchmark: Sendable {
    public struct Result: Sendable {
        public var rows: Int
        public var sluice: Duration
        /// The best review time (at the gate: on its own connection, its own copy of the input),
        /// when reviews were timed.
        public var review: Duration?
        /// The best time of the apply reviewing inside its own transaction (`--yes`), when
        /// reviews were timed: the review's cost there is this minus ``sluice``.
        public var reviewedApply: Duration?
        public var psql: Duration
        public var stats: BulkUpdateStats
        /// Sluice's time over psql's in each round (the rounds alternate the two), in order.
        public var roundRatios: [Double]
        /// Per round, the review at the gate over that round's apply, and the reviewed apply's
        /// extra time over it: figures from minutes apart, which a host whose speed drifts
        /// between rounds skews less than one best time over another.
        public var gateRatios: [Double] = []
        public var insideRatios: [Double] = []
        public var ratio: Double { sluice.seconds / psql.seconds }
        public var sluiceRowsPerSecond: Double { Double(rows) / sluice.seconds }
        public var psqlRowsPerSecond: Double { Double(rows) / psql.seconds }
    }

    public var rows: Int
    public var batchSize: Int = 10_000
    /// Rounds of one psql run then one Sluice run; each side's best time counts.
    public var rounds: Int
    /// Sluice reads the prior values on a second connection during the UPDATE (its default for
    /// large inputs); `false` reads them before the UPDATE, as it does for small inputs.
    public var concurrentPriorRead = true

    /// Also time the review of the same input (``BulkUpdate/review(on:input:cells:)``) each round.
    public var review = false

    public init(rows: Int, rounds: Int = 3) {
        self.rows = rows
        self.rounds = max(1, rounds)
    }

    /// Runs `rounds` rounds on a fresh database of the test server.
    public func run(server: TestPostgres) async throws -> Result {
        let conninfo = try await server.makeDatabase(prefix: "sluice_bench")
        let connection = try await server.connect(conninfo)
        _ = try await connection.execute(TestPostgres.tracksSchema)
        _ = try await connection.execute(
            "INSERT INTO tracks (id, title) SELECT gen_random_uuid(), 'track ' || g FROM generate_series(1, $1::int) g",
            [.int(Int64(rows))])
        // Random order, as a CSV made from an API's answers would be.
        var ids: [String] = []
        ids.reserveCapacity(rows)
        _ = try await connection.stream("SELECT id FROM tracks ORDER BY random()", batchSize: 10_000) { batch in
            ids.append(contentsOf: batch.rows.map { $0[0].stringValue! })
        }
        let input = Self.inputRows(ids)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(getpid()).tsv")
        try Self.copyText(input).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        var update = BulkUpdate(
            table: "tracks", key: "id",
            columns: [.init("spotify_popularity", onEmpty: .keep), .init("isrc", onEmpty: .clear)])
        if !concurrentPriorRead { update.concurrentPriorReadRows = nil }
        let batches = stride(from: 0, to: input.count, by: batchSize).map {
            Batch(columns: update.inputColumns, rows: Array(input[$0..<min($0 + batchSize, input.count)]))
        }

        func reset() async throws {
            _ = try await connection.execute("UPDATE tracks SET spotify_popularity = NULL, isrc = NULL")
            _ = try await connection.execute("VACUUM ANALYZE tracks")
            // Each run starts with no dirty pages and no checkpoint due, so a checkpoint that
            // the previous run's WAL triggers does not land in the next run's time.
            _ = try await connection.execute("CHECKPOINT")
        }
        func timePsql() async throws -> Duration {
            try await reset()
            let start = ContinuousClock.now
            try await Self.runPsql(conninfo: conninfo, script: Self.baselineScript(file: file.path))
            return ContinuousClock.now - start
        }
        var stats = BulkUpdateStats(dryRun: false)
        let undoFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(getpid()).undo")
        defer { try? FileManager.default.removeItem(at: undoFile) }
        let reviewFile = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(getpid()).csv")
        defer { try? FileManager.default.removeItem(at: reviewFile) }
        /// The apply, the prior values to a file as NDJSON, one write per batch, as the apply
        /// stage writes its undo file; with `reviewed`, reviewing inside its transaction first.
        func timeSluice(reviewed: Bool = false) async throws -> Duration {
            try await reset()
            let start = ContinuousClock.now
            guard FileManager.default.createFile(atPath: undoFile.path, contents: nil) else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: undoFile.path])
            }
            let out = try FileHandle(forWritingTo: undoFile)
            var line: [UInt8] = []
            let undo: (Batch) async throws -> Void = { batch in
                line.removeAll(keepingCapacity: true)
                for row in batch.rows {
                    JSON.encode(.array(row), into: &line)
                    line.append(UInt8(ascii: "\n"))
                }
                let chunk = line
                try await BlockingIO.run { try out.write(contentsOf: chunk) }
            }
            if reviewed {
                let cells = try await CSVCells(reviewFile)
                let review = BulkUpdate.InlineReview(cells: cells.write) { _, _ in }
                stats = try await update.run(on: connection, input: AsyncBatches(batches), review: review, undo: undo)
                try await cells.close()
            } else {
                stats = try await update.run(on: connection, batches: batches, undo: undo)
            }
            try await BlockingIO.run { try out.close() }
            return ContinuousClock.now - start
        }
        /// The review of the same input on the same table at the gate, its cells written as the
        /// apply stage writes review.csv.
        func timeReview() async throws -> Duration {
            try await reset()
            let start = ContinuousClock.now
            let cells = try await CSVCells(reviewFile)
            _ = try await update.review(on: connection, input: AsyncBatches(batches), cells: cells.write)
            try await cells.close()
            return ContinuousClock.now - start
        }
        var psql = Duration.seconds(Int64.max)
        var sluice = Duration.seconds(Int64.max)
        var ratios: [Double] = []
        var reviews: [Duration] = []
        var reviewedApplies: [Duration] = []
        var gateRatios: [Double] = []
        var insideRatios: [Double] = []
        for _ in 0..<rounds {
            if review {
                reviews.append(try await timeReview())
                reviewedApplies.append(try await timeSluice(reviewed: true))
            }
            let roundPsql = try await timePsql()
            let roundSluice = try await timeSluice()
            ratios.append(roundSluice.seconds / roundPsql.seconds)
            if let review = reviews.last, let reviewed = reviewedApplies.last {
                gateRatios.append(review.seconds / roundSluice.seconds)
                insideRatios.append((reviewed - roundSluice).seconds / roundSluice.seconds)
            }
            psql = min(psql, roundPsql)
            sluice = min(sluice, roundSluice)
        }
        await connection.close()
        var result = Result(rows: rows, sluice: sluice, psql: psql, stats: stats, roundRatios: ratios)
        result.review = reviews.min()
        result.reviewedApply = reviewedApplies.min()
        result.gateRatios = gateRatios
        result.insideRatios = insideRatios
        return result
    }

    static func inputRows(_ ids: [String]) -> [[Value]] {
        var generator = SplitMix64(seed: 42)
        return ids.enumerated().map { index, id in
            let popularity = Value.int(Int64(generator.next() % 101))
            let isrc: Value = index % 50 == 0 ? .null : .string("USRC1\(String(format: "%07d", index))")
            return [.string(id), popularity, isrc]
        }
    }

    static func copyText(_ rows: [[Value]]) -> Data {
        var out = Data()
        for row in rows {
            out.append(contentsOf: row.map { $0.text ?? "\\N" }.joined(separator: "\t").utf8)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    static func baselineScript(file: String) -> String {
        """
        \\set ON_ERROR_STOP 1
        BEGIN;
        CREATE TEMP TABLE sluice_apply_input ON COMMIT DROP AS
            SELECT id, spotify_popularity, isrc FROM tracks WITH NO DATA;
        \\copy sluice_apply_input (id, spotify_popularity, isrc) FROM '\(file)'
        UPDATE tracks AS t SET spotify_popularity = COALESCE(s.spotify_popularity, t.spotify_popularity), isrc = s.isrc
            FROM sluice_apply_input AS s
            WHERE t.id = s.id
              AND (COALESCE(s.spotify_popularity, t.spotify_popularity), s.isrc)
                  IS DISTINCT FROM (t.spotify_popularity, t.isrc);
        COMMIT;
        """
    }

    static func runPsql(conninfo: String, script: String) async throws {
        let outcome = try await ChildProcess.run(
            TestPostgres.psqlPath, ["-X", "-q", "-d", conninfo, "-f", "-"], input: script)
        guard outcome.status == 0 else {
            throw TestPostgres.SetupError("psql baseline failed with status \(outcome.status)")
        }
    }

    /// Review cells into review.csv through the apply stage's own writer (``CSVFileWriter``:
    /// RFC 4180, written off the cooperative pool, fsynced and renamed into place at the end).
    final class CSVCells {
        private let writer: CSVFileWriter

        init(_ url: URL) async throws {
            writer = try await CSVFileWriter(url: url, columns: BulkUpdate.reviewColumns)
        }

        func write(_ cells: ReviewCells) async throws {
            try await writer.write(cells)
        }

        func close() async throws {
            try await writer.commit()
        }
    }
}
