import Hummingbird
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A local, faithful stand-in for the parts of the Spotify Web API that Sluice uses
/// (see `spotify-api.md`): the client-credentials token endpoint and `/v1/tracks`, with
/// rate limiting, Development Mode and seeded faults.
///
/// ```swift
/// let simulator = SpotifySimulator(configuration: .init())
/// let port = try await simulator.start()
/// defer { Task { await simulator.stop() } }
/// // point a client at simulator.baseURL and simulator.tokenURL
/// ```
public final class SpotifySimulator: Sendable {
    private let storage: SimulatorStorage
    private let logger: Logger
    private let server = NIOLockedValueBox(Server())

    private struct Server {
        var port: Int?
        var group: ServiceGroup?
        var task: Task<Void, Never>?
    }

    /// How long ``stop()`` lets in-flight requests finish before cutting them off.
    static let gracefulStopLimit: Duration = .seconds(5)

    /// - Parameters:
    ///   - configuration: initial behaviour; most of it can be changed later with ``setConfiguration(_:)``.
    ///   - logger: where the HTTP server logs; by default nothing is logged.
    public init(configuration: SimulatorConfiguration, logger: Logger? = nil) {
        self.storage = SimulatorStorage(configuration: configuration)
        self.logger = logger ?? Logger(label: "sluice.spotify-simulator", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// Binds `configuration.host:configuration.port` and starts serving.
    /// - Returns: the bound port (the ephemeral one chosen when the configured port is 0).
    /// - Throws: ``SimulatorError`` when already started or when the address cannot be bound.
    public func start() async throws -> Int {
        let configuration = storage.configuration
        let alreadyStarted = server.withLockedValue { $0.task != nil }
        guard !alreadyStarted else { throw SimulatorError.alreadyStarted }
        storage.isStopping = false

        let (listening, announce) = AsyncStream<Int>.makeStream()
        let application = Application(
            responder: SimulatorResponder(storage: storage),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                announce.yield(channel.localAddress?.port ?? configuration.port)
                announce.finish()
            },
            logger: logger
        )
        let group = ServiceGroup(services: [application], logger: logger)
        let failure = NIOLockedValueBox<(any Error)?>(nil)
        let task = Task {
            do {
                try await group.run()
            } catch {
                failure.withLockedValue { $0 = error }
            }
            announce.finish()
        }
        server.withLockedValue {
            $0.group = group
            $0.task = task
        }

        var ports = listening.makeAsyncIterator()
        guard let port = await ports.next() else {
            server.withLockedValue { $0.task = nil }
            let cause = failure.withLockedValue { $0 }
            throw SimulatorError.cannotListen(host: configuration.host, port: configuration.port, cause: cause)
        }
        server.withLockedValue { $0.port = port }
        storage.setAPIBase("http://\(configuration.host):\(port)/v1")
        logger.info("Spotify simulator listening", metadata: ["http.port": "\(port)"])
        return port
    }

    /// Stops serving: held (hanging) requests let go, requests in flight get a few seconds
    /// to finish, then every connection is closed.
    public func stop() async {
        storage.isStopping = true
        let (group, task) = server.withLockedValue { server in
            defer { (server.group, server.task) = (nil, nil) }
            return (server.group, server.task)
        }
        guard let group, let task else { return }
        await group.triggerGracefulShutdown()
        let watchdog = Task {
            try await Task.sleep(for: Self.gracefulStopLimit)
            task.cancel()
        }
        await task.value
        watchdog.cancel()
    }

    /// `http://HOST:PORT/v1`, the Web API base URL to give a client.
    public var baseURL: String { "\(origin)/v1" }

    /// `http://HOST:PORT/api/token`, the accounts service's token URL.
    public var tokenURL: String { "\(origin)/api/token" }

    /// The port bound by ``start()``, or `nil` before.
    public var port: Int? { server.withLockedValue { $0.port } }

    private var origin: String {
        let configuration = storage.configuration
        return "http://\(configuration.host):\(port ?? configuration.port)"
    }

    /// The catalog this simulator serves, to pick known, unknown and relinked ids for a test.
    public var catalog: SpotifyCatalog { SpotifyCatalog(seed: storage.configuration.seed) }

    /// The current configuration.
    public var configuration: SimulatorConfiguration { storage.configuration }

    /// A snapshot of counters and the request log.
    public func stats() -> SimulatorStats { storage.stats }

    /// Makes every issued token expired now: the next API call with one gets 401 "The access token expired".
    public func expireTokens() { storage.expireTokens() }

    /// Gives the next `/v1/tracks` requests that pass authentication and the rate limit these
    /// faults, one each in order, before (and without advancing) the seeded draw: a burst of
    /// 502s, two 429s, one truncated body, exactly when a test wants them. A ``Fault/wrongTrackCount``
    /// waits for a request answered 200 for several tracks.
    public func scheduleFaults(_ faults: [Fault]) { storage.scheduleFaults(faults) }

    /// Every access token issued so far, so a test can check that none of them leaked.
    public func issuedTokens() -> [String] { storage.issuedTokens }

    /// Changes behaviour at runtime (rate limit, faults, Development Mode, latency, ...).
    /// `host` and `port` only take effect on the next ``start()``.
    public func setConfiguration(_ update: @Sendable (inout SimulatorConfiguration) -> Void) {
        storage.reconfigure(update)
    }
}
