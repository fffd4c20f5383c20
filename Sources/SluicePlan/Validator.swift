import Foundation
import SluiceCore

/// Checks a node tree against the ``Schema`` and produces typed, ordered values.
///
/// It never stops at the first problem: every diagnostic goes into the bag, and a value
/// that is wrong is left out so later checks can go on.
struct Validator {
    var diagnostics = DiagnosticBag()
    /// Where each validated value was written, by dotted path (`stages.chunk.size`).
    private(set) var locations: [String: SourceLocation] = [:]
    /// The paths of ``locations`` in the order they were met: a stage's are the ones met while
    /// it was checked.
    private(set) var locatedPaths: [String] = []
    mutating func locate(_ path: String, at location: SourceLocation) {
        if locations.updateValue(location, forKey: path) == nil { locatedPaths.append(path) }
    }

    /// The secret texts met (a client secret, a URL's password, a secret variable's value), so
    /// that diagnostics quoting the plan can hide them.
    var secretTexts: Set<String> = []
    /// Of those, the values of variables named as secrets (and secret defaults) interpolated
    /// into the plan's text (``Scalar/secretValues``).
    var variableSecrets: Set<String> = []
    /// The `--set` arguments (by their 1-based order) that hold a secret literally, not as `${VAR}`.
    var secretOverrides: Set<Int> = []
    /// Every expression and expectation, parsed once here, by dotted path: decoding the typed
    /// plan takes them from this table rather than parsing the text again.
    var parsed: [String: Parsed] = [:]
    /// Where an expectation's `{{ stages.NAME.COUNTER }}` names its stage and its counter, by the
    /// expectation's path (its start when the scalar's text is not its source's).
    var counterReferences: [String: (stage: SourceLocation, counter: SourceLocation)] = [:]
    /// The paths of the values that stand in for a `${VAR}` not set (``Scalar/isUnresolved``):
    /// checks of what the value says wait for the run.
    var unresolved: Set<String> = []
    /// The paths of the values the plan gave that did not check (each reported), and of the
    /// keys an unknown key looks like a misspelling of: what the plan means there is not known.
    /// A value with a default stands in as that default, so that its stage still decodes and is
    /// still checked, and its fields still followed into the stages after it; a check whose
    /// verdict depends on the value itself waits until it is mended (``PlanChecker/isStandIn(_:in:)``).
    private(set) var standIns: Set<String> = []

    /// Where the first `count` values of the list at `path` were written: an item that did not
    /// check (and was reported, a ``standIns`` path) is not among them, so the ones after it sit
    /// further down the list.
    static func writtenIndices(_ count: Int, in path: String, standIns: Set<String>) -> [Int] {
        var written: [Int] = []
        var index = 0
        while written.count < count {
            if !standIns.contains("\(path)[\(index)]") { written.append(index) }
            index += 1
        }
        return written
    }

    /// A scalar whose text the validator had to parse to check it.
    enum Parsed {
        case expression(Expression)
        case expectation(Expectation)
    }

    /// A validated value and its redacted twin (secrets replaced by their `${VAR}` form).
    struct Checked {
        var value: PlanValue
        var redacted: PlanValue
    }

    // MARK: Objects

    /// Validates a mapping against fixed keys, filling defaults. `skip` keys are checked elsewhere.
    mutating func object(
        _ node: Node, specs: [ParameterSpec], path: String, what: String, skip: Set<String> = []
    ) -> Checked? {
        guard let pairs = mapping(node, what: what) else { return nil }
        var seen: [String: SourceLocation] = [:]
        // Keys given empty (`key:`, "use the default") or with a value that did not check, which
        // stands in as the default too.
        var defaulted: Set<String> = []
        // Keys an unknown key looks like a misspelling of: reported there, not as missing too.
        var misspelt: Set<String> = []
        var values: [PlanValue.Entry] = []
        var redacted: [PlanValue.Entry] = []
        let byName = Dictionary(specs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for pair in pairs {
            guard let key = keyText(pair.key) else { continue }
            if let first = seen[key] {
                diagnostics.error(
                    "duplicate key '\(key)' in \(what)", at: pair.key.location,
                    notes: ["'\(key)' was first set at line \(first.line), column \(first.column)"],
                    code: .duplicateKey(key))
                continue
            }
            seen[key] = pair.key.location
            if skip.contains(key) { continue }
            guard let spec = byName[key] else {
                // (A key checked elsewhere may have a spec too: each is named once.)
                var named = Set<String>()
                let known = (specs.map(\.name) + skip).filter { named.insert($0).inserted }
                if let meant = Suggestion.nearest(to: key, in: known) { misspelt.insert(meant) }
                // A key holding a character that shows as nothing (`si\u{200B}ze`, pasted) would
                // read as the key it is not: it is written with the character's code.
                let shown = key.unicodeScalars.map { $0.isInvisible ? $0.escapedCode : String($0) }.joined()
                diagnostics.error(
                    "unknown key '\(shown)' in \(what)", at: pair.key.location,
                    notes: Suggestion.note(for: key, in: known)
                        + ["expected one of: " + known.joined(separator: ", ")], code: .unknownKey(key))
                continue
            }
            let childPath = path + "." + key
            if let scalar = pair.value.scalar, scalar.isNull, !scalar.isQuoted {
                // `key:` with nothing after it means "use the default".
                if spec.required {
                    diagnostics.error(
                        "'\(key)' in \(what) needs a value", at: pair.value.location, code: .missingKey(key))
                }
                defaulted.insert(key)
                continue
            }
            locate(childPath, at: pair.value.location)
            guard
                let checked = value(
                    pair.value, spec.type, path: childPath, what: "'\(key)' in \(what)",
                    secret: spec.secret)
            else {
                standIns.insert(childPath)
                defaulted.insert(key)
                continue
            }
            values.append(.init(key, checked.value))
            redacted.append(.init(key, checked.redacted))
        }
        for meant in misspelt where seen[meant] == nil { standIns.insert(path + "." + meant) }
        for spec in specs where seen[spec.name] == nil || defaulted.contains(spec.name) {
            if spec.required {
                if !defaulted.contains(spec.name), !misspelt.contains(spec.name) {
                    diagnostics.error(
                        "\(what) is missing required key '\(spec.name)' (\(spec.type.name))",
                        at: node.location, notes: [spec.doc], code: .missingKey(spec.name))
                }
                // A stage's setting that is not known (missing, misspelt or not checked: reported)
                // stands in, as one with a default does, so that its other settings are still checked.
                if path.hasPrefix("stages."), !skip.contains(spec.name) {
                    let filled = requiredStandIn(spec.type, path: path + "." + spec.name)
                    values.append(.init(spec.name, filled))
                    redacted.append(.init(spec.name, filled))
                }
            } else if let d = spec.defaultValue, !skip.contains(spec.name) {
                let filled = Self.defaultValue(d, spec.type)
                values.append(.init(spec.name, filled))
                redacted.append(.init(spec.name, filled))
            }
        }
        return Checked(value: .map(values), redacted: .map(redacted))
    }

    /// What stands in for a required value at `path` that the plan gives but that is not known
    /// (reported where it is written): its type's plainest value (an expectation that holds), so
    /// that its object decodes. It is a ``standIns`` path: a check of what it says waits until it
    /// is mended.
    mutating func requiredStandIn(_ type: ParameterType, path: String) -> PlanValue {
        standIns.insert(path)
        switch type {
        case .map: return .map([])
        case .list: return .list([])
        case .expectation, .expectations:
            parsed[path] = .expectation(Expectation(comparison: .equal, operand: .number(0), factor: 1))
            return .scalar(.string(""))
        default: return .scalar(Self.standIn(for: type, text: ""))
        }
    }

    /// A schema default in the same shape a written value would validate to.
    static func defaultValue(_ d: Value, _ type: ParameterType) -> PlanValue {
        switch (d, type) {
        case (.array(let a), _): return .list(a.map { .scalar($0) })
        case (.object(let o), _): return .map(o.keys.sorted().map { .init($0, .scalar(o[$0]!)) })
        case (.int(let i), .duration), (.int(let i), .double): return .scalar(.double(Double(i)))
        default: return .scalar(d)
        }
    }

    /// `node`'s pairs; else an error. `listed`: for a list of names given where a mapping of
    /// them is wanted, the mapping it could be, from the names.
    mutating func mapping(_ node: Node, what: String, listed: (([String]) -> String)? = nil) -> [Node.Pair]? {
        guard let pairs = node.pairs else {
            var notes: [String] = []
            if let listed, let items = node.elements, !items.isEmpty {
                let names = items.compactMap { $0.scalar?.text }
                if names.count == items.count { notes.append("name each one as a key: " + listed(names)) }
            }
            diagnostics.error(
                "\(what) must be a mapping (key: value lines), found \(node.kindDescription)",
                at: node.location, notes: notes)
            return nil
        }
        return pairs
    }

    mutating func keyText(_ key: Node) -> String? {
        guard let s = key.scalar else {
            diagnostics.error("keys must be plain names, found \(key.kindDescription)", at: key.location)
            return nil
        }
        return s.text
    }

    // MARK: Values

    mutating func value(_ node: Node, _ type: ParameterType, path: String, what: String, secret: Bool) -> Checked? {
        switch type {
        case .object(let specs):
            return object(node, specs: specs, path: path, what: what)
        case .choiceOr(_, let specs) where node.pairs != nil:
            return object(node, specs: specs, path: path, what: what)
        case .json where node.pairs != nil:
            return value(node, .map(of: .json, keyName: "key"), path: path, what: what, secret: secret)
        case .expectations where node.pairs != nil:
            guard node.pairs?.isEmpty == false else {
                diagnostics.error(
                    "\(what) names no column: give each column the query returns its expectation, or write one "
                        + "expectation for a query returning one number",
                    at: node.location, code: .invalidValue(path: path))
                return nil
            }
            return value(node, .map(of: .expectation, keyName: "column"), path: path, what: what, secret: secret)
        case .expectations where node.scalar != nil:
            return value(node, .expectation, path: path, what: what, secret: secret)
        case .json where node.elements != nil:
            return value(node, .list(of: .json), path: path, what: what, secret: secret)
        case .map(let elementType, let keyName, let minCount):
            // `columns: [a, b]` where each column takes settings: `{a: {}, b: {}}` with the defaults.
            let listed: (([String]) -> String)? =
                if case .object = elementType {
                    { names in "{" + names.map { "\($0): {}" }.joined(separator: ", ") + "}" }
                } else { nil }
            guard let pairs = mapping(node, what: what, listed: listed) else { return nil }
            if pairs.count < minCount {
                diagnostics.error(
                    "\(what) needs at least \(minCount == 1 ? "one \(keyName)" : "\(minCount) \(keyName)s")",
                    at: node.location, code: .invalidValue(path: path))
            }
            var seen: [String: SourceLocation] = [:]
            var values: [PlanValue.Entry] = [], redacted: [PlanValue.Entry] = []
            for pair in pairs {
                guard let key = keyText(pair.key) else { continue }
                if let first = seen[key] {
                    diagnostics.error(
                        "duplicate \(keyName) '\(key)' in \(what)", at: pair.key.location,
                        notes: ["first set at line \(first.line), column \(first.column)"], code: .duplicateKey(key))
                    continue
                }
                seen[key] = pair.key.location
                // `"": ...` names nothing: no table column, field, header or parameter is called that.
                if key.isEmpty {
                    diagnostics.error(
                        "empty \(keyName.hasSuffix("name") ? keyName : keyName + " name") in \(what)",
                        at: pair.key.location, code: .invalidValue(path: path))
                    // What the mapping was meant to hold is not known: nothing that follows from it is said.
                    standIns.insert(path)
                    continue
                }
                let childPath = path + "." + key
                locate(childPath, at: pair.value.location)
                // A verify column's expectation says whose it is; settings say so in their keys' own.
                var childWhat = "\(keyName) '\(key)'"
                if case .expectation = elementType { childWhat += " of \(what)" }
                guard let c = value(pair.value, elementType, path: childPath, what: childWhat, secret: secret)
                else {
                    standIns.insert(childPath)
                    continue
                }
                values.append(.init(key, c.value))
                redacted.append(.init(key, c.redacted))
            }
            return Checked(value: .map(values), redacted: .map(redacted))
        case .list(let elementType, let minCount):
            guard let elements = node.elements else {
                diagnostics.error(
                    "\(what) must be a list, found \(node.kindDescription)", at: node.location,
                    code: .invalidValue(path: path))
                return nil
            }
            if elements.count < minCount {
                diagnostics.error(
                    "\(what) needs at least \(minCount.counted("item"))", at: node.location)
            }
            var values: [PlanValue] = [], redacted: [PlanValue] = []
            for (i, element) in elements.enumerated() {
                let childPath = "\(path)[\(i)]"
                locate(childPath, at: element.location)
                guard
                    let c = value(
                        element, elementType, path: childPath, what: "item \(i + 1) of \(what)", secret: secret)
                else {
                    standIns.insert(childPath)
                    continue
                }
                values.append(c.value)
                redacted.append(c.redacted)
            }
            return Checked(value: .list(values), redacted: .list(redacted))
        default:
            guard let scalar = node.scalar else {
                // `--set fetch.id_prefix=ISBN:` reads as YAML, a mapping: quoting it gives the text.
                let quote =
                    node.location.source.name == "--set"
                    ? ["a --set value is read as YAML; to give it as text, quote it: --set '\(path)=\"...\"'"] : []
                diagnostics.error(
                    "\(what) must be \(article(type.name)), found \(node.kindDescription)", at: node.location,
                    notes: quote, code: .invalidValue(path: path))
                // As one that does not parse: a transform's field is still one of its fields.
                guard case .expression = type else { return nil }
                parsed[path] = .expression(.literal(.null))
                return Checked(value: .scalar(.string("")), redacted: .scalar(.string("")))
            }
            if scalar.isSecret || secret { noteSecret(scalar, at: node.location) }
            guard let v = self.scalar(scalar, type, path: path, at: node.location, what: what) else { return nil }
            return Checked(value: .scalar(v), redacted: .scalar(redact(scalar, typed: v, secret: secret)))
        }
    }

    /// Remembers what of `scalar` is secret (all of it, or a URL's password), and whether a
    /// `--set` argument wrote it in clear.
    mutating func noteSecret(_ scalar: Scalar, at location: SourceLocation) {
        // An interpolation that did not resolve (`${DATABASE_URL` unclosed) is its own text, no
        // secret: hiding it would hide the mistake being reported.
        let parts = (Redaction.secretParts(of: scalar.text) + scalar.secretValues).filter { !$0.contains("${") }
        guard !parts.isEmpty else { return }
        secretTexts.formUnion(parts)
        variableSecrets.formUnion(scalar.secretValues.filter { !$0.contains("${") })
        if location.source.name == "--set", scalar.raw == scalar.text { secretOverrides.insert(location.source.order) }
    }

    /// The form of a scalar that may be written to disk.
    func redact(_ scalar: Scalar, typed: Value, secret: Bool) -> Value {
        guard case .string = typed else { return typed }
        if scalar.isSecret || secret {
            // Keep `${VAR}`, never the value, nor a secret the plan wrote as its default.
            if scalar.raw != scalar.text {
                return .string(Redaction.masking(scalar.secretValues, in: scalar.raw, anywhere: true))
            }
            if secret { return .string(Redaction.redact(scalar.text)) }
        }
        // Escape `$` so loading the resolved plan back does not interpolate twice.
        return .string(scalar.text.replacingOccurrences(of: "$", with: "$$"))
    }

    func article(_ name: String) -> String {
        let vowels: Set<Character> = ["a", "e", "i", "o", "u"]
        if name.hasPrefix("one of") || name.hasPrefix("true") || name.hasPrefix("name") { return name }
        return (vowels.contains(name.first ?? "x") ? "an " : "a ") + name
    }

    /// A value of `type` for a scalar whose `${VAR}` is not set yet (see ``Scalar/isUnresolved``):
    /// the run checks the real one.
    static func standIn(for type: ParameterType, text: String) -> Value {
        switch type {
        case .int(let lo, _): return .int(lo ?? 0)
        case .double(let lo, _), .duration(let lo, _): return .double(lo ?? 0)
        case .bool: return .bool(false)
        case .choice(let choices): return .string(choices.first ?? text)
        default: return .string(text)
        }
    }

    mutating func scalar(
        _ s: Scalar, _ type: ParameterType, path: String, at location: SourceLocation, what: String
    ) -> Value? {
        let text = s.text
        if s.isUnresolved {
            unresolved.insert(path)
            switch type {
            case .expression:
                parsed[path] = .expression(
                    expressionWithStandIns(s, at: location, path: path, what: what) ?? .literal(.null))
            case .expectation:
                parsed[path] = .expectation(Expectation(comparison: .equal, operand: .number(0), factor: 1))
            default: break
            }
            return Self.standIn(for: type, text: text)
        }
        func wrong(_ extra: [String] = []) -> Value? {
            diagnostics.error(
                "\(what) must be \(article(type.name)), found '\(text.prefix(60))'", at: location,
                notes: extra, code: .invalidValue(path: path))
            return nil
        }
        switch type {
        case .string, .stageReference, .connectionReference, .pathTemplate:
            if text.isEmpty, !s.isQuoted { return wrong() }
            return .string(text)
        case .int(let lo, let hi):
            let cleaned = text.replacingOccurrences(of: "_", with: "")
            guard let i = Int64(cleaned) else {
                if let d = Double(cleaned), d.rounded() == d, abs(d) < 9e18 {
                    return checkRange(Int64(d), lo, hi, path: path, at: location, what: what).map { .int($0) }
                }
                return wrong()
            }
            return checkRange(i, lo, hi, path: path, at: location, what: what).map { .int($0) }
        case .double(let lo, let hi):
            guard let d = Double(text), d.isFinite else { return wrong() }
            return checkRange(d, lo, hi, path: path, at: location, what: what).map { .double($0) }
        case .bool:
            switch text {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            case "yes", "no", "on", "off", "y", "n":
                return wrong(["write true or false; '\(text)' is ambiguous"])
            default: return wrong()
            }
        case .duration(let lo, let hi):
            guard let seconds = Duration.parseSeconds(text), seconds >= 0 else {
                return wrong(["durations look like 0.33s, 500ms, 2m, 1h or a number of seconds"])
            }
            // In the unit it was written in: `99999999999999h` is not `3.599999999999964e+17s`.
            let given = text.last?.isLetter == true ? text : Duration.describe(seconds)
            if let lo, seconds < lo {
                diagnostics.error(
                    "\(what) is \(given), below the minimum \(Duration.describe(lo))",
                    at: location, code: .outOfRange(path: path))
                return nil
            }
            if let hi, seconds > hi {
                diagnostics.error(
                    "\(what) is \(given), above the maximum \(Duration.describe(hi))",
                    at: location, code: .outOfRange(path: path))
                return nil
            }
            return .double(seconds)
        case .limit:
            if let rows = Int64(text), rows >= 0 { return .int(rows) }
            if text.hasSuffix("%"), let percent = Double(text.dropLast()), percent.isFinite {
                if (0...100).contains(percent) { return .string(text) }
                diagnostics.error(
                    "\(what) is \(text), past 100%: a percentage is from 0% to 100%",
                    at: location, notes: ["to allow any share, leave it out"],
                    code: .invalidValue(path: path))
                return nil
            }
            return wrong(["write a number (10) or a percentage (5%)"])
        case .percent:
            // With its sign only: a bare 0.95 is as likely meant as 95% as 0.95%.
            guard text.hasSuffix("%"), let percent = Double(text.dropLast()), percent.isFinite,
                (0...100).contains(percent)
            else {
                // A bare number that could be one: both readings when it could be a fraction.
                let bare = Double(text).flatMap { number -> [String]? in
                    guard (0...100).contains(number) else { return nil }
                    return number > 0 && number <= 1
                        ? ["write it with its sign: \(Expectation.format(number * 100))% or \(text)%"]
                        : ["write it with its sign: \(text)%"]
                }
                return wrong(bare ?? ["write a percentage from 0% to 100%"])
            }
            return .double(percent)
        case .choice(let options):
            guard options.contains(text) else {
                diagnostics.error(
                    "\(what) must be one of \(options.joined(separator: ", ")), found '\(text.prefix(60))'",
                    at: location, notes: Suggestion.note(for: text, in: options), code: .invalidValue(path: path))
                return nil
            }
            return .string(text)
        case .choiceOr(let options, let specs):
            guard options.contains(text) else {
                // The mapping form is a choice too: name it with the others.
                let mapping = "{" + specs.map { "\($0.name): ..." }.joined(separator: ", ") + "}"
                diagnostics.error(
                    "\(what) must be one of \(options.joined(separator: ", ")), or a mapping \(mapping); "
                        + "found '\(text.prefix(60))'",
                    at: location, notes: Suggestion.note(for: text, in: options), code: .invalidValue(path: path))
                return nil
            }
            return .string(text)
        case .requestTemplate:
            guard
                parse(
                    s, at: location, path: path, what: what,
                    { () throws(RequestTemplate.ParseError) in
                        try RequestTemplate(text)
                    }) != nil
            else { return nil }
            return .string(text)
        case .scalar, .json:
            if s.isQuoted { return .string(text) }
            if s.isNull { return .null }
            if let i = Int64(text) { return .int(i) }
            if let d = Double(text), d.isFinite, text.contains(where: { $0 == "." || $0 == "e" }) { return .double(d) }
            if text == "true" { return .bool(true) }
            if text == "false" { return .bool(false) }
            return .string(text)
        // One that does not parse is reported and stands in as a constant, which reads no field
        // and names no stage: the stage still decodes, so the plan's other checks still run.
        case .expression:
            let e = parse(
                s, at: location, path: path, what: what,
                { () throws(Expression.ParseError) in
                    try Expression.parse(text)
                })
            parsed[path] = .expression(e ?? .literal(.null))
            return .string(text)
        case .expectation:
            let e = parse(
                s, at: location, path: path, what: what,
                { () throws(Expectation.ParseError) in
                    try Expectation.parse(text)
                })
            parsed[path] = .expectation(e ?? Expectation(comparison: .equal, operand: .number(0), factor: 1))
            if case .stageCounter(let stage, _) = e?.operand, let at = text.range(of: "stages.\(stage).") {
                let offset = text.distance(from: text.startIndex, to: at.lowerBound) + "stages.".count
                counterReferences[path] = (
                    innerLocation(s, location, offset), innerLocation(s, location, offset + stage.count + 1)
                )
            }
            return .string(text)
        case .pattern:
            do {
                _ = try Regex(text)
            } catch {
                diagnostics.error(
                    "\(what) is not a valid regular expression: \(error)", at: location, code: .invalidValue(path: path)
                )
                return nil
            }
            // A pattern must match the whole text: a line break at its end (what a YAML block
            // scalar, `>` or `|`, keeps) would make it match nothing a field holds.
            if text.last?.isNewline == true {
                diagnostics.error(
                    "\(what) ends with a line break, so it matches no value on one line (a YAML block scalar "
                        + "'>' or '|' keeps one: write '>-' or '|-', or quote the pattern)",
                    at: location, code: .invalidValue(path: path))
                return nil
            }
            return .string(text)
        case .object, .map, .list, .expectations:
            return nil
        }
    }

    /// What `parse` makes of a scalar's text; a failure is reported at the character it names.
    mutating func parse<T, E: TextParseError>(
        _ s: Scalar, at location: SourceLocation, path: String, what: String, _ parse: () throws(E) -> T
    ) -> T? {
        do {
            return try parse()
        } catch {
            diagnostics.error(
                "\(what): \(error.message)", at: innerLocation(s, location, error.offset), notes: error.notes,
                code: .invalidValue(path: path))
            return nil
        }
    }

    /// The location of character `offset` inside a scalar (exact for single-line scalars).
    func innerLocation(_ s: Scalar, _ location: SourceLocation, _ offset: Int) -> SourceLocation {
        guard s.style == .plain || s.isQuoted else { return location }
        return location.advanced(intoValueBy: offset)
    }

    mutating func checkRange<T: Comparable & CustomStringConvertible>(
        _ v: T, _ lo: T?, _ hi: T?, path: String, at location: SourceLocation, what: String
    ) -> T? {
        if let lo, v < lo {
            diagnostics.error("\(what) is \(v), below the minimum \(lo)", at: location, code: .outOfRange(path: path))
            return nil
        }
        if let hi, v > hi {
            diagnostics.error("\(what) is \(v), above the maximum \(hi)", at: location, code: .outOfRange(path: path))
            return nil
        }
        return v
    }
}
