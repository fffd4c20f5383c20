extension Expression {
    /// An infix operator, loosest first: `or`, `and`, comparisons, `+ -`, `* / %`.
    public enum BinaryOperator: String, Sendable, Hashable, CaseIterable {
        case or, and
        case equal = "==", notEqual = "!=", less = "<", atMost = "<=", greater = ">", atLeast = ">="
        case plus = "+", minus = "-"
        case times = "*", divide = "/", remainder = "%"

        /// Binds tighter when higher; `not` sits at 3, between `and` and the comparisons,
        /// and unary minus at 7.
        var precedence: Int {
            switch self {
            case .or: return 1
            case .and: return 2
            case .equal, .notEqual, .less, .atMost, .greater, .atLeast: return 4
            case .plus, .minus: return 5
            case .times, .divide, .remainder: return 6
            }
        }

        var isComparison: Bool { precedence == 4 }
        var isArithmetic: Bool { precedence >= 5 }
    }
}
