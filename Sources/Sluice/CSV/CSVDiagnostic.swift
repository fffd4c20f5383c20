import SluiceCore

/// One problem in a CSV file, located like a compiler error: `FILE:LINE:COL: error: message`.
///
/// Lines and columns are 1-based; a column counts characters (Unicode scalars), not bytes, so it
/// matches what an editor shows. For a problem that spans a row, the column is where it starts.
public struct CSVDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// The file as the user named it.
    public var path: String
    public var line: Int
    public var column: Int
    /// One line, no trailing period.
    public var message: String

    public init(path: String, line: Int, column: Int, message: String) {
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(path):\(line):\(column): error: \(message)" }
}

/// A CSV file that cannot be applied: every problem found, each located. Nothing was changed.
public struct CSVInputError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var diagnostics: [CSVDiagnostic]
    /// Whether reading stopped early (too many problems, or one that makes the rest unreadable).
    public var stoppedEarly: Bool

    public init(path: String, diagnostics: [CSVDiagnostic], stoppedEarly: Bool = false) {
        self.path = path
        self.diagnostics = diagnostics
        self.stoppedEarly = stoppedEarly
    }

    /// A summary line, then one located line per problem.
    public var description: String {
        // The note that reading stopped at the limit is not a problem of its own.
        let limited = diagnostics.last?.message.hasPrefix(CSVReader.tooManyProblems) == true
        let n = diagnostics.count - (limited ? 1 : 0)
        var text =
            limited
            ? "the first \(n) problems in \(path) (reading stopped there)"
            : "\(n.counted("problem")) in \(path)\(stoppedEarly ? " (reading stopped there)" : "")"
        text += "; nothing was changed"
        for diagnostic in diagnostics { text += "\n" + diagnostic.description }
        return text
    }
}
