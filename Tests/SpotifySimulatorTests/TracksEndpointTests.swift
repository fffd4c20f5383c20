import Foundation
import SpotifySimulator
import Testing

@Suite struct TracksEndpointTests {
    static let catalog = SpotifyCatalog(seed: 42)
    static let known = catalog.knownID(0)

    @Test func fiftyIDsAreAnsweredAndFiftyOneAreTooMany() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            let fifty = (0..<50).map(Self.catalog.knownID)
            let ok = try await harness.tracks(fifty, token: token)
            #expect(ok.status == 200)
            #expect(SimulatorHarness.trackList(ok).count == 50)

            let tooMany = try await harness.tracks(fifty + [Self.catalog.knownID(50)], token: token)
            #expect(tooMany.status == 400)
            #expect(tooMany.errorMessage == "Too many ids requested")
        }
    }

    @Test(arguments: [
        "abc",
        "spotify:track:\(known)",
        "https://open.spotify.com/track/\(known)",
        "\(known) ",
        String(known.dropLast()),
        known + "x",
        String(known.dropLast()) + "-",
        "",
    ])
    func oneMalformedIDFailsTheWholeBatch(malformed: String) async throws {
        try await SimulatorHarness.with { harness in
            var ids = (0..<49).map(Self.catalog.knownID)
            ids.insert(malformed, at: 17)
            let reply = try await harness.tracks(ids, token: try await harness.token())
            #expect(reply.status == 400)
            #expect(reply.errorMessage == "invalid id")
            #expect(harness.simulator.stats().requestLog.last?.ids[17] == malformed)
        }
    }

    @Test func tracksComeBackInRequestOrderWithNullForUnknownIDs() async throws {
        try await SimulatorHarness.with { harness in
            let c = Self.catalog
            let ids = [c.knownID(3), c.unknownID(0), c.knownID(1), c.unknownID(1), c.knownID(2), c.knownID(3)]
            let reply = try await harness.tracks(ids, token: try await harness.token())
            #expect(reply.status == 200)
            let tracks = SimulatorHarness.trackList(reply)
            #expect(tracks.count == ids.count)
            for (id, item) in zip(ids, tracks) {
                if c.track(for: id) == nil {
                    #expect(item is NSNull, "expected null for \(id)")
                } else {
                    #expect((item as? [String: Any])?["id"] as? String == id)
                }
            }
        }
    }

    @Test func relinkedTracksCarryAnotherIDAndLinkedFromInTheirPosition() async throws {
        try await SimulatorHarness.with { harness in
            let c = Self.catalog
            let ids = [c.knownID(0), c.relinkedID(0), c.unknownID(0), c.relinkedID(1)]
            let reply = try await harness.tracks(ids, market: "US", token: try await harness.token())
            let tracks = SimulatorHarness.trackList(reply)
            for position in [1, 3] {
                let object = try #require(tracks[position] as? [String: Any])
                let linkedFrom = try #require(object["linked_from"] as? [String: Any])
                #expect(object["id"] as? String == c.track(for: ids[position])?.id)
                #expect(object["id"] as? String != ids[position])
                #expect(linkedFrom["id"] as? String == ids[position])
                #expect(linkedFrom["uri"] as? String == "spotify:track:\(ids[position])")
            }
            #expect((tracks[0] as? [String: Any])?["linked_from"] == nil)
        }
    }

    @Test func trackObjectsHaveTheFieldsTheEnrichmentReads() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.tracks([Self.known], token: try await harness.token())
            let object = try #require(SimulatorHarness.trackList(reply).first as? [String: Any])
            let expected = try #require(Self.catalog.track(for: Self.known))
            #expect(object["id"] as? String == Self.known)
            #expect(object["name"] as? String == expected.name)
            #expect(object["popularity"] as? Int == expected.popularity)
            #expect((object["external_ids"] as? [String: Any])?["isrc"] as? String == expected.isrc)
            #expect(object["uri"] as? String == "spotify:track:\(Self.known)")
            #expect(object["type"] as? String == "track")
            #expect(object["duration_ms"] as? Int == expected.durationMs)
            #expect(object["explicit"] as? Bool == expected.explicit)
            #expect((object["artists"] as? [[String: Any]])?.first?["name"] as? String == expected.artistName)
            #expect((object["album"] as? [String: Any])?["name"] as? String == expected.albumName)
            #expect(object["href"] as? String == "\(harness.simulator.baseURL)/tracks/\(Self.known)")
        }
    }

    @Test func tracksWithoutAnISRCHaveExternalIDsWithoutTheKey() async throws {
        let id = try #require((0..<2000).map(Self.catalog.knownID).first { Self.catalog.track(for: $0)?.isrc == nil })
        try await SimulatorHarness.with { harness in
            let reply = try await harness.tracks([id], token: try await harness.token())
            let object = try #require(SimulatorHarness.trackList(reply).first as? [String: Any])
            let externalIDs = try #require(object["external_ids"] as? [String: Any])
            #expect(externalIDs["isrc"] == nil)
        }
    }

    @Test func invalidMarketIsRejected() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.tracks([Self.known], market: "USA", token: try await harness.token())
            #expect(reply.status == 400)
            #expect(reply.errorMessage == "Invalid market code")
        }
    }

    @Test func singleTrackEndpointAnswersKnownUnknownAndMalformedIDs() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            let known = try await harness.track(Self.known, token: token)
            #expect(known.status == 200)
            #expect(known.json?["id"] as? String == Self.known)
            #expect(known.json?["popularity"] is Int)

            let unknown = try await harness.track(Self.catalog.unknownID(0), token: token)
            #expect(unknown.status == 404)
            #expect(unknown.errorMessage == "non existing id")

            let malformed = try await harness.track("abc", token: token)
            #expect(malformed.status == 400)
            #expect(malformed.errorMessage == "invalid id")

            let relinked = try await harness.track(Self.catalog.relinkedID(0), token: token)
            #expect((relinked.json?["linked_from"] as? [String: Any])?["id"] as? String == Self.catalog.relinkedID(0))
        }
    }

    @Test func latencyIsAddedToEveryAPIResponse() async throws {
        try await SimulatorHarness.with {
            $0.latency = .milliseconds(250)
        } _: { harness in
            let token = try await harness.token()
            let clock = ContinuousClock()
            let elapsed = try await clock.measure {
                _ = try await harness.tracks([Self.known], token: token)
            }
            #expect(elapsed >= .milliseconds(250))
        }
    }

    @Test func statsCountRequestsAndTheAdminEndpointShowsThem() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            _ = try await harness.tracks([Self.known], token: token)
            _ = try await harness.tracks([Self.known], token: nil)
            let stats = harness.simulator.stats()
            #expect(stats.tokenRequests == 1)
            #expect(stats.apiRequests == 2)
            #expect(stats.requestLog.map(\.status) == [200, 200, 401])
            #expect(stats.requestLog.map(\.path) == ["/api/token", "/v1/tracks", "/v1/tracks"])

            let origin = harness.simulator.tokenURL.replacingOccurrences(of: "/api/token", with: "")
            let document = try await harness.send(.GET, "\(origin)/_sim/stats")
            #expect(document.status == 200)
            #expect(document.json?["api_requests"] as? Int == 2)
            #expect(document.json?["token_requests"] as? Int == 1)
        }
    }
}
