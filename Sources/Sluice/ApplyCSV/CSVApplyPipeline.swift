import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluicePlan

/// The pipeline of `sluice apply PLAN FILE.csv`: a ``CSVInputStage`` reading the file, the
/// plan's apply stage (wrapped in ``CSVApplyStage``), then the plan's stages that follow from
/// apply (verify).
///
/// The apply stage is always behind a gate here, even when the plan does not require approval
/// for it: the runner then starts it only after the csv-input stage has read and checked the
/// whole file, so a CSV with any problem never opens a transaction, and the review at the gate
/// is of a file known to be good. ``approval(_:)`` grants that gate without asking when the
/// plan did not ask for approval.
///
/// Approved up front (`--yes`), there is no review at the gate to wait for: the apply streams
/// beside the csv-input stage (``StageSpec/streamsWhenApproved``), copying rows into its
/// transaction's input table as they are checked, and reviews once the whole file is in. A
/// problem anywhere in the file fails the csv-input stage, which fails the apply before it has
/// locked or changed anything: its transaction is rolled back.
public struct CSVApplyPipeline: Sendable {
    public let plan: Plan
    public let apply: StageDefinition
    public let applySettings: ApplySettings
    public let csvURL: URL
    public let displayPath: String
    public let logger: Logger
    public let dryRun: Bool
    public var maxRowBytes = CSVReader.defaultMaxRowBytes
    /// Receives each located problem as one line (the CLI prints them on stderr).
    public var report: (@Sendable (String) -> Void)?
    /// Lets apply go past its guard-rails, recording a warning (`--force`).
    public var force = false
    /// The approval the runner is given is ``Approval/granted`` (`--yes`): the apply streams
    /// beside the csv-input stage, and a file applied before may not be read again
    /// (``CSVReapply``). Must be set only then: behind a gate, the csv-input stage would wait
    /// for an apply that starts after it.
    public var approvedUpFront = false

    /// - Parameters:
    ///   - applyStage: the apply stage to feed; may be `nil` when the plan has exactly one.
    /// - Throws: ``StageError`` when the plan has no such apply stage, or several and none was named.
    public init(
        plan: Plan, csv: URL, displayPath: String, applyStage: String? = nil, logger: Logger, dryRun: Bool = false
    ) throws {
        let applies = plan.stages.compactMap { stage in stage.apply.map { (definition: stage, settings: $0) } }
        let names = applies.map(\.definition.name).joined(separator: ", ")
        if let applyStage {
            guard let stage = applies.first(where: { $0.definition.name == applyStage }) else {
                throw StageError(
                    stage: applyStage,
                    applies.isEmpty
                        ? "the plan has no apply stage" : "is not an apply stage of the plan (apply stages: \(names))")
            }
            (apply, applySettings) = stage
        } else {
            guard applies.count == 1, let only = applies.first else {
                throw StageError(
                    stage: "apply",
                    applies.isEmpty
                        ? "the plan '\(plan.name)' has no apply stage to feed the CSV to"
                        : "the plan has several apply stages (\(names)); choose one with --stage NAME")
            }
            (apply, applySettings) = only
        }
        self.plan = plan
        self.csvURL = csv
        self.displayPath = displayPath
        self.logger = logger
        self.dryRun = dryRun
    }

    /// The name of the source stage: `csv-input`, unless the plan already uses it.
    public var inputName: String {
        var name = CSVInputStage.kindName
        while plan.stage(named: name) != nil { name = "_" + name }
        return name
    }

    /// The plan stages after apply that read (directly or not) from it, in plan order.
    public var followingStages: [StageDefinition] {
        guard let index = plan.stages.firstIndex(where: { $0.name == apply.name }) else { return [] }
        var included: Set<String> = [apply.name]
        var stages: [StageDefinition] = []
        for stage in plan.stages[(index + 1)...] {
            guard let input = stage.input, included.contains(input) else { continue }
            included.insert(stage.name)
            stages.append(stage)
        }
        return stages
    }

    /// The names of the plan stages this pipeline runs (the connections they use must be usable).
    public var planStagesRun: Set<String> { Set([apply.name] + followingStages.map(\.name)) }

    public var schema: CSVInputSchema { CSVInputSchema(plan: plan, apply: apply, settings: applySettings) }

    /// The runner's stage list.
    public func stages() throws -> [StageSpec] {
        var builder = PipelineBuilder(plan: plan, logger: logger, dryRun: dryRun)
        builder.force = force
        var input = CSVInputStage(name: inputName, url: csvURL, displayPath: displayPath, schema: schema)
        input.maxRowBytes = maxRowBytes
        input.report = report
        guard let applyStage = try builder.stage(for: apply) as? ApplyStage else {
            throw StageError(stage: apply.name, "is not an apply stage")
        }
        var wrapped = CSVApplyStage(apply: applyStage, csvURL: csvURL, displayPath: displayPath, inputStage: inputName)
        wrapped.report = report
        wrapped.keysAreUUIDs = schema.keyIsUUID
        if approvedUpFront, !dryRun, !applySettings.dryRun {
            // The file and how it is read: its path, csv-input's parameters, the rules checking it.
            let rules = schema.rules.map { rule in
                JSON.encode(plan.stage(named: rule.stage)?.redactedParameters.value ?? .null)
            }
            let identity = ([csvURL.standardizedFileURL.path, JSON.encode(input.parameters)] + rules)
                .joined(separator: "\n")
            let reapply = CSVReapply(
                identity: identity, reviewedParameters: applyStage.reviewedParameters(applyStage.parameters),
                inputStage: inputName)
            input.reapply = reapply
            wrapped.reapply = reapply
        }
        var applySpec = StageSpec(wrapped, input: inputName, requiresApproval: true, bufferSize: apply.buffer)
        applySpec.streamsWhenApproved = true
        var specs = [StageSpec(input), applySpec]
        for stage in followingStages {
            specs.append(
                StageSpec(
                    try builder.stage(for: stage), input: stage.input, requiresApproval: stage.requiresApproval,
                    bufferSize: stage.buffer))
        }
        return specs
    }

    /// The approval to give the runner: the user's choice for every gate the plan has, and
    /// for the apply gate this pipeline adds when the plan has none, approval without asking.
    public func approval(_ chosen: Approval) -> Approval {
        // Approved up front (`--yes`), every gate is: whether the plan asked or not.
        if case .granted = chosen { return chosen }
        guard !apply.requiresApproval else { return chosen }
        let name = apply.name
        return .ask { stage in
            if stage == name { return true }
            switch chosen {
            case .granted: return true
            case .denied: return false
            case .ask(let ask): return await ask(stage)
            }
        }
    }
}
