/// A problem inside one scalar's text (an expression, an expectation, a request template):
/// what is wrong and the 0-based character offset where, so the diagnostic can point into the
/// line with a caret.
protocol TextParseError: Error {
    var message: String { get }
    var offset: Int { get }
    var notes: [String] { get }
}

extension TextParseError {
    var notes: [String] { [] }
}

extension Expression.ParseError: TextParseError {}
extension Expectation.ParseError: TextParseError {}
extension RequestTemplate.ParseError: TextParseError {}
