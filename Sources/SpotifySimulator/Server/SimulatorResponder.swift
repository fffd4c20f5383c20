import HTTPTypes
import Hummingbird
import NIOCore

/// Turns HTTP requests into ``InboundRequest``s, asks the state for a ``Reply`` and carries it
/// out: latency, hangs and dropped connections happen here, not in the state.
struct SimulatorResponder: HTTPResponder {
    typealias Context = SimulatorRequestContext

    /// Token request bodies are a few dozen bytes; anything bigger is not a client we simulate for.
    static let maxBodySize = 64 * 1024

    let storage: SimulatorStorage

    func respond(to request: Request, context: Context) async throws -> Response {
        let body = try await request.body.collect(upTo: Self.maxBodySize)
        let inbound = InboundRequest(
            method: request.method.rawValue,
            path: request.uri.path,
            query: request.uri.query,
            authorization: request.headers[.authorization],
            body: Array(buffer: body)
        )
        let reply = storage.respond(to: inbound)
        if reply.delay > .zero {
            try await Task.sleep(for: reply.delay)
        }
        switch reply.delivery {
        case .complete:
            return Self.response(for: reply)
        case .hang(let limit):
            // The event loop drops the connection at the limit even if this task is slow to
            // wake (a busy cooperative pool), so a client never waits past the limit for it.
            let channel = context.channel
            let milliseconds = Int64((limit / .milliseconds(1)).rounded(.up))
            channel.eventLoop.scheduleTask(in: .milliseconds(milliseconds)) { channel.close(promise: nil) }
            try? await hold(channel, upTo: limit)
            try await drop(channel)
        case .drop:
            try await drop(context.channel)
        }
    }

    static func response(for reply: Reply) -> Response {
        var headers = HTTPFields()
        if let contentType = reply.contentType {
            headers[.contentType] = contentType
        }
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) {
                headers[field] = value
            }
        }
        return Response(
            status: .init(code: reply.status),
            headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: reply.body))
        )
    }

    /// Waits while the client is still connected and the simulator running, at most `limit`.
    private func hold(_ channel: any Channel, upTo limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while channel.isActive, ContinuousClock.now < deadline, !storage.isStopping {
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Closes the connection with nothing written. Hummingbird's attempt to answer the error
    /// thrown here then fails on the closed channel, which is what we want.
    private func drop(_ channel: any Channel) async throws -> Never {
        try? await channel.close()
        throw ConnectionDropped()
    }

    struct ConnectionDropped: Error {}
}
