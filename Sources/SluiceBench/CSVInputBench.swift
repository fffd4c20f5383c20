import ArgumentParser
import Foundation
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

/// The csv-input stage of `sluice apply` on its own, through the real runner (its spool
/// written) into a sink: a generated reviewed CSV like `scripts/bench-apply.sh`'s (a uuid key in
/// key order, a 22-character Spotify id, a popularity, an ISRC empty on every 50th row) read and
/// checked against the rules of `plans/spotify-enrichment.yaml`. No database: a diagnosis figure
/// for the client's share of the apply command, whose re-apply is bound by it.
struct CSVInputBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "csv-input", abstract: "Read and check a reviewed CSV as `sluice apply` does, without a database.")

    @Option(help: "Rows in the generated CSV.") var rows = 200_000
    @Option(help: "Rounds; the best and the median are reported.") var rounds = 5
    @Option(help: "The plan whose rules check the file.") var plan = "plans/spotify-enrichment.yaml"

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let csv = root.appendingPathComponent("reviewed.csv")
        let rows = rows
        let bytes = try await BlockingIO.run {
            let text = Self.reviewedCSV(rows: rows)
            try Data(text.utf8).write(to: csv)
            return text.utf8.count
        }
        let environment = [
            "DATABASE_URL": "postgresql://bench@127.0.0.1/bench", "SPOTIFY_CLIENT_ID": "bench",
            "SPOTIFY_CLIENT_SECRET": "bench",
        ]
        let loaded = try PlanLoader(environment: environment).load(path: plan)
        let schema = try CSVApplyPipeline(plan: loaded, csv: csv, displayPath: "reviewed.csv", logger: benchLogger)
            .schema
        var samples: [Double] = []
        for round in 0..<rounds {
            let configuration = RunConfiguration.bench(
                runsDirectory: root.appendingPathComponent("runs-\(round)"), planPath: plan, planName: loaded.name)
            let stages = [
                StageSpec(CSVInputStage(url: csv, displayPath: "reviewed.csv", schema: schema)),
                StageSpec(BenchSink(), input: CSVInputStage.kindName),
            ]
            let start = ContinuousClock.now
            let result = try await Runner(stages: stages, configuration: configuration).run()
            samples.append((ContinuousClock.now - start).seconds)
            guard result.manifest.status == .succeeded, result.manifest.stage("sink")?.rowsIn == rows else {
                throw ValidationError(
                    "the csv-input run did not succeed: \(result.manifest.status) "
                        + String(describing: result.manifest.error))
            }
            try? FileManager.default.removeItem(at: result.directory)
        }
        let sorted = samples.sorted()
        let best = sorted[0]
        let median = sorted[sorted.count / 2]
        print(
            String(
                format:
                    "| csv-input | %d rows, %.1f MB, the Spotify plan's rules, spool written, no database "
                    + "| best of %d: %.3f s (%.0f rows/s, %.0f MB/s), median %.3f s |",
                rows, Double(bytes) / 1_000_000, rounds, best, Double(rows) / best, Double(bytes) / 1_000_000 / best,
                median))
    }

    /// `track_id,spotify_id,spotify_popularity,isrc`, keys in order, as `scripts/bench-apply.sh` writes them.
    static func reviewedCSV(rows: Int) -> String {
        var text = "track_id,spotify_id,spotify_popularity,isrc\n"
        text.reserveCapacity(rows * 80)
        var generator = SplitMix64(seed: 15)
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        for i in 1...max(rows, 1) {
            let key = String(i, radix: 16)
            text += "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - key.count) + key + ","
            var id = [UInt8]()
            for _ in 0..<22 { id.append(alphabet[Int(generator.next() % UInt64(alphabet.count))]) }
            text += String(decoding: id, as: UTF8.self) + ",\(generator.next() % 101),"
            if i % 50 != 0 {
                var isrc: [UInt8] = Array("US".utf8)
                for _ in 0..<3 { isrc.append(hex[Int(generator.next() % 16)]) }
                let number = String(i % 10_000_000)
                text += String(decoding: isrc, as: UTF8.self) + String(repeating: "0", count: 7 - number.count) + number
            }
            text += "\n"
        }
        return text
    }
}
