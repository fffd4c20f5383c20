import SluiceCore

/// `GET /_sim/stats`: counters, the live configuration and the most recent requests, for people.
struct StatsDocument: Encodable {
    struct Entry: Encodable {
        /// Seconds before the stats were taken.
        var ageSeconds: Double
        var path: String
        var idCount: Int
        var status: Int
        var fault: Fault?
    }

    struct Settings: Encodable {
        var seed: UInt64
        var rateLimit: Int?
        var retryAfterSeconds: Double?
        var latencyMs: Double
        var developmentMode: Bool
        var faultRate: Double
        var faultKinds: [Fault]
    }

    static let recentLimit = 50

    var tokenRequests: Int
    var apiRequests: Int
    var rateLimited: Int
    var faultsInjected: Int
    var statusCounts: [String: Int]
    var configuration: Settings
    var recentRequests: [Entry]

    init(_ stats: SimulatorStats, configuration: SimulatorConfiguration, now: ContinuousClock.Instant) {
        tokenRequests = stats.tokenRequests
        apiRequests = stats.apiRequests
        rateLimited = stats.rateLimited
        faultsInjected = stats.faultsInjected
        statusCounts = Dictionary(stats.requestLog.map { (String($0.status), 1) }, uniquingKeysWith: +)
        self.configuration = Settings(
            seed: configuration.seed, rateLimit: configuration.rateLimit,
            retryAfterSeconds: configuration.retryAfter.map(\.seconds),
            latencyMs: configuration.latency.seconds * 1000, developmentMode: configuration.developmentMode,
            faultRate: configuration.faults.rate, faultKinds: configuration.faults.kinds)
        recentRequests = stats.requestLog.suffix(Self.recentLimit).map { record in
            Entry(
                ageSeconds: (now - record.time).seconds, path: record.path, idCount: record.ids.count,
                status: record.status, fault: record.fault)
        }
    }
}
