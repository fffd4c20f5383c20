/// A 1-based line and column in one source text.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Which text this location points into (a plan file, or one `--set` argument).
    public var source: SourceText
    public var line: Int
    public var column: Int
    /// Where a scalar starting here had its `${VAR}` (and `$$`) replaced, in order: so that a
    /// character of the interpolated text is found where the plan writes it (an unknown
    /// column after `'${TABLE}'` in a query's SQL), whatever the value's length. Not part of
    /// the location's identity.
    public var substitutions: [Substitution] = []

    /// One `${VAR}` (or `$$`) replaced in a scalar's text.
    public struct Substitution: Sendable {
        /// Where its value starts in the interpolated text (a character offset).
        public var offset: Int
        /// The value's length in characters.
        public var length: Int
        /// What the plan writes in its place (`${TABLE}`, `$$`): never a value.
        public var written: String

        public init(offset: Int, length: Int, written: String) {
            self.offset = offset
            self.length = length
            self.written = written
        }
    }

    public init(source: SourceText, line: Int, column: Int) {
        self.source = source
        self.line = line
        self.column = column
    }

    public static func == (a: SourceLocation, b: SourceLocation) -> Bool {
        a.source == b.source && a.line == b.line && a.column == b.column
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(source)
        hasher.combine(line)
        hasher.combine(column)
    }

    /// `path:line:col`, the form compilers and editors understand. The `--set` arguments read as
    /// the lines of one text: `--set:2:13` is column 13 of the second `--set` (`recorded
    /// --set:1:13`: of the first the replayed run recorded).
    public var description: String {
        source.name == "--set" && line == 1 ? "\(source.shownName):\(column)" : "\(source.name):\(line):\(column)"
    }

    /// The same location moved `offset` characters to the right on its line.
    public func advanced(by offset: Int) -> SourceLocation {
        SourceLocation(source: source, line: line, column: column + offset)
    }

    /// Where the character `offset` of a scalar's text is, this being where the scalar starts:
    /// after the quote of a quoted scalar, on its line; in a block scalar (`|` or `>`), on the
    /// line of the block that holds it, past the block's indentation (a folded block's line
    /// breaks read as the one space they become). `offset` counts in the interpolated text: a
    /// character of a variable's value is at its `${`, which tells nothing of the value.
    public func advanced(intoValueBy offset: Int) -> SourceLocation {
        advanced(intoWrittenValueBy: writtenOffset(offset))
    }

    /// The offset in the scalar as written of character `offset` of its interpolated text.
    public func writtenOffset(_ offset: Int) -> Int {
        var shift = 0
        for substitution in substitutions {
            if offset >= substitution.offset + substitution.length {
                shift += substitution.written.count - substitution.length
            } else if offset >= substitution.offset {
                return substitution.offset + shift
            } else {
                break
            }
        }
        return offset + shift
    }

    /// `text`, the interpolated text of the scalar starting here (or the start of it), as the
    /// plan writes it: each variable's value back in its `${VAR}` form.
    public func writtenText(of text: String) -> String {
        guard !substitutions.isEmpty else { return text }
        let characters = Array(text)
        var out = ""
        var next = 0
        // A value cut short (the SQL's trailing `;` trimmed) is still written as its `${VAR}`.
        for substitution in substitutions where substitution.offset <= characters.count {
            out += String(characters[next..<substitution.offset]) + substitution.written
            next = min(substitution.offset + substitution.length, characters.count)
        }
        return out + String(characters[min(next, characters.count)...])
    }

    /// Where the character `offset` of a scalar as the plan writes it is (before interpolation).
    public func advanced(intoWrittenValueBy offset: Int) -> SourceLocation {
        var start = self
        start.substitutions = []
        return start.advancedInto(offset)
    }

    private func advancedInto(_ offset: Int) -> SourceLocation {
        guard let text = source.line(line), column >= 1, column <= text.count else { return advanced(by: offset) }
        switch text[text.index(text.startIndex, offsetBy: column - 1)] {
        case "\"", "'": return advanced(by: offset + 1)
        case "|", ">": return intoBlock(by: offset) ?? self
        default: return advanced(by: offset)
        }
    }

    private func intoBlock(by offset: Int) -> SourceLocation? {
        let folded = source.line(line)?.dropFirst(column - 1).first == ">"
        func isBlank(_ number: Int) -> Bool { source.line(number)?.allSatisfy { $0 == " " } ?? false }
        var number = line + 1
        var indent: Int?
        var left = offset
        while let text = source.line(number) {
            let blank = isBlank(number)
            let leading = text.prefix { $0 == " " }.count
            if !blank {
                if indent == nil { indent = leading }
                if let indent, leading < indent { return nil }
            }
            let content = blank ? 0 : text.count - (indent ?? 0)
            if !blank, left <= content {
                return SourceLocation(source: source, line: number, column: (indent ?? 0) + left + 1)
            }
            // A literal block keeps each line break; a folded one makes it a space, or drops it
            // before blank lines (each of which is a line break of its own).
            left -= content + (folded && !blank && isBlank(number + 1) ? 0 : 1)
            number += 1
        }
        return nil
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        if a.source != b.source, a.source.order != b.source.order { return a.source.order < b.source.order }
        return (a.line, a.column) < (b.line, b.column)
    }
}

/// A text that diagnostics can point into and quote.
public final class SourceText: Sendable, Hashable {
    /// The name shown in diagnostics: the plan path as given, or `--set` for an override.
    public let name: String
    /// Sort key so that diagnostics in the plan come before those in overrides.
    public let order: Int
    /// How a location in it is named before its column: an override's `--set:2`.
    public let shownName: String
    private let lines: [Substring]

    public init(name: String, text: String, order: Int = 0, shownName: String? = nil) {
        self.name = name
        self.order = order
        self.shownName = shownName ?? name
        // "\r\n" is one Character: a file with CRLF line ends splits on it, not on "\n".
        self.lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
    }

    /// The text of 1-based `line`, without its line break; `nil` past the end.
    public func line(_ line: Int) -> String? {
        guard line >= 1, line <= lines.count else { return nil }
        var text = lines[line - 1]
        if text.hasSuffix("\r") { text = text.dropLast() }
        return String(text)
    }

    /// The keys of the block mapping `line` is a key of: the lines around it at its indentation
    /// (a list item's `- ` counts as indentation), up to a line indented less. Empty for a line
    /// that is no `key: value`.
    /// The key of the block mapping `line` is in (`auth` for a line of its mapping), from the
    /// nearest line above it that is indented less; `nil` at the top level.
    public func parentKey(ofLine line: Int) -> String? {
        func indent(_ text: String) -> Int? {
            let rest = text.drop { $0 == " " || $0 == "-" }
            guard !rest.isEmpty, !rest.hasPrefix("#") else { return nil }
            return text.count - rest.count
        }
        guard let text = self.line(line), let own = indent(text) else { return nil }
        var number = line - 1
        while number >= 1, let above = self.line(number) {
            if let depth = indent(above), depth < own {
                let rest = above.drop { $0 == " " || $0 == "-" }
                return rest.firstIndex(of: ":").map { String(rest[..<$0]) }
            }
            number -= 1
        }
        return nil
    }

    public func siblingKeys(ofLine line: Int) -> Set<String> {
        /// A line's key, its indentation (`- ` included) and whether it starts a list item.
        func parts(_ number: Int) -> (key: String?, indent: Int, item: Bool)? {
            guard let text = self.line(number) else { return nil }
            var rest = Substring(text)
            var indent = 0
            var item = false
            while let first = rest.first, first == " " || first == "-" {
                item = item || first == "-"
                rest = rest.dropFirst()
                indent += 1
            }
            // A blank line or a comment: part of whatever block it is in.
            guard !rest.isEmpty, !rest.hasPrefix("#") else { return (nil, Int.max, false) }
            return (rest.firstIndex(of: ":").map { String(rest[..<$0]) }, indent, item)
        }
        guard let own = parts(line), own.key != nil else { return [] }
        var keys: Set<String> = []
        var number = line
        // Up to the line that starts the block (a list item's `- `), then down to its end.
        while let (key, indent, item) = parts(number), indent >= own.indent {
            if indent == own.indent, let key { keys.insert(key) }
            if indent == own.indent, item { break }
            number -= 1
        }
        number = line + 1
        while let (key, indent, item) = parts(number), indent >= own.indent, !(indent == own.indent && item) {
            if indent == own.indent, let key { keys.insert(key) }
            number += 1
        }
        return keys
    }

    public static func == (a: SourceText, b: SourceText) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
