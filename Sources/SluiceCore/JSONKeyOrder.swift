/// The order a template (a fetch's `body`) wrote its objects' keys in, so that what it renders
/// is sent in that order: ``Value/object(_:)`` keeps none, and ``JSON/encode(_:)`` sorts keys.
/// Some APIs care (a signature over the body, a parser that reads members in order). Built once
/// per template, not per request.
public indirect enum JSONKeyOrder: Sendable, Hashable {
    /// Keys sorted, as ``JSON/encode(_:)`` writes them: a template's scalar (a placeholder may
    /// stand for a whole object of the row's), or what no template wrote.
    case sorted
    /// An object: its keys in the order written, each with the order of its value. A key the
    /// rendered object has beyond these goes after them, sorted.
    case object([Member])
    /// A list: the element at index `i` in the order of `elements[min(i, count - 1)]`, so a
    /// one-element list the template repeats once per id (``BodyTemplate``) gives each copy its
    /// element's order.
    case array([JSONKeyOrder])

    public struct Member: Sendable, Hashable {
        public var key: String
        public var order: JSONKeyOrder

        public init(_ key: String, _ order: JSONKeyOrder) {
            self.key = key
            self.order = order
        }
    }
}

extension JSON {
    /// Encodes `value` as compact JSON with the objects' keys in `keyOrder`.
    public static func encode(_ value: Value, keyOrder: JSONKeyOrder) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        encode(value, keyOrder: keyOrder, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the compact JSON form of `value` to `out`, the objects' keys in `keyOrder`.
    public static func encode(_ value: Value, keyOrder: JSONKeyOrder, into out: inout [UInt8]) {
        switch (value, keyOrder) {
        case (.object(let object), .object(let members)):
            out.append(UInt8(ascii: "{"))
            var written = 0
            func member(_ key: String, _ value: Value, _ order: JSONKeyOrder) {
                if written > 0 { out.append(UInt8(ascii: ",")) }
                written += 1
                encodeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                encode(value, keyOrder: order, into: &out)
            }
            for entry in members {
                guard let value = object[entry.key] else { continue }
                member(entry.key, value, entry.order)
            }
            // Rendered from the template, an object has exactly its keys: the rest is rare.
            if written < object.count {
                for key in object.keys.sorted() where !members.contains(where: { $0.key == key }) {
                    member(key, object[key]!, .sorted)
                }
            }
            out.append(UInt8(ascii: "}"))
        case (.array(let items), .array(let orders)) where !orders.isEmpty:
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                encode(item, keyOrder: orders[min(i, orders.count - 1)], into: &out)
            }
            out.append(UInt8(ascii: "]"))
        default:
            encode(value, into: &out)
        }
    }
}
