import ArgumentParser
import Foundation
import Logging
import SpotifySimulator
import UnixSignals

/// `sluice-spotify-sim`: runs the local Spotify Web API simulator until SIGINT or SIGTERM.
///
/// Prints exactly one line to stdout, `listening on http://HOST:PORT`, once the port is bound,
/// so scripts can start it with `--port 0` and read the port; everything else goes to stderr.
@main
struct SpotifySimulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sluice-spotify-sim",
        abstract: "A local, faithful simulator of the Spotify Web API endpoints Sluice uses.",
        discussion: """
            Serves POST /api/token (client credentials), GET /v1/tracks?ids=... and GET /v1/tracks/{id}, \
            plus GET /_sim/stats and POST /_sim/expire-tokens for people watching a run. \
            Prints one line, "listening on http://HOST:PORT", on stdout once bound; logs go to stderr.

            Point a plan at it with SPOTIFY_API_URL=http://HOST:PORT/v1 and \
            SPOTIFY_TOKEN_URL=http://HOST:PORT/api/token.
            """
    )

    @Option(help: "Address to bind. Keep it on loopback.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free one (printed on stdout).")
    var port = 0

    @Option(help: "Seed of the deterministic catalog.")
    var seed: UInt64 = 42

    @Option(help: "Client id the token endpoint accepts.")
    var clientID = SimulatorConfiguration().clientID

    @Option(help: "Client secret the token endpoint accepts.")
    var clientSecret = SimulatorConfiguration().clientSecret

    @Option(help: "Access token lifetime in seconds.")
    var tokenLifetime = 3600

    @Option(help: "API requests allowed per rolling 30-second window (default: unlimited).")
    var rateLimit: Int?

    @Option(
        help: """
            Fixed Retry-After seconds on every 429, the rate limit's and an injected 429 fault's \
            (and an injected 503-retry-after's) (default: until the window has room; 1 for a fault).
            """)
    var retryAfter: Double?

    @Option(
        help: """
            Rate-limit the token endpoint: answer the first token request 429 with this Retry-After in \
            seconds, and any sent before it ends; answer the rest as usual (default: never).
            """)
    var tokenRetryAfter: Double?

    @Flag(help: "Lengthen the wait when a client sends during a Retry-After wait, as Spotify does.")
    var penalizeEarlyRetries = false

    @Option(help: "Milliseconds added to every API response.")
    var latencyMs = 0

    @Flag(help: "Behave like a Development Mode app: batch endpoint 403, no popularity.")
    var developmentMode = false

    @Option(help: "Probability (0-1) that a /v1/tracks request gets a fault.")
    var faultRate = 0.0

    @Option(
        help: ArgumentHelp(
            "Comma-separated faults to draw from (default: 500, 502, 503, hang, drop, truncated).",
            discussion: "Names: \(FaultName.help)."))
    var faults: String?

    @Option(help: "Seed of the fault sequence.")
    var faultSeed: UInt64 = 7

    @Option(help: "Seconds a 'hang' fault holds a request before dropping the connection.")
    var hangLimit = 120

    @Option(
        name: .customLong("print-ids"),
        help: ArgumentHelp(
            "Print N ids of each kind (known, unknown, relinked) for --seed as TSV and exit, without serving.",
            valueName: "n"))
    var printIDs: Int?

    @Option(
        name: .customLong("print-demo-sql"),
        help: ArgumentHelp(
            "Print SQL creating a tracks table of N rows for --seed (known, relinked, unknown, URI, URL, malformed, duplicate and missing ids) and exit.",
            valueName: "n"))
    var printDemoSQL: Int?

    @Option(help: "Log level on stderr (trace, debug, info, notice, warning, error, critical).")
    var logLevel = "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0-65535") }
        guard tokenLifetime >= 0 else { throw ValidationError("--token-lifetime must not be negative") }
        if let rateLimit, rateLimit < 1 { throw ValidationError("--rate-limit must be at least 1") }
        if let retryAfter, retryAfter < 0 { throw ValidationError("--retry-after must not be negative") }
        if let tokenRetryAfter, tokenRetryAfter < 0 {
            throw ValidationError("--token-retry-after must not be negative")
        }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard (0...1).contains(faultRate) else { throw ValidationError("--fault-rate must be between 0 and 1") }
        if let printIDs, printIDs < 0 { throw ValidationError("--print-ids must not be negative") }
        if let printDemoSQL, printDemoSQL < 0 { throw ValidationError("--print-demo-sql must not be negative") }
        guard hangLimit >= 0 else { throw ValidationError("--hang-limit must not be negative") }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
        _ = try faultKinds()
    }

    func run() async throws {
        if let printIDs {
            printCatalogIDs(printIDs)
            return
        }
        if let printDemoSQL {
            print(DemoDataset(catalog: SpotifyCatalog(seed: seed), count: printDemoSQL).sql(), terminator: "")
            return
        }
        var logger = Logger(label: "sluice.spotify-sim", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info

        // Trap the signals before serving, so an early Ctrl-C still stops cleanly.
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        let simulator = SpotifySimulator(configuration: try simulatorConfiguration(), logger: logger)
        let boundPort = try await simulator.start()
        // Unbuffered: a script reading the port must not wait for a buffer to fill.
        FileHandle.standardOutput.write(Data("listening on http://\(host):\(boundPort)\n".utf8))
        logger.info(
            "token URL \(simulator.tokenURL), API base URL \(simulator.baseURL), client id \(clientID)",
            metadata: ["catalog.seed": "\(seed)"])

        for await signal in signals {
            logger.info("received \(signal), stopping")
            break
        }
        await simulator.stop()
    }

    /// Ids a demo or a test database can be seeded with, knowing what the simulator will answer.
    private func printCatalogIDs(_ count: Int) {
        let catalog = SpotifyCatalog(seed: seed)
        var lines = ["kind\tindex\tid"]
        for (kind, id) in [
            ("known", catalog.knownID), ("unknown", catalog.unknownID), ("relinked", catalog.relinkedID),
        ] {
            lines += (0..<count).map { "\(kind)\t\($0)\t\(id($0))" }
        }
        print(lines.joined(separator: "\n"))
    }

    func simulatorConfiguration() throws -> SimulatorConfiguration {
        var configuration = SimulatorConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.seed = seed
        configuration.clientID = clientID
        configuration.clientSecret = clientSecret
        configuration.tokenLifetime = .seconds(tokenLifetime)
        configuration.rateLimit = rateLimit
        configuration.retryAfter = retryAfter.map { .milliseconds(Int(($0 * 1000).rounded())) }
        configuration.tokenRetryAfter = tokenRetryAfter.map { .milliseconds(Int(($0 * 1000).rounded())) }
        configuration.penalizeRequestsDuringWait = penalizeEarlyRetries
        configuration.latency = .milliseconds(latencyMs)
        configuration.developmentMode = developmentMode
        configuration.faults.rate = faultRate
        configuration.faults.kinds = try faultKinds()
        configuration.faults.seed = faultSeed
        configuration.faults.hangLimit = .seconds(hangLimit)
        return configuration
    }

    private func faultKinds() throws -> [Fault] {
        guard let faults else { return FaultConfiguration().kinds }
        return try faults.split(separator: ",").map { name in
            let name = name.trimmingCharacters(in: .whitespaces)
            guard let fault = FaultName.parse(name) else {
                throw ValidationError("unknown fault '\(name)' in --faults; known: \(FaultName.help)")
            }
            return fault
        }
    }
}

/// Fault names on the command line: the API's case names or short aliases.
enum FaultName {
    static let aliases: [String: Fault] = [
        "500": .serverError500, "502": .badGateway502, "503": .unavailable503Html,
        "503-retry-after": .unavailable503WithRetryAfter,
        "hang": .hang, "drop": .dropConnection, "truncated": .truncatedJSON,
        "429": .tooManyRequests429, "429-no-retry-after": .tooManyRequests429WithoutRetryAfter,
        "wrong-count": .wrongTrackCount,
    ]

    static func parse(_ name: String) -> Fault? {
        Fault(rawValue: name) ?? aliases[name.lowercased()]
    }

    static var help: String {
        Fault.allCases.map { fault in
            let alias = aliases.first { $0.value == fault }?.key
            return alias.map { $0 == fault.rawValue ? $0 : "\(fault.rawValue) (\($0))" } ?? fault.rawValue
        }.joined(separator: ", ")
    }
}
