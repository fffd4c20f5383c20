import APIFixtureServer
import Foundation
import SluiceCore
import Testing

@testable import Sluice

/// A redirect is not followed: the request's credentials (here an API key header, which
/// AsyncHTTPClient would pass on to another host) never reach where it points, and the run says
/// where that is, to write in the plan.
@Suite struct FetchRedirectTests {
    @Test(arguments: [false, true])
    func aRedirectIsReportedNotFollowed(throughTheTokenEndpoint: Bool) async throws {
        let key = "k3y-never-elsewhere"
        var target = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": .object(["n": 1])])
        target.requiredHeader = ("X-Api-Key", key)
        try await FetchShapesTests.with(target) { elsewhere, targetOrigin in
            var mover = target
            mover.redirectsTo = targetOrigin
            try await FetchShapesTests.with(mover) { _, origin in
                let auth =
                    throughTheTokenEndpoint
                    ? "{ kind: oauth2-client-credentials, token_url: \"\(origin)/token\", client_id: app, "
                        + "client_secret: \"${SECRET}\", client_auth: body }"
                    : "{ kind: api-key, header: X-Api-Key, key: \"${SECRET}\" }"
                let stage = try FetchShapesTests.fetchStage(
                    "path: /item/{name}\nretries: 0",
                    connection:
                        "kind: http\nbase_url: \(throughTheTokenEndpoint ? targetOrigin : origin)\nauth: \(auth)",
                    environment: ["SECRET": key])
                let harness = try await StageHarness(stage: stage)
                let error = await #expect(throws: (any Error).self) {
                    _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])])
                }
                let said = "\(error.map { "\($0)" } ?? "")"
                let path = throughTheTokenEndpoint ? "/token" : "/item/a"
                #expect(
                    said.contains("HTTP 307 (a redirect to \(targetOrigin)\(path), which Sluice does not follow"),
                    "\(said)")
                #expect(!said.contains(key))
                #expect(elsewhere.stats().requests == 0, "nothing reached the address redirected to")
            }
        }
    }

    /// A token endpoint whose redirect repeats the client's `Authorization: Basic` header in
    /// its address, percent-encoded: the base64's `=` padding became `%3D`, and the whole pair
    /// (the client secret, decoded) was shown and recorded.
    @Test func aTokenRedirectRepeatingTheCredentialsNeverShowsThem() async throws {
        // 3 + 1 + 21 bytes: a pair whose base64 ends in `=`.
        let (id, secret) = ("app", "s3cret-never-shown-21")
        let pair = Data("\(id):\(secret)".utf8).base64EncodedString()
        try #require(pair.hasSuffix("="))
        var mover = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: [:])
        mover.echoesRequest = true
        try await FetchShapesTests.with(FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: [:])) {
            _, elsewhere in
            mover.redirectsTo = elsewhere
            try await FetchShapesTests.with(mover) { _, origin in
                let stage = try FetchShapesTests.fetchStage(
                    "path: /item/{name}\nretries: 0",
                    connection: """
                        kind: http
                        base_url: \(origin)
                        auth: { kind: oauth2-client-credentials, token_url: "\(origin)/token", client_id: \(id), client_secret: "${SECRET}" }
                        """,
                    environment: ["SECRET": secret])
                let harness = try await StageHarness(stage: stage)
                let error = await #expect(throws: (any Error).self) {
                    _ = try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])])
                }
                let said = "\(error.map { "\($0)" } ?? "")"
                #expect(said.contains("a redirect to \(elsewhere)/token?echo=Basic%20***"), "\(said)")
                for form in [secret, String(pair.dropLast())] { #expect(!said.contains(form), "\(said)") }
            }
        }
    }
}
