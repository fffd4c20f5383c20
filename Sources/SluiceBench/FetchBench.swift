import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import Sluice
import SluiceCore
import SluicePipeline
import SluicePlan
import SpotifySimulator

/// Issue 5's targets: the plan's pacing against its floor (requests x delay) under a real rate
/// limit, and raw request throughput at several concurrencies against a 50 ms API.
struct FetchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch", abstract: "Fetch tracks from the simulator through the real fetch stage.")

    @Option(help: "Tracks to fetch.") var tracks = 3159
    @Option(help: "Seconds between request starts for the paced run.") var delay = 0.33
    @Option(help: "Simulator limit: requests per rolling 30 s for the paced run.") var rateLimit = 100
    @Option(help: "Concurrencies for the throughput runs (no limit, 50 ms latency).") var concurrency: [Int] = [
        1, 4, 16,
    ]
    @Option(help: "Tracks for each throughput run.") var throughputTracks = 20_000

    func run() async throws {
        // 1. The plan's defaults against a limit of `rateLimit` per 30 s.
        let paced = try await Self.measure(tracks: tracks, delay: delay, concurrency: 1) {
            $0.rateLimit = rateLimit
        }
        let floor = Double(paced.requests) * delay
        print(
            String(
                format:
                    "| fetch paced | %d tracks, batches of 50, delay %.2fs, limit %d/30s | %.1f s for %d requests; floor %.1f s: %.3fx; %d x 429 |",
                tracks, delay, rateLimit, paced.seconds, paced.requests, floor, paced.seconds / floor, paced.rateLimited
            ))
        // 2. Throughput: no limit, 50 ms per response, against a raw client on the same batches.
        for width in concurrency {
            let run = try await Self.measure(tracks: throughputTracks, delay: 0, concurrency: width) {
                $0.latency = .milliseconds(50)
            }
            let raw = try await Self.measureRawClient(tracks: throughputTracks, tasks: width)
            let idsPerSecond = Double(throughputTracks) / run.seconds
            let rawPerSecond = Double(throughputTracks) / raw
            print(
                String(
                    format:
                        "| fetch throughput | %d tracks, 50 ms latency, no limit, concurrency %d | %.0f ids/s (%d requests in %.1f s); raw AsyncHTTPClient, %d tasks, same batches: %.0f ids/s: **%.2fx** |",
                    throughputTracks, width, idsPerSecond, run.requests, run.seconds, width, rawPerSecond,
                    idsPerSecond / rawPerSecond))
        }
    }

    /// The baseline: AsyncHTTPClient alone, `tasks` tasks taking the same batches of 50 from a
    /// shared counter, one token, no pacing, no retries, no spools. Returns seconds.
    static func measureRawClient(tracks: Int, tasks: Int) async throws -> Double {
        var configuration = SimulatorConfiguration()
        configuration.latency = .milliseconds(50)
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        defer { Task { await simulator.stop() } }
        let ids = (0..<tracks).map { simulator.catalog.knownID($0) }
        let start = ContinuousClock.now
        try await RawClient.fetch(
            ids: ids, api: simulator.baseURL, tokenURL: simulator.tokenURL, clientID: configuration.clientID,
            clientSecret: configuration.clientSecret, tasks: tasks)
        return (ContinuousClock.now - start).seconds
    }

    struct Measurement {
        var seconds: Double
        var requests: Int
        var rateLimited: Int
    }

    static func measure(
        tracks: Int, delay: Double, concurrency: Int, configure: (inout SimulatorConfiguration) -> Void
    ) async throws -> Measurement {
        var configuration = SimulatorConfiguration()
        configure(&configuration)
        let simulator = SpotifySimulator(configuration: configuration)
        _ = try await simulator.start()
        defer { Task { await simulator.stop() } }
        let yaml = """
            version: 1
            name: fetch-bench
            connections:
              spotify:
                kind: http
                base_url: "\(simulator.baseURL)"
                auth: { kind: oauth2-client-credentials, token_url: "\(simulator.tokenURL)",
                        client_id: "\(configuration.clientID)", client_secret: "${SECRET}" }
            stages:
              - { kind: query, connection: db, sql: "SELECT 1" }
              - { kind: fetch, connection: spotify, path: /tracks, id: spotify_id, items_key: tracks, delay: \(delay)s,
                  concurrency: \(concurrency) }
            """
        let withDB = yaml.replacingOccurrences(
            of: "connections:\n", with: "connections:\n  db: { kind: postgres, url: \"postgresql://127.0.0.1/x\" }\n")
        let plan = try PlanLoader(environment: ["SECRET": configuration.clientSecret])
            .load(bytes: Array(withDB.utf8), path: "fetch-bench.yaml")
        let definition = try require(plan.stage(named: "fetch"), "fetch stage")
        let stage = try PipelineBuilder(plan: plan, logger: Logger(label: "bench")).stage(for: definition)
        let batches = stride(from: 0, to: tracks, by: 50).map { start in
            Batch(
                columns: ["spotify_id"],
                rows: (start..<min(start + 50, tracks)).map { [.string(simulator.catalog.knownID($0))] })
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-fetch-bench-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let context = StageContext(
            stageName: "fetch", stageKind: "fetch", runID: "bench", runDirectory: directory, runStartedAt: Date(),
            logger: Logger(label: "bench"))
        let output = StageOutput.collecting()
        let start = ContinuousClock.now
        try await stage.run(context, input: StageInput(batches), output: output)
        let elapsed = ContinuousClock.now - start
        let found = output.collected.reduce(0) { $0 + $1.count }
        precondition(found == tracks, "fetched \(found) of \(tracks)")
        return Measurement(
            seconds: elapsed.seconds,
            requests: context.counters["requests"], rateLimited: context.counters["http_429"])
    }
}

/// `#require` for a command-line tool.
func require<T>(_ value: T?, _ what: String = "value") throws -> T {
    guard let value else { throw ValidationError("missing \(what)") }
    return value
}

/// A plain client of the tracks API: the baseline a fetch stage is measured against.
enum RawClient {
    /// Gets a token (client credentials), then asks `GET {api}/tracks?ids=` for `ids` in batches
    /// of 50 with `tasks` tasks taking the next batch from a shared counter: no pacing, no
    /// retries, no spools. Returns the number of requests; throws on any answer but 200.
    @discardableResult
    static func fetch(
        ids: [String], api: String, tokenURL: String, clientID: String, clientSecret: String, tasks: Int
    ) async throws -> Int {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = client.shutdown() }
        var tokenRequest = HTTPClientRequest(url: tokenURL)
        tokenRequest.method = .POST
        let basic = Data("\(clientID):\(clientSecret)".utf8).base64EncodedString()
        tokenRequest.headers.add(name: "Authorization", value: "Basic \(basic)")
        tokenRequest.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        tokenRequest.body = .bytes(ByteBuffer(string: "grant_type=client_credentials"))
        let tokenResponse = try await client.execute(tokenRequest, timeout: .seconds(10))
        let tokenBody = try await tokenResponse.body.collect(upTo: 1 << 16)
        let token = try require(
            (try JSONSerialization.jsonObject(with: Data(buffer: tokenBody)) as? [String: Any])?["access_token"]
                as? String,
            "access token")
        let batches = stride(from: 0, to: ids.count, by: 50).map { start in
            ids[start..<min(start + 50, ids.count)].joined(separator: ",")
        }
        let next = TakeANumber()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    while true {
                        let index = next.take()
                        guard index < batches.count else { return }
                        var request = HTTPClientRequest(url: "\(api)/tracks?ids=\(batches[index])")
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        let response = try await client.execute(request, timeout: .seconds(30))
                        let body = try await response.body.collect(upTo: 1 << 24)
                        guard response.status == .ok, body.readableBytes > 0 else {
                            throw ValidationError("raw client: HTTP \(response.status.code)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return batches.count
    }
}

/// `sluice-bench raw-fetch`: the raw client as a process of its own, so a script can time it
/// start to exit beside a whole `sluice run` on the same server and ids.
struct RawFetch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "raw-fetch",
        abstract: "Fetch ids (one per line in a file) from a tracks API with a bare AsyncHTTPClient.")

    @Option(help: "The API's base URL (requests go to {api}/tracks?ids=...).") var api: String
    @Option(help: "The token endpoint (client credentials).") var tokenURL: String
    @Option(help: "A file of ids, one per line.") var ids: String
    @Option(help: "Requests in flight.") var tasks = 16

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let clientID = try require(environment["SPOTIFY_CLIENT_ID"], "SPOTIFY_CLIENT_ID")
        let secret = try require(environment["SPOTIFY_CLIENT_SECRET"], "SPOTIFY_CLIENT_SECRET")
        let list = try String(contentsOfFile: ids, encoding: .utf8).split(separator: "\n").map(String.init)
            .filter { !$0.isEmpty }
        let requests = try await RawClient.fetch(
            ids: list, api: api, tokenURL: tokenURL, clientID: clientID, clientSecret: secret, tasks: tasks)
        print("\(list.count) ids, \(requests) requests")
    }
}
