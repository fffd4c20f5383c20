import AsyncHTTPClient
import Foundation
import SluiceCore
import SpotifySimulator
import Testing

@testable import SpotifySimulator

@Suite struct FaultInjectionTests {
    static let catalog = SpotifyCatalog(seed: 42)
    static let ids = (0..<10).map(catalog.knownID)

    /// Runs one `/v1/tracks` request against a simulator that always injects `fault`.
    func withFault<T>(
        _ fault: Fault, hangLimit: Duration = .seconds(120), _ body: (SimulatorHarness, String) async throws -> T
    ) async throws -> T {
        try await SimulatorHarness.with {
            $0.faults.rate = 1
            $0.faults.kinds = [fault]
            $0.faults.hangLimit = hangLimit
        } _: { harness in
            try await body(harness, try await harness.token())
        }
    }

    @Test func serverErrorIs500WithAJSONBody() async throws {
        try await withFault(.serverError500) { harness, token in
            let reply = try await harness.tracks(Self.ids, token: token)
            #expect(reply.status == 500)
            #expect((reply.json?["error"] as? [String: Any])?["status"] as? Int == 500)
            #expect(harness.simulator.stats().faultsInjected == 1)
        }
    }

    @Test(arguments: [(Fault.badGateway502, 502), (Fault.unavailable503Html, 503)])
    func gatewayErrorsComeWithHTMLBodies(fault: Fault, status: Int) async throws {
        try await withFault(fault) { harness, token in
            let reply = try await harness.tracks(Self.ids, token: token)
            #expect(reply.status == status)
            #expect(reply.headers.first(name: "Content-Type")?.hasPrefix("text/html") == true)
            #expect(reply.json == nil)
            #expect(reply.text.contains("<html"))
        }
    }

    @Test func hangHoldsTheRequestUntilTheClientTimesOut() async throws {
        try await withFault(.hang) { harness, token in
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: HTTPClientError.self) {
                _ = try await harness.tracks(Self.ids, token: token, timeout: .milliseconds(700))
            }
            #expect(clock.now - started >= .milliseconds(650))
            let record = try #require(harness.simulator.stats().requestLog.last)
            #expect(record.fault == .hang)
            #expect(record.status == 0)
        }
    }

    @Test func hangIsBoundedAndThenDropsTheConnection() async throws {
        try await withFault(.hang, hangLimit: .milliseconds(300)) { harness, token in
            let clock = ContinuousClock()
            let started = clock.now
            await #expect(throws: HTTPClientError.self) {
                _ = try await harness.tracks(Self.ids, token: token, timeout: .seconds(120))
            }
            #expect(
                clock.now - started < .seconds(60), "the hang outlived its limit: the client's 120 s timeout ended it")
        }
    }

    @Test func dropClosesTheConnectionWithoutAResponse() async throws {
        try await withFault(.dropConnection) { harness, token in
            await #expect(throws: HTTPClientError.self) {
                _ = try await harness.tracks(Self.ids, token: token)
            }
            #expect(harness.simulator.stats().requestLog.last?.fault == .dropConnection)
        }
    }

    @Test func truncatedJSONIsA200WithHalfTheBody() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            let full = try await harness.tracks(Self.ids, token: token).body
            harness.simulator.setConfiguration {
                $0.faults.rate = 1
                $0.faults.kinds = [.truncatedJSON]
            }
            let reply = try await harness.tracks(Self.ids, token: token)
            #expect(reply.status == 200)
            #expect(reply.body.count == full.count / 2)
            let isPrefix = full.starts(with: reply.body)
            #expect(isPrefix)
            #expect((try? JSONSerialization.jsonObject(with: Data(reply.body))) == nil)
        }
    }

    @Test func theConnectionStaysUsableForTheNextRequestAfterAnHTMLFault() async throws {
        try await withFault(.badGateway502) { harness, token in
            _ = try await harness.tracks(Self.ids, token: token)
            harness.simulator.setConfiguration { $0.faults.rate = 0 }
            #expect(try await harness.tracks(Self.ids, token: token).status == 200)
        }
    }

    @Test func faultsAreDeterministicForASeedAndRequestOrder() {
        func faultSequence(seed: UInt64) -> [Fault?] {
            var configuration = SimulatorConfiguration()
            configuration.faults.rate = 0.3
            configuration.faults.seed = seed
            var state = SimulatorState(configuration: configuration)
            let token = Self.issueToken(&state)
            return (0..<200).map { _ in
                _ = state.respond(to: Self.tracksRequest(token: token), at: .now)
                return state.stats.requestLog.last?.fault
            }
        }
        let first = faultSequence(seed: 7)
        #expect(first == faultSequence(seed: 7))
        #expect(first != faultSequence(seed: 8))
        let injected = first.compactMap { $0 }
        #expect((40...80).contains(injected.count), "about 30% of 200")
        #expect(Set(injected) == Set(Fault.drawnByDefault))
    }

    /// 2,000 answers take seconds in a debug build: it lets the pool's other tasks run meanwhile.
    @Test func fivePercentFaultRateInjectsAboutFivePercent() async {
        var configuration = SimulatorConfiguration()
        configuration.faults.rate = 0.05
        var state = SimulatorState(configuration: configuration)
        let token = Self.issueToken(&state)
        var pause = CooperativePause()
        for _ in 0..<2000 {
            _ = state.respond(to: Self.tracksRequest(token: token), at: .now)
            await pause.yieldIfDue()
        }
        #expect((60...140).contains(state.stats.faultsInjected))
    }

    @Test func scheduledFaultsComeFirstInOrderWithoutAdvancingTheSeededDraw() {
        func faults(scheduling scheduled: [Fault]) -> [Fault?] {
            var configuration = SimulatorConfiguration()
            configuration.faults.rate = 0.3
            var state = SimulatorState(configuration: configuration)
            let token = Self.issueToken(&state)
            state.schedule(scheduled)
            return (0..<(40 + scheduled.count)).map { _ in
                _ = state.respond(to: Self.tracksRequest(token: token), at: .now)
                return state.stats.requestLog.last?.fault
            }
        }
        let drawn = faults(scheduling: [])
        let burst: [Fault] = [.badGateway502, .unavailable503Html, .serverError500]
        let withBurst = faults(scheduling: burst)
        #expect(Array(withBurst.prefix(3)) == burst)
        #expect(Array(withBurst.dropFirst(3)) == drawn)
        #expect(drawn.compactMap { $0 }.allSatisfy(Fault.drawnByDefault.contains), "no 429 or wrong count by chance")
    }

    /// `--retry-after 120 --faults 429 --fault-rate 1`: the fixed Retry-After is every 429's, an
    /// injected one's too (it sent 1, so a client could not be tried on a long wait that way).
    @Test func aFixedRetryAfterIsAlsoAnInjected429s() async throws {
        try await SimulatorHarness.with {
            $0.retryAfter = .seconds(120)
            $0.faults.rate = 1
            $0.faults.kinds = [.tooManyRequests429]
        } _: { harness in
            let token = try await harness.token()
            let limited = try await harness.tracks(Self.ids, token: token)
            #expect(limited.status == 429)
            #expect(limited.headers.first(name: "Retry-After") == "120")
        }
    }

    @Test func tooManyRequestsFaultsAre429sWithTheConfiguredRetryAfterOrNone() async throws {
        try await SimulatorHarness.with {
            $0.faults.retryAfter = .milliseconds(1500)
        } _: { harness in
            let token = try await harness.token()
            harness.simulator.scheduleFaults([.tooManyRequests429, .tooManyRequests429WithoutRetryAfter])
            let first = try await harness.tracks(Self.ids, token: token)
            #expect(first.status == 429)
            #expect(first.headers.first(name: "Retry-After") == "2", "whole seconds, rounded up")
            #expect(first.errorMessage == "API rate limit exceeded")
            let second = try await harness.tracks(Self.ids, token: token)
            #expect(second.status == 429)
            #expect(second.headers.first(name: "Retry-After") == nil)
            // The schedule is spent: the next request is answered, at once (no window was filled).
            #expect(try await harness.tracks(Self.ids, token: token).status == 200)
            let stats = harness.simulator.stats()
            #expect(stats.rateLimited == 2)
            #expect(stats.faultsInjected == 2)
        }
    }

    @Test func wrongTrackCountLeavesOutTheFirstTrackSoEveryItemIsOnePositionEarly() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            harness.simulator.scheduleFaults([.wrongTrackCount])
            // It waits for an answer it fits: not a 400, not a single track.
            #expect(try await harness.tracks(Self.ids + ["abc"], token: token).status == 400)
            let single = try await harness.send(
                .GET, "\(harness.simulator.baseURL)/tracks/\(Self.ids[0])",
                headers: [("Authorization", "Bearer \(token)")])
            #expect(single.json?["id"] as? String == Self.ids[0])
            #expect(harness.simulator.stats().faultsInjected == 0)
            let reply = try await harness.tracks(Self.ids, token: token)
            #expect(reply.status == 200)
            let tracks = try #require(reply.json?["tracks"] as? [[String: Any]])
            #expect(tracks.count == Self.ids.count - 1)
            #expect(tracks.compactMap { $0["id"] as? String } == Array(Self.ids.dropFirst()))
            #expect(harness.simulator.stats().requestLog.last?.fault == .wrongTrackCount)
        }
    }

    @Test func issuedTokensListsEveryTokenTheSimulatorHandedOut() async throws {
        try await SimulatorHarness.with { harness in
            let tokens = [try await harness.token(), try await harness.token()]
            #expect(Set(harness.simulator.issuedTokens()) == Set(tokens))
            harness.simulator.expireTokens()
            #expect(Set(harness.simulator.issuedTokens()) == Set(tokens), "expired ones too")
        }
    }

    static func issueToken(_ state: inout SimulatorState) -> String {
        let credentials = Data("sluice-demo-client:sluice-demo-secret".utf8).base64EncodedString()
        let reply = state.respond(
            to: InboundRequest(
                method: "POST", path: "/api/token", query: nil, authorization: "Basic \(credentials)",
                body: Array("grant_type=client_credentials".utf8)),
            at: .now)
        let json = try? JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any]
        return json?["access_token"] as? String ?? ""
    }

    static func tracksRequest(token: String) -> InboundRequest {
        InboundRequest(
            method: "GET", path: "/v1/tracks", query: "ids=\(ids.joined(separator: ","))",
            authorization: "Bearer \(token)")
    }
}
