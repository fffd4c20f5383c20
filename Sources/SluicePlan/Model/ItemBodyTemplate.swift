import SluiceCore

/// The JSON body of a per-item `POST`: a value whose strings may hold `{field}` placeholders,
/// filled from each row (`{isbn: "{isbn}", fields: [title]}`). `{id}` is the stage's `id`
/// expression; any other name is a field of the input row.
///
/// A string that is one placeholder alone takes the field's value with its JSON type, so a
/// number stays a number and an object stays an object; a placeholder inside other text is
/// filled with the value as text. Only `{name}` with a field name's characters (letters,
/// digits, `_`, `-`, `.` and spaces, starting with a letter or `_`; spaces around it are
/// trimmed, as in a path) is a placeholder: other braces (a prompt's `{"genre": ...}`) are sent
/// as written, and `{{` and `}}` are literal braces. A row whose field is empty (null, or
/// empty text) has no request, unless the placeholder says the field may be empty: `{zip?}`
/// alone sends null, inside text nothing.
public struct ItemBodyTemplate: Sendable, Hashable {
    indirect enum Node: Sendable, Hashable {
        case literal(Value)
        /// A string that is one placeholder alone.
        case field(Placeholder)
        /// A string with placeholders among text.
        case text([Part])
        case array([Node])
        case object([String: Node])
    }

    enum Part: Sendable, Hashable {
        case text(String)
        case field(Placeholder)
    }

    /// `{name}`, or `{name?}`: a field that may be empty (alone it sends null, in text nothing).
    struct Placeholder: Sendable, Hashable {
        var name: String
        var optional: Bool
    }

    /// A row's value that a placeholder needs is empty.
    public struct Missing: Error, Sendable {
        public var field: String
    }

    /// One placeholder as written: its field, where in the body (`.a`, `.items[0].isbn`) and
    /// the offset of its `{` in that string, for `check` to point at.
    public struct Use: Sendable, Hashable {
        public var field: String
        public var path: String
        public var offset: Int
    }

    let root: Node
    /// The placeholder names, in order of first use (object members in key order).
    public let fields: [String]
    /// Every placeholder, in the same order.
    public let uses: [Use]
    /// The order the plan wrote the body's keys in: ``encode(_:)`` sends them so.
    public let keyOrder: JSONKeyOrder

    public init(_ body: Value, keyOrder: JSONKeyOrder = .sorted) {
        self.keyOrder = keyOrder
        var fields: [String] = []
        var uses: [Use] = []
        var path = ""
        func parse(_ value: Value) -> Node {
            switch value {
            case .string(let s):
                let parts = Self.parts(of: s)
                for case .field(let field) in parts where !fields.contains(field.name) { fields.append(field.name) }
                uses += Self.offsets(in: s).map { Use(field: $0.name, path: path, offset: $0.offset) }
                switch parts.count {
                case 0: return .literal(.string(""))
                case 1:
                    switch parts[0] {
                    case .field(let field): return .field(field)
                    case .text(let text): return .literal(.string(text))
                    }
                default: return .text(parts)
                }
            case .array(let items):
                let outer = path
                defer { path = outer }
                return .array(
                    items.enumerated().map { i, item in
                        path = outer + "[\(i)]"
                        return parse(item)
                    })
            case .object(let members):
                let outer = path
                defer { path = outer }
                var nodes: [String: Node] = [:]
                for key in members.keys.sorted() {
                    path = outer + "." + key
                    nodes[key] = parse(members[key]!)
                }
                return .object(nodes)
            default: return .literal(value)
            }
        }
        root = parse(body)
        self.fields = fields
        self.uses = uses
    }

    /// The body for one row: each placeholder replaced by `value(name)`.
    /// - Throws: ``Missing`` for the first required field that is empty (`nil`, null, or empty
    ///   text), so the row is never asked about.
    public func render(_ value: (String) -> Value?) throws(Missing) -> Value {
        func present(_ field: Placeholder) throws(Missing) -> Value? {
            guard let v = value(field.name), !v.isNull, v.text?.isEmpty != true else {
                if field.optional { return nil }
                throw Missing(field: field.name)
            }
            return v
        }
        func fill(_ node: Node) throws(Missing) -> Value {
            switch node {
            case .literal(let v): return v
            case .field(let field): return try present(field) ?? .null
            case .text(let parts):
                var out = ""
                for part in parts {
                    switch part {
                    case .text(let text): out += text
                    case .field(let field): out += try present(field)?.text ?? ""
                    }
                }
                return .string(out)
            case .array(let items):
                var out: [Value] = []
                out.reserveCapacity(items.count)
                for item in items { out.append(try fill(item)) }
                return .array(out)
            case .object(let members):
                var out: [String: Value] = [:]
                for (key, member) in members { out[key] = try fill(member) }
                return .object(out)
            }
        }
        return try fill(root)
    }

    /// A body ``render(_:)`` gave, as JSON text with its keys in the plan's order.
    public func encode(_ rendered: Value) -> String { JSON.encode(rendered, keyOrder: keyOrder) }

    /// The placeholders of one string with the offset of each `{`.
    static func offsets(in string: String) -> [(name: String, offset: Int)] {
        var found: [(String, Int)] = []
        _ = parts(of: string) { found.append(($0.name, $1)) }
        return found
    }

    /// The text and placeholders of one string: `{name}` or `{name?}` where the name is a field
    /// name, `{{` and `}}` as single braces. `found` is told each placeholder's offset.
    static func parts(of string: String, found: (Placeholder, Int) -> Void = { _, _ in }) -> [Part] {
        var parts: [Part] = []
        var literal = ""
        let chars = Array(string)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == "{" || c == "}", i + 1 < chars.count, chars[i + 1] == c {
                literal.append(c)
                i += 2
                continue
            }
            if c == "{", let close = chars[(i + 1)...].firstIndex(of: "}"),
                let field = Self.placeholder(String(chars[(i + 1)..<close]))
            {
                if !literal.isEmpty { parts.append(.text(literal)) }
                literal = ""
                parts.append(.field(field))
                found(field, i)
                i = close + 1
                continue
            }
            literal.append(c)
            i += 1
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return parts
    }

    /// What is between braces as a placeholder, when it is a field name (with `?` after it for
    /// an optional one): letters, digits, `_`, `-`, `.` and spaces, starting with a letter or
    /// `_` (`track_id`, `track-id`, `isbn.13`, `Book ID`), not JSON or prose. Spaces around it
    /// are trimmed, as in a path.
    private static func placeholder(_ text: String) -> Placeholder? {
        var name = text.trimmingCharacters(in: .whitespaces)
        let optional = name.hasSuffix("?")
        if optional { name = String(name.dropLast()).trimmingCharacters(in: .whitespaces) }
        guard let first = name.first, first == "_" || first.isLetter,
            name.allSatisfy({ $0 == "_" || $0 == "-" || $0 == "." || $0 == " " || $0.isLetter || $0.isNumber })
        else { return nil }
        return Placeholder(name: name, optional: optional)
    }
}
