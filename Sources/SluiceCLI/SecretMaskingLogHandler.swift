import Logging
import SluiceCore

/// A log handler that hides the plan's secrets (``SecretRegistry``) in every message and
/// metadata value before the handler it wraps writes them: a trace log prints the statements it
/// runs, and a query's SQL may hold a `${DB_PASSPHRASE}`. It also writes any character a
/// terminal would act on as its code (``Terminal/shown(_:)``), as everything sluice prints: the
/// wrapped handler writes to stderr, and a logged error may quote a server's or an API's text.
struct SecretMaskingLogHandler<Inner: LogHandler>: LogHandler {
    var inner: Inner

    init(_ inner: Inner) { self.inner = inner }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        event.message = "\(Terminal.shown(event.message.description))"
        event.metadata = event.metadata?.mapValues(Self.masking)
        if let error = event.error { event.error = MaskedError(description: Terminal.shown("\(error)")) }
        inner.log(event: event)
    }

    /// An error as the log shows it, secrets hidden.
    struct MaskedError: Error, CustomStringConvertible {
        var description: String
    }

    static func masking(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): return .string(Terminal.shown(text))
        case .stringConvertible(let item): return .string(Terminal.shown(item.description))
        case .array(let items): return .array(items.map(masking))
        case .dictionary(let members): return .dictionary(members.mapValues(masking))
        }
    }
}
