import Foundation
import SluiceCore
import Testing

@testable import Sluice

@Suite struct PipelineBuilderTests {
    @Test func buildsOneSpecPerStageInPlanOrder() async throws {
        let plan = try await TestPlans.spotify()
        let specs = try PipelineBuilder(plan: plan, logger: StageHarness.logger).stages()
        #expect(
            specs.map(\.name) == ["query", "chunk", "fetch", "transform", "validate", "write-csv", "apply", "verify"])
        #expect(
            specs.map(\.stage.kind) == [
                "query", "chunk", "fetch", "transform", "validate", "write-csv", "apply", "verify",
            ])
        #expect(specs.map(\.input) == [nil, "query", "chunk", "fetch", "transform", "validate", "write-csv", "apply"])
        #expect(specs.map(\.requiresApproval) == [false, false, false, false, false, false, true, false])
        #expect(specs.allSatisfy { $0.bufferSize != nil })
    }

    @Test func parametersHoldNoSecret() async throws {
        let plan = try await TestPlans.spotify()
        let specs = try PipelineBuilder(plan: plan, logger: StageHarness.logger).stages()
        for spec in specs {
            let text = JSON.encode(spec.stage.parameters)
            #expect(!text.contains("sluice-demo-secret"))
            #expect(!text.contains("db-pass-123"))
        }
        #expect(JSON.encode(specs[0].stage.parameters).contains("SELECT id AS track_id"))
    }

    @Test func dryRunReachesApply() async throws {
        let plan = try await TestPlans.spotify()
        let stage = try #require(try TestPlans.stage("apply", of: plan, dryRun: true) as? ApplyStage)
        #expect(stage.update.dryRun)
        #expect(try #require(try TestPlans.stage("apply", of: plan) as? ApplyStage).update.dryRun == false)
    }

    @Test func fetchConfigurationComesFromThePlanAndConnection() async throws {
        let plan = try await TestPlans.spotify(apiURL: "http://127.0.0.1:9/v1", overrides: ["fetch.delay=0.5s"])
        let stage = try #require(try TestPlans.stage("fetch", of: plan) as? FetchStage)
        let configuration = stage.configuration
        #expect(configuration.baseURL == "http://127.0.0.1:9/v1")
        #expect(configuration.path == "/tracks")
        #expect(configuration.delay == .milliseconds(500))
        #expect(configuration.maxIDs == 50)
        #expect(configuration.fallbackPath == "/tracks/{id}")
        #expect(configuration.maxRetryAfter == .seconds(600))
        guard case .oauth2(let credentials) = configuration.auth else {
            Issue.record("the Spotify plan authenticates with client credentials")
            return
        }
        #expect(credentials.clientID == "sluice-demo-client")
        #expect(configuration.request == .batchQuery(parameter: "ids", separator: ","))
        #expect(configuration.match == .position)
        #expect(configuration.itemsKey == "tracks")
    }
}
