extension Expression {
    /// A prefix operator: `not` (truthiness) or `-` (negation).
    public enum UnaryOperator: String, Sendable, Hashable, CaseIterable {
        case not
        case negate = "-"

        var precedence: Int { self == .not ? 3 : 7 }
    }
}
