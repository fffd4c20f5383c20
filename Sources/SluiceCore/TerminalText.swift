/// Text from outside (a value in a table or a CSV, a server's message, an API's error body) made
/// safe to print on a terminal: a character a terminal acts on instead of showing — an escape
/// that starts a sequence (`\u{1B}[2J` clears the screen, `\u{1B}]0;...` retitles the window), a
/// carriage return or a backspace that writes over what came before, a bidirectional override
/// that reorders it — is written as its code (``Swift/Unicode/Scalar/escapedCode``), so that a
/// message shows the data it quotes instead of letting the data rewrite the terminal.
public enum TerminalText {
    /// `text` with every control character but a line feed and a tab (which lay out lines and
    /// columns), and every bidirectional control, written as its code: an ESC becomes the six
    /// characters `\u{1B}`, a carriage return `\r`. Text holding none comes back as it is, and so
    /// does text already made visible.
    public static func visible(_ text: String) -> String {
        replacing(text) { $0.escapedCode }
    }

    /// JSON text (``JSON/encode(_:)``, which escapes every character below U+0020) with the
    /// characters JSON leaves as they are but a terminal acts on (DEL, the C1 controls such as
    /// U+009B, which some terminals read as `ESC [`, bidirectional controls) written as JSON
    /// escapes (`\u009b`): the same JSON document, each such character being inside a string.
    public static func visibleJSON(_ json: String) -> String {
        replacing(json) { scalar in
            let hex = String(scalar.value, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }

    /// `text` with each character ``actsOnTerminal(_:)`` replaced by its `code`; `text` itself
    /// when it holds none.
    private static func replacing(_ text: String, by code: (Unicode.Scalar) -> String) -> String {
        guard text.unicodeScalars.contains(where: actsOnTerminal) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if actsOnTerminal(scalar) {
                out.append(contentsOf: code(scalar).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Whether a terminal acts on `scalar` rather than showing it: a control character (C0, DEL,
    /// C1) other than a line feed or a tab, or a bidirectional control (U+202A-U+202E,
    /// U+2066-U+2069, the marks).
    public static func actsOnTerminal(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "\n", "\t": return false
        default:
            return scalar.properties.generalCategory == .control || scalar.properties.isBidiControl
        }
    }
}

extension Unicode.Scalar {
    /// This character's code as messages and reviews write it where it would not show, or would
    /// act on the terminal: `\t`, `\n`, `\r`, else `\u{1B}` (hexadecimal, as Swift writes it).
    public var escapedCode: String {
        switch self {
        case "\t": return "\\t"
        case "\n": return "\\n"
        case "\r": return "\\r"
        default: return "\\u{" + String(value, radix: 16, uppercase: true) + "}"
        }
    }
}

extension Unicode.Scalar {
    /// A character that shows as nothing, or as another does: control and format characters,
    /// the default-ignorable ones (variation selectors, fillers), any space but the plain one,
    /// line and paragraph separators, and private-use and unassigned ones (a box, whatever the
    /// code). A message that quotes one writes it as its code (``escapedCode``).
    public var isInvisible: Bool {
        switch properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned, .surrogate:
            return true
        case .spaceSeparator: return self != " "
        default: return properties.isDefaultIgnorableCodePoint || self == "\u{2800}"
        }
    }
}
