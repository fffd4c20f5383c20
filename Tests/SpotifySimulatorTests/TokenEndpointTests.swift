import Foundation
import SpotifySimulator
import Testing

@Suite struct TokenEndpointTests {
    @Test func clientCredentialsGrantReturnsABearerToken() async throws {
        try await SimulatorHarness.with {
            $0.tokenLifetime = .seconds(1800)
        } _: { harness in
            let reply = try await harness.requestToken()
            #expect(reply.status == 200)
            let json = try #require(reply.json)
            #expect((json["access_token"] as? String)?.isEmpty == false)
            #expect(json["token_type"] as? String == "Bearer")
            #expect(json["expires_in"] as? Int == 1800)
            #expect(harness.simulator.stats().tokenRequests == 1)
        }
    }

    @Test func everyTokenIsDifferent() async throws {
        try await SimulatorHarness.with { harness in
            let first = try await harness.token()
            let second = try await harness.token()
            #expect(first != second)
        }
    }

    @Test func credentialsInTheFormBodyAreAcceptedToo() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.send(
                .POST, harness.simulator.tokenURL,
                headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: "grant_type=client_credentials&client_id=sluice-demo-client&client_secret=sluice-demo-secret")
            #expect(reply.status == 200)
        }
    }

    @Test(arguments: [
        ("sluice-demo-client", "wrong-secret", "Invalid client secret"),
        ("someone-else", "sluice-demo-secret", "Invalid client"),
    ])
    func badCredentialsAreInvalidClient(clientID: String, secret: String, description: String) async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.requestToken(clientID: clientID, clientSecret: secret)
            #expect(reply.status == 400)
            #expect(reply.json?["error"] as? String == "invalid_client")
            #expect(reply.json?["error_description"] as? String == description)
        }
    }

    @Test func missingCredentialsAreInvalidClient() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.send(.POST, harness.simulator.tokenURL, body: "grant_type=client_credentials")
            #expect(reply.status == 400)
            #expect(reply.json?["error"] as? String == "invalid_client")
        }
    }

    @Test func otherGrantTypesAreUnsupported() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.requestToken(grantType: "password")
            #expect(reply.status == 400)
            #expect(reply.json?["error"] as? String == "unsupported_grant_type")
        }
    }

    @Test func customCredentialsAreTheOnlyOnesAccepted() async throws {
        try await SimulatorHarness.with {
            $0.clientID = "my-app"
            $0.clientSecret = "s3cret"
        } _: { harness in
            let defaults = try await harness.requestToken()
            let custom = try await harness.requestToken(clientID: "my-app", clientSecret: "s3cret")
            #expect(defaults.status == 400)
            #expect(custom.status == 200)
        }
    }
}

@Suite struct AuthorizationTests {
    let someID = SpotifyCatalog(seed: 42).knownID(0)

    @Test func missingTokenIsInvalid() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.tracks([someID], token: nil)
            #expect(reply.status == 401)
            #expect(reply.errorMessage == "Invalid access token")
        }
    }

    @Test func unknownTokenIsInvalid() async throws {
        try await SimulatorHarness.with { harness in
            let reply = try await harness.tracks([someID], token: "not-a-token-we-issued")
            #expect(reply.status == 401)
            #expect(reply.errorMessage == "Invalid access token")
        }
    }

    @Test func expireTokensMakesTheNextCallAnExpiredTokenError() async throws {
        try await SimulatorHarness.with { harness in
            let token = try await harness.token()
            #expect(try await harness.tracks([someID], token: token).status == 200)
            harness.simulator.expireTokens()
            let reply = try await harness.tracks([someID], token: token)
            #expect(reply.status == 401)
            #expect(reply.errorMessage == "The access token expired")
            // A new token works again: this is the refresh a client does on a 401.
            #expect(try await harness.tracks([someID], token: harness.token()).status == 200)
        }
    }

    @Test func tokensExpireWhenTheirLifetimeRunsOut() async throws {
        try await SimulatorHarness.with {
            // Long enough that the first request lands inside it even on a loaded machine: the
            // suite's first seconds start PostgreSQL servers and the binaries' tests on 2 cores,
            // and a 3 s lifetime had run out before the first request (seen 3 runs in 5).
            $0.tokenLifetime = .seconds(10)
        } _: { harness in
            let token = try await harness.token()
            #expect(try await harness.tracks([someID], token: token).status == 200)
            try await Task.sleep(for: .milliseconds(10_200))
            let reply = try await harness.tracks([someID], token: token)
            #expect(reply.status == 401)
            #expect(reply.errorMessage == "The access token expired")
        }
    }
}
