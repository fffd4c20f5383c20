import Foundation
import SluiceCore
import SluicePlan

/// A row that failed a check, with why: written to `rejects.csv`.
public struct Rejection: Sendable, Hashable {
    /// The stage that rejected the row.
    public var stage: String
    /// A short machine-friendly reason: `not_found`, `invalid_id`, `pattern`, `max`, ...
    public var reason: String
    /// The field concerned, if any.
    public var field: String?
    /// The offending value, as text.
    public var value: String?
    /// A sentence for people.
    public var detail: String
    /// The whole row as it reached the stage.
    public var row: [String: Value]

    public init(
        stage: String, reason: String, field: String? = nil, value: String? = nil, detail: String,
        row: [String: Value]
    ) {
        self.stage = stage
        self.reason = reason
        self.field = field
        self.value = value
        self.detail = detail
        self.row = row
    }
}

/// Checks rows against a validate stage's rules.
/// Not `Sendable`: `Regex` is not; each validate stage owns one.
public struct RowValidator {
    public let stage: String
    public let settings: ValidateSettings
    /// The rules of `settings`, in order, with their patterns compiled.
    let rules: [CompiledRule]

    public init(stage: String, settings: ValidateSettings) throws {
        self.stage = stage
        self.settings = settings
        rules = try settings.rules.map { try CompiledRule($0, stage: stage) }
    }

    /// Splits `batch` into valid rows and rejections (one per row: its first failed rule).
    public func check(_ batch: Batch) -> (valid: Batch, rejected: [Rejection]) {
        let slots = settings.rules.map { batch.index(of: $0.field) }
        var valid = Batch(columns: batch.columns)
        var rejected: [Rejection] = []
        for row in batch.rows {
            // The first rule the row breaks, else a NUL anywhere in it: the field, why, and the
            // value as the rejects file shows it.
            var failure: (field: String, reason: RejectionReason, detail: String, value: String?)?
            for (compiled, slot) in zip(rules, slots) {
                let value = slot.map { row[$0] } ?? .null
                if let (reason, detail) = compiled.failed(value, present: slot != nil) {
                    failure = (compiled.rule.field, reason, detail, value.text)
                    break
                }
            }
            if failure == nil, let nul = row.firstIndex(where: Self.holdsNUL) {
                let field = batch.columns[nul]
                failure = (
                    field, .nulCharacter,
                    "\(field) holds a NUL character (\\u0000), which a PostgreSQL text and a CSV file cannot hold",
                    row[nul].text?.replacingOccurrences(of: "\u{0}", with: "\\0")
                )
            }
            if let failure {
                rejected.append(
                    Rejection(
                        stage: stage, reason: failure.reason.rawValue, field: failure.field, value: failure.value,
                        detail: failure.detail,
                        row: Dictionary(zip(batch.columns, row), uniquingKeysWith: { a, _ in a })))
            } else {
                valid.rows.append(row)
            }
        }
        return (valid, rejected)
    }

    /// Whether `value` is, or holds (in an array or object), text with a NUL character.
    static func holdsNUL(_ value: Value) -> Bool {
        switch value {
        case .string(let text): text.utf8.contains(0)
        case .array(let values): values.contains(where: holdsNUL)
        case .object(let fields):
            fields.keys.contains { $0.utf8.contains(0) } || fields.values.contains(where: holdsNUL)
        default: false
        }
    }

    /// Whether `text` is a UUID as `UUID(uuidString:)` reads one: 36 characters, hyphens at
    /// offsets 8, 13, 18 and 23, hex digits elsewhere.
    static func isUUID(_ text: String) -> Bool {
        UUIDText.canonicalBits(of: text) != nil
    }
}

/// A validation rule ready to check values: its pattern compiled, and a class so that the
/// loops checking every value of a file share it instead of copying the rule's strings.
final class CompiledRule {
    let rule: ValidationRule
    /// The validate stage the rule is from, for messages.
    let stage: String
    let pattern: Pattern?

    /// A rule's pattern; the ``ASCIIPattern`` form, when it has one, judges ASCII texts without
    /// `Regex`. A class: checked for every value, it is borrowed rather than copied.
    final class Pattern {
        let regex: Regex<AnyRegexOutput>
        let fast: ASCIIPattern?

        init(regex: Regex<AnyRegexOutput>, fast: ASCIIPattern?) {
            self.regex = regex
            self.fast = fast
        }

        func wholeMatches(_ text: String) -> Bool {
            if let answer = fast?.matches(text) { return answer }
            return (try? regex.wholeMatch(in: text)) != nil
        }
    }

    /// - Throws: when the rule's pattern does not compile.
    init(_ rule: ValidationRule, stage: String) throws {
        self.rule = rule
        self.stage = stage
        pattern = try rule.pattern.map { Pattern(regex: try Regex($0), fast: ASCIIPattern($0)) }
    }

    /// The reason and explanation when `value` breaks the rule, or `nil`.
    func failed(_ value: Value, present: Bool) -> (RejectionReason, String)? {
        if !present { return (.missingField, "the input has no field '\(rule.field)'") }
        // Empty text is empty too: the apply makes it NULL (`on_empty`), as a CSV cannot tell them apart.
        if value.isNull || value.stringValue?.isEmpty == true, rule.required {
            return (.required, "\(rule.field) is empty but required")
        }
        if value.isNull { return nil }
        return wrongType(value) ?? outOfBounds(value)
    }

    /// The reason and explanation when `value` (not null) is not of the rule's type.
    private func wrongType(_ value: Value) -> (RejectionReason, String)? {
        switch rule.type {
        case .string:
            guard case .string = value else {
                return (.type, "\(rule.field) should be a string, is \(value.typeName)")
            }
        case .int:
            guard case .int = value else {
                // An API may write a whole number as 5.0: the transform's int() reads it as one.
                if value.doubleValue != nil, value.intValue != nil {
                    return (
                        .type,
                        "\(rule.field) should be an integer, is the number \(value.text ?? "") (int(...) in a transform "
                            + "makes a whole number an integer)"
                    )
                }
                return (.type, "\(rule.field) should be an integer, is \(value.typeName)")
            }
        case .double:
            guard value.doubleValue != nil else {
                return (.type, "\(rule.field) should be a number, is \(value.typeName)")
            }
        case .bool:
            guard case .bool = value else {
                return (.type, "\(rule.field) should be true or false, is \(value.typeName)")
            }
        case .uuid:
            guard let s = value.stringValue, RowValidator.isUUID(s) else {
                return (.type, "\(rule.field) should be a UUID, is '\(value.text ?? "")'")
            }
        case .any: break
        }
        return nil
    }

    /// Whether `value` is the `option` of a `one_of`: the same number (`1` and `1.0`), or the
    /// same text code point for code point (`é` as one code point is not `e` and an accent,
    /// which a table stores as other bytes); a number's text matches text (a CSV's `"1"`).
    static func same(_ option: Value, _ value: Value) -> Bool {
        if let a = option.doubleValue, let b = value.doubleValue { return a == b }
        guard let a = option.text, let b = value.text else { return option == value }
        return a.hasSameCodePoints(as: b)
    }

    /// The reason and explanation when `value`, of the rule's type, breaks its bounds, length,
    /// pattern or list; `nil` for a null value (which only ``failed(_:present:)`` judges).
    func outOfBounds(_ value: Value) -> (RejectionReason, String)? {
        if value.isNull { return nil }
        // Bounds are for numbers: text (a query's text column, a CSV cell) is read as one, and
        // text that is no number breaks them, rather than passing unchecked.
        let bounded = rule.min != nil || rule.max != nil
        // Text is parsed only for bounds to judge: a UUID or an ISRC in every row costs nothing.
        let number =
            value.doubleValue ?? (bounded ? value.stringValue.flatMap { Value.number(parsing: $0)?.doubleValue } : nil)
        if number == nil, bounded {
            return (.type, "\(rule.field) is '\((value.text ?? "").prefix(80))', not a number, which min and max need")
        }
        if let n = number {
            if let min = rule.min, n < min {
                return (.min, "\(rule.field) is \(value.text ?? ""), below \(Expectation.format(min))")
            }
            if let max = rule.max, n > max {
                return (.max, "\(rule.field) is \(value.text ?? ""), above \(Expectation.format(max))")
            }
        }
        guard rule.maxLength != nil || rule.pattern != nil || rule.oneOf != nil else { return nil }
        // Only now: an integer's text is a new string, made for every row otherwise.
        let text = value.text ?? ""
        // Code points, as PostgreSQL counts a varchar(n)'s characters (é written as e and an
        // accent is two; a family emoji is several).
        if let maxLength = rule.maxLength, case let length = text.unicodeScalars.count, length > maxLength {
            return (.maxLength, "\(rule.field) is \(length) characters, more than \(maxLength)")
        }
        if let pattern, !pattern.wholeMatches(text) {
            return (.pattern, "\(rule.field) '\(text.prefix(80))' does not match \(rule.pattern ?? "")")
        }
        if let options = rule.oneOf, !options.contains(where: { Self.same($0, value) }) {
            return (
                .oneOf,
                "\(rule.field) '\(text.prefix(80))' is not one of \(options.compactMap(\.text).joined(separator: ", "))"
            )
        }
        return nil
    }
}
