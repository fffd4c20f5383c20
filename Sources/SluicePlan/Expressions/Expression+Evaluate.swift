import Foundation
import SluiceCore

extension Expression {
    /// An expression with its row fields resolved to column positions for one column list.
    public struct Bound: Sendable {
        let expression: Expression
        let slots: [String: Int]

        /// Evaluates against one row of the batch whose columns this was bound to.
        public func evaluate(_ row: [Value]) -> Value { expression.evaluate(row, slots) }
    }

    /// Resolves the fields this expression reads against `columns`.
    /// - Throws: ``MissingFieldError`` naming the first field the columns lack.
    public func bind(to columns: [String]) throws(MissingFieldError) -> Bound {
        var slots: [String: Int] = [:]
        for field in fields where slots[field] == nil {
            guard let i = columns.firstIndex(of: field) else {
                throw MissingFieldError(field: field, available: columns)
            }
            slots[field] = i
        }
        return Bound(expression: self, slots: slots)
    }

    /// A field an expression needs is not in its input.
    public struct MissingFieldError: Error, Sendable, CustomStringConvertible {
        public var field: String
        public var available: [String]
        public var description: String {
            var s = "field '\(field)' is not in the input (it has: \(available.joined(separator: ", ")))"
            if let near = Suggestion.nearest(to: field, in: available) { s += "; did you mean '\(near)'?" }
            return s
        }
    }

    fileprivate func evaluate(_ row: [Value], _ slots: [String: Int]) -> Value {
        switch self {
        case .literal(let v): return v
        case .path(let field, let keys):
            var v = slots[field].map { row[$0] } ?? .null
            for key in keys {
                switch v {
                case .object(let o): v = o[key] ?? .null
                case .array(let a): v = Int(key).flatMap { a.indices.contains($0) ? a[$0] : nil } ?? .null
                default: return .null
                }
            }
            return v
        case .call(let f, let args):
            let values = args.map { $0.evaluate(row, slots) }
            return Expression.apply(f, values)
        }
    }

    static func apply(_ f: Function, _ a: [Value]) -> Value {
        switch f {
        case .upper: return a[0].text.map { .string($0.uppercased()) } ?? .null
        case .lower: return a[0].text.map { .string($0.lowercased()) } ?? .null
        case .trim:
            return a[0].text.map { .string($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? .null
        case .coalesce, .default:
            return a.first { !$0.isNull && $0 != .string("") } ?? .null
        case .replace:
            guard let s = a[0].text else { return .null }
            guard let find = a[1].text, !find.isEmpty else { return .string(s) }
            return .string(s.replacingOccurrences(of: find, with: a[2].text ?? ""))
        case .concat:
            if a.allSatisfy(\.isNull) { return .null }
            return .string(a.compactMap(\.text).joined())
        case .spotify_id: return a[0].text.map { .string(SpotifyID.bare($0)) } ?? .null
        case .int:
            if let i = a[0].intValue { return .int(i) }
            if let s = a[0].text, let i = Int64(s.trimmingCharacters(in: .whitespaces)) { return .int(i) }
            return .null
        case .string: return a[0].text.map { .string($0) } ?? .null
        }
    }
}

/// Spotify id forms seen in real catalogs.
public enum SpotifyID {
    /// The bare 22-character id from `spotify:track:ID`, `https://open.spotify.com/track/ID?si=…`
    /// (with or without an `intl-xx/` segment), or the text itself, trimmed.
    public static func bare(_ text: String) -> String {
        var s = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.lowercased().hasPrefix("spotify:track:") {
            s = String(s.dropFirst("spotify:track:".count))
        } else if let r = s.range(of: "open.spotify.com/", options: .caseInsensitive) {
            var rest = s[r.upperBound...]
            if rest.hasPrefix("intl-"), let slash = rest.firstIndex(of: "/") {
                rest = rest[rest.index(after: slash)...]
            }
            if rest.hasPrefix("track/") { s = String(rest.dropFirst("track/".count)) }
        }
        if let cut = s.firstIndex(where: { $0 == "?" || $0 == "#" || $0 == "/" }) { s = String(s[..<cut]) }
        return s
    }

    /// Exactly 22 base62 characters.
    public static func isValid(_ id: String) -> Bool {
        id.utf8.count == 22
            && id.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }
}
