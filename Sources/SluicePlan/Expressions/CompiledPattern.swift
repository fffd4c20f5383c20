import Foundation

/// A `regex_extract` pattern, compiled.
///
/// ICU's `NSRegularExpression` rather than Swift's `Regex`: bound expressions cross tasks, and
/// `NSRegularExpression` is immutable, documented thread-safe and `Sendable`, while `Regex` is
/// not `Sendable`. One compiled pattern serves every row of a stage.
struct CompiledPattern: Sendable {
    let regex: NSRegularExpression

    init?(_ pattern: String) {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return nil }
        self.regex = regex
    }

    /// Why `pattern` does not compile, or nil when it does.
    static func problem(with pattern: String) -> String? {
        guard CompiledPattern(pattern) == nil else { return nil }
        // ICU only says "the value is invalid"; Swift's parser, nearly the same syntax, says where.
        do {
            _ = try Regex(pattern)
        } catch {
            return "\(error)"
        }
        return "not accepted by ICU"
    }

    /// The first capture group of the first match, or the whole match when the pattern has no
    /// group; nil when nothing matches or the group took no part in the match.
    func extract(from text: String) -> String? {
        guard let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
        let range = regex.numberOfCaptureGroups > 0 ? match.range(at: 1) : match.range
        return Range(range, in: text).map { String(text[$0]) }
    }
}
