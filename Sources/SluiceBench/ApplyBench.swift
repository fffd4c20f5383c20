import ArgumentParser
import Foundation
import SluiceTestSupport

/// Issue 4's target: Sluice's apply engine against `psql` doing the same `\copy` + `UPDATE ... FROM`.
struct ApplyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Bulk-update N rows (uuid key, two indexed columns, random order) with Sluice and with psql.")

    @Option(help: "Rows to update.") var rows = 1_000_000
    @Option(help: "Rounds of psql then Sluice; each side's best time counts.") var rounds = 3
    @Flag(help: "Read the prior values before the UPDATE (the small-input path), not on a second connection during it.")
    var priorFirst = false
    @Flag(help: "Also time the review of the same rows: at the approval gate, and inside the apply (--yes).")
    var review = false

    func run() async throws {
        let server = try await TestPostgres.shared()
        var benchmark = ApplyBenchmark(rows: rows, rounds: rounds)
        benchmark.concurrentPriorRead = !priorFirst
        benchmark.review = review
        let result = try await benchmark.run(server: server)
        let perRound = result.roundRatios.map { String(format: "%.2fx", $0) }.joined(separator: ", ")
        let best = String(
            format: "best of %d: sluice %.2f s (%.0f rows/s), psql \\copy + UPDATE %.2f s (%.0f rows/s): %.2fx",
            result.roundRatios.count, result.sluice.seconds, result.sluiceRowsPerSecond,
            result.psql.seconds, result.psqlRowsPerSecond, result.ratio)
        let prior = result.stats.priorReadConcurrently ? "second connection, during the UPDATE" : "before the UPDATE"
        print(
            "| apply | \(rows) rows, uuid key, 2 indexed columns, random order | \(best) (rounds: \(perRound); "
                + "prior values read \(prior)) |")
        if let review = result.review, let reviewed = result.reviewedApply {
            let inside = reviewed.seconds - result.sluice.seconds
            func rounds(_ ratios: [Double]) -> String {
                let each = ratios.map { String(format: "%.0f%%", 100 * $0) }.joined(separator: ", ")
                let sorted = ratios.sorted()
                let half = sorted.count / 2
                let median = sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
                return "per round \(each), median " + String(format: "%.0f%%", 100 * median)
            }
            let gate = String(
                format: "best %.2f s = %.0f%% of the apply's %.2f s", review.seconds,
                100 * review.seconds / result.sluice.seconds, result.sluice.seconds)
            let within = String(
                format: "best %.2f s, so the review adds %.2f s = %.0f%%", reviewed.seconds, inside,
                100 * inside / result.sluice.seconds)
            print(
                "| review | \(rows) rows, every cell changing, written as CSV | at the gate (own connection, own copy "
                    + "of the input): \(gate) (\(rounds(result.gateRatios))); inside the apply (`--yes`): \(within) "
                    + "(\(rounds(result.insideRatios))) |")
        }
    }
}
