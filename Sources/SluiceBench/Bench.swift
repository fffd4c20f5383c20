import ArgumentParser
import Foundation
import SluiceCore
import SluicePlan

/// Benchmarks, each printing one Markdown table row of figures. `scripts/bench.sh` runs them
/// all; BENCHMARKS.md records the results.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-bench",
        abstract: "Measure Sluice against its physical baselines.",
        subcommands: [
            PlanCheck.self, PipelineBenchmark.self, CSVInputBench.self, ApplyBench.self, FetchBench.self, RawFetch.self,
            PerItemBench.self,
        ]
    )
}

/// Peak resident memory of this process so far, in MiB (getrusage ru_maxrss).
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func time<T>(_ body: () throws -> T) rethrows -> (T, Double) {
    let start = ContinuousClock.now
    let result = try body()
    let elapsed = ContinuousClock.now - start
    return (result, elapsed.seconds)
}

struct PlanCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan-check", abstract: "Load and check a generated plan with many stages.")

    @Option(help: "Stages in the generated plan.") var stages = 1000
    @Option(name: .customLong("repeat"), help: "Repetitions; the median is reported.") var repetitions = 20

    func run() throws {
        var yaml = """
            version: 1
            name: bench
            connections:
              db: { kind: postgres, url: "postgres://localhost/db" }
              api: { kind: http, base_url: "http://127.0.0.1:9/v1" }
            stages:
              - kind: query
                connection: db
                sql: SELECT id AS track_id, spotify_id FROM tracks
              - kind: chunk
                size: 50
              - kind: fetch
                connection: api
                path: /tracks
                id: trim(spotify_id)
                delay: 0.33s

            """
        for i in 0..<(stages - 3) {
            yaml += """
                  - kind: transform
                    name: t\(i)
                    keep_input: true
                    fields:
                      track_id: track_id
                      isrc: upper(replace(trim(response.external_ids.isrc), '-', ''))

                """
        }
        let bytes = Array(yaml.utf8)
        let loader = PlanLoader(environment: [:])
        var samples: [Double] = []
        for _ in 0..<repetitions {
            let (plan, seconds) = try time { try loader.load(bytes: bytes, path: "bench.yaml") }
            precondition(plan.stages.count == stages)
            samples.append(seconds)
        }
        samples.sort()
        let median = samples[samples.count / 2]
        print(
            String(
                format: "| plan-check | %d stages, %d KB | median %.1f ms (min %.1f, max %.1f) over %d runs |",
                stages, bytes.count / 1024, median * 1000, samples[0] * 1000, samples.last! * 1000, repetitions))
    }
}
