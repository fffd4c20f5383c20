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
}
