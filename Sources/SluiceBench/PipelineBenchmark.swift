import ArgumentParser
import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluiceTestSupport

/// Rows through the real Runner (spools on): source → map → map → sink, batches of 1,000
/// rows of three columns. Measures rows per second and peak RSS (VmHWM).
///
/// Without `--rows`, runs itself twice as child processes, at 100,000 and at 10,000,000 rows,
/// so that each peak is measured from a fresh process (VmHWM never goes down), and compares
/// the peaks: memory must not grow with the input (target: within 10%).
struct PipelineBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline", abstract: "Push rows through the runner and measure rows/s and peak memory.")

    @Option(help: "Rows for one in-process measurement; omit to compare 100k and 10M in child processes.")
    var rows: Int?
    @Option(help: "Rows per batch.") var batchSize = 1000
    @Option(help: "Batches per edge.") var buffer = 4
    @Option(help: "Where the run directory goes (a temporary directory by default; removed afterwards).")
    var scratch: String?

    func run() async throws {
        if let rows {
            let line = try await measure(rows: rows)
            print(line.table)
            print("machine: \(line.machine)")
        } else {
            try await compare()
        }
    }

    struct Measurement {
        var rows: Int
        var seconds: Double
        var peakMiB: Double
        var spoolMiB: Double
        var rowsPerSecond: Double { Double(rows) / seconds }
        var table: String {
            String(
                format: "| pipeline | %d rows, 4 stages, spools %.0f MiB | %.0f rows/s (%.2f s) | peak RSS %.1f MiB |",
                rows, spoolMiB, rowsPerSecond, seconds, peakMiB)
        }
        var machine: String { "rows=\(rows) seconds=\(seconds) peak_kib=\(Int(peakMiB * 1024))" }
    }

    private func measure(rows: Int) async throws -> Measurement {
        let base = scratch.map { URL(fileURLWithPath: $0) } ?? FileManager.default.temporaryDirectory
        let root = base.appendingPathComponent("sluice-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var configuration = RunConfiguration.bench(runsDirectory: root)
        configuration.defaultBufferSize = buffer
        let stages = [
            StageSpec(BenchSource(rows: rows, batchSize: batchSize)),
            StageSpec(BenchMap(name: "map1"), input: "source"),
            StageSpec(BenchMap(name: "map2"), input: "map1"),
            StageSpec(BenchSink(), input: "map2"),
        ]
        let start = ContinuousClock.now
        let result = try await Runner(stages: stages, configuration: configuration).run()
        let elapsed = ContinuousClock.now - start
        guard result.manifest.status == .succeeded, result.manifest.stage("sink")?.rowsIn == rows else {
            throw ValidationError(
                "the benchmark run did not succeed: \(result.manifest.status) \(String(describing: result.manifest.error))"
            )
        }
        let spoolBytes = result.manifest.stages.compactMap(\.spool).reduce(0) { total, spool in
            let size =
                (try? FileManager.default.attributesOfItem(
                    atPath: result.directory.appendingPathComponent(spool.path).path)[.size]) as? NSNumber
            return total + (size?.intValue ?? 0)
        }
        let seconds = elapsed.seconds
        return Measurement(
            rows: rows, seconds: seconds, peakMiB: peakResidentMiB(), spoolMiB: Double(spoolBytes) / 1_048_576)
    }

    /// Runs the 100k and 10M measurements in fresh child processes and compares their peaks.
    private func compare() async throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var results: [(table: String, rows: Int, peak: Double)] = []
        for rows in [100_000, 10_000_000] {
            let arguments =
                ["pipeline", "--rows", "\(rows)", "--batch-size", "\(batchSize)", "--buffer", "\(buffer)"]
                + (scratch.map { ["--scratch", $0] } ?? [])
            let outcome = try await ChildProcess.run(executable.path, arguments, captureOutput: true)
            let output = outcome.output
            guard outcome.status == 0,
                let table = output.split(separator: "\n").first(where: { $0.hasPrefix("|") }),
                let peak = output.firstMatch(of: /peak_kib=(\d+)/).flatMap({ Double($0.1) })
            else { throw ValidationError("the \(rows)-row measurement failed:\n\(output)") }
            print(table)
            results.append((String(table), rows, peak / 1024))
        }
        let growth = (results[1].peak / results[0].peak - 1) * 100
        print(
            String(
                format: "| pipeline | peak RSS at 10M vs 100k | %+.1f%% (target within 10%%) | %@ |",
                growth, abs(growth) <= 10 ? "ok" : "OVER TARGET"))
    }
}

extension RunConfiguration {
    /// A run of stages the benchmark builds itself: no plan file, no logging.
    static func bench(runsDirectory: URL, planPath: String = "bench", planName: String = "bench") -> RunConfiguration {
        RunConfiguration(
            runsDirectory: runsDirectory, toolVersion: "bench",
            plan: Manifest.Plan(path: planPath, sha256: String(repeating: "0", count: 64), name: planName),
            resolvedPlan: .null, overrides: [], logger: benchLogger, continueCommand: { _, _ in "" })
    }
}

/// A logger that drops everything: benchmarks time the work, not its log lines.
let benchLogger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })

/// Peak resident set size of this process in MiB: VmHWM from /proc/self/status (getrusage's
/// figure where /proc is missing).
func peakResidentMiB() -> Double {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kib = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ Double($0) })
    {
        return kib / 1024
    }
    return peakRSSMiB()
}

/// Generates `rows` rows `[id, name, score]` in batches.
struct BenchSource: Stage {
    var name: String { "source" }
    var kind: String { "bench-source" }
    var parameters: Value { .object(["rows": .int(Int64(rows)), "batch_size": .int(Int64(batchSize))]) }
    let rows: Int
    let batchSize: Int

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        context.expectTotal(rows: rows)
        let columns = ["id", "name", "score"]
        var next = 0
        while next < rows {
            let end = min(rows, next + batchSize)
            let batch = (next..<end).map { id -> [Value] in
                [.int(Int64(id)), .string("t\(id)"), .double(Double(id) / 8)]
            }
            try await output.send(Batch(columns: columns, rows: batch))
            next = end
        }
    }
}

/// A trivial transformation: bumps the score.
struct BenchMap: Stage {
    let name: String
    var kind: String { "bench-map" }
    var parameters: Value { .null }

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        for try await var batch in input! {
            for i in batch.rows.indices {
                if case .double(let score) = batch.rows[i][2] { batch.rows[i][2] = .double(score + 1) }
            }
            try await output.send(batch)
        }
    }
}

/// Reads everything and sends nothing on (its spool stays empty).
struct BenchSink: Stage {
    var name: String { "sink" }
    var kind: String { "bench-sink" }
    var parameters: Value { .null }

    func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        var total = 0
        for try await batch in input! { total += batch.count }
        context.counters.set("rows", total)
    }
}
