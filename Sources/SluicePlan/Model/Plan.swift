import SluiceCore

/// A validated plan: typed, defaults filled, overrides applied, ready to run.
public struct Plan: Sendable {
    public var version: Int
    public var name: String
    public var description: String?
    public var connections: [ConnectionDefinition]
    public var stages: [StageDefinition]
    /// The plan file as given on the command line.
    public var path: String
    /// SHA-256 of the plan file's bytes.
    public var sha256: String
    /// The `--set` overrides applied, as given (secrets in clear: keep in memory only).
    public var overrides: [String]
    /// The 1-based positions in ``overrides`` of those that give a secret in clear.
    var secretOverrides: Set<Int> = []
    /// Every secret value the plan holds (keep in memory only): what ``SecretRegistry`` hides
    /// once the plan runs.
    public var secretTexts: [String] = []
    /// Of those, the values of variables named as secrets (and secret defaults) put into the
    /// plan's text: what a request may carry besides its auth (in a header, in the base URL),
    /// which an answer repeating it must hide.
    public var variableSecrets: [String] = []
    /// Warnings found while checking (e.g. a secret written into the file).
    public var warnings: [Diagnostic]
    /// The whole plan after overrides and defaults, with every secret in its `${VAR}` form or
    /// redacted: safe to write to the manifest, and loadable again for replays.
    public var resolved: PlanValue

    /// ``overrides`` as they may be written down or printed: a secret given in clear is
    /// redacted (`connections.db.url=postgresql://app:***@db/music`, `...client_secret=***`).
    public var recordedOverrides: [String] {
        overrides.enumerated().map { index, text in
            guard secretOverrides.contains(index + 1), let eq = text.firstIndex(of: "=") else { return text }
            return text[...eq] + Redaction.redact(String(text[text.index(after: eq)...]))
        }
    }

    /// The keys (`connections.db.url`) of the overrides that give a secret in clear: a
    /// manifest keeps them redacted, so a replay needs them given again.
    public var secretOverrideKeys: [String] {
        overrides.enumerated().compactMap { index, text in
            guard secretOverrides.contains(index + 1), let eq = text.firstIndex(of: "=") else { return nil }
            return String(text[..<eq])
        }
    }

    public func stage(named name: String) -> StageDefinition? { stages.first { $0.name == name } }
    public func connection(named name: String) -> ConnectionDefinition? { connections.first { $0.name == name } }

    /// The stage whose output `stage` reads, or `nil` for a source.
    public func inputStage(of stage: StageDefinition) -> StageDefinition? {
        stage.input.flatMap { self.stage(named: $0) }
    }

    /// One line for `sluice check`.
    public var summary: String {
        let c = connections.count
        return "plan '\(name)': \(stages.count.counted("stage")) (\(flow)), "
            + "\(c.counted("connection"))"
    }

    /// How rows flow between the stages: `query → chunk → fetch`, each source's line of readers
    /// in plan order; where several stages read one, its line ends there and each reader starts
    /// one of its own from it (`fetch → write-csv; fetch → apply → verify`).
    var flow: String {
        var lines: [[String]] = []
        func follow(_ line: [String]) {
            var line = line
            while true {
                let readers = stages.filter { $0.input != nil && $0.input == line.last }
                guard readers.count == 1, let reader = readers.first else {
                    lines.append(line)
                    for reader in readers { follow([line[line.count - 1], reader.name]) }
                    return
                }
                line.append(reader.name)
            }
        }
        for source in stages where source.input == nil { follow([source.name]) }
        return lines.map { $0.joined(separator: " → ") }.joined(separator: "; ")
    }
}

/// The kinds of connection a plan may define.
public enum ConnectionKind: String, Sendable, CaseIterable {
    case postgres, http
}

/// A connection's parameters, by kind.
public enum ConnectionConfiguration: Sendable {
    case postgres(PostgresSettings)
    case http(HTTPSettings)

    public var kind: ConnectionKind {
        switch self {
        case .postgres: return .postgres
        case .http: return .http
        }
    }
}

/// A named connection from the plan's `connections` section.
public struct ConnectionDefinition: Sendable {
    public var name: String
    public var configuration: ConnectionConfiguration
    /// Every parameter as validated (secrets in clear: keep in memory only).
    public var parameters: PlanValue
    public var location: SourceLocation
    /// Where its `url` was written: in the plan file, or in a `--set`.
    public var urlLocation: SourceLocation?

    public var kind: ConnectionKind { configuration.kind }

    /// The connection's secrets, each with the key that holds it (`url`, `auth.client_secret`,
    /// `headers.X-Api-Key`).
    public var secrets: [(key: String, secret: Secret)] {
        switch configuration {
        case .postgres(let settings):
            return [("url", settings.url)]
        case .http(let settings):
            var secrets = settings.headers.map { ("headers.\($0.0)", $0.1) }
            switch settings.auth {
            case .oauth2(let oauth2)?: secrets.append(("auth.client_secret", oauth2.clientSecret))
            case .bearer(let token)?: secrets.append(("auth.token", token))
            case .basic(let username, let password)?:
                secrets += [("auth.username", username), ("auth.password", password)]
            case .apiKey(_, _, let key)?: secrets.append(("auth.key", key))
            case nil: break
            }
            return secrets
        }
    }

    public var postgres: PostgresSettings? {
        if case .postgres(let s) = configuration { s } else { nil }
    }

    public var http: HTTPSettings? {
        if case .http(let s) = configuration { s } else { nil }
    }
}

/// A value that must never be printed, logged or written. Its description is `***`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; use only where it is needed (a connection, a request header).
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "***" }
    public var debugDescription: String { "Secret(***)" }
    /// The text with any password masked (for URLs and conninfo strings, which stay readable).
    public var redacted: String { Redaction.redact(value) }
}

public struct PostgresSettings: Sendable {
    public var url: Secret
    public var connectTimeout: Double
    public var statementTimeout: Double?
}

public struct HTTPSettings: Sendable {
    public var baseURL: String
    public var auth: HTTPAuthSettings?
    public var headers: [(String, Secret)]
}

/// How an http connection's requests authenticate.
public enum HTTPAuthSettings: Sendable {
    case oauth2(OAuth2Settings)
    case bearer(token: Secret)
    /// HTTP Basic: a user name and its password.
    case basic(username: Secret, password: Secret)
    /// An API key in the header, query parameter or JSON body member `name`.
    case apiKey(name: String, place: APIKeyPlace, key: Secret)

    /// The client credentials, when the kind is `oauth2-client-credentials`.
    public var oauth2: OAuth2Settings? { if case .oauth2(let s) = self { s } else { nil } }

    /// The plan's spelling of each kind.
    public static let kinds = ["oauth2-client-credentials", "bearer", "api-key", "basic"]

    /// The keys each kind needs, and those it may have besides.
    public static func keys(of kind: String) -> (required: [String], optional: [String]) {
        switch kind {
        case "oauth2-client-credentials":
            return (["token_url", "client_id", "client_secret"], ["scope", "audience", "client_auth"])
        case "bearer": return (["token"], [])
        case "basic": return (["username", "password"], [])
        case "api-key": return (["key"], APIKeyPlace.allCases.map(\.rawValue))
        default: return ([], [])
        }
    }
}

/// Where an `api-key` auth puts the key: the plan key that names it.
public enum APIKeyPlace: String, Sendable, CaseIterable {
    case header
    case query = "query_param"
    /// A member of a `POST`'s JSON object body, added as the request leaves.
    case body = "body_field"
}

public struct OAuth2Settings: Sendable {
    public var tokenURL: String
    public var clientID: String
    public var clientSecret: Secret
    /// The token request's `scope` and `audience` form fields, when set.
    public var scope: String?
    public var audience: String?
    /// Where the client id and secret go: `basic` (an `Authorization: Basic` header) or `body`
    /// (form fields, `client_secret_post`).
    public var clientAuth: String

    /// The ways ``clientAuth`` may be written.
    public static let clientAuths = ["basic", "body"]
}

/// One stage of the plan.
public struct StageDefinition: Sendable {
    public var name: String
    /// The stage's parameters, typed.
    public var configuration: StageConfiguration
    /// The stage this one reads from; `nil` for a source.
    public var input: String?
    public var requiresApproval: Bool
    /// Batches buffered on this stage's output edge.
    public var buffer: Int
    /// Every parameter after defaults and overrides, with secrets redacted: for the manifest.
    public var redactedParameters: PlanValue
    public var location: SourceLocation
    /// Where each parameter given was written, by its path in the stage (`max_changed`,
    /// `columns.isrc.max_cleared`): in the plan file, or in a `--set`.
    public var parameterLocations: [String: SourceLocation] = [:]

    public var kind: StageKind { configuration.kind }
}
