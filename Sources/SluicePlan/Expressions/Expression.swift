import Foundation
import SluiceCore

/// A transform expression: a field path, a literal, or a function call.
///
///     response.external_ids.isrc
///     upper(replace(trim(response.external_ids.isrc), '-', ''))
///     coalesce(response.popularity, 0)
///     spotify_id(spotify_id)          # bare id from spotify:track:… or open.spotify.com/track/…
public indirect enum Expression: Sendable, Hashable, CustomStringConvertible {
    /// A row field followed by keys into its JSON value: `response.external_ids.isrc`.
    case path(field: String, keys: [String])
    case literal(Value)
    case call(Function, [Expression])

    public enum Function: String, Sendable, CaseIterable {
        case upper, lower, trim, coalesce, replace, concat, spotify_id, int, string
        case `default`

        var arity: ClosedRange<Int> {
            switch self {
            case .upper, .lower, .trim, .spotify_id, .int, .string: return 1...1
            case .coalesce, .concat: return 1...16
            case .default: return 2...2
            case .replace: return 3...3
            }
        }

        var signature: String {
            switch self {
            case .upper, .lower, .trim, .spotify_id, .int, .string: return "\(rawValue)(value)"
            case .coalesce: return "coalesce(value, fallback, ...)"
            case .concat: return "concat(value, ...)"
            case .default: return "default(value, fallback)"
            case .replace: return "replace(value, find, with)"
            }
        }
    }

    public var description: String {
        switch self {
        case .path(let field, let keys): return ([field] + keys).joined(separator: ".")
        case .literal(let v):
            if case .string(let s) = v { return "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
            return v.description
        case .call(let f, let args): return "\(f.rawValue)(\(args.map(\.description).joined(separator: ", ")))"
        }
    }

    /// Row fields the expression reads.
    public var fields: [String] {
        switch self {
        case .path(let field, _): return [field]
        case .literal: return []
        case .call(_, let args): return args.flatMap(\.fields)
        }
    }

    /// A parse error: message and the 0-based character offset in the expression text.
    public struct ParseError: Error, Sendable {
        public var message: String
        public var offset: Int
        public var notes: [String] = []
    }

    /// Parses an expression.
    public static func parse(_ text: String) throws(ParseError) -> Expression {
        var p = ExpressionParser(Array(text))
        p.skipSpaces()
        let e = try p.expression(depth: 0)
        p.skipSpaces()
        if p.i < p.chars.count { throw ParseError(message: "unexpected '\(p.chars[p.i])'", offset: p.i) }
        return e
    }
}

private struct ExpressionParser {
    let chars: [Character]
    var i = 0
    init(_ chars: [Character]) { self.chars = chars }

    mutating func skipSpaces() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }

    func isIdentStart(_ c: Character) -> Bool { c == "_" || (c.isLetter && c.isASCII) }
    func isIdent(_ c: Character) -> Bool { isIdentStart(c) || (c.isNumber && c.isASCII) || c == "-" }

    mutating func identifier() -> String {
        let start = i
        while i < chars.count, isIdent(chars[i]) { i += 1 }
        return String(chars[start..<i])
    }

    mutating func expression(depth: Int) throws(Expression.ParseError) -> Expression {
        guard depth < 32 else { throw .init(message: "expression nested too deeply", offset: i) }
        guard i < chars.count else { throw .init(message: "expected an expression", offset: i) }
        let c = chars[i]
        if c == "'" || c == "\"" { return .literal(.string(try quoted(c))) }
        if c.isNumber || c == "-" { return .literal(try number()) }
        guard isIdentStart(c) else { throw .init(message: "unexpected '\(c)'", offset: i) }
        let start = i
        let name = identifier()
        skipSpaces()
        if i < chars.count, chars[i] == "(" {
            guard let function = Expression.Function(rawValue: name) else {
                throw .init(
                    message: "unknown function '\(name)'", offset: start,
                    notes: Suggestion.note(for: name, in: Expression.Function.allCases.map(\.rawValue))
                        + ["functions: " + Expression.Function.allCases.map(\.rawValue).joined(separator: ", ")])
            }
            i += 1
            var args: [Expression] = []
            skipSpaces()
            if i < chars.count, chars[i] == ")" {
                i += 1
            } else {
                while true {
                    skipSpaces()
                    args.append(try expression(depth: depth + 1))
                    skipSpaces()
                    guard i < chars.count else { throw .init(message: "expected ')'", offset: i) }
                    if chars[i] == "," {
                        i += 1
                        continue
                    }
                    guard chars[i] == ")" else { throw .init(message: "expected ',' or ')'", offset: i) }
                    i += 1
                    break
                }
            }
            guard function.arity.contains(args.count) else {
                throw .init(
                    message: "\(name) takes \(function.signature), got \(args.count) argument(s)", offset: start)
            }
            return .call(function, args)
        }
        switch name {
        case "null": return .literal(.null)
        case "true": return .literal(.bool(true))
        case "false": return .literal(.bool(false))
        default: break
        }
        var keys: [String] = []
        while i < chars.count, chars[i] == "." {
            i += 1
            guard i < chars.count, isIdentStart(chars[i]) || chars[i].isNumber else {
                throw .init(message: "expected a field name after '.'", offset: i)
            }
            keys.append(identifier())
        }
        return .path(field: name, keys: keys)
    }

    mutating func quoted(_ quote: Character) throws(Expression.ParseError) -> String {
        let start = i
        i += 1
        var out = ""
        while i < chars.count {
            if chars[i] == quote {
                if i + 1 < chars.count, chars[i + 1] == quote {
                    out.append(quote)
                    i += 2
                    continue
                }
                i += 1
                return out
            }
            out.append(chars[i])
            i += 1
        }
        throw .init(message: "unterminated string", offset: start)
    }

    mutating func number() throws(Expression.ParseError) -> Value {
        let start = i
        if chars[i] == "-" { i += 1 }
        while i < chars.count, chars[i].isNumber || chars[i] == "." || chars[i] == "e" || chars[i] == "E" { i += 1 }
        let text = String(chars[start..<i])
        if let v = Int64(text) { return .int(v) }
        if let d = Double(text) { return .double(d) }
        throw .init(message: "invalid number '\(text)'", offset: start)
    }
}
