/// What the simulator decided to send for one request, independent of the HTTP server.
struct Reply: Sendable, Equatable {
    enum Delivery: Sendable, Equatable {
        /// Send status, headers and body as they are.
        case complete
        /// Hold the request without answering for at most `limit`, then drop the connection.
        case hang(limit: Duration)
        /// Close the connection without a response.
        case drop
    }

    var status: Int
    var contentType: String?
    var headers: [String: String] = [:]
    var body: [UInt8]
    /// Waited before sending (the configured latency).
    var delay: Duration = .zero
    var delivery: Delivery = .complete

    static func json(_ status: Int, _ body: some Encodable) -> Reply {
        Reply(status: status, contentType: "application/json; charset=utf-8", body: WebAPIJSON.encode(body))
    }

    static func html(_ status: Int, _ body: String) -> Reply {
        Reply(status: status, contentType: "text/html; charset=utf-8", body: Array(body.utf8))
    }

    /// The Web API's error shape: `{"error":{"status":N,"message":"..."}}`.
    static func apiError(_ status: Int, _ message: String) -> Reply {
        json(status, WebAPIError(error: .init(status: status, message: message)))
    }

    /// The accounts service's error shape: `{"error":"...","error_description":"..."}`.
    static func tokenError(_ error: String, _ description: String) -> Reply {
        json(400, TokenError(error: error, errorDescription: description))
    }
}
