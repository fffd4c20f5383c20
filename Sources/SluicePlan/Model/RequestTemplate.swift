import Foundation
import SluiceCore

/// A fetch path or query value with `{field}` placeholders filled from each row:
/// `/ws/2/isrc/{isrc}`, `/works/{id}.json`. `{id}` is the stage's `id` expression; any other
/// name is a field of the input row. `{{` and `}}` are literal braces.
public struct RequestTemplate: Sendable, Hashable, CustomStringConvertible {
    public enum Part: Sendable, Hashable {
        case text(String)
        /// A placeholder and the 0-based offset of its `{` in the template text.
        case field(String, offset: Int)
    }

    public let text: String
    public let parts: [Part]

    public var description: String { text }

    /// The placeholder names, in order of first use.
    public var fields: [String] {
        var seen = Set<String>()
        return parts.compactMap { part in
            if case .field(let name, _) = part, seen.insert(name).inserted { return name }
            return nil
        }
    }

    public var hasPlaceholders: Bool { !fields.isEmpty }

    /// A `{` without its `}`, or an empty `{}`.
    public struct ParseError: Error, Sendable {
        public var message: String
        public var offset: Int
    }

    public init(_ text: String) throws(ParseError) {
        self.text = text
        var parts: [Part] = []
        var literal = ""
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if (c == "{" || c == "}"), i + 1 < chars.count, chars[i + 1] == c {
                literal.append(c)
                i += 2
                continue
            }
            if c == "}" { throw ParseError(message: "'}' without '{' (write '}}' for a brace)", offset: i) }
            guard c == "{" else {
                literal.append(c)
                i += 1
                continue
            }
            guard let close = chars[i...].firstIndex(of: "}") else {
                throw ParseError(message: "'{' without '}' (write '{{' for a brace)", offset: i)
            }
            let name = String(chars[(i + 1)..<close]).trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw ParseError(message: "empty placeholder '{}'", offset: i) }
            if !literal.isEmpty { parts.append(.text(literal)) }
            literal = ""
            parts.append(.field(name, offset: i))
            i = close + 1
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        self.parts = parts
    }

    /// The template with each placeholder replaced by `value(name)` (already encoded by the
    /// caller); `nil` when a value is missing.
    public func render(_ value: (String) -> String?) -> String? {
        var out = ""
        for part in parts {
            switch part {
            case .text(let s): out += s
            case .field(let name, _):
                guard let v = value(name) else { return nil }
                out += v
            }
        }
        return out
    }
}
