/// A YAML node with the place it was written: our own tree, so every later diagnostic can
/// point at a line and column.
public struct Node: Sendable {
    public enum Content: Sendable {
        case scalar(Scalar)
        case mapping([Pair])
        case sequence([Node])
    }

    public struct Pair: Sendable {
        public var key: Node
        public var value: Node
        public init(key: Node, value: Node) {
            self.key = key
            self.value = value
        }
    }

    public var content: Content
    /// Where the node starts (1-based).
    public var location: SourceLocation
    /// An explicit tag such as `!!str`, if the author wrote one.
    public var tag: String?

    public init(_ content: Content, at location: SourceLocation, tag: String? = nil) {
        self.content = content
        self.location = location
        self.tag = tag
    }

    /// The scalar's text, or `nil` for collections.
    public var scalar: Scalar? {
        if case .scalar(let s) = content { return s }
        return nil
    }

    public var pairs: [Pair]? {
        if case .mapping(let p) = content { return p }
        return nil
    }

    public var elements: [Node]? {
        if case .sequence(let e) = content { return e }
        return nil
    }

    /// The value for `key` in a mapping (the first, if the key is duplicated).
    public subscript(key: String) -> Node? {
        pairs?.first { $0.key.scalar?.text == key }?.value
    }

    /// How the node reads in an error message: "a mapping", "a list", "the string 'abc'".
    public var kindDescription: String {
        switch content {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s): return s.isNull ? "an empty value" : "'\(s.text.prefix(40))'"
        }
    }
}

/// A scalar's text and how it was written.
public struct Scalar: Sendable {
    public enum Style: Sendable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    /// The text after `${VAR}` interpolation.
    public var text: String
    public var style: Style
    /// The text as written, before interpolation (equal to `text` when there was none).
    public var raw: String
    /// True when the value came (wholly or in part) from an environment variable whose name
    /// says it is a secret, or from a parameter declared secret. Such values are redacted
    /// from everything Sluice writes.
    public var isSecret = false
    /// The values of secret variables interpolated into it (`${DB_PASSPHRASE}` in a query's
    /// SQL): hidden wherever the text may come back in part.
    public var secretValues: [String] = []
    /// The variables whose default, written in the plan (`${DB_URL:-postgresql://u:pw@h/db}`),
    /// stood in for them with a secret: as much written in the file as a secret given inline.
    public var secretDefaults: [String] = []
    /// True when a `${VAR}` in it was not set and `sluice check` let that pass (the run's
    /// environment sets it): its value is a stand-in, not checked against the parameter's type.
    public var isUnresolved = false
    /// Each `${VAR}` that was not set (see ``isUnresolved``): where its value would be in
    /// ``text`` (a character offset) and how it is written in ``raw``.
    public var unsetVariables: [(offset: Int, written: String)] = []

    public init(text: String, style: Style, raw: String? = nil) {
        self.text = text
        self.style = style
        self.raw = raw ?? text
    }

    /// A plain `~`, `null`, `Null`, `NULL` or empty scalar: YAML's null.
    public var isNull: Bool {
        style == .plain && (text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL")
    }

    public var isQuoted: Bool { style == .singleQuoted || style == .doubleQuoted }
}
