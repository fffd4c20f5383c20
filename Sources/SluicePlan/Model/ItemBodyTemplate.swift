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
/// as written, and `{{` and `}}` are literal braces.
public struct ItemBodyTemplate: Sendable, Hashable {
    indirect enum Node: Sendable, Hashable {
        case literal(Value)
        /// A string that is one placeholder alone.
        case field(String)
        /// A string with placeholders among text.
        case text([Part])
        case array([Node])
        case object([String: Node])
    }

    enum Part: Sendable, Hashable {
        case text(String)
        case field(String)
    }

    let root: Node
    /// The placeholder names, in order of first use (object members in key order).
    public let fields: [String]

    public init(_ body: Value) {
        var fields: [String] = []
        func parse(_ value: Value) -> Node {
            switch value {
            case .string(let s):
                let parts = Self.parts(of: s)
                for case .field(let name) in parts where !fields.contains(name) { fields.append(name) }
                switch parts.count {
                case 0: return .literal(.string(""))
                case 1:
                    switch parts[0] {
                    case .field(let name): return .field(name)
                    case .text(let text): return .literal(.string(text))
                    }
                default: return .text(parts)
                }
            case .array(let items): return .array(items.map(parse))
            case .object(let members):
                var nodes: [String: Node] = [:]
                for key in members.keys.sorted() { nodes[key] = parse(members[key]!) }
                return .object(nodes)
            default: return .literal(value)
            }
        }
        root = parse(body)
        self.fields = fields
    }

    /// The body for one row: each placeholder replaced by `value(name)`; `nil` when a value is
    /// missing (`nil`, null, or empty text), so the row is never asked about.
    public func render(_ value: (String) -> Value?) -> Value? {
        func present(_ name: String) -> Value? {
            guard let v = value(name), !v.isNull, v.text?.isEmpty != true else { return nil }
            return v
        }
        func fill(_ node: Node) -> Value? {
            switch node {
            case .literal(let v): return v
            case .field(let name): return present(name)
            case .text(let parts):
                var out = ""
                for part in parts {
                    switch part {
                    case .text(let text): out += text
                    case .field(let name):
                        guard let v = present(name), let text = v.text else { return nil }
                        out += text
                    }
                }
                return .string(out)
            case .array(let items):
                var out: [Value] = []
                out.reserveCapacity(items.count)
                for item in items {
                    guard let v = fill(item) else { return nil }
                    out.append(v)
                }
                return .array(out)
            case .object(let members):
                var out: [String: Value] = [:]
                for (key, member) in members {
                    guard let v = fill(member) else { return nil }
                    out[key] = v
                }
                return .object(out)
            }
        }
        return fill(root)
    }

    /// The text and placeholders of one string: `{name}` where the name is a field name, `{{`
    /// and `}}` as single braces.
    static func parts(of string: String) -> [Part] {
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
                case let name = String(chars[(i + 1)..<close]).trimmingCharacters(in: .whitespaces),
                Self.isFieldName(name)
            {
                if !literal.isEmpty { parts.append(.text(literal)) }
                literal = ""
                parts.append(.field(name))
                i = close + 1
                continue
            }
            literal.append(c)
            i += 1
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return parts
    }

    /// Letters, digits, `_`, `-`, `.` and spaces, starting with a letter or `_`: what columns
    /// are called (`track_id`, `track-id`, `isbn.13`, `Book ID`), not JSON or prose.
    private static func isFieldName(_ name: String) -> Bool {
        guard let first = name.first, first == "_" || first.isLetter else { return false }
        return name.allSatisfy { $0 == "_" || $0 == "-" || $0 == "." || $0 == " " || $0.isLetter || $0.isNumber }
    }
}
