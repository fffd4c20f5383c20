import Foundation
import SluiceCore
import Testing

@testable import SluiceHTTP

@Suite struct ResponseOutcomeTests {
    static func classify(_ status: Int, _ body: String, retryAfter: String? = nil) -> ResponseOutcome {
        ResponseOutcome.classify(status: status, retryAfter: retryAfter, body: Array(body.utf8))
    }

    @Test func successDecodesTheBody() {
        #expect(Self.classify(200, #"{"tracks":[null]}"#) == .success(.object(["tracks": .array([.null])])))
    }

    @Test func truncatedBodyIsTransient() {
        guard case .transient(let reason, _) = Self.classify(200, #"{"tracks":[{"id":"abc","na"#) else {
            Issue.record("a truncated 200 must be retried")
            return
        }
        #expect(reason.contains("not valid JSON"))
        #expect(!reason.contains("HTML"), "\(reason)")
    }

    /// A 200 that is a web page (a maintenance page, a proxy's login form) is said to be one.
    @Test func anHTMLPageWithStatus200IsSaidToBeOne() {
        let page = "<!doctype html><html><head><title>Down for maintenance</title></head><body>back soon</body></html>"
        guard case .transient(let reason, _) = Self.classify(200, page) else {
            Issue.record("a 200 that is not JSON must be retried")
            return
        }
        #expect(
            reason.hasPrefix("HTTP 200 with a body that is not valid JSON (HTML page: Down for maintenance, 98 bytes"),
            "\(reason)")
    }

    /// A body still compressed when it reaches the fetcher: an encoding the client does not decode,
    /// named with what to do; gzip data no Content-Encoding announced, said to be gzip. The client
    /// has decoded a gzip or deflate body already: that one is not said to be compressed.
    @Test func aBodyStillCompressedIsSaidToBe() {
        let gzipped: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xAB, 0xAE, 0x05, 0x00]
        func reason(_ body: [UInt8], _ encoding: String?) -> String {
            guard
                case .transient(let reason, _) = ResponseOutcome.classify(
                    status: 200, retryAfter: nil, body: body, contentEncoding: encoding)
            else { return "not transient" }
            return reason
        }
        #expect(
            reason([0x1B, 0x02, 0x00], "br").hasSuffix(
                "; it is compressed (Content-Encoding: br), which Sluice does not decode: it decodes gzip and deflate, "
                    + "and asks for them itself when the connection's headers set no Accept-Encoding"))
        #expect(
            reason(gzipped, nil).hasSuffix(
                "; it is gzip data, though the answer has no Content-Encoding: gzip to say so"))
        #expect(!reason(Array("{truncated".utf8), "gzip").contains("compressed"))
        #expect(!reason(Array("{truncated".utf8), nil).contains("gzip"))
    }

    @Test func spotifyErrorMessagesAreKept() {
        #expect(
            Self.classify(400, #"{"error":{"status":400,"message":"invalid id"}}"#)
                == .badRequest("invalid id", status: 400))
        #expect(
            Self.classify(401, #"{"error":{"status":401,"message":"The access token expired"}}"#)
                == .unauthorized("The access token expired"))
        #expect(Self.classify(403, #"{"error":{"status":403,"message":"Forbidden"}}"#) == .forbidden("Forbidden"))
        #expect(
            Self.classify(404, #"{"error":{"status":404,"message":"non existing id"}}"#)
                == .notFound("non existing id", status: 404))
    }

    @Test func rateLimitCarriesRetryAfter() {
        #expect(Self.classify(429, "{}", retryAfter: "2") == .rateLimited(status: 429, retryAfter: .seconds(2)))
        #expect(Self.classify(429, "{}") == .rateLimited(status: 429, retryAfter: nil))
    }

    /// A 503 says with `Retry-After` how long the service expects to be down (RFC 9110 §10.2.3):
    /// still a transient failure, not a throttle, but one to retry no sooner than that.
    @Test func aTransientAnswerCarriesItsRetryAfter() {
        #expect(
            Self.classify(503, #"{"error":{"status":503,"message":"down"}}"#, retryAfter: "120")
                == .transient("HTTP 503: down", retryAfter: .seconds(120)))
        #expect(Self.classify(500, "{}", retryAfter: "x") == .transient("HTTP 500: {}", retryAfter: nil))
    }

    @Test(arguments: [500, 502, 503, 504, 408])
    func serverErrorsAreTransientEvenWithHTMLBodies(status: Int) {
        let html = "<html><head><title>\(status) Service Unavailable</title></head><body>...</body></html>"
        #expect(Self.classify(status, html) == .transient("HTTP \(status): HTML page: \(status) Service Unavailable"))
    }

    @Test(arguments: [405, 409, 418])
    func otherClientErrorsAreFinal(status: Int) {
        #expect(
            Self.classify(status, #"{"error":{"status":0,"message":"no"}}"#) == .final(status: status, message: "no"))
    }

    /// 422 refuses the request's input as 400 does, 410 is "not found" as 404 is, and 204 is an
    /// answer with nothing in it, not a body to retry for.
    @Test func unprocessableGoneAndNoContentAreAnswers() {
        let body = #"{"error":{"status":0,"message":"no"}}"#
        #expect(Self.classify(422, body) == .badRequest("no", status: 422))
        #expect(Self.classify(410, body) == .notFound("no", status: 410))
        #expect(Self.classify(204, "") == .success(.null))
    }

    /// A page whose next link repeats the key is masked, but is not `.echoed` (said in the run's
    /// summary as data that reads `***`): only its items are kept. A key in its items is.
    @Test func aKeyRepeatedOnlyOutsideWhatIsKeptIsMaskedButNotAnEcho() {
        func classify(_ body: String) -> ResponseOutcome {
            ResponseOutcome.classify(
                status: 200, retryAfter: nil, body: Array(body.utf8), secrets: ["gk-PRIVATE-999"],
                kept: { AnswerMatching.value(at: "items", in: $0) })
        }
        let link = classify(#"{"items":[{"n":1}],"links":{"next":"/l?start=1&key=gk-PRIVATE-999"}}"#)
        let item = classify(#"{"items":[{"n":"gk-PRIVATE-999"}],"links":{"next":null}}"#)
        func json(_ text: String) -> Value { (try? JSON.decode(Array(text.utf8))) ?? .null }
        #expect(link == .success(json(#"{"items":[{"n":1}],"links":{"next":"/l?start=1&key=***"}}"#)))
        #expect(item == .echoed(json(#"{"items":[{"n":"***"}],"links":{"next":null}}"#)))
    }

    /// An answer that echoes the request hands back the key it carried: masked, as in errors.
    @Test func aSuccessfulAnswerEchoingTheKeyKeepsItMasked() {
        let body = Array(#"{"data":{"you_sent":{"api_key":"gk-PRIVATE-999","k":"x"}},"gk-PRIVATE-999":1}"#.utf8)
        let outcome = ResponseOutcome.classify(status: 200, retryAfter: nil, body: body, secrets: ["gk-PRIVATE-999"])
        #expect(
            outcome
                == .echoed(.object(["data": .object(["you_sent": .object(["api_key": "***", "k": "x"])]), "***": 1])))
        #expect(Self.classify(200, #"{"k":"x"}"#) == .success(.object(["k": "x"])))
        // What only a message may not show (a Basic username with its password) stays in the data.
        let owner = Array(#"{"owner":"acme","msg":"acme"}"#.utf8)
        #expect(
            ResponseOutcome.classify(status: 200, retryAfter: nil, body: owner, secrets: ["acme"], answerSecrets: [])
                == .success(.object(["owner": "acme", "msg": "acme"])))
    }

    @Test func oauthErrorsReadAsCodeAndDescription() {
        let body = Array(#"{"error":"invalid_client","error_description":"Invalid client"}"#.utf8)
        #expect(APIErrorMessage.extract(from: body) == "invalid_client (Invalid client)")
        #expect(APIErrorMessage.extract(from: []) == "empty body")
    }
}

@Suite struct RequestURLTests {
    static var configuration: FetchConfiguration {
        var configuration = FetchConfiguration(baseURL: "http://127.0.0.1:9/v1/", path: "/tracks", itemsKey: "tracks")
        configuration.query = ["market": "SE"]
        configuration.fallbackPath = "/tracks/{id}"
        return configuration
    }

    @Test func batchJoinsPercentEncodedIdsWithCommas() {
        let url = RequestURL(configuration: Self.configuration).batch(["4uLU6hMCjMI75M1A2tKUQC", "spotify:track:x y"])
            .url
        #expect(url == "http://127.0.0.1:9/v1/tracks?ids=4uLU6hMCjMI75M1A2tKUQC,spotify%3Atrack%3Ax%20y&market=SE")
    }

    @Test func itemFillsTheFallbackTemplate() {
        let urls = RequestURL(configuration: Self.configuration)
        #expect(urls.item("a/b")?.url == "http://127.0.0.1:9/v1/tracks/a%2Fb?market=SE")
        var without = Self.configuration
        without.fallbackPath = nil
        #expect(RequestURL(configuration: without).item("a") == nil)
    }

    @Test func redactedURLHasNoUserInfoAndAShortQuery() {
        let long = "https://user:pass@api.example.com/v1/tracks?ids=" + String(repeating: "abcdefghij,", count: 50)
        let text = URLRedaction.describe(long)
        #expect(!text.contains("pass"))
        #expect(text.hasPrefix("https://api.example.com/v1/tracks?ids=abcdefghij,"))
        #expect(text.count < 260)
    }
}

@Suite struct RedactionTests {
    static let secret = "top-secret-value-0123"

    @Test func secretIsInNoDescriptionOfTheConfiguration() {
        var configuration = FetchConfiguration(
            baseURL: "http://127.0.0.1:9/v1", path: "/tracks", itemsKey: "tracks",
            auth: OAuth2ClientCredentials(
                tokenURL: "http://127.0.0.1:9/api/token", clientID: "me", clientSecret: Self.secret))
        configuration.delay = .milliseconds(330)
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [
            "\(configuration)", String(reflecting: configuration), dumped, "\(configuration.auth!)",
            String(reflecting: configuration.auth!),
        ] {
            #expect(!text.contains(Self.secret))
        }
        #expect("\(configuration.auth!)".contains("clientID: me"))
    }

    @Test func accessTokenPrintsRedacted() {
        let token = AccessToken(value: "BQsecret")
        var dumped = ""
        dump(token, to: &dumped)
        for text in ["\(token)", String(reflecting: token), dumped] {
            #expect(!text.contains("BQsecret"))
        }
        #expect(token.authorizationHeader == "Bearer BQsecret")
    }
}
