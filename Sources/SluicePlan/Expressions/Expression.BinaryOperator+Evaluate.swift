import Foundation
import SluiceCore

extension Expression.BinaryOperator {
    /// The operator on two evaluated operands. Arithmetic and ordering give null for null or
    /// non-numeric operands, a zero divisor, or a result that is not a finite number.
    func apply(_ lhs: Value, _ rhs: Value) -> Value {
        switch self {
        case .and: return .bool(lhs.isTruthy && rhs.isTruthy)
        case .or: return .bool(lhs.isTruthy || rhs.isTruthy)
        case .equal: return .bool(Self.equal(lhs, rhs))
        case .notEqual: return .bool(!Self.equal(lhs, rhs))
        case .less, .atMost, .greater, .atLeast:
            guard let order = Self.order(lhs, rhs) else { return .null }
            switch self {
            case .less: return .bool(order < 0)
            case .atMost: return .bool(order <= 0)
            case .greater: return .bool(order > 0)
            default: return .bool(order >= 0)
            }
        case .plus, .minus, .times, .divide, .remainder:
            if case .int(let a) = lhs, case .int(let b) = rhs { return integer(a, b) }
            guard let a = lhs.doubleValue, let b = rhs.doubleValue else { return .null }
            return double(a, b)
        }
    }

    /// Numbers compare by value across int and double (`1 == 1.0`), two kept as text
    /// (``Value/decimal``) by their exact value, a kept one and another by the nearest double;
    /// anything else must be the same value (`null == null`).
    static func equal(_ lhs: Value, _ rhs: Value) -> Bool {
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return a == b
        case (.int, .double), (.double, .int), (.double, .double): return lhs.doubleValue == rhs.doubleValue
        case (.decimal(let a), .decimal(let b)):
            return a == b || (Decimal(string: a).flatMap { x in Decimal(string: b).map { $0 == x } } ?? false)
        case (.decimal, .int), (.decimal, .double), (.int, .decimal), (.double, .decimal):
            return lhs.doubleValue == rhs.doubleValue
        // Code point for code point, as documented (and as a table's bytes differ): not Swift's
        // canonical equivalence, under which é and e + an accent are equal.
        case (.string(let a), .string(let b)): return a.hasSameCodePoints(as: b)
        default: return lhs == rhs
        }
    }

    /// -1, 0 or 1 for two numbers or two texts; nil for any other pair.
    static func order(_ lhs: Value, _ rhs: Value) -> Int? {
        func sign<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : a == b ? 0 : 1 }
        switch (lhs, rhs) {
        case (.int(let a), .int(let b)): return sign(a, b)
        case (.string(let a), .string(let b)):
            if a.hasSameCodePoints(as: b) { return 0 }
            return a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) ? -1 : 1
        default:
            guard let a = lhs.doubleValue, let b = rhs.doubleValue else { return nil }
            return sign(a, b)
        }
    }

    /// Int arithmetic stays int; `/` is int only when it divides exactly, and a result too big
    /// for an int is a double.
    private func integer(_ a: Int64, _ b: Int64) -> Value {
        let (value, overflow): (Int64, Bool)
        switch self {
        case .plus: (value, overflow) = a.addingReportingOverflow(b)
        case .minus: (value, overflow) = a.subtractingReportingOverflow(b)
        case .times: (value, overflow) = a.multipliedReportingOverflow(by: b)
        case .divide:
            guard b != 0 else { return .null }
            let (q, o) = a.dividedReportingOverflow(by: b)
            guard !o, q &* b == a else { return double(Double(a), Double(b)) }
            return .int(q)
        case .remainder:
            guard b != 0 else { return .null }
            return .int(a.remainderReportingOverflow(dividingBy: b).partialValue)
        default: return .null
        }
        return overflow ? double(Double(a), Double(b)) : .int(value)
    }

    private func double(_ a: Double, _ b: Double) -> Value {
        let value: Double
        switch self {
        case .plus: value = a + b
        case .minus: value = a - b
        case .times: value = a * b
        case .divide:
            guard b != 0 else { return .null }
            value = a / b
        case .remainder:
            guard b != 0 else { return .null }
            value = a.truncatingRemainder(dividingBy: b)
        default: return .null
        }
        return value.isFinite ? .double(value) : .null
    }
}
