import ArgumentParser
import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// The plan an earlier run used, for commands that act on a run (`replay`, `resume`, `undo`).
enum RecordedPlan {
    /// The plan as the original run used it: its file when unchanged, else the manifest's copy;
    /// the run's overrides first, then this command's. `edited` (`replay --plan FILE`): that file
    /// as it is now instead, a plan fixed since the run; `offersEdited`: the command has that option;
    /// `offersOverrides`: it takes `--set` (undo does not).
    ///
    /// Environment variables that only stages left out of this command need may be unset: replaying
    /// `apply` needs `DATABASE_URL`, not the Spotify credentials. `running` names the stages that
    /// will run (`nil`: all of them).
    static func load(
        of original: Manifest, directory: URL, overrides: [String], running: Set<String>? = nil,
        edited: String? = nil, offersEdited: Bool = false, offersOverrides: Bool = true, preferRecorded: Bool = false
    ) async throws
        -> Plan
    {
        // Overrides whose secret the manifest does not keep: this command's own --set gives them
        // again, or they must not be needed by what runs (checked once the plan is loaded).
        let secret = Set(original.secretOverrides)
        let given = Set(overrides.map(Self.key(of:)))
        let recorded = original.overrides.filter { !secret.contains(Self.key(of: $0)) }
        let missing = original.secretOverrides.filter { !given.contains($0) }
        let source: (bytes: [UInt8], path: String, overrides: [String])
        var loader = PlanLoader()
        let planPath = edited ?? original.plan.path
        // Reading the file: off the cooperative pool.
        let bytes: [UInt8]?
        do {
            bytes = try await BlockingIO.run { Array(try Data(contentsOf: URL(fileURLWithPath: planPath))) }
        } catch {
            guard edited == nil else {
                Terminal.printError("error: cannot read the plan \(planPath): \(PlanLoader.reason(error))")
                throw ExitCode(ExitStatus.invalidPlan)
            }
            bytes = nil
        }
        if let bytes, edited != nil || SHA256.hex(bytes) == original.plan.sha256, !preferRecorded {
            if SHA256.hex(bytes) != original.plan.sha256 {
                Terminal.printError(
                    "note: using \(planPath) as it is now, not the plan run \(original.runID) used "
                        + "(sha256 \(SHA256.hex(bytes).prefix(12))…, recorded \(original.plan.sha256.prefix(12))…)")
            }
            source = (bytes, planPath, recorded + overrides)
            loader.recordedOverrides = recorded.count
        } else {
            // A run that itself ran a recorded plan (a replay of one whose file had changed) names
            // that record, no file: reading it from the manifest again is no news; nor is it when
            // the file resolved differently (said below).
            if !original.plan.path.hasSuffix(Self.recordedSuffix), !preferRecorded {
                Terminal.printError(
                    "note: \(original.plan.path) is missing or changed since run \(original.runID); "
                        + "using the plan recorded in its manifest"
                        + (offersEdited
                            ? " (to use the file as it is now: --plan \(Execution.shellQuoted(planPath)))" : "")
                )
            }
            let name = directory.appendingPathComponent(Manifest.fileName).path + Self.recordedSuffix
            let recordedPlan = PlanValue(original.resolvedPlan, keyOrder: original.resolvedPlanKeyOrder)
            source = (Array(recordedPlan.jsonText().utf8), name, overrides)
            loader.isRecorded = true
        }
        let plan: Plan
        do {
            plan = try loader.load(bytes: source.bytes, path: source.path, overrides: source.overrides)
        } catch {
            switch running.flatMap({ withPlaceholders(for: error, source, loader: loader, running: $0) }) {
            case .success(let loaded):
                plan = loaded
            case .failure(let needed):
                // Most likely the plan file's stand-in for the secret is what failed to load.
                if !missing.isEmpty { askAgain(for: missing, of: original) }
                Terminal.report(needed)
                throw ExitCode(ExitStatus.invalidPlan)
            case nil:
                if !missing.isEmpty { askAgain(for: missing, of: original) }
                Terminal.report(error)
                throw ExitCode(ExitStatus.invalidPlan)
            }
        }
        if !loader.isRecorded, edited == nil {
            // The same file, but its variables resolve to other values in this environment than
            // in the run's: the run's are what it fetched with, reviewed and applied.
            let changed = Self.differences(
                plan.resolved, from: original, running: running,
                excluding: Set(overrides.map(Self.key(of:))).union(original.secretOverrides))
            if !changed.isEmpty {
                Terminal.printError(
                    "note: \(planPath) resolves differently here than when run \(original.runID) ran it (an "
                        + "environment variable set otherwise?): " + Self.describe(changed)
                        + "; using the plan as the run recorded it (to run with other values: --set them)")
                return try await load(
                    of: original, directory: directory, overrides: overrides, running: running,
                    offersEdited: offersEdited, offersOverrides: offersOverrides, preferRecorded: true)
            }
        }
        SecretRegistry.register(plan.secretTexts)
        try requireSecretOverrides(missing, of: original, in: plan, running: running)
        if loader.isRecorded {
            try requireWrittenSecrets(
                of: original, in: plan, running: running, planFile: offersEdited ? planPath : nil,
                offersOverrides: offersOverrides)
        }
        return plan
    }

    /// Where `fresh` (the plan file loaded now) holds another value than the run recorded, by
    /// `--set` key (`transform.fields.tag`, `connections.api.base_url`): in the plan's top-level
    /// scalars, the stages that run (`nil`: all) and the connections they use, leaving out keys
    /// under `excluding` (this command's overrides; the run's secret ones, recorded redacted) and
    /// keys only one side has (a default a later version added). A list differs as a whole.
    static func differences(
        _ fresh: PlanValue, from original: Manifest, running: Set<String>?, excluding: Set<String>
    ) -> [(key: String, recorded: String, now: String)] {
        var found: [(key: String, recorded: String, now: String)] = []
        func compare(_ now: PlanValue, _ then: Value, _ key: String) {
            if excluding.contains(where: { key == $0 || key.hasPrefix($0 + ".") }) { return }
            if case .map(let entries) = now, case .object(let members) = then {
                for entry in entries {
                    if let member = members[entry.key] { compare(entry.value, member, key + "." + entry.key) }
                }
                return
            }
            let (a, b) = (JSON.encode(then), JSON.encode(now.value))
            if a != b { found.append((key, a, b)) }
        }
        guard case .object(let plan) = original.resolvedPlan else { return [] }
        var recordedStages: [String: Value] = [:]
        if case .array(let stages)? = plan["stages"] {
            for stage in stages { if let name = stage["name"].stringValue { recordedStages[name] = stage } }
        }
        for entry in fresh.entries where entry.value.scalarValue != nil {
            if let recorded = plan[entry.key] { compare(entry.value, recorded, entry.key) }
        }
        let runs = running ?? Set(fresh["stages"]?.items.compactMap { $0["name"]?.string } ?? [])
        var used: Set<String> = []
        for stage in fresh["stages"]?.items ?? [] {
            guard let name = stage["name"]?.string, runs.contains(name) else { continue }
            if let connection = stage["connection"]?.string { used.insert(connection) }
            if let recorded = recordedStages[name] { compare(stage, recorded, name) }
        }
        if case .object(let connections)? = plan["connections"] {
            for connection in fresh["connections"]?.entries ?? [] where used.contains(connection.key) {
                if let recorded = connections[connection.key] {
                    compare(connection.value, recorded, "connections." + connection.key)
                }
            }
        }
        return found
    }

    /// ``differences(_:from:running:excluding:)`` for a note: the first few, each value cut short.
    static func describe(_ changed: [(key: String, recorded: String, now: String)]) -> String {
        func cut(_ text: String) -> String { text.count > 60 ? text.prefix(57) + "..." : text }
        let shown = changed.prefix(4).map { "\($0.key) was \(cut($0.recorded)), is \(cut($0.now))" }
        return shown.joined(separator: "; ") + (changed.count > 4 ? "; and \(changed.count - 4) more" : "")
    }

    /// Fails, naming them, when the plan read from the manifest holds a secret the plan file
    /// had written into it (not a `${VAR}`): the manifest keeps only its stand-in (`***`), and a
    /// connection a running stage uses would otherwise try that as the password or the key.
    private static func requireWrittenSecrets(
        of original: Manifest, in plan: Plan, running: Set<String>?, planFile: String?, offersOverrides: Bool
    ) throws {
        let used = connections(usedBy: running, in: plan)
        let keys = plan.connections.filter { used.contains($0.name) }.flatMap { connection in
            connection.secrets.filter { Redaction.isRedacted($0.secret.value) }.map {
                "connections.\(connection.name).\($0.key)"
            }
        }
        guard !keys.isEmpty else { return }
        let named = keys.joined(separator: ", ")
        var ways = offersOverrides ? keys.map { "--set \($0)=..." } : []
        if let planFile { ways.insert("--plan \(Execution.shellQuoted(planFile))", at: 0) }
        // Without either option, the recorded plan is read because the file changed: put it back.
        let remedy =
            ways.isEmpty
            ? "Put \(original.plan.path) back as run \(original.runID) read it (sha256 "
                + "\(original.plan.sha256.prefix(12))…)" : "Give " + ways.joined(separator: " or ")
        Terminal.printError(
            "error: the plan run \(original.runID) recorded holds \(named) redacted: the plan file wrote "
                + (keys.count == 1 ? "that secret" : "those secrets")
                + " into it, and a manifest never keeps one. \(remedy). A plan that reads its secrets from "
                + "environment variables (`${VAR}`) is recorded with them, and needs neither")
        throw ExitCode(ExitStatus.invalidPlan)
    }

    /// The connections the `running` stages use (`nil`: every stage).
    private static func connections(usedBy running: Set<String>?, in plan: Plan) -> Set<String> {
        let runs = running ?? Set(plan.stages.map(\.name))
        return Set(plan.stages.filter { runs.contains($0.name) }.compactMap(\.configuration.connection))
    }

    /// How a plan read from a manifest is named (`runs/ID/manifest.json (resolved_plan)`).
    static let recordedSuffix = " (resolved_plan)"

    /// `K` of `K=V`.
    static func key(of override: String) -> String {
        String(override.prefix { $0 != "=" })
    }

    /// Fails, naming them, when a secret override of the original run that is not given again is
    /// needed by a stage that runs: a connection a running stage uses, or a running stage's own
    /// parameter. The plan file's value would be used in its place, which may be another
    /// database or another account.
    private static func requireSecretOverrides(
        _ missing: [String], of original: Manifest, in plan: Plan, running: Set<String>?
    ) throws {
        let runs = running ?? Set(plan.stages.map(\.name))
        let used = connections(usedBy: runs, in: plan)
        let needed = missing.filter { key in
            let parts = key.split(separator: ".").map(String.init)
            if parts.first == "connections", parts.count > 1 { return used.contains(parts[1]) }
            return parts.first.map(runs.contains) ?? false
        }
        guard !needed.isEmpty else { return }
        askAgain(for: needed, of: original)
        throw ExitCode(ExitStatus.invalidPlan)
    }

    private static func askAgain(for keys: [String], of original: Manifest) {
        Terminal.printError(
            "sluice: run \(original.runID) was given "
                + keys.map { "--set \($0)=..." }.joined(separator: ", ")
                + " and the manifest does not keep secrets: give "
                + (keys.count == 1 ? "it" : "them") + " again (or put the value in an environment variable "
                + "and the plan: ${VAR})")
    }

    /// The stand-in for variable `name` (``loadMarking(_:_:loader:needed:)``); the end mark keeps
    /// `DB`'s from being found in `DB_URL`'s. An http URL, so that it loads where the plan checks
    /// for one (an API's `base_url`).
    private static func marker(_ name: String) -> String { "http://sluice-unset-\(name)-end" }

    /// `source` loaded with each of `names` (variables the environment does not set) set to a
    /// stand-in, and those of them the connections `needed` picks use; `nil` when it does not
    /// load so (a stand-in where a number goes).
    static func loadMarking(
        _ names: [String], _ source: (bytes: [UInt8], path: String, overrides: [String]),
        loader: PlanLoader = PlanLoader(), needed: (Plan) -> [ConnectionDefinition]
    ) -> (plan: Plan, used: Set<String>)? {
        var environment = ProcessInfo.processInfo.environment
        for name in names { environment[name] = marker(name) }
        var loader = loader
        loader.environment = environment
        guard let plan = try? loader.load(bytes: source.bytes, path: source.path, overrides: source.overrides)
        else { return nil }
        let connections = needed(plan)
        return (plan, Set(names.filter { name in connections.contains { contains(marker(name), in: $0.parameters) } }))
    }

    /// When the only errors are unset variables: the plan loaded with a placeholder for each,
    /// if no connection holding one is used by a stage that runs, else the errors of the
    /// variables those connections need (not those of the connections nothing here uses).
    /// `nil` when there are other errors.
    private static func withPlaceholders(
        for error: PlanError, _ source: (bytes: [UInt8], path: String, overrides: [String]), loader: PlanLoader,
        running: Set<String>
    ) -> Result<Plan, PlanError>? {
        withPlaceholders(for: error, source, loader: loader, running: { _ in running })
    }

    /// The same, for a command (`apply`) that knows which stages run only once it sees the plan.
    static func withPlaceholders(
        for error: PlanError, _ source: (bytes: [UInt8], path: String, overrides: [String]),
        loader: PlanLoader = PlanLoader(), running: (Plan) -> Set<String>
    ) -> Result<Plan, PlanError>? {
        var names: [String] = []
        for diagnostic in error.errors {
            guard case .unsetVariable(let name) = diagnostic.code, ProcessInfo.processInfo.environment[name] == nil
            else { return nil }
            names.append(name)
        }
        let marked = loadMarking(names, source, loader: loader) { plan in
            let running = running(plan)
            let needed = Set(plan.stages.filter { running.contains($0.name) }.compactMap(\.configuration.connection))
            return plan.connections.filter { needed.contains($0.name) }
        }
        guard let (plan, used) = marked else { return nil }
        guard !used.isEmpty else { return .success(plan) }
        return .failure(
            PlanError(
                error.diagnostics.filter { diagnostic in
                    guard case .unsetVariable(let name) = diagnostic.code else { return true }
                    return used.contains(name)
                }))
    }

    private static func contains(_ text: String, in value: PlanValue) -> Bool {
        switch value {
        case .scalar(let scalar): return scalar.stringValue?.contains(text) ?? false
        case .list(let items): return items.contains { contains(text, in: $0) }
        case .map(let entries): return entries.contains { contains(text, in: $0.value) }
        }
    }
}
