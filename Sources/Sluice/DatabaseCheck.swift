import Foundation
import Logging
import SluicePipeline
import SluicePlan
import SluicePostgres

/// `sluice check --connect`: what a run would find out at its databases, found before anything
/// runs. Every PostgreSQL connection of the plan is opened (and closed); then each query's SQL
/// is planned, not run (``QueryStage/check(_:)``), and every stage that checks its table before a
/// run does so (an apply: its table, key and columns; a verify: its checks' SQL). Nothing is
/// written and no API is asked anything: an http connection's credentials are first used by a run.
public enum DatabaseCheck {
    public struct Report: Sendable {
        /// Per connection opened, its name and the server's version.
        public var connected: [String] = []
        /// Every problem, located in the plan (`plan.yaml:LINE:COL: error: ...`); one stage's
        /// may hold several (each verify check the server refuses).
        public var problems: [String] = []

        /// How many errors the problems hold.
        public var errorCount: Int {
            problems.reduce(0) { count, problem in
                count + max(1, problem.split(separator: "\n").filter { $0.contains(": error: ") }.count)
            }
        }
    }

    public static func run(_ plan: Plan, stages: [StageSpec], logger: Logger) async -> Report {
        var report = Report()
        var unreachable: Set<String> = []
        for connection in plan.connections {
            guard let settings = connection.postgres else { continue }
            do {
                let version = try await DatabaseConnector.with(
                    settings, logger: logger, applicationName: "sluice check"
                ) {
                    try await $0.execute("SHOW server_version").scalar.text ?? "?"
                }
                report.connected.append("connection '\(connection.name)': connected (PostgreSQL \(version))")
            } catch {
                unreachable.insert(connection.name)
                report.problems.append(
                    "\(connection.location): error: connections.\(connection.name): cannot connect: \(error)")
            }
        }
        // A stage whose server could not be reached has nothing more to say (named above), and
        // is not made to wait for it again.
        for spec in stages where !unreachable.contains(connection(of: spec.stage) ?? "") {
            let context = StageContext(
                stageName: spec.stage.name, stageKind: spec.stage.kind, runID: "check",
                runDirectory: URL(fileURLWithPath: "/nonexistent"), runStartedAt: Date(), logger: logger)
            do {
                if let query = spec.stage as? QueryStage {
                    try await query.check(context)
                } else if let stage = spec.stage as? any PreflightingStage {
                    try await stage.preflight(context)
                }
            } catch let error as StageError where error.message.contains(": error: ") {
                // Located already, stage and key included.
                report.problems.append(error.message)
            } catch {
                report.problems.append(String(describing: error))
            }
        }
        return report
    }

    /// The connection a stage that checks at its database uses.
    private static func connection(of stage: any Stage) -> String? {
        switch stage {
        case let query as QueryStage: return query.settings.connection
        case let apply as ApplyStage: return apply.settings.connection
        case let apply as CSVApplyStage: return apply.apply.settings.connection
        case let verify as VerifyStage: return verify.settings.connection
        default: return nil
        }
    }
}
