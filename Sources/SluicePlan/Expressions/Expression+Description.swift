import Foundation
import SluiceCore

extension Expression: CustomStringConvertible {
    /// The expression as it would be written, with only the parentheses precedence needs.
    public var description: String {
        switch self {
        case .path(let field, let keys):
            // A field that would not read back as itself (`Book ID`, `null`) is written `['Book ID']`.
            let plain =
                PathComponent.isPlain(field) && ExpressionParser.isIdentStart(field.first!)
                && !ExpressionParser.keywords.contains(field) && !["null", "true", "false"].contains(field)
            return (plain ? field : "[" + Self.quote(field) + "]") + keys.map(\.description).joined()
        case .literal(let v):
            if case .string(let s) = v { return Self.quote(s) }
            return v.description
        case .call(let f, let args): return "\(f.rawValue)(\(args.map(\.description).joined(separator: ", ")))"
        case .access(let base, let keys):
            let head = if case .call = base { base.description } else { "(\(base))" }
            return head + keys.map(\.description).joined()
        case .unary(.not, let operand):
            return "not " + operand.wrapped(if: operand.precedence < UnaryOperator.not.precedence)
        case .unary(.negate, let operand):
            // `-(5)` keeps a negated literal from reading back as the literal -5.
            return "-"
                + operand.wrapped(if: operand.isNumberLiteral || operand.precedence < UnaryOperator.negate.precedence)
        case .binary(let op, let lhs, let rhs):
            // Left-associative, so an equal-precedence right operand needs parentheses;
            // comparisons do not chain, so neither side may be a bare comparison.
            let left = lhs.wrapped(
                if: lhs.precedence < op.precedence || (op.isComparison && lhs.precedence == op.precedence))
            let right = rhs.wrapped(if: rhs.precedence <= op.precedence)
            return "\(left) \(op.rawValue) \(right)"
        }
    }

    /// How tightly the expression's outermost operator binds; operands and calls bind tightest.
    var precedence: Int {
        switch self {
        case .binary(let op, _, _): return op.precedence
        case .unary(let op, _): return op.precedence
        case .path, .literal, .call, .access: return 8
        }
    }

    private var isNumberLiteral: Bool {
        switch self {
        case .literal(.int), .literal(.double): return true
        default: return false
        }
    }

    private func wrapped(if parenthesized: Bool) -> String { parenthesized ? "(\(self))" : description }

    /// Text as a single-quoted literal, quotes doubled.
    static func quote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
}
