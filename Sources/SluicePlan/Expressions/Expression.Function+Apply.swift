import Foundation
import SluiceCore

extension Expression.Function {
    /// The function on evaluated arguments; a wrong type or a missing value gives null.
    /// `if` and `regex_extract` are evaluated by ``Expression`` itself (lazily, and with the
    /// bound expression's compiled patterns); here they act on values already computed.
    func apply(_ a: [Value]) -> Value {
        switch self {
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
        case .split:
            guard let s = a[0].scalarText, let separator = a[1].scalarText, !separator.isEmpty else { return .null }
            return .array(s.components(separatedBy: separator).map(Value.string))
        case .join:
            guard case .array(let items) = a[0] else { return .null }
            return .string(items.compactMap(\.text).joined(separator: a[1].text ?? ""))
        case .regex_extract:
            guard let s = a[0].scalarText, let pattern = a[1].scalarText.flatMap(CompiledPattern.init) else {
                return .null
            }
            return pattern.extract(from: s).map(Value.string) ?? .null
        case .length:
            switch a[0] {
            case .string(let s): return .int(Int64(s.unicodeScalars.count))
            case .array(let items): return .int(Int64(items.count))
            case .object(let o): return .int(Int64(o.count))
            default: return .null
            }
        case .first:
            guard case .array(let items) = a[0] else { return .null }
            return items.first ?? .null
        case .count:
            guard let values = Self.values(a) else { return .null }
            return .int(Int64(values.count(where: { a.count == 2 ? $0.isTruthy : !$0.isNull })))
        case .pluck: return Self.values(a).map(Value.array) ?? .null
        case .sum, .min, .max:
            guard let numbers = Self.values(a)?.filter(Self.isNumber), let first = numbers.first else { return .null }
            return numbers.dropFirst().reduce(first) { result, n in
                switch self {
                case .sum: return Expression.BinaryOperator.plus.apply(result, n)
                case .min: return Expression.BinaryOperator.less.apply(n, result) == .bool(true) ? n : result
                default: return Expression.BinaryOperator.greater.apply(n, result) == .bool(true) ? n : result
                }
            }
        case .if: return a[0].isTruthy ? a[1] : a[2]
        case .int:
            if let i = a[0].intValue { return .int(i) }
            if let s = a[0].text, let i = Int64(s.trimmingCharacters(in: .whitespaces)) { return .int(i) }
            return .null
        case .number: return Self.number(a[0])
        case .double:
            guard let d = Self.number(a[0]).doubleValue, d.isFinite else { return .null }
            return .double(d)
        case .string: return a[0].text.map { .string($0) } ?? .null
        case .date:
            guard let s = a[0].scalarText else { return .null }
            if a.count == 2 {
                guard let format = a[1].stringValue else { return .null }
                return DateText.date(s, format: format).map(Value.string) ?? .null
            }
            return DateText.date(s).map(Value.string) ?? .null
        case .datetime:
            switch a[0] {
            case .int(let seconds): return DateText.datetime(epochSeconds: seconds).map(Value.string) ?? .null
            case .double, .decimal:
                guard let seconds = a[0].doubleValue, let whole = Int64(exactly: seconds.rounded(.down)) else {
                    return .null
                }
                return DateText.datetime(epochSeconds: whole).map(Value.string) ?? .null
            case .string(let s): return DateText.datetime(s).map(Value.string) ?? .null
            default: return .null
            }
        case .round:
            guard a.count == 2 else { return Self.round(a[0], digits: 0) }
            guard case .int(let digits) = a[1] else { return .null }
            return Self.round(a[0], digits: digits)
        case .abs:
            switch a[0] {
            case .int(let i): return i == .min ? .double(-Double(i)) : .int(Swift.abs(i))
            case .double(let d): return .double(Swift.abs(d))
            case .decimal(let text): return .decimal(text.hasPrefix("-") ? String(text.dropFirst()) : text)
            default: return .null
            }
        }
    }

    /// The items of a list function's list, or with a `path` argument each item's value at that
    /// key path (null where it has none); nil when the list is not one or the path not text.
    static func values(_ a: [Value]) -> [Value]? {
        guard case .array(let items) = a[0] else { return nil }
        guard a.count == 2 else { return items }
        guard case .string(let path) = a[1] else { return nil }
        return items.map { Expression.PathComponent.value(atKeyPath: path, in: $0) }
    }

    /// Whether a value is a number (not numeric text).
    static func isNumber(_ v: Value) -> Bool {
        switch v {
        case .int, .double, .decimal: return true
        default: return false
        }
    }

    /// A number as it is, or numeric text (decimal digits: `0x1A` is not one) as an int when it
    /// is whole, a double when that holds it exactly, else kept as its text (``Value/decimal``).
    static func number(_ v: Value) -> Value {
        switch v {
        case .int, .double, .decimal: return v
        case .string(let s): return Value.number(parsing: s.trimmingCharacters(in: .whitespaces)) ?? .null
        default: return .null
        }
    }

    /// Half away from zero at `digits` decimals (negative: tens, hundreds…).
    static func round(_ v: Value, digits: Int64) -> Value {
        guard (-18...15).contains(digits) else { return .null }
        switch v {
        case .int(let i):
            guard digits < 0 else { return v }
            var scale: Int64 = 1
            for _ in 0..<(-digits) { scale *= 10 }
            let (q, r) = i.quotientAndRemainder(dividingBy: scale)
            let step: Int64 = Swift.abs(r) >= scale - Swift.abs(r) ? (i < 0 ? -1 : 1) : 0
            let (rounded, overflow) = (q + step).multipliedReportingOverflow(by: scale)
            return overflow ? .null : .int(rounded)
        case .double(let d):
            guard d.isFinite else { return .null }
            // As written in decimal (the shortest text that reads back as `d`: `1.005`, not the
            // binary 1.00499999999999989...), the way PostgreSQL's round(numeric) sees the
            // number the API wrote: round(1.005, 2) is 1.01.
            var exact = Decimal(string: "\(d)", locale: Locale(identifier: "en_US_POSIX")) ?? Decimal(d)
            var decimal = Decimal()
            NSDecimalRound(&decimal, &exact, Int(digits), .plain)
            // Read back from its digits: the nearest double to the decimal result.
            guard let rounded = Double(decimal.description), rounded.isFinite else { return .null }
            if digits <= 0, Swift.abs(rounded) < 9.2e18 { return .int(Int64(rounded)) }
            return .double(rounded)
        case .decimal(let text): return Double(text).map { round(.double($0), digits: digits) } ?? .null
        default: return .null
        }
    }
}
