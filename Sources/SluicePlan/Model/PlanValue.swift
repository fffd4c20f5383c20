import Foundation
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

    /// The mappings whose keys ``value`` would give in another order than written (it sorts
    /// them), by their JSON Pointer (`/stages/2/fields`), each with its keys as written: what
    /// a manifest records beside its `resolved_plan` so that a replay gives a transform's
    /// fields, a query's parameters and an apply's columns in the plan's order.
    public var keyOrder: [String: [String]] {
        var order: [String: [String]] = [:]
        func walk(_ value: PlanValue, _ pointer: String) {
            switch value {
            case .scalar: break
            case .list(let items):
                for (i, item) in items.enumerated() { walk(item, pointer + "/\(i)") }
            case .map(let entries):
                let keys = entries.map(\.key)
                if keys != keys.sorted() { order[pointer] = keys }
                for entry in entries { walk(entry.value, pointer + "/" + Self.pointerToken(entry.key)) }
            }
        }
        walk(self, "")
        return order
    }

    /// The order of this value's mappings' keys as written, for sending what ``value`` gives
    /// (or a template of it renders) in that order: a fetch's `body`.
    public var jsonKeyOrder: JSONKeyOrder {
        switch self {
        case .scalar: return .sorted
        case .list(let items):
            let orders = items.map(\.jsonKeyOrder)
            return orders.allSatisfy { $0 == .sorted } ? .sorted : .array(orders)
        case .map(let entries): return .object(entries.map { JSONKeyOrder.Member($0.key, $0.value.jsonKeyOrder) })
        }
    }

    /// `value` (a manifest's `resolved_plan`) with its mappings' keys put back in the order
    /// ``keyOrder`` recorded; any other mapping's keys sorted, as `value` gives them.
    public init(_ value: Value, keyOrder: [String: [String]]) {
        func build(_ value: Value, _ pointer: String) -> PlanValue {
            switch value {
            case .array(let items):
                return .list(items.enumerated().map { build($0.element, pointer + "/\($0.offset)") })
            case .object(let members):
                let recorded = (keyOrder[pointer] ?? []).filter { members[$0] != nil }
                let keys = recorded + members.keys.filter { !recorded.contains($0) }.sorted()
                return .map(keys.map { Entry($0, build(members[$0]!, pointer + "/" + Self.pointerToken($0))) })
            default:
                return .scalar(value)
            }
        }
        self = build(value, "")
    }

    /// A key as a JSON Pointer token (RFC 6901): `~` as `~0`, `/` as `~1`.
    static func pointerToken(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
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
