import ArgumentParser
import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// The plan an earlier run used, for commands that act on a run (`replay`, `resume`, `undo`).
enum RecordedPlan {
    /// The plan as the original run used it: its file when unchanged, else the manifest's copy;
    /// the run's overrides first, then this command's.
    ///
    /// Environment variables that only stages left out of this command need may be unset: replaying
    /// `apply` needs `DATABASE_URL`, not the Spotify credentials. `running` names the stages that
    /// will run (`nil`: all of them).
    static func load(of original: Manifest, directory: URL, overrides: [String], running: Set<String>? = nil) throws
        -> Plan
    {
        let source: (bytes: [UInt8], path: String, overrides: [String])
        if let bytes = try? Array(Data(contentsOf: URL(fileURLWithPath: original.plan.path))),
            SHA256.hex(bytes) == original.plan.sha256
        {
            source = (bytes, original.plan.path, original.overrides + overrides)
        } else {
            Terminal.printError(
                "note: \(original.plan.path) is missing or changed since run \(original.runID); "
                    + "using the plan recorded in its manifest")
            let name = directory.appendingPathComponent(Manifest.fileName).path + " (resolved_plan)"
            source = (Array(JSON.encode(original.resolvedPlan).utf8), name, overrides)
        }
        do {
            return try PlanLoader().load(bytes: source.bytes, path: source.path, overrides: source.overrides)
        } catch {
            if let running, let plan = withPlaceholders(for: error, source, running: running) { return plan }
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
    }

    private static let marker = "sluice-unset-"

    /// The plan loaded with a placeholder for every unset variable, when the only errors are
    /// unset variables and no connection holding a placeholder is used by a stage that runs.
    private static func withPlaceholders(
        for error: PlanError, _ source: (bytes: [UInt8], path: String, overrides: [String]), running: Set<String>
    ) -> Plan? {
        withPlaceholders(for: error, source, running: { _ in running })
    }

    /// The same, for a command (`apply`) that knows which stages run only once it sees the plan.
    static func withPlaceholders(
        for error: PlanError, _ source: (bytes: [UInt8], path: String, overrides: [String]),
        running: (Plan) -> Set<String>
    ) -> Plan? {
        var environment = ProcessInfo.processInfo.environment
        for diagnostic in error.errors {
            guard diagnostic.message.hasPrefix("environment variable '"),
                diagnostic.message.contains("is not set"),
                let name = diagnostic.message.split(separator: "'").dropFirst().first
            else { return nil }
            environment[String(name)] = marker + name
        }
        guard let plan = try? PlanLoader(environment: environment).load(
            bytes: source.bytes, path: source.path, overrides: source.overrides)
        else { return nil }
        let unusable = Set(plan.connections.filter { contains(marker, in: $0.parameters) }.map(\.name))
        let running = running(plan)
        let needed = plan.stages.filter { running.contains($0.name) }.compactMap { $0.parameters["connection"]?.string }
        return needed.contains(where: unusable.contains) ? nil : plan
    }

    private static func contains(_ text: String, in value: PlanValue) -> Bool {
        switch value {
        case .scalar(let scalar): return scalar.stringValue?.contains(text) ?? false
        case .list(let items): return items.contains { contains(text, in: $0) }
        case .map(let entries): return entries.contains { contains(text, in: $0.value) }
        }
    }
}
