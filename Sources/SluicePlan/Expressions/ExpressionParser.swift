import SluiceCore

/// Recursive descent over the expression grammar, loosest binding first:
///
///     disjunction    := conjunction ('or' conjunction)*
///     conjunction    := negation ('and' negation)*
///     negation       := 'not' negation | comparison
///     comparison     := additive (('==' | '!=' | '<' | '<=' | '>' | '>=') additive)?
///     additive       := multiplicative (('+' | '-') multiplicative)*
///     multiplicative := unary (('*' | '/' | '%') unary)*
///     unary          := '-' unary | NUMBER | postfix
///     postfix        := STRING | NAME | NAME components | NAME '(' args ')' components?
///                     | '(' disjunction ')' components?
///     components     := ('.' NAME | '[' INTEGER ']' | '[' STRING ']')+
///
/// A `-` right after a name belongs to the name (`track-id` is one field, as it always was),
/// so binary minus needs a space before it: `a - 1`.
struct ExpressionParser {
    typealias ParseError = Expression.ParseError

    /// Deeper expressions are refused: parsing, evaluating and comparing them recurse, and
    /// stages evaluate on task stacks.
    static let maxDepth = 32

    /// A parsed expression and the height of its tree, kept so long operator chains are
    /// bounded as nesting is.
    struct Node {
        var expression: Expression
        var height: Int
    }

    let chars: [Character]
    var i = 0
    init(_ chars: [Character]) { self.chars = chars }

    static func isIdentStart(_ c: Character) -> Bool { c == "_" || (c.isLetter && c.isASCII) }
    static func isIdent(_ c: Character) -> Bool { isIdentStart(c) || (c.isNumber && c.isASCII) || c == "-" }
    static let keywords: Set<String> = ["and", "or", "not"]

    /// Spaces, tabs and line breaks: an expression written as a YAML block scalar (`>` keeps a
    /// final line break, `|` every one) reads as one written on a line.
    mutating func skipSpaces() {
        while i < chars.count,
            chars[i] == " " || chars[i] == "\t" || chars[i] == "\n" || chars[i] == "\r\n"
                || chars[i] == "\r"
        {
            i += 1
        }
    }

    func peek(_ s: String) -> Bool {
        var j = i
        for c in s {
            guard j < chars.count, chars[j] == c else { return false }
            j += 1
        }
        return true
    }

    /// Consumes `word` when it stands alone (not the start of a longer name).
    mutating func keyword(_ word: String) -> Bool {
        skipSpaces()
        guard peek(word) else { return false }
        let end = i + word.count
        if end < chars.count, Self.isIdent(chars[end]) { return false }
        i = end
        return true
    }

    mutating func identifier() -> String {
        let start = i
        while i < chars.count, Self.isIdent(chars[i]) { i += 1 }
        return String(chars[start..<i])
    }

    /// The error for a character nothing expects, with a hint for other languages' operators.
    func unexpected() -> ParseError {
        let hints: [(String, String)] = [
            ("&&", "write 'and'"), ("||", "write 'or'"), ("!", "write 'not'"), ("=", "compare with '=='"),
        ]
        let notes = hints.first { peek($0.0) }.map { [$0.1] } ?? []
        return .init(message: "unexpected '\(chars[i])'", offset: i, notes: notes)
    }

    func node(_ e: Expression, over parts: [Node], at offset: Int) throws(ParseError) -> Node {
        let height = 1 + (parts.map(\.height).max() ?? 0)
        guard height <= Self.maxDepth else { throw .init(message: "expression nested too deeply", offset: offset) }
        return Node(expression: e, height: height)
    }

    // MARK: Operators, loosest first

    mutating func disjunction(depth: Int) throws(ParseError) -> Node {
        guard depth < Self.maxDepth else { throw .init(message: "expression nested too deeply", offset: i) }
        var lhs = try conjunction(depth: depth)
        while true {
            skipSpaces()
            let at = i
            guard keyword("or") else { break }
            let rhs = try conjunction(depth: depth)
            lhs = try node(.binary(.or, lhs.expression, rhs.expression), over: [lhs, rhs], at: at)
        }
        return lhs
    }

    mutating func conjunction(depth: Int) throws(ParseError) -> Node {
        var lhs = try negation(depth: depth)
        while true {
            skipSpaces()
            let at = i
            guard keyword("and") else { break }
            let rhs = try negation(depth: depth)
            lhs = try node(.binary(.and, lhs.expression, rhs.expression), over: [lhs, rhs], at: at)
        }
        return lhs
    }

    mutating func negation(depth: Int) throws(ParseError) -> Node {
        skipSpaces()
        let at = i
        guard keyword("not") else { return try comparison(depth: depth) }
        guard depth + 1 < Self.maxDepth else { throw .init(message: "expression nested too deeply", offset: at) }
        let operand = try negation(depth: depth + 1)
        return try node(.unary(.not, operand.expression), over: [operand], at: at)
    }

    /// The comparison operator at the cursor, longest spelling first.
    func comparisonOperator() -> Expression.BinaryOperator? {
        [.atMost, .atLeast, .equal, .notEqual, .less, .greater].first { peek($0.rawValue) }
    }

    mutating func comparison(depth: Int) throws(ParseError) -> Node {
        let lhs = try additive(depth: depth)
        skipSpaces()
        guard let op = comparisonOperator() else { return lhs }
        let at = i
        i += op.rawValue.count
        let rhs = try additive(depth: depth)
        skipSpaces()
        if let again = comparisonOperator() {
            throw .init(
                message: "comparisons do not chain; join them with 'and'", offset: i,
                notes: ["e.g. 'a \(op.rawValue) b and b \(again.rawValue) c'"])
        }
        return try node(.binary(op, lhs.expression, rhs.expression), over: [lhs, rhs], at: at)
    }

    mutating func additive(depth: Int) throws(ParseError) -> Node {
        var lhs = try multiplicative(depth: depth)
        while true {
            skipSpaces()
            guard i < chars.count, let op = Expression.BinaryOperator(rawValue: String(chars[i])),
                op == .plus || op == .minus
            else { break }
            lhs = try arithmetic(op, lhs, depth: depth)
        }
        return lhs
    }

    mutating func multiplicative(depth: Int) throws(ParseError) -> Node {
        var lhs = try unary(depth: depth)
        while true {
            skipSpaces()
            guard i < chars.count, let op = Expression.BinaryOperator(rawValue: String(chars[i])),
                op == .times || op == .divide || op == .remainder
            else { break }
            lhs = try arithmetic(op, lhs, depth: depth)
        }
        return lhs
    }

    /// `lhs op rhs` for an arithmetic `op` at the cursor; text literals are refused, since
    /// `+` on text would otherwise quietly give null.
    mutating func arithmetic(_ op: Expression.BinaryOperator, _ lhs: Node, depth: Int) throws(ParseError) -> Node {
        let at = i
        i += 1
        skipSpaces()
        let rhsStart = i
        let rhs = op.precedence == 5 ? try multiplicative(depth: depth) : try unary(depth: depth)
        for (side, offset) in [(lhs, at), (rhs, rhsStart)] {
            if case .literal(.string) = side.expression {
                let hint = op == .plus ? "; use concat(a, b) to join text" : ""
                throw .init(message: "'\(op.rawValue)' works on numbers, not text\(hint)", offset: offset)
            }
        }
        return try node(.binary(op, lhs.expression, rhs.expression), over: [lhs, rhs], at: at)
    }

    mutating func unary(depth: Int) throws(ParseError) -> Node {
        skipSpaces()
        guard depth < Self.maxDepth else { throw .init(message: "expression nested too deeply", offset: i) }
        guard i < chars.count else { throw .init(message: "expected an expression", offset: i) }
        guard chars[i] == "-" else { return try postfix(depth: depth) }
        if i + 1 < chars.count, chars[i + 1].isASCII, chars[i + 1].isNumber {
            return Node(expression: .literal(try number()), height: 1)
        }
        let at = i
        i += 1
        let operand = try unary(depth: depth + 1)
        return try node(.unary(.negate, operand.expression), over: [operand], at: at)
    }

    // MARK: Operands

    mutating func postfix(depth: Int) throws(ParseError) -> Node {
        let c = chars[i]
        if c == "'" || c == "\"" { return Node(expression: .literal(.string(try quoted(c))), height: 1) }
        if c.isASCII && c.isNumber { return Node(expression: .literal(try number()), height: 1) }
        let start = i
        let base: Node
        if c == "(" {
            i += 1
            base = try disjunction(depth: depth + 1)
            skipSpaces()
            guard i < chars.count, chars[i] == ")" else { throw .init(message: "expected ')'", offset: i) }
            i += 1
        } else if c == "[" {
            // `['Book ID']`: a row field whose name is not a plain name (a CSV's header, say).
            i += 1
            skipSpaces()
            guard i < chars.count, chars[i] == "'" || chars[i] == "\"" else {
                throw .init(
                    message: "expected a quoted field name after '[', as in ['Book ID'] (a field whose name is "
                        + "not a plain name)", offset: i)
            }
            let name = try quoted(chars[i])
            skipSpaces()
            guard i < chars.count, chars[i] == "]" else { throw .init(message: "expected ']'", offset: i) }
            i += 1
            return Node(expression: .path(field: name, keys: try components(depth: depth)), height: 1)
        } else {
            guard Self.isIdentStart(c) else { throw unexpected() }
            let name = identifier()
            if name == "not" {
                throw .init(message: "'not' after an operator needs parentheses: '(not …)'", offset: start)
            }
            if Self.keywords.contains(name) {
                throw .init(message: "expected an expression before '\(name)'", offset: start)
            }
            skipSpaces()
            if i < chars.count, chars[i] == "(" {
                base = try call(name, at: start, depth: depth)
            } else {
                switch name {
                case "null": return Node(expression: .literal(.null), height: 1)
                case "true": return Node(expression: .literal(.bool(true)), height: 1)
                case "false": return Node(expression: .literal(.bool(false)), height: 1)
                default: return Node(expression: .path(field: name, keys: try components(depth: depth)), height: 1)
                }
            }
        }
        let keys = try components(depth: depth)
        if keys.isEmpty { return base }
        return try node(.access(base.expression, keys: keys), over: [base], at: start)
    }

    /// `.name`, `['key']`, `[index]` and `[expression]` steps, as many as follow.
    mutating func components(depth: Int) throws(ParseError) -> [Expression.PathComponent] {
        var keys: [Expression.PathComponent] = []
        while true {
            skipSpaces()
            guard i < chars.count else { return keys }
            if chars[i] == "." {
                i += 1
                guard i < chars.count, Self.isIdentStart(chars[i]) || (chars[i].isASCII && chars[i].isNumber) else {
                    throw .init(message: "expected a field name after '.'", offset: i)
                }
                keys.append(.key(identifier()))
            } else if chars[i] == "[" {
                i += 1
                skipSpaces()
                let start = i
                if i < chars.count, chars[i] == "'" || chars[i] == "\"" {
                    keys.append(.key(try quoted(chars[i])))
                } else {
                    if i < chars.count, chars[i] == "-" { i += 1 }
                    while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
                    let digitsEnd = i
                    skipSpaces()
                    if let n = Int(String(chars[start..<digitsEnd])), i < chars.count, chars[i] == "]" {
                        keys.append(.index(n))
                    } else {
                        // Anything else is an expression giving the key or index for each row.
                        i = start
                        guard i < chars.count, chars[i] != "]" else {
                            throw .init(
                                message: "expected an index, a quoted key or an expression after '['", offset: i)
                        }
                        keys.append(.computed(try disjunction(depth: depth + 1).expression))
                    }
                }
                skipSpaces()
                guard i < chars.count, chars[i] == "]" else { throw .init(message: "expected ']'", offset: i) }
                i += 1
            } else {
                return keys
            }
        }
    }

    mutating func call(_ name: String, at start: Int, depth: Int) throws(ParseError) -> Node {
        guard let function = Expression.Function(rawValue: name) else {
            let names = Expression.Function.allCases.map(\.rawValue)
            throw .init(
                message: "unknown function '\(name)'", offset: start,
                notes: (Expression.Function.retired[name].map { [$0] } ?? Suggestion.note(for: name, in: names))
                    + ["functions: " + names.joined(separator: ", ")])
        }
        i += 1
        var args: [Node] = []
        var offsets: [Int] = []
        skipSpaces()
        if i < chars.count, chars[i] == ")" {
            i += 1
        } else {
            while true {
                skipSpaces()
                offsets.append(i)
                args.append(try disjunction(depth: depth + 1))
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
                message: "\(name) takes \(function.signature)\(function.argumentLimit.map { ", \($0)" } ?? ""), got "
                    + "\(args.count) argument(s)", offset: start)
        }
        let expressions = args.map(\.expression)
        try Self.check(function, expressions, offsets)
        return try node(.call(function, expressions), over: args, at: start)
    }

    /// Literal arguments that can only fail, caught now rather than as nulls on every row.
    static func check(_ f: Expression.Function, _ args: [Expression], _ offsets: [Int]) throws(ParseError) {
        switch f {
        case .regex_extract:
            guard case .literal(let pattern) = args[1] else { return }
            guard case .string(let text) = pattern else {
                throw .init(message: "regex_extract's pattern must be quoted text", offset: offsets[1])
            }
            if let problem = CompiledPattern.problem(with: text) {
                throw .init(message: "invalid regular expression '\(text)': \(problem)", offset: offsets[1])
            }
        case .date where args.count == 2:
            guard case .literal(let format) = args[1] else { return }
            guard case .string(let text) = format, text.contains("yyyy") else {
                throw .init(
                    message: "date's format must be quoted text with 'yyyy' in it, e.g. 'dd/MM/yyyy'",
                    offset: offsets[1])
            }
        case .count, .pluck, .sum, .min, .max:
            guard args.count == 2, case .literal(let path) = args[1] else { return }
            guard case .string(let text) = path, !text.isEmpty else {
                throw .init(
                    message: "\(f.rawValue)'s path must be quoted text naming a key, e.g. 'name' or 'labels.0.name'",
                    offset: offsets[1])
            }
            if let empty = Expression.PathComponent.emptyKey(in: text) {
                throw .init(
                    message:
                        "\(f.rawValue)'s path '\(text)' has an empty key \(empty.place): each dot separates two keys",
                    offset: offsets[1] + (text.contains("'") || text.contains("\"") ? 0 : 1 + empty.offset))
            }
        case .round where args.count == 2:
            guard case .literal(let digits) = args[1] else { return }
            guard case .int = digits else {
                throw .init(message: "round's digits must be a whole number", offset: offsets[1])
            }
        default: return
        }
    }

    // MARK: Literals

    mutating func quoted(_ quote: Character) throws(ParseError) -> String {
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

    /// `-12`, `3.5`, `1e-07`, `2.5E+20`.
    mutating func number() throws(ParseError) -> Value {
        let start = i
        if chars[i] == "-" { i += 1 }
        func isDigit(_ c: Character) -> Bool { c.isASCII && c.isNumber }
        while i < chars.count, isDigit(chars[i]) || chars[i] == "." || chars[i] == "e" || chars[i] == "E" {
            let exponent = chars[i] == "e" || chars[i] == "E"
            i += 1
            if exponent, i < chars.count, chars[i] == "+" || chars[i] == "-" { i += 1 }
        }
        let text = String(chars[start..<i])
        // Digits past a double's (`12345678901234567890123`) or its range (`1e400`) kept, as a
        // number from an answer.
        if let v = Value.number(parsing: text) { return v }
        throw .init(message: "invalid number '\(text)'", offset: start)
    }
}
