import SluiceCore

/// A validated parameter tree that keeps the order keys were written in.
///
/// Order matters in plans (transform fields are output in order; CSV columns too), and
/// ``Value/object(_:)`` is unordered, so the validator produces this, and converts to
/// ``Value`` only for the manifest.
public indirect enum PlanValue: Sendable, Hashable {
    case scalar(Value)
    case list([PlanValue])
    case map([Entry])

    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: PlanValue
        public init(_ key: String, _ value: PlanValue) {
            self.key = key
            self.value = value
        }
    }

    public subscript(key: String) -> PlanValue? {
        if case .map(let entries) = self { return entries.first { $0.key == key }?.value }
        return nil
    }

    public var entries: [Entry] {
        if case .map(let e) = self { return e }
        return []
    }

    public var items: [PlanValue] {
        if case .list(let l) = self { return l }
        return []
    }

    public var scalarValue: Value? {
        if case .scalar(let v) = self { return v }
        return nil
    }

    public var string: String? { scalarValue?.stringValue }
    public var int: Int? { scalarValue?.intValue.map { Int($0) } }
    public var double: Double? { scalarValue?.doubleValue }
    public var bool: Bool? { scalarValue?.boolValue }

    /// The unordered JSON form, for the manifest.
    public var value: Value {
        switch self {
        case .scalar(let v): return v
        case .list(let l): return .array(l.map(\.value))
        case .map(let e):
            return .object(Dictionary(e.map { ($0.key, $0.value.value) }, uniquingKeysWith: { a, _ in a }))
        }
    }

    /// JSON text with keys in their written order: valid YAML, so Sluice can load it back.
    public func jsonText(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent + 1)
        let end = String(repeating: "  ", count: indent)
        switch self {
        case .scalar(let v): return JSON.encode(v)
        case .list(let l):
            if l.isEmpty { return "[]" }
            return "[\n" + l.map { pad + $0.jsonText(indent: indent + 1) }.joined(separator: ",\n") + "\n\(end)]"
        case .map(let e):
            if e.isEmpty { return "{}" }
            return "{\n"
                + e.map { pad + JSON.encode(.string($0.key)) + ": " + $0.value.jsonText(indent: indent + 1) }
                .joined(separator: ",\n") + "\n\(end)}"
        }
    }
}
