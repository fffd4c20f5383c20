internal import CYAML

/// Parses YAML text with libyaml into a ``Node`` tree that keeps 1-based marks.
///
/// Bytes are checked before libyaml sees them (size, UTF-8, control characters) so that a
/// binary or mis-encoded file gets a precise location instead of libyaml's byte offset.
/// Aliases are expanded with a node budget, and nesting is bounded, so no input can make
/// the reader use unbounded memory or stack.
public struct YAMLReader: Sendable {
    /// Files larger than this are refused before parsing: a plan is a page of text.
    public var maxBytes = 1 << 20
    /// Collections nested deeper than this are refused.
    public var maxDepth = 64
    /// Total nodes (after alias expansion) allowed in one document.
    public var maxNodes = 200_000

    public init() {}

    /// Reads one YAML document. An empty document yields `nil`.
    public func read(_ bytes: [UInt8], source: SourceText) throws(PlanError) -> Node? {
        let start = SourceLocation(source: source, line: 1, column: 1)
        if bytes.count > maxBytes {
            throw PlanError([
                .error(ByteCount.tooLarge(bytes.count, limit: maxBytes), at: start, notes: ["is this the right file?"])
            ])
        }
        if let problem = Self.checkText(bytes, source: source) { throw PlanError([problem]) }
        return try bytes.withUnsafeBufferPointer { buffer throws(PlanError) -> Node? in
            var builder = Builder(source: source, maxDepth: maxDepth, maxNodes: maxNodes)
            return try builder.parse(buffer)
        }
    }

    /// Finds invalid UTF-8 and control characters, which mean a binary or mis-encoded file.
    static func checkText(_ bytes: [UInt8], source: SourceText) -> Diagnostic? {
        if let utf16 = utf16Text(bytes) {
            // Quoted as it reads, not as bytes with a NUL between each two letters.
            let text = SourceText(name: source.name, text: utf16, order: source.order, shownName: source.shownName)
            return .error(
                "file is saved as UTF-16: plans must be UTF-8 text",
                at: SourceLocation(source: text, line: 1, column: 1),
                notes: ["save it as UTF-8"])
        }
        var line = 1, column = 1, i = 0
        let n = bytes.count
        if n >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }  // UTF-8 BOM
        while i < n {
            let b = bytes[i]
            let here = SourceLocation(source: source, line: line, column: column)
            if b < 0x80 {
                if b == 0x0A {
                    line += 1
                    column = 1
                    i += 1
                    continue
                }
                if b < 0x20 && b != 0x09 && b != 0x0D || b == 0x7F {
                    let what = b == 0 ? "a NUL byte" : "control character 0x\(String(b, radix: 16, uppercase: true))"
                    return .error(
                        "file contains \(what): plans must be UTF-8 text", at: here,
                        notes: b == 0 ? ["this looks like a binary file"] : [])
                }
                i += 1
                column += 1
                continue
            }
            let length: Int
            switch b {
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: length = 0
            }
            var valid = length > 0 && i + length <= n
            if valid {
                for k in 1..<length where bytes[i + k] & 0xC0 != 0x80 { valid = false }
            }
            if valid {
                // Reject overlong forms and surrogates the way String(validating:) does.
                valid = String(validating: bytes[i..<(i + length)], as: UTF8.self) != nil
            }
            guard valid else {
                return .error(
                    "file is not valid UTF-8 (byte 0x\(String(b, radix: 16, uppercase: true)) at offset \(i))",
                    at: here, notes: ["save the plan as UTF-8"])
            }
            i += length
            column += 1
        }
        return nil
    }
}

extension YAMLReader {
    /// `bytes` read as UTF-16 when that is what they are (an editor's "Unicode"): a byte order
    /// mark, or text that starts with two ASCII characters each beside a NUL byte; else `nil`.
    static func utf16Text(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 4, bytes.count % 2 == 0, bytes.prefix(4) != [0xFF, 0xFE, 0, 0] else { return nil }
        let bigEndian: Bool
        switch (bytes[0], bytes[1], bytes[2], bytes[3]) {
        case (0xFF, 0xFE, _, _): bigEndian = false
        case (0xFE, 0xFF, _, _): bigEndian = true
        case (1..<0x80, 0, 1..<0x80, 0): bigEndian = false
        case (0, 1..<0x80, 0, 1..<0x80): bigEndian = true
        default: return nil
        }
        let units = stride(from: 0, to: bytes.count, by: 2).map { i -> UInt16 in
            let (high, low) = bigEndian ? (bytes[i], bytes[i + 1]) : (bytes[i + 1], bytes[i])
            return UInt16(high) << 8 | UInt16(low)
        }
        return String(decoding: units, as: UTF16.self).drop { $0 == "\u{FEFF}" }.map(String.init).joined()
    }
}

/// A byte count for people: `1.0 MB`, `512 bytes`.
struct ByteCount: CustomStringConvertible {
    var bytes: Int
    init(_ bytes: Int) { self.bytes = bytes }
    var description: String {
        if bytes < 1024 { return "\(bytes) bytes" }
        if bytes < 1 << 20 { return "\(bytes / 1024) KiB" }
        let mib = Double(bytes) / Double(1 << 20)
        return "\((mib * 10).rounded() / 10) MiB"
    }

    /// "file is 10.0 MiB; a plan may be at most 1.0 MiB", in bytes when the two would read the same.
    static func tooLarge(_ size: Int, limit: Int) -> String {
        let (file, most) = (ByteCount(size).description, ByteCount(limit).description)
        if file == most { return "file is \(size) bytes; a plan may be at most \(limit) bytes (\(most))" }
        return "file is \(file); a plan may be at most \(most)"
    }
}

/// Turns libyaml's event stream into nodes without recursion.
private struct Builder {
    let source: SourceText
    let maxDepth: Int
    let maxNodes: Int
    var anchors: [String: Node] = [:]
    var nodeCount = 0
    /// What the plan writes that YAML has and Sluice does not read (tags, merge keys): all
    /// reported once the document is read.
    var unsupported: [Diagnostic] = []

    enum Frame {
        case mapping(start: SourceLocation, tag: String?, anchor: String?, pairs: [Node.Pair], pendingKey: Node?)
        case sequence(start: SourceLocation, tag: String?, anchor: String?, elements: [Node])
    }

    init(source: SourceText, maxDepth: Int, maxNodes: Int) {
        self.source = source
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(source: source, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let pointer else { return nil }
        return String(cString: UnsafeRawPointer(pointer).assumingMemoryBound(to: CChar.self))
    }

    mutating func parse(_ buffer: UnsafeBufferPointer<UInt8>) throws(PlanError) -> Node? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw PlanError([.error("out of memory initialising the YAML parser", at: nil)])
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_input_string(&parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!, buffer.count)

        var stack: [Frame] = []
        var document: Node?
        var documents = 0

        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else {
                throw PlanError([syntaxError(parser)])
            }
            defer { yaml_event_delete(&event) }
            let here = location(event.start_mark)

            var completed: (node: Node, anchor: String?)?
            switch event.type {
            case YAML_STREAM_END_EVENT:
                if !unsupported.isEmpty { throw PlanError(unsupported) }
                return document
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 {
                    throw PlanError([
                        .error("a plan file holds one YAML document; found a second one here", at: here)
                    ])
                }
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let text =
                    String(
                        decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
                let style: Scalar.Style
                switch s.style {
                case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
                case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
                case YAML_LITERAL_SCALAR_STYLE: style = .literal
                case YAML_FOLDED_SCALAR_STYLE: style = .folded
                default: style = .plain
                }
                try count(at: here)
                refuseTag(s.tag, at: here)
                completed = (
                    Node(.scalar(Scalar(text: text, style: style)), at: here, tag: Self.string(s.tag)),
                    Self.string(s.anchor)
                )
            case YAML_ALIAS_EVENT:
                let name = Self.string(event.data.alias.anchor) ?? ""
                guard let target = anchors[name] else {
                    throw PlanError([.error("unknown alias '*\(name)'", at: here)])
                }
                try count(target, at: here)
                var copy = target
                copy.location = here
                completed = (copy, nil)
            case YAML_SEQUENCE_START_EVENT:
                try push(at: here, depth: stack.count)
                let s = event.data.sequence_start
                refuseTag(s.tag, at: here)
                stack.append(
                    .sequence(start: here, tag: Self.string(s.tag), anchor: Self.string(s.anchor), elements: []))
            case YAML_MAPPING_START_EVENT:
                try push(at: here, depth: stack.count)
                let m = event.data.mapping_start
                refuseTag(m.tag, at: here)
                stack.append(
                    .mapping(
                        start: here, tag: Self.string(m.tag), anchor: Self.string(m.anchor), pairs: [],
                        pendingKey: nil))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                switch stack.removeLast() {
                case .sequence(let start, let tag, let anchor, let elements):
                    completed = (Node(.sequence(elements), at: start, tag: tag), anchor)
                case .mapping(let start, let tag, let anchor, let pairs, _):
                    completed = (Node(.mapping(pairs), at: start, tag: tag), anchor)
                }
            default:
                break
            }

            guard let (node, anchor) = completed else { continue }
            if let anchor { anchors[anchor] = node }
            if stack.isEmpty {
                document = node
                continue
            }
            switch stack[stack.count - 1] {
            case .sequence(let start, let tag, let anchor, var elements):
                elements.append(node)
                stack[stack.count - 1] = .sequence(start: start, tag: tag, anchor: anchor, elements: elements)
            case .mapping(let start, let tag, let anchor, var pairs, let pendingKey):
                if let key = pendingKey {
                    pairs.append(Node.Pair(key: key, value: node))
                    stack[stack.count - 1] = .mapping(
                        start: start, tag: tag, anchor: anchor, pairs: pairs,
                        pendingKey: nil)
                } else {
                    refuseMergeKey(node)
                    stack[stack.count - 1] = .mapping(
                        start: start, tag: tag, anchor: anchor, pairs: pairs,
                        pendingKey: node)
                }
            }
        }
    }

    /// An explicit tag (`!!str 5`, `!!binary ...`, `!custom`) would have the value read other
    /// than as written, or not at all: each value reads by what its parameter takes.
    mutating func refuseTag(_ tag: UnsafeMutablePointer<yaml_char_t>?, at here: SourceLocation) {
        guard let tag = Self.string(tag) else { return }
        let shown = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
        unsupported.append(
            .error(
                "YAML tags ('\(shown)') are not supported", at: here,
                notes: ["write the value as it should read: a number or true/false plainly, text in quotes"]))
    }

    /// YAML 1.1's merge key (`<<: *defaults`) is not part of YAML 1.2, which the plan is read as:
    /// taken as a key named `<<`, its mapping's keys would be missing without a word.
    mutating func refuseMergeKey(_ key: Node) {
        guard let scalar = key.scalar, scalar.style == .plain, scalar.text == "<<", key.tag == nil else { return }
        unsupported.append(
            .error(
                "merge keys (<<) are not supported: repeat the keys, or use an alias for a whole value",
                at: key.location))
    }

    mutating func push(at here: SourceLocation, depth: Int) throws(PlanError) {
        if depth >= maxDepth {
            throw PlanError([.error("nesting is deeper than \(maxDepth) levels", at: here)])
        }
        try count(at: here)
    }

    mutating func count(at here: SourceLocation) throws(PlanError) {
        nodeCount += 1
        if nodeCount > maxNodes {
            throw PlanError([
                .error("document has more than \(maxNodes) nodes (after expanding aliases)", at: here)
            ])
        }
    }

    mutating func count(_ node: Node, at here: SourceLocation) throws(PlanError) {
        var pending = [node]
        while let next = pending.popLast() {
            try count(at: here)
            switch next.content {
            case .scalar: break
            case .sequence(let e): pending.append(contentsOf: e)
            case .mapping(let p):
                for pair in p { pending.append(contentsOf: [pair.key, pair.value]) }
            }
        }
    }

    func syntaxError(_ parser: yaml_parser_t) -> Diagnostic {
        let problem = Self.cString(parser.problem) ?? "invalid YAML"
        var notes: [String] = []
        if let context = Self.cString(parser.context) {
            let at = location(parser.context_mark)
            notes.append("\(context) at line \(at.line), column \(at.column)")
            if problem == "could not find expected ':'",
                let hint = Self.keyWithoutSpace(source.line(at.line), at.column)
            {
                notes.append(hint)
            }
        }
        let mark = parser.problem_mark
        let where_ =
            mark.line == 0 && mark.column == 0 && mark.index == 0 && parser.problem_offset > 0
            ? nil : location(mark)
        if let unclosed = Self.unclosedQuote(in: source, before: where_?.line ?? Int.max) {
            notes.insert(
                "the value quoted at line \(unclosed.line), column \(unclosed.column) is not closed on its line, so YAML "
                    + "reads the lines after it as part of it, up to the next \(unclosed.quote): close it there", at: 0)
        }
        return .error(
            "YAML syntax error: \(problem)", at: where_ ?? SourceLocation(source: source, line: 1, column: 1),
            notes: notes)
    }

    /// The first quote before line `limit` that opens a value (after `key: `, `- `, `[`, `{` or `,`)
    /// and is not closed on its line, when the line after it reads as the plan's next key or list
    /// item at the same indentation or less: a closing quote forgotten, which libyaml reports only
    /// where the value ends, at some later quote. A value that goes on, indented, is left alone,
    /// and so are the lines of a block scalar (`sql: |`), whose quotes are text.
    static func unclosedQuote(in source: SourceText, before limit: Int) -> (line: Int, column: Int, quote: Character)? {
        let indent = { (line: String) in line.prefix { $0 == " " }.count }
        var number = 0
        // The indentation of the line a block scalar's `|` or `>` ends: its text is indented more.
        var blockScalar: Int?
        while number + 1 < limit, let text = source.line(number + 1) {
            number += 1
            if let block = blockScalar {
                if text.allSatisfy({ $0 == " " || $0 == "\t" }) || indent(text) > block { continue }
                blockScalar = nil
            }
            let scalars = Array(text.unicodeScalars)
            var open: (column: Int, quote: Unicode.Scalar)?
            var previous: Unicode.Scalar?
            var end = scalars.count
            var index = 0
            scan: while index < scalars.count {
                let c = scalars[index]
                if let quote = open?.quote {
                    if quote == "\"" && c == "\\" {
                        index += 1
                    } else if c == quote {
                        // `''` is a single quote inside a single-quoted value.
                        if quote == "'" && index + 1 < scalars.count && scalars[index + 1] == "'" {
                            index += 1
                        } else {
                            open = nil
                            previous = c
                        }
                    }
                } else if c == "#" && (index == 0 || scalars[index - 1] == " " || scalars[index - 1] == "\t") {
                    end = index
                    break scan
                } else if c == "\"" || c == "'",
                    Self.startsAValue(after: previous, spaced: index > 0 && scalars[index - 1] == " ")
                {
                    open = (index + 1, c)
                } else if c != " " && c != "\t" {
                    previous = c
                }
                index += 1
            }
            guard let open else {
                // `key: |`, `- >-`: the lines after it, indented more, are its text.
                let words = String(String.UnicodeScalarView(scalars[..<end])).split(separator: " ")
                if let last = words.last, last.first == "|" || last.first == ">",
                    last.dropFirst().allSatisfy({ $0 == "-" || $0 == "+" || $0.isNumber }),
                    words.count == 1 ? false : (words[words.count - 2].hasSuffix(":") || words[words.count - 2] == "-")
                {
                    blockScalar = indent(text)
                }
                continue
            }
            guard let next = source.line(number + 1), number + 1 <= limit else { continue }
            let rest = next.drop { $0 == " " }
            let key = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
            let structure =
                rest.hasPrefix("- ") || rest == "-"
                || (!key.isEmpty && (rest.dropFirst(key.count).hasPrefix(": ") || rest.dropFirst(key.count) == ":"))
            if structure && indent(next) <= indent(text) {
                return (number, open.column, Character(open.quote))
            }
            // A value that goes on over lines: what follows is inside it, so nothing more is known.
            return nil
        }
        return nil
    }

    /// Whether a quote after `previous` (the last other character on its line than a space, `nil`
    /// for none), `spaced` from it or not, opens a value: at the start of a line, after `[`, `{` or
    /// `,`, or after a `:`, `-` or `?` and a space (`it's`, `rock-'n'-roll` hold apostrophes).
    private static func startsAValue(after previous: Unicode.Scalar?, spaced: Bool) -> Bool {
        guard let previous else { return true }
        return "[{,".unicodeScalars.contains(previous) || (spaced && ":-?".unicodeScalars.contains(previous))
    }

    /// What to write when the key that starts at `column` of `line` runs into its value
    /// (`size:50`, `size:\u{A0}50`): libyaml reads the whole as a key and only complains, on the
    /// next line, that it found no ':'. `nil` when that is not it.
    static func keyWithoutSpace(_ line: String?, _ column: Int) -> String? {
        guard let line else { return nil }
        let rest = line.dropFirst(column - 1)
        guard let colon = rest.firstIndex(of: ":"), colon < rest.endIndex else { return nil }
        let after = rest[rest.index(after: colon)...]
        guard let next = after.first, next != " ", next != "\t" else { return nil }
        let key = rest[..<colon]
        let value = after.drop { $0.isWhitespace }
        let spaced = next.isWhitespace ? "a space other than a plain one after its ':'" : "no space after its ':'"
        return "the key '\(key)' has \(spaced): write '\(key): \(value)'"
    }

    static func cString(_ p: UnsafePointer<CChar>?) -> String? {
        guard let p else { return nil }
        return String(cString: p)
    }
}
