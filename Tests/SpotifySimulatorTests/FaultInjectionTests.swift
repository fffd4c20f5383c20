import AsyncHTTPClient
import Foundation
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
                _ = try await harness.tracks(Self.ids, token: token, timeout: .seconds(20))
            }
            #expect(clock.now - started < .seconds(15), "the hang outlived its limit: the client's 20 s timeout ended it")
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
        #expect(Set(injected) == Set(Fault.allCases))
    }

    @Test func fivePercentFaultRateInjectsAboutFivePercent() {
        var configuration = SimulatorConfiguration()
        configuration.faults.rate = 0.05
        var state = SimulatorState(configuration: configuration)
        let token = Self.issueToken(&state)
        for _ in 0..<2000 {
            _ = state.respond(to: Self.tracksRequest(token: token), at: .now)
        }
        #expect((60...140).contains(state.stats.faultsInjected))
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
