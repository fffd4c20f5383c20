import Sluice
import SluicePipeline
import SluicePlan
import SpotifySimulator

/// A simulator on 127.0.0.1 for one test, and the Spotify plan pointed at it.
struct Simulator {
    let simulator: SpotifySimulator

    /// Starts a simulator configured by `configure`, runs `body`, and always stops it.
    static func with<T>(
        _ configure: (inout SimulatorConfiguration) -> Void = { _ in },
        _ body: (Simulator) async throws -> T
    ) async throws -> T {
        var configuration = SimulatorConfiguration()
        configure(&configuration)
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        do {
            let result = try await body(Simulator(simulator: simulator))
            await simulator.stop()
            return result
        } catch {
            await simulator.stop()
            throw error
        }
    }

    var catalog: SpotifyCatalog { simulator.catalog }

    /// The fetch stage of the Spotify plan against this simulator, without the plan's pacing
    /// (tests that pace say so) and with short backoffs.
    func fetchStage(_ overrides: [String] = []) async throws -> any Stage {
        let plan = try await TestPlans.spotify(
            apiURL: simulator.baseURL, tokenURL: simulator.tokenURL,
            overrides: ["fetch.delay=0s", "fetch.backoff=0.01s", "fetch.max_backoff=0.05s"] + overrides)
        return try TestPlans.stage("fetch", of: plan)
    }
}
