import SluiceCore

extension Expression {
    /// One step into a JSON value: `.name` (or `['any key']`) into an object, `[2]` into a list,
    /// `[expression]` by what the expression gives for the row.
    public indirect enum PathComponent: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral,
        ExpressibleByIntegerLiteral
    {
        /// An object key; on a list, a key spelled as a non-negative integer (`a.0`) is an index.
        case key(String)
        /// A list index; negative counts from the end (`[-1]` is the last item).
        case index(Int)
        /// A key or index computed for each row: `response[isbn]` reads the answer's key named
        /// by the row's `isbn` (text is a key, an integer an index; anything else reads null).
        case computed(Expression)

        public init(stringLiteral value: String) { self = .key(value) }
        public init(integerLiteral value: Int) { self = .index(value) }

        public var description: String {
            switch self {
            case .index(let n): return "[\(n)]"
            case .key(let k) where Self.isPlain(k): return "." + k
            case .key(let k): return "[" + Expression.quote(k) + "]"
            case .computed(let e): return "[\(e)]"
            }
        }

        /// The expression of a ``computed(_:)`` step.
        var expression: Expression? { if case .computed(let e) = self { e } else { nil } }

        /// The step a ``computed(_:)`` value names: text a key, an integer an index; `nil` for
        /// anything else.
        static func named(by value: Value) -> PathComponent? {
            switch value {
            case .string(let s): return .key(s)
            case .int(let n): return Int(exactly: n).map(PathComponent.index)
            default: return nil
            }
        }

        /// The value one step into `value`; null when the step does not fit it.
        public func step(into value: Value) -> Value {
            switch (self, value) {
            case (.key(let k), .object(let o)): return o[k] ?? .null
            case (.key(let k), .array(let a)):
                guard let n = Int(k), a.indices.contains(n) else { return .null }
                return a[n]
            case (.index(let n), .array(let a)):
                let at = n < 0 ? a.count + n : n
                return a.indices.contains(at) ? a[at] : .null
            default: return .null  // a computed step is resolved to a key or index first
            }
        }

        /// The value at a key path written as text (`labels.0.name`), read as `items_key` reads
        /// one: a key of `value` itself (which may hold a dot) first, else key by key, an integer
        /// key indexing a list as `a.0` does in a path; null where there is none.
        public static func value(atKeyPath path: String, in value: Value) -> Value {
            if case .object(let object) = value, let found = object[path] { return found }
            return path.split(separator: ".", omittingEmptySubsequences: false).reduce(value) {
                Self.key(String($1)).step(into: $0)
            }
        }

        /// Where a key path written as text (`data.results`) has an empty key, which would name
        /// nothing: the offset of the dot before or after it, and where that is; nil when it has
        /// none. An empty path is left to the caller.
        public static func emptyKey(in path: String) -> (offset: Int, place: String)? {
            let chars = Array(path)
            guard
                let offset = chars.indices.first(where: { i in
                    chars[i] == "." && (i == 0 || i == chars.count - 1 || chars[i + 1] == ".")
                })
            else { return nil }
            let place =
                offset == 0
                ? "before its first dot" : offset == chars.count - 1 ? "after its last dot" : "between two dots"
            return (offset, place)
        }

        /// Whether `.key` reads back as this key: what the parser takes after a dot.
        static func isPlain(_ key: String) -> Bool {
            guard let first = key.first, ExpressionParser.isIdentStart(first) || (first.isASCII && first.isNumber)
            else { return false }
            return key.allSatisfy(ExpressionParser.isIdent)
        }
    }
}
