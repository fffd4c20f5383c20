import APIFixtureServer
import Foundation
import SluiceCore
import Testing

@testable import Sluice

/// An API that repeats its request in a 200 answer hands back the credentials the request
/// carried, in whatever form it carried them: none of them is kept (nor a secret variable's
/// value in any header), a header that is not a credential is.
@Suite struct EchoedCredentialTests {
    @Test(arguments: [
        ("path: /item/{name}", "{ kind: api-key, query_param: api_key, key: \"${SECRET}\" }"),
        (
            "path: /lookup\nmethod: POST\nbody: { name: \"{name}\" }",
            "{ kind: api-key, body_field: key, key: \"${SECRET}\" }"
        ),
    ])
    func echoedCredentialsAreNeverKept(fetch: String, auth: String) async throws {
        let key = #"k3y+/= "x\y"#
        var api = FixtureAPI(
            shape: fetch.contains("POST") ? .itemBody(path: "/lookup", idKey: "name") : .perItem(pathPrefix: "/item/"),
            answers: ["a": .object(["n": 1])])
        api.echoesRequest = true
        try await FetchShapesTests.with(api) { _, origin in
            let stage = try FetchShapesTests.fetchStage(
                fetch,
                connection: """
                    kind: http
                    base_url: \(origin)
                    headers: { X-Vendor-Token: "${TOKEN}", X-Customer: cust-12345, X-Trace: "${TRACE_TOKEN}" }
                    auth: \(auth)
                    """,
                environment: ["SECRET": key, "TOKEN": "tok-12345678", "TRACE_TOKEN": "trace-87654321"])
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])]))
            let echo = try #require(got.first?["response"]?["echo"])
            let kept = JSON.encode(echo)
            for form in ["k3y", "tok-12345678", "trace-87654321"] { #expect(!kept.contains(form), "\(kept)") }
            #expect(echo["headers"]["x-vendor-token"] == "***")
            // A secret variable's value in a header whose name says nothing: hidden all the same.
            #expect(echo["headers"]["x-trace"] == "***")
            #expect(echo["headers"]["x-customer"] == "cust-12345", "not a credential: kept")
            // What the run writes and applies is not the API's text: said, not done silently.
            #expect(
                harness.notices.contains { $0.contains("1 answer of the API repeated a credential") },
                "\(harness.notices)")
        }
    }

    /// A Basic username that comes with a password names an account, which answers hold as
    /// data (an owner, a login): kept as the API wrote it. The password in the same answer is
    /// masked, and said. A username with no password is the key itself: masked.
    @Test(arguments: [("pa55-w0rd-long", true), ("", false)])
    func aBasicUsernameWithAPasswordIsKeptInAnswers(password: String, kept: Bool) async throws {
        let answer: Value = .object(["name": "Item 31", "owner": "Item", "note": .string("pw \(password)")])
        let (response, notices) = try await Self.fetchWithBasicAuth(
            FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": answer]), user: "Item", password: password)
        #expect(response["name"] == (kept ? "Item 31" : "*** 31"), "\(response)")
        #expect(response["owner"] == (kept ? "Item" : "***"))
        #expect(response["note"] == (kept ? "pw ***" : "pw "))
        #expect(notices.contains { $0.contains("repeated a credential") })
    }

    /// `auth: { kind: basic }` sends `Authorization: Basic BASE64(user:password)` (the API
    /// answers 401 to anything else), and an answer that repeats it keeps neither that nor the
    /// user or password. A user or password in the base_url had been the only way to say it,
    /// and no request sent it.
    @Test func basicAuthIsSentAndItsEchoNeverKept() async throws {
        let (user, password) = ("ann@example.com", "pa55:w0rd é")
        var api = FixtureAPI(shape: .perItem(pathPrefix: "/item/"), answers: ["a": .object(["n": 1])])
        api.echoesRequest = true
        let (response, _) = try await Self.fetchWithBasicAuth(api, user: user, password: password)
        let echo = response["echo"]
        #expect(echo["headers"]["authorization"] == "Basic ***", "\(echo)")
        let kept = JSON.encode(echo)
        let header = Data("\(user):\(password)".utf8).base64EncodedString()
        for form in [header, "pa55", "ann@example.com"] { #expect(!kept.contains(form), "\(kept)") }
    }

    /// Id `a`'s answer from `api`, asked for per item with `auth: basic` as `user` and
    /// `password` (an empty one written `''`, as for a key given as the user name), which the
    /// API requires; and the stage's notices.
    static func fetchWithBasicAuth(
        _ api: FixtureAPI, user: String, password: String
    ) async throws -> (response: Value, notices: [String]) {
        var api = api
        api.requiredHeader = ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
        return try await FetchShapesTests.with(api) { server, origin in
            let stage = try FetchShapesTests.fetchStage(
                "path: /item/{name}",
                connection: """
                    kind: http
                    base_url: \(origin)
                    auth: { kind: basic, username: "${API_USER}", password: \(password.isEmpty ? "''" : #""${API_PASSWORD}""#) }
                    """,
                environment: ["API_USER": user, "API_PASSWORD": password])
            let harness = try await StageHarness(stage: stage)
            let got = rows(try await harness.run(stage, input: [Batch(columns: ["name"], rows: [["a"]])]))
            #expect(server.stats().refused == 0)
            return (try #require(got.first?["response"]), harness.notices)
        }
    }
}
