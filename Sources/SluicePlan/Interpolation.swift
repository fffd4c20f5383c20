import SluiceCore

/// `${VAR}` and `${VAR:-default}` substitution from the environment.
///
/// `$$` writes a literal `$`. A missing variable without a default is an error naming the
/// variable and pointing at the `${` that uses it. Variables whose names say they hold a
/// secret (`SECRET`, `PASSWORD`, `TOKEN`, `KEY`, `CREDENTIAL`, or a URL with a password)
/// mark the scalar secret so that nothing Sluice writes ever contains the value.
public struct Interpolator: Sendable {
    public var environment: [String: String]
    /// `sluice check` without the run's environment: an unset variable is a warning and its
    /// scalar is marked ``Scalar/isUnresolved`` instead of an error.
    public var unsetIsWarning = false

    public init(environment: [String: String], unsetIsWarning: Bool = false) {
        self.environment = environment
        self.unsetIsWarning = unsetIsWarning
    }

    /// Interpolates every scalar in `node` (not mapping keys).
    func apply(to node: inout Node, diagnostics: inout DiagnosticBag) {
        switch node.content {
        case .scalar(var scalar):
            node.location.substitutions = interpolate(&scalar, at: node.location, diagnostics: &diagnostics)
            node.content = .scalar(scalar)
        case .sequence(var elements):
            for i in elements.indices { apply(to: &elements[i], diagnostics: &diagnostics) }
            node.content = .sequence(elements)
        case .mapping(var pairs):
            for i in pairs.indices { apply(to: &pairs[i].value, diagnostics: &diagnostics) }
            node.content = .mapping(pairs)
        }
    }

    /// Replaces each `${VAR}` and `$$` in `scalar`.
    /// - Returns: where each replacement stands in the text, for ``SourceLocation/substitutions``.
    @discardableResult
    func interpolate(
        _ scalar: inout Scalar, at location: SourceLocation, diagnostics: inout DiagnosticBag
    ) -> [SourceLocation.Substitution] {
        guard scalar.text.contains("$") else { return [] }
        let chars = Array(scalar.text)
        var out = ""
        var substitutions: [SourceLocation.Substitution] = []
        var i = 0
        while i < chars.count {
            if chars[i] == "$", i + 1 < chars.count, chars[i + 1] == "$" {
                substitutions.append(.init(offset: out.count, length: 1, written: "$$"))
                out.append("$")
                i += 2
                continue
            }
            guard chars[i] == "$", i + 1 < chars.count, chars[i + 1] == "{" else {
                out.append(chars[i])
                i += 1
                continue
            }
            let at = location.advanced(intoValueBy: i)
            guard let close = chars[(i + 2)...].firstIndex(of: "}") else {
                diagnostics.error(
                    "unterminated '${' (expected '}')", at: at,
                    notes: ["write '$$' for a literal '$'"])
                return []
            }
            let body = String(chars[(i + 2)..<close])
            let name: String
            let fallback: String?
            if let range = body.range(of: ":-") {
                name = String(body[..<range.lowerBound])
                fallback = String(body[range.upperBound...])
            } else {
                name = body
                fallback = nil
            }
            guard Self.isValidName(name) else {
                diagnostics.error(
                    "'${\(body)}' is not a valid variable reference", at: at,
                    notes: ["names are letters, digits and '_'; write '${NAME}' or '${NAME:-default}'"])
                return []
            }
            let before = out.count
            if let value = environment[name], !value.isEmpty {
                out += value
                if Redaction.isSecretName(name) || Redaction.hasPassword(value) {
                    scalar.isSecret = true
                    // A URL's password, not the URL (`${SPOTIFY_TOKEN_URL}` names a secret's place).
                    scalar.secretValues += Redaction.secretParts(of: value)
                }
            } else if let fallback {
                out += fallback
                // A default is written in the plan: a secret in it is hidden as one from a variable.
                if Redaction.isSecretName(name) || Redaction.hasPassword(fallback) {
                    scalar.isSecret = true
                    let parts = Redaction.secretParts(of: fallback)
                    scalar.secretValues += parts
                    if !parts.isEmpty { scalar.secretDefaults.append(name) }
                }
            } else {
                let hint = environment[name] == nil ? "is not set" : "is empty"
                var diagnostic = Diagnostic.error(
                    "environment variable '\(name)' \(hint) and has no default", at: at,
                    notes: ["set it, or write '${\(name):-default}'"])
                if unsetIsWarning {
                    diagnostic = .warning(
                        "environment variable '\(name)' \(hint): set it at run time (check --strict makes this an error)",
                        at: at)
                    scalar.isUnresolved = true
                    scalar.unsetVariables.append((out.count, String(chars[i...close])))
                    if Redaction.isSecretName(name) { scalar.isSecret = true }
                }
                diagnostic.code = .unsetVariable(name)
                diagnostics.append(diagnostic)
            }
            substitutions.append(.init(offset: before, length: out.count - before, written: String(chars[i...close])))
            i = close + 1
        }
        scalar.text = out
        return substitutions
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
            first.isASCII
        else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
        }
    }
}
