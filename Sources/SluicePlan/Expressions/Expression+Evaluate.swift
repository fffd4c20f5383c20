import Foundation
import SluiceCore

extension Expression {
    /// An expression with its row fields resolved to column positions for one column list.
    public struct Bound: Sendable {
        let expression: Expression
        let slots: [String: Int]
        /// `regex_extract` patterns written as literals, compiled once here rather than per row.
        let patterns: [String: CompiledPattern]

        /// Evaluates against one row of the batch whose columns this was bound to.
        public func evaluate(_ row: [Value]) -> Value { expression.evaluate(row, self) }
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
        var patterns: [String: CompiledPattern] = [:]
        for text in literalPatterns where patterns[text] == nil {
            patterns[text] = CompiledPattern(text)
        }
        return Bound(expression: self, slots: slots, patterns: patterns)
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

    /// The quoted patterns of the `regex_extract` calls in this expression.
    var literalPatterns: [String] {
        var out: [String] = []
        if case .call(.regex_extract, let args) = self, args.count == 2, case .literal(.string(let text)) = args[1] {
            out.append(text)
        }
        return out + children.flatMap(\.literalPatterns)
    }

    /// `value` after each step of `keys`, a computed step resolved for the row first.
    fileprivate static func step(_ value: Value, through keys: [PathComponent], _ row: [Value], _ bound: Bound) -> Value
    {
        keys.reduce(value) { value, key in
            guard case .computed(let expression) = key else { return key.step(into: value) }
            return PathComponent.named(by: expression.evaluate(row, bound))?.step(into: value) ?? .null
        }
    }

    fileprivate func evaluate(_ row: [Value], _ bound: Bound) -> Value {
        switch self {
        case .literal(let v): return v
        case .path(let field, let keys):
            let value = bound.slots[field].map { row[$0] } ?? .null
            return Self.step(value, through: keys, row, bound)
        case .access(let base, let keys):
            return Self.step(base.evaluate(row, bound), through: keys, row, bound)
        case .unary(.not, let operand): return .bool(!operand.evaluate(row, bound).isTruthy)
        case .unary(.negate, let operand): return Self.negate(operand.evaluate(row, bound))
        // `and`, `or` and `if` evaluate only what decides the result.
        case .binary(.and, let lhs, let rhs):
            return .bool(lhs.evaluate(row, bound).isTruthy && rhs.evaluate(row, bound).isTruthy)
        case .binary(.or, let lhs, let rhs):
            return .bool(lhs.evaluate(row, bound).isTruthy || rhs.evaluate(row, bound).isTruthy)
        case .binary(let op, let lhs, let rhs): return op.apply(lhs.evaluate(row, bound), rhs.evaluate(row, bound))
        case .call(.if, let args):
            return args[0].evaluate(row, bound).isTruthy ? args[1].evaluate(row, bound) : args[2].evaluate(row, bound)
        case .call(.regex_extract, let args):
            guard let text = args[0].evaluate(row, bound).scalarText else { return .null }
            let pattern: CompiledPattern?
            if case .literal(.string(let literal)) = args[1] {
                pattern = bound.patterns[literal]
            } else {
                pattern = args[1].evaluate(row, bound).scalarText.flatMap(CompiledPattern.init)
            }
            return pattern?.extract(from: text).map(Value.string) ?? .null
        case .call(let f, let args):
            return f.apply(args.map { $0.evaluate(row, bound) })
        }
    }

    static func negate(_ v: Value) -> Value {
        switch v {
        case .int(let i): return i == .min ? .double(-Double(i)) : .int(-i)
        case .double(let d): return .double(-d)
        case .decimal(let text): return .decimal(text.hasPrefix("-") ? String(text.dropFirst()) : "-" + text)
        default: return .null
        }
    }
}

extension Value {
    /// How `if`, `and`, `or` and `not` read a value: null, false, empty text and zero are
    /// false; everything else (empty lists and objects too) is true.
    public var isTruthy: Bool {
        switch self {
        case .null: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .decimal: return doubleValue != 0
        case .string(let s): return !s.isEmpty
        case .array, .object: return true
        }
    }

    /// The text of a string, number or bool; nil for null, lists and objects.
    var scalarText: String? {
        switch self {
        case .array, .object: return nil
        default: return text
        }
    }
}
