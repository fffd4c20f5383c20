import Foundation
import SpotifySimulator
import Testing

/// Spotify's February/March 2026 Development Mode restrictions (spotify-api.md).
@Suite struct DevelopmentModeTests {
    static let catalog = SpotifyCatalog(seed: 42)

    @Test func batchEndpointIsForbidden() async throws {
        try await SimulatorHarness.with {
            $0.developmentMode = true
        } _: { harness in
            let reply = try await harness.tracks([Self.catalog.knownID(0)], token: try await harness.token())
            #expect(reply.status == 403)
            #expect(reply.errorMessage == "Forbidden")
            #expect((reply.json?["error"] as? [String: Any])?["status"] as? Int == 403)
        }
    }

    @Test func singleTrackWorksWithoutPopularityButWithISRC() async throws {
        let id = try #require((0..<100).map(Self.catalog.knownID).first { Self.catalog.track(for: $0)?.isrc != nil })
        try await SimulatorHarness.with {
            $0.developmentMode = true
        } _: { harness in
            let reply = try await harness.track(id, token: try await harness.token())
            #expect(reply.status == 200)
            let json = try #require(reply.json)
            #expect(json["popularity"] == nil)
            #expect((json["external_ids"] as? [String: Any])?["isrc"] as? String == Self.catalog.track(for: id)?.isrc)
        }
    }

    @Test func switchingAtRuntimeTakesEffectOnTheNextRequest() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            let ids = [Self.catalog.knownID(0)]
            #expect(try await harness.tracks(ids, token: token).status == 200)
            harness.simulator.setConfiguration { $0.developmentMode = true }
            #expect(try await harness.tracks(ids, token: token).status == 403)
            harness.simulator.setConfiguration { $0.developmentMode = false }
            #expect(try await harness.tracks(ids, token: token).status == 200)
        }
    }
}
