import Foundation
import SluiceCore

/// The type of one plan parameter. The same table validates plan files and `--set`
/// overrides, fills defaults, and generates the plan reference.
public indirect enum ParameterType: Sendable {
    case string
    case int(min: Int64? = nil, max: Int64? = nil)
    case double(min: Double? = nil, max: Double? = nil)
    case bool
    /// `0.33s`, `500ms`, `2m`, `1h`, or a bare number of seconds. Validated as seconds.
    case duration(min: Double? = nil, max: Double? = nil)
    case choice([String])
    /// A mapping with these fixed keys.
    case object([ParameterSpec])
    /// A mapping from user-chosen keys to values of one type.
    case map(of: ParameterType, keyName: String, minCount: Int = 0)
    case list(of: ParameterType, minCount: Int = 0)
    /// Any scalar (string, number, bool, null), typed as YAML would read it.
    case scalar
    /// The name of a stage defined in the plan.
    case stageReference
    /// The name of a connection of the given kind.
    case connectionReference(kind: String)
    /// A transform expression such as `upper(response.external_ids.isrc)`.
    case expression
    /// A verify expectation such as `>= 3000` or `== {{ stages.apply.changed }}`.
    case expectation
    /// One ``expectation``, or a mapping from each column a verify query returns to its own.
    case expectations
    /// A regular expression.
    case pattern
    /// A file path that may hold `{timestamp}`, `{date}`, `{run_id}`, `{plan}`.
    case pathTemplate
    /// A number of rows (`10`) or a percentage (`5%`).
    case limit
    /// A percentage, `95%` or `95`, from 0 to 100.
    case percent
    /// A request path or query value that may hold `{field}` placeholders (``RequestTemplate``).
    case requestTemplate
    /// Any YAML value, read as JSON (a request body).
    case json
    /// One of the words, or a mapping with these keys (`match: position` or `match: {item_field: id}`).
    case choiceOr([String], object: [ParameterSpec])

    /// A choice among an enum's raw values: the enum the typed plan holds is the list.
    public static func choice<T: CaseIterable & RawRepresentable>(of _: T.Type) -> ParameterType
    where T.RawValue == String {
        .choice(T.allCases.map(\.rawValue))
    }

    /// How the type reads in the plan reference and in "expected ..." messages.
    public var name: String {
        switch self {
        case .string: return "string"
        case .int(let lo, let hi): return "integer" + Self.range(lo.map(String.init), hi.map(String.init))
        case .double(let lo, let hi):
            return "number" + Self.range(lo.map { JSON.format($0) }, hi.map { JSON.format($0) })
        case .bool: return "true or false"
        case .duration(let lo, let hi):
            return "duration" + Self.range(lo.map(Duration.describe), hi.map(Duration.describe))
        case .choice(let options): return "one of " + options.map { "`\($0)`" }.joined(separator: ", ")
        case .object: return "mapping"
        case .map(let type, let key, _): return "mapping of \(key) to \(type.name)"
        case .list(let type, _): return "list of \(type.name)"
        case .scalar: return "scalar"
        case .stageReference: return "stage name"
        case .connectionReference(let kind): return "name of a \(kind) connection"
        case .expression: return "expression"
        case .expectation: return "expectation"
        case .expectations: return "expectation, or mapping of column to expectation"
        case .pattern: return "regular expression"
        case .pathTemplate: return "path template"
        case .limit: return "number or percentage"
        case .percent: return "percentage"
        case .requestTemplate: return "request template"
        case .json: return "JSON value"
        case .choiceOr(let options, let specs):
            return "one of " + options.map { "`\($0)`" }.joined(separator: ", ") + " or a mapping with "
                + specs.map { "`\($0.name)`" }.joined(separator: ", ")
        }
    }

    private static func range(_ lo: String?, _ hi: String?) -> String {
        switch (lo, hi) {
        case let (l?, h?): return " (\(l)…\(h))"
        case let (l?, nil): return " (≥ \(l))"
        case let (nil, h?): return " (≤ \(h))"
        default: return ""
        }
    }
}

/// One parameter a plan may set: its name, type, default and what it means.
public struct ParameterSpec: Sendable {
    public var name: String
    public var type: ParameterType
    public var required: Bool
    /// Filled in when the plan leaves the parameter out; `nil` means "absent".
    public var defaultValue: Value?
    public var doc: String
    /// Secret values are never written anywhere: the manifest keeps their `${VAR}` form.
    public var secret: Bool

    public init(
        _ name: String, _ type: ParameterType, required: Bool = false, default defaultValue: Value? = nil,
        secret: Bool = false, _ doc: String
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.doc = doc
        self.secret = secret
    }
}

extension Duration {
    /// Parses `0.33s`, `500ms`, `2m`, `1h`, `1m30s` or a bare number of seconds.
    public static func parseSeconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let plain = Double(t), plain.isFinite { return plain }
        var total = 0.0
        var rest = Substring(t)
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix { $0.isLetter }
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "ms": total += value / 1000
            case "s": total += value
            case "m": total += value * 60
            case "h": total += value * 3600
            case "d": total += value * 86400
            default: return nil
            }
        }
        return total.isFinite ? total : nil
    }

    /// The shortest readable form of a number of seconds: `330ms`, `2s`, `10m`.
    public static func describe(_ seconds: Double) -> String {
        // `500ms`, not `500.0ms`.
        func number(_ value: Double) -> String {
            let text = JSON.format(value)
            return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
        }
        if seconds == 0 { return "0s" }
        if seconds < 1 { return number((seconds * 1000 * 1000).rounded() / 1000) + "ms" }
        // (Not through Int: a duration a plan writes may be past its range, `10000000000000000000h`.)
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return number(seconds / 3600) + "h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return number(seconds / 60) + "m" }
        return number(seconds) + "s"
    }
}
