import Foundation
import SluiceCore

/// A transform expression: a field path, a literal, a function call, or operators over them.
///
///     response.external_ids.isrc
///     response.recordings[0].id                      # [-1] counts from the end
///     upper(replace(trim(response.external_ids.isrc), '-', ''))
///     coalesce(response.popularity, 0)
///     response.duration_ms / 1000
///     if(length(response.recordings) > 0, response.recordings[0].id, null)
///     regex_extract(url, '/track/([^?/]+)')     # the first capture group
///
/// `description` prints an expression so that ``parse(_:)`` gives it back unchanged.
public indirect enum Expression: Sendable, Hashable {
    /// A row field followed by keys and indexes into its JSON value: `response.external_ids.isrc`,
    /// `response.items[-1]`.
    case path(field: String, keys: [PathComponent])
    case literal(Value)
    case call(Function, [Expression])
    /// Keys and indexes into a computed value: `split(isrc, '-')[1]`, `(first(items)).id`.
    case access(Expression, keys: [PathComponent])
    case unary(UnaryOperator, Expression)
    case binary(BinaryOperator, Expression, Expression)

    /// The expressions this one is made of, in reading order.
    var children: [Expression] {
        switch self {
        case .literal: return []
        case .path(_, let keys): return keys.compactMap(\.expression)
        case .call(_, let args): return args
        case .access(let base, let keys): return [base] + keys.compactMap(\.expression)
        case .unary(_, let operand): return [operand]
        case .binary(_, let lhs, let rhs): return [lhs, rhs]
        }
    }

    /// Row fields the expression reads.
    public var fields: [String] {
        if case .path(let field, _) = self { return [field] + children.flatMap(\.fields) }
        return children.flatMap(\.fields)
    }

    /// The paths into row fields the expression reads, each up to its first computed step:
    /// `response.external_ids.isrc` in `upper(trim(response.external_ids.isrc))`.
    public var paths: [(field: String, keys: [PathComponent])] {
        var own: [(field: String, keys: [PathComponent])] = []
        if case .path(let field, let keys) = self { own.append((field, Array(keys.prefix { $0.expression == nil }))) }
        return own + children.flatMap(\.paths)
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
        let e = try p.disjunction(depth: 0).expression
        p.skipSpaces()
        if p.i < p.chars.count { throw p.unexpected() }
        return e
    }
}
