import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SluiceCore

/// Serves a ``FixtureAPI`` on 127.0.0.1: a real HTTP server for each API shape a plan may
/// target, for tests, the benchmark and people trying a plan without the real API.
///
/// ```swift
/// let server = FixtureServer(api: FixtureAPI(shape: .perItem(pathPrefix: "/ws/2/isrc/"), answers: recorded))
/// let port = try await server.start()
/// defer { Task { await server.stop() } }
/// ```
public final class FixtureServer: Sendable {
    private let state: NIOLockedValueBox<FixtureState>
    private let running = NIOLockedValueBox<(group: ServiceGroup, task: Task<Void, Never>, port: Int)?>(nil)
    private let latency: Duration
    private let contentEncoding: String?
    private let rawBody: [UInt8]?
    private let started = ContinuousClock.now

    public init(api: FixtureAPI) {
        self.state = NIOLockedValueBox(FixtureState(api: api))
        self.latency = api.latency
        self.contentEncoding = api.contentEncoding
        self.rawBody = api.rawBody
    }

    /// Binds an ephemeral port on 127.0.0.1 and starts serving.
    /// - Returns: the port.
    public func start() async throws -> Int {
        let logger = Logger(label: "sluice.fixture-server", factory: { _ in SwiftLogNoOpLogHandler() })
        let (listening, announce) = AsyncStream<Int>.makeStream()
        let responder = CallbackResponder<BasicRequestContext> { [self] request, _ in
            try await self.respond(to: request)
        }
        let application = Application(
            responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                announce.yield(channel.localAddress?.port ?? 0)
                announce.finish()
            },
            logger: logger)
        let group = ServiceGroup(services: [application], logger: logger)
        let task = Task {
            try? await group.run()
            announce.finish()
        }
        var ports = listening.makeAsyncIterator()
        guard let port = await ports.next() else {
            task.cancel()
            throw FixtureServerError(description: "the fixture server could not listen on 127.0.0.1")
        }
        running.withLockedValue { $0 = (group, task, port) }
        return port
    }

    /// Stops serving and waits until the server is down.
    public func stop() async {
        guard
            let (group, task, _) = running.withLockedValue({ value in
                defer { value = nil }; return value
            })
        else { return }
        await group.triggerGracefulShutdown()
        await task.value
    }

    /// `http://127.0.0.1:PORT`, or `nil` before ``start()``.
    public var origin: String? { running.withLockedValue { $0.map { "http://127.0.0.1:\($0.port)" } } }

    /// A snapshot of what the server has seen.
    public func stats() -> FixtureStats { state.withLockedValue { $0.stats } }

    private func respond(to request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName] = field.value }
        // HTTP/1's Host header arrives as the request's authority.
        if let authority = request.head.authority { headers["host"] = authority }
        let inbound = FixtureRequest(
            method: request.method.rawValue, path: request.uri.path, query: request.uri.query ?? "",
            headers: headers, body: Array(buffer: body))
        let now = started.duration(to: .now).seconds
        let reply = state.withLockedValue { $0.respond(to: inbound, at: now) }
        if latency > .zero { try await Task.sleep(for: latency) }
        var fields = HTTPFields()
        fields[.contentType] = reply.contentType
        if let location = reply.location { fields[.location] = location }
        for (name, value) in reply.headers { if let name = HTTPFields.Element.Name(name) { fields[name] = value } }
        var bytes = reply.status == 200 ? rawBody ?? reply.body : reply.body
        if let encoding = contentEncoding {
            // Compressing a large answer takes a while: on a blocking-I/O thread, not the pool's.
            bytes = try await BlockingIO.run { [bytes] in try Compression.compress(bytes, gzip: encoding == "gzip") }
            fields[.contentEncoding] = encoding
        } else if let lie = reply.contentEncoding {
            fields[.contentEncoding] = lie
        }
        return Response(
            status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

struct FixtureServerError: Error, CustomStringConvertible {
    var description: String
}
