import Foundation

/// A verify check's expectation: `>= 3000`, `== {{ stages.apply.changed }}`,
/// `>= {{ stages.fetch.rows_out }} * 0.95`.
public struct Expectation: Sendable, Hashable, CustomStringConvertible {
    public enum Comparison: String, Sendable, CaseIterable {
        case equal = "==", notEqual = "!=", atLeast = ">=", atMost = "<=", greater = ">", less = "<"

        public func holds<Number: Comparable>(_ actual: Number, _ expected: Number) -> Bool {
            switch self {
            case .equal: return actual == expected
            case .notEqual: return actual != expected
            case .atLeast: return actual >= expected
            case .atMost: return actual <= expected
            case .greater: return actual > expected
            case .less: return actual < expected
            }
        }
    }

    public enum Operand: Sendable, Hashable {
        case number(Double)
        /// `{{ stages.NAME.COUNTER }}`: a finished stage's counter (rows_in, rows_out, rows_rejected or its own).
        case stageCounter(stage: String, counter: String)
    }

    public var comparison: Comparison
    public var operand: Operand
    public var factor: Double
    /// The number as written (`1234567890123456.79`), for a comparison exact past a double's
    /// 15 digits.
    public var literal: String? = nil

    public var description: String {
        let rhs: String
        switch operand {
        case .number(let n): rhs = Self.format(n)
        case .stageCounter(let s, let c): rhs = "{{ stages.\(s).\(c) }}"
        }
        return "\(comparison.rawValue) \(rhs)" + (factor == 1 ? "" : " * \(Self.format(factor))")
    }

    /// A number as people write it: `3000`, `0.95`.
    public static func format(_ d: Double) -> String {
        d.rounded() == d && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    public struct ParseError: Error, Sendable {
        public var message: String
        public var offset: Int
    }

    public static func parse(_ text: String) throws(ParseError) -> Expectation {
        let s = text.trimmingCharacters(in: .whitespaces)
        let lead = text.count - text.drop(while: { $0 == " " }).count
        guard
            let comparison = Comparison.allCases.sorted(by: { $0.rawValue.count > $1.rawValue.count })
                .first(where: { s.hasPrefix($0.rawValue) })
        else {
            throw ParseError(
                message: "expected a comparison (==, !=, >=, <=, >, <) first, e.g. '>= 3000'", offset: lead)
        }
        var rest = s.dropFirst(comparison.rawValue.count).trimmingCharacters(in: .whitespaces)
        var factor = 1.0
        if let star = rest.lastIndex(of: "*"), !rest[star...].contains("}") {
            let f = rest[rest.index(after: star)...].trimmingCharacters(in: .whitespaces)
            guard let value = Double(f) else {
                throw ParseError(message: "expected a number after '*', found '\(f)'", offset: lead)
            }
            factor = value
            rest = rest[..<star].trimmingCharacters(in: .whitespaces)
        }
        let operand: Operand
        if let n = Double(rest) {
            operand = .number(n)
        } else if rest.hasPrefix("{{"), rest.hasSuffix("}}") {
            let inner = rest.dropFirst(2).dropLast(2).trimmingCharacters(in: .whitespaces)
            let parts = inner.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, parts[0] == "stages", !parts[1].isEmpty, !parts[2].isEmpty else {
                throw ParseError(message: "expected '{{ stages.NAME.COUNTER }}', found '{{ \(inner) }}'", offset: lead)
            }
            operand = .stageCounter(stage: parts[1], counter: parts[2])
        } else {
            throw ParseError(
                message:
                    "expected a number or '{{ stages.NAME.COUNTER }}' after '\(comparison.rawValue)', found '\(rest)'",
                offset: lead)
        }
        var expectation = Expectation(comparison: comparison, operand: operand, factor: factor)
        if case .number = operand { expectation.literal = rest }
        return expectation
    }

    /// `text` as an exact decimal (up to 38 digits), when it is a plain decimal number.
    public static func exact(_ text: String) -> Decimal? {
        guard !text.isEmpty, text.utf8.allSatisfy({ "0123456789+-.".utf8.contains($0) }),
            let value = Decimal(string: text), !value.isNaN
        else { return nil }
        return value
    }
}
