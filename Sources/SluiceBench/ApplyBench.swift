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

    func run() async throws {
        let server = try await TestPostgres.shared()
        let result = try await ApplyBenchmark(rows: rows, rounds: rounds).run(server: server)
        let perRound = result.roundRatios.map { String(format: "%.2fx", $0) }.joined(separator: ", ")
        let best = String(
            format: "best of %d: sluice %.2f s (%.0f rows/s), psql \\copy + UPDATE %.2f s (%.0f rows/s): %.2fx",
            result.roundRatios.count, result.sluice.secondsDouble, result.sluiceRowsPerSecond,
            result.psql.secondsDouble, result.psqlRowsPerSecond, result.ratio)
        print("| apply | \(rows) rows, uuid key, 2 indexed columns, random order | \(best) (rounds: \(perRound)) |")
    }
}
