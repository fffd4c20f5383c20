import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SpotifySimulator

/// A running simulator on 127.0.0.1 and a real HTTP client that talks to it.
struct SimulatorHarness {
    let simulator: SpotifySimulator
    let client: HTTPClient

    /// Starts a simulator configured by `configure`, runs `body`, and always stops it.
    static func with<T>(
        _ configure: (inout SimulatorConfiguration) -> Void = { _ in },
        _ body: (SimulatorHarness) async throws -> T
    ) async throws -> T {
        var configuration = SimulatorConfiguration()
        configure(&configuration)
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        // A client of our own, so a dropped or held connection cannot disturb other tests' pools.
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let harness = SimulatorHarness(simulator: simulator, client: client)
        do {
            let result = try await body(harness)
            try await client.shutdown()
            await simulator.stop()
            return result
        } catch {
            try? await client.shutdown()
            await simulator.stop()
            throw error
        }
    }

    var catalog: SpotifyCatalog { simulator.catalog }

    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]

        var text: String { String(decoding: body, as: UTF8.self) }

        /// The body as a JSON object; `nil` when it is not one.
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }

        /// `error.message` of a Web API error body.
        var errorMessage: String? { (json?["error"] as? [String: Any])?["message"] as? String }
    }

    /// Sends a request and reads the whole body.
    func send(
        _ method: HTTPMethod = .GET, _ url: String, headers: [(String, String)] = [], body: String? = nil,
        timeout: TimeAmount = .seconds(10)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers {
            request.headers.add(name: name, value: value)
        }
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
    }

    /// Requests a token with the client-credentials flow.
    func requestToken(
        clientID: String = SimulatorConfiguration().clientID,
        clientSecret: String = SimulatorConfiguration().clientSecret,
        grantType: String = "client_credentials"
    ) async throws -> Reply {
        let credentials = Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        return try await send(
            .POST, simulator.tokenURL,
            headers: [
                ("Authorization", "Basic \(credentials)"), ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body: "grant_type=\(grantType)")
    }

    /// A fresh, valid access token.
    func token() async throws -> String {
        let reply = try await requestToken()
        guard let token = reply.json?["access_token"] as? String else {
            throw HarnessError(message: "no token in \(reply.status) \(reply.text)")
        }
        return token
    }

    /// `GET /v1/tracks?ids=...` with each id percent-encoded as a client would.
    func tracks(
        _ ids: [String], market: String? = nil, token: String?, timeout: TimeAmount = .seconds(10)
    ) async throws -> Reply {
        let list = ids.map(Self.encode).joined(separator: ",")
        let query = "ids=\(list)" + (market.map { "&market=\($0)" } ?? "")
        return try await send(.GET, "\(simulator.baseURL)/tracks?\(query)", headers: bearer(token), timeout: timeout)
    }

    /// `GET /v1/tracks/{id}`.
    func track(_ id: String, token: String?) async throws -> Reply {
        try await send(.GET, "\(simulator.baseURL)/tracks/\(Self.encode(id))", headers: bearer(token))
    }

    private func bearer(_ token: String?) -> [(String, String)] {
        token.map { [("Authorization", "Bearer \($0)")] } ?? []
    }

    static func encode(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id
    }

    /// The tracks array of a `{"tracks":[...]}` body, `NSNull` for nulls.
    static func trackList(_ reply: Reply) -> [Any] {
        reply.json?["tracks"] as? [Any] ?? []
    }
}

struct HarnessError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
