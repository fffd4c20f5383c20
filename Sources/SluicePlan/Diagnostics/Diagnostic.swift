import SluiceCore

/// One problem found in a plan, located like a compiler error.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error, warning, note
    }

    /// What a diagnostic is about, for code that acts on it (the message is for people).
    public enum Code: Sendable, Hashable {
        /// `${NAME}` without a default, and `NAME` is not set (or empty).
        case unsetVariable(String)
        /// A key the schema does not know, at that place.
        case unknownKey(String)
        /// A key written twice in one mapping.
        case duplicateKey(String)
        /// A required key left out (or given no value).
        case missingKey(String)
        /// A value of the wrong type or shape, or not one of the choices (by its dotted path).
        case invalidValue(path: String)
        /// A number or duration outside its range (by its dotted path).
        case outOfRange(path: String)
        /// A `kind` that does not exist.
        case unknownKind(String)
        /// A stage or connection named that does not exist (or comes later).
        case unknownReference(String)
    }

    public var severity: Severity
    public var location: SourceLocation?
    public var message: String
    /// Extra lines printed after the caret, e.g. `did you mean 'size'?` or where a duplicate was first defined.
    public var notes: [String]
    /// Set for diagnostics that code acts on.
    public var code: Code?
    /// Secret texts never to print: the message and the quoted line show them as `*`s (one per
    /// character, so the caret still points at the right column).
    public var hidden: [String] = []

    public init(_ severity: Severity = .error, _ message: String, at location: SourceLocation?, notes: [String] = []) {
        self.severity = severity
        self.location = location
        self.message = message
        self.notes = notes
    }

    public static func error(_ message: String, at location: SourceLocation?, notes: [String] = []) -> Diagnostic {
        Diagnostic(.error, message, at: location, notes: notes)
    }

    public static func warning(_ message: String, at location: SourceLocation?, notes: [String] = []) -> Diagnostic {
        Diagnostic(.warning, message, at: location, notes: notes)
    }

    /// `path:line:col: error: message` — the first line of the rendered form.
    public var description: String {
        let prefix = location.map { "\($0): " } ?? ""
        return "\(prefix)\(severity.rawValue): \(masked(message))"
    }

    /// This diagnostic hiding `secrets`, and whatever looks secret in the line it quotes.
    func hiding(_ secrets: [String]) -> Diagnostic {
        var copy = self
        let line = location.flatMap { $0.source.line($0.line) } ?? ""
        let siblings = location.map { $0.source.siblingKeys(ofLine: $0.line) } ?? []
        let parent = location.flatMap { $0.source.parentKey(ofLine: $0.line) }
        let likely = Redaction.likelySecrets(
            inLine: line, siblingKeys: siblings, inCredentials: parent == "auth" || parent == "headers")
        copy.hidden = Array(Set(hidden + secrets + likely)).sorted()
        return copy
    }

    /// `text` with every hidden secret replaced by as many `*`s (so that the caret under the
    /// quoted line stays under its column), a short one only where it stands alone
    /// (``Redaction/masking(_:in:with:)``: the `x` of `id_prefix` is part of that word).
    /// A text under 4 characters is not hidden, as ``SecretRegistry`` hides none: a header's
    /// `v1` or `2` is everywhere in a plan (`path: /v1/items`, `timeout: 2 s`), and masking it
    /// there garbles the message without keeping anything secret.
    func masked(_ text: String) -> String {
        Redaction.masking(hidden.filter { $0.count >= 4 }, in: text) { String(repeating: "*", count: $0.count) }
    }

    /// The full form: the headline, the quoted source line with a caret under the column, then notes.
    /// In `color`, whose escape codes reach the terminal as they are, whatever the diagnostic
    /// quotes is made visible first (``TerminalText/visible(_:)``); without, the terminal's
    /// printing does that for the whole text.
    public func rendered(color: Bool = false) -> String {
        func shown(_ text: String) -> String { color ? TerminalText.visible(text) : text }
        var out = description
        if color {
            let tint = severity == .error ? "\u{1B}[1;31m" : "\u{1B}[1;35m"
            let prefix = location.map { "\u{1B}[1m\(shown("\($0)")):\u{1B}[0m " } ?? ""
            out = "\(prefix)\(tint)\(severity.rawValue):\u{1B}[0m \u{1B}[1m\(shown(masked(message)))\u{1B}[0m"
        }
        if let location, let line = location.source.line(location.line).map(masked).map(Self.visible) {
            // 160 characters of a long line (a recorded plan's JSON is one): from its start, or
            // around the column when that lies further on.
            let characters = Array(line)
            let column = max(0, location.column - 1)
            let start = characters.count > 160 && column > 100 ? column - 60 : 0
            let end = min(characters.count, start + 160)
            let shown = (start > 0 ? "…" : "") + String(characters[start..<end]) + (end < characters.count ? "…" : "")
            out += "\n    \(shown)\n    "
            // Keep tabs so the caret lines up under tab-indented text.
            let lead = (start > 0 ? [" "] : []) + characters[start..<min(column, end)].map { $0 == "\t" ? "\t" : " " }
            out += lead.joined() + (color ? "\u{1B}[1;32m^\u{1B}[0m" : "^")
        }
        for note in notes { out += "\n    note: \(shown(masked(note)))" }
        return out
    }

    /// A quoted line safe to print on a terminal, one character for one: a control character
    /// as its Control Picture (`␀`, `␛`, `␡`; a tab stays, for the caret), a format or separator
    /// character (a bidirectional override) as `�`.
    static func visible(_ line: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in line.unicodeScalars {
            switch scalar.value {
            case 0x09: out.append(scalar)
            case 0x00..<0x20: out.append(Unicode.Scalar(0x2400 + scalar.value)!)
            case 0x7F: out.append("\u{2421}")
            default:
                switch scalar.properties.generalCategory {
                case .control, .format, .lineSeparator, .paragraphSeparator: out.append("\u{FFFD}")
                default: out.append(scalar)
                }
            }
        }
        return String(out)
    }
}

/// Thrown when a plan has problems; carries every diagnostic found, not just the first.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

    public var description: String {
        diagnostics.map { $0.rendered() }.joined(separator: "\n")
    }
}

/// Collects diagnostics while a plan is checked, so that one run reports every problem.
struct DiagnosticBag {
    private(set) var diagnostics: [Diagnostic] = []

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    mutating func error(
        _ message: String, at location: SourceLocation?, notes: [String] = [], code: Diagnostic.Code? = nil
    ) {
        var diagnostic = Diagnostic.error(message, at: location, notes: notes)
        diagnostic.code = code
        diagnostics.append(diagnostic)
    }

    mutating func warning(_ message: String, at location: SourceLocation?, notes: [String] = []) {
        diagnostics.append(.warning(message, at: location, notes: notes))
    }

    mutating func append(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

    /// The count so far, to mark where a check's diagnostics begin (``addNote(_:toErrorsFrom:)``).
    var count: Int { diagnostics.count }

    /// Adds `note` to every error from index `start` on: what they all follow from.
    mutating func addNote(_ note: String, toErrorsFrom start: Int) {
        for index in diagnostics.indices.dropFirst(start) where diagnostics[index].severity == .error {
            diagnostics[index].notes.append(note)
        }
    }

    mutating func append(contentsOf other: [Diagnostic]) { diagnostics.append(contentsOf: other) }

    /// Diagnostics in source order, duplicates removed.
    var sorted: [Diagnostic] {
        var seen = Set<Diagnostic>()
        return diagnostics.filter { seen.insert($0).inserted }.enumerated().sorted { a, b in
            switch (a.element.location, b.element.location) {
            case let (l?, r?) where l != r: return l < r
            case (nil, _?): return false
            case (_?, nil): return true
            default: return a.offset < b.offset
            }
        }.map(\.element)
    }
}
