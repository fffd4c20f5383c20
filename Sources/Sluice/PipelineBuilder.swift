import Foundation
import Logging
import SluiceCore
import SluicePipeline
import SluicePlan

/// Turns a validated plan into the runner's stage list.
///
/// Building only reads the plan: no connection is opened and no request sent (each stage
/// connects inside its `run`), so replaying `apply` from a recorded run never touches the
/// HTTP API, and `sluice check`-style uses are free.
public struct PipelineBuilder: Sendable {
    public let plan: Plan
    public let logger: Logger
    /// Makes apply roll back and verify report rather than fail.
    public let dryRun: Bool
    /// An earlier run whose recorded fetch answers are reused (`sluice resume`).
    public var resumeFrom: URL?
    /// How many answers that run's manifest records per fetch stage: a file that held some and
    /// is gone is said, not silently asked for again.
    public var recordedAnswers: [String: Int] = [:]
    /// Lets apply go past its guard-rails, recording a warning (`--force`).
    public var force = false

    public init(plan: Plan, logger: Logger, dryRun: Bool = false, force: Bool = false) {
        self.plan = plan
        self.logger = logger
        self.dryRun = dryRun
        self.force = force
    }

    /// One spec per plan stage, in plan order.
    /// - Throws: ``StageError`` when a stage names a connection the plan lacks or of the wrong kind
    ///   (the plan validator normally catches this first).
    public func stages() throws -> [StageSpec] {
        try plan.stages.map { definition in
            StageSpec(
                try stage(for: definition), input: definition.input, requiresApproval: definition.requiresApproval,
                bufferSize: definition.buffer)
        }
    }

    /// The stage for one plan stage.
    public func stage(for definition: StageDefinition) throws -> any Stage {
        let name = definition.name
        let parameters = definition.redactedParameters.value
        switch definition.configuration {
        case .query(let settings):
            var stage = QueryStage(
                name: name, settings: settings, database: try postgres(settings.connection, for: name),
                parameters: parameters)
            stage.sqlLocation = definition.parameterLocations["sql"]
            return stage
        case .readCSV(let settings):
            return ReadCSVStage(name: name, settings: settings, parameters: parameters)
        case .chunk(let settings):
            return ChunkStage(name: name, settings: settings, parameters: parameters)
        case .fetch(let settings):
            var stage = FetchStage(
                name: name, settings: settings, http: try http(settings.connection, for: name), parameters: parameters)
            stage.previousAnswers = resumeFrom?.appendingPathComponent(FetchAnswers.fileName(stage: name))
            stage.previousAnswersRecorded = recordedAnswers[name] ?? 0
            stage.sentSecrets = plan.variableSecrets
            stage.force = force
            return stage
        case .transform(let settings):
            var stage = TransformStage(name: name, settings: settings, parameters: parameters)
            stage.force = force
            return stage
        case .validate(let settings):
            return ValidateStage(name: name, settings: settings, parameters: parameters)
        case .writeCSV(let settings):
            return WriteCSVStage(name: name, settings: settings, planName: plan.name, parameters: parameters)
        case .apply(var settings):
            settings.dryRun = settings.dryRun || dryRun
            var stage = ApplyStage(
                name: name, settings: settings, database: try postgres(settings.connection, for: name),
                parameters: parameters)
            stage.location = definition.location.description
            stage.parameterLocations = definition.parameterLocations.mapValues(\.description)
            stage.force = force
            return stage
        case .verify(let settings):
            var stage = VerifyStage(
                name: name, settings: settings, database: try postgres(settings.connection, for: name),
                upstream: definition.input,
                dryRun: dryRun || plan.stages.contains { $0.apply?.dryRun == true },
                parameters: parameters)
            stage.locations = definition.parameterLocations
            return stage
        }
    }

    private func postgres(_ connection: String, for stage: String) throws -> PostgresSettings {
        guard let settings = plan.connection(named: connection)?.postgres else {
            throw StageError(stage: stage, "connection '\(connection)' is not a postgres connection of this plan")
        }
        return settings
    }

    private func http(_ connection: String, for stage: String) throws -> HTTPSettings {
        guard let settings = plan.connection(named: connection)?.http else {
            throw StageError(stage: stage, "connection '\(connection)' is not an http connection of this plan")
        }
        return settings
    }
}
