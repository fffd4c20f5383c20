import ArgumentParser
import Foundation
import Logging
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan

@main
struct SluiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice",
        abstract: "Run declarative data pipelines from YAML plans.",
        discussion: """
            A plan names stages (query, read-csv, chunk, fetch, transform, validate, write-csv, \
            apply, verify); sluice runs them as a streaming pipeline with backpressure and writes a \
            manifest for every run, from which any stage can be replayed.
            """,
        version: SluiceVersion.current,
        subcommands: [
            Check.self, Run.self, ApplyCommand.self, Replay.self, Resume.self, Runs.self, ReviewCommand.self,
            RejectCommand.self, UndoCommand.self,
            Graph.self,
            Reference.self,
        ]
    )

    static func main() async {
        MallocTuning.apply()
        do {
            var command = try parseAsRoot(nil)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            // As ArgumentParser's own `exit(withError:)`, but a usage error reads `error: ...`
            // like every other error sluice prints (ArgumentParser writes `Error: `).
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { Terminal.printOutput(message) }
            } else if !message.isEmpty {
                Terminal.printError(message.hasPrefix("Error: ") ? "error: " + message.dropFirst(7) : message)
            }
            Foundation.exit(code.rawValue)
        }
    }
}

/// Options shared by every command that loads a plan.
struct PlanOptions: ParsableArguments {
    @Argument(help: "The plan file (YAML).")
    var plan: String

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp("Override a parameter for this run: STAGE.PARAM=VALUE (repeatable).", valueName: "K=V"))
    var overrides: [String] = []

    /// Loads the plan, printing every diagnostic to stderr on failure.
    /// - Parameter unsetVariablesAreWarnings: for commands that need no credentials (`check`,
    ///   `graph`): a `${VAR}` that is not set is a warning, not an error.
    func load(unsetVariablesAreWarnings: Bool = false) async throws -> Plan {
        do {
            var loader = PlanLoader()
            loader.unsetVariablesAreWarnings = unsetVariablesAreWarnings
            loader.readsCSVHeaders = true
            let (loading, path, overrides) = (loader, plan, overrides)
            // Reading the file: off the cooperative pool.
            let plan = try await BlockingIO.run { try loading.load(path: path, overrides: overrides) }
            SecretRegistry.register(plan.secretTexts)
            Terminal.reportWarnings(of: plan)
            return plan
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
    }

    /// Of `unset` (variables the plan uses that are not set), those its PostgreSQL connections
    /// use (``RecordedPlan/loadMarking(_:_:loader:needed:)``); `nil` when that cannot be told.
    func databaseVariables(among unset: [String]) async -> Set<String>? {
        let (path, overrides) = (plan, self.overrides)
        return try? await BlockingIO.run {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            return RecordedPlan.loadMarking(unset, (bytes, path, overrides)) { plan in
                plan.connections.filter { $0.postgres != nil }
            }?.used
        }
    }
}

enum ExitStatus {
    static let failed: Int32 = 1
    static let invalidPlan: Int32 = 2
    static let awaitingApproval: Int32 = 3
    static let resumable: Int32 = 4
    /// The run failed after an apply committed: the database changed (`sluice undo` puts it back).
    static let failedAfterApply: Int32 = 5
    /// `sluice undo` restored what it could and committed, but left cells changed since.
    static let partlyUndone: Int32 = 6
    /// A command line naming what is not there (ArgumentParser's own usage errors exit so too).
    static let usage: Int32 = 64
    static let interrupted: Int32 = 130
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate a plan without running it.",
        discussion: """
            Prints every problem as PLAN:LINE:COL: error: ... and exits 2; exits 0 with a summary when valid. \
            Needs no credentials: an environment variable the plan uses that is not set (DATABASE_URL, a client \
            secret) is a warning, set at run time; --strict makes it an error, as it is for run.

            With --connect it also opens every PostgreSQL connection (so it needs their credentials: an \
            unset variable one uses is an error; an API's may stay unset), has the server plan each query's SQL without running it, and checks what a run checks \
            before it starts: each apply's table, key and columns, each verify check's SQL. It changes \
            nothing and asks no API anything. Every problem is printed located in the plan; exit 2.
            """)

    @OptionGroup var options: PlanOptions

    @Flag(help: "Treat an environment variable that is not set as an error, as run does.")
    var strict = false

    @Flag(help: "Also connect to the plan's databases and check its SQL, tables and columns there.")
    var connect = false

    func run() async throws {
        let plan = try await options.load(unsetVariablesAreWarnings: !strict)
        if connect {
            // The databases' credentials are needed to connect to them; an API's are not: check
            // asks no API anything. When that cannot be told (the plan does not load with stand-ins
            // for them), every unset variable is needed: a URL left empty would connect libpq to
            // its defaults, another database than the plan's.
            let unset = plan.warnings.compactMap { warning -> (Diagnostic, String)? in
                if case .unsetVariable(let name) = warning.code { (warning, name) } else { nil }
            }
            let needed = await options.databaseVariables(among: unset.map(\.1))
            let missing = unset.filter { needed?.contains($0.1) ?? true }
            if !missing.isEmpty {
                for (warning, name) in missing {
                    var error = Diagnostic.error(
                        "environment variable '\(name)' is not set, and --connect connects with it",
                        at: warning.location, notes: ["set it, or check without --connect"])
                    error.code = warning.code
                    Terminal.printError(error)
                }
                Terminal.printError(missing.count.counted("error"))
                throw ExitCode(ExitStatus.invalidPlan)
            }
            let logger = Logger(label: "sluice.check") { _ in SwiftLogNoOpLogHandler() }
            let stages: [StageSpec]
            do {
                stages = try PipelineBuilder(plan: plan, logger: logger).stages()
            } catch {
                Terminal.report(error)
                throw ExitCode(ExitStatus.invalidPlan)
            }
            let report = await DatabaseCheck.run(plan, stages: stages, logger: logger)
            for line in report.connected { Terminal.printOutput(line) }
            for problem in report.problems { Terminal.printError(problem) }
            guard report.problems.isEmpty else {
                Terminal.printError(report.errorCount.counted("error"))
                throw ExitCode(ExitStatus.invalidPlan)
            }
        }
        Terminal.printOutput("\(options.plan): ok: \(plan.summary)")
    }
}

struct Graph: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the plan's stages and connections as a Mermaid or Graphviz graph.")

    @OptionGroup var options: PlanOptions

    @Option(help: "mermaid (paste into Markdown) or dot (render with Graphviz).")
    var format: PlanGraph.Format = .mermaid

    func run() async throws {
        let plan = try await options.load(unsetVariablesAreWarnings: true)
        Terminal.printOutput(PlanGraph.render(plan, format: format), terminator: "")
    }
}

extension PlanGraph.Format: ExpressibleByArgument {}

struct Reference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the plan reference (every key, type and default) as Markdown.")

    func run() async throws {
        Terminal.printOutput(Schema.referenceMarkdown(), terminator: "")
    }
}
