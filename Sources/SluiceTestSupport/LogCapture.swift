import Foundation
import Logging

/// Keeps every log record, so tests can count warnings and look for leaked secrets.
public final class LogCapture: @unchecked Sendable {
    // @unchecked: `records` is only touched under `lock`.
    public struct Record: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: String
    }

    private let lock = NSLock()
    private var stored: [Record] = []

    public init() {}

    public var records: [Record] { lock.withLock { stored } }

    public var logger: Logger {
        var logger = Logger(label: "sluice.tests") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    /// Every message and its metadata as one text, for "is this secret anywhere?" checks.
    public var fullText: String {
        records.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }

    func append(_ record: Record) {
        lock.withLock { stored.append(record) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append(Record(level: event.level, message: "\(event.message)", metadata: text))
        }
    }
}
