import Foundation
import SluiceCore
internal import SluicePostgres

/// Loads a plan file: read, parse, apply `--set` overrides, interpolate `${VAR}`, validate,
/// cross-check, and build the typed ``Plan``.
///
/// Every problem found is reported together in one ``PlanError``; nothing is executed.
public struct PlanLoader: Sendable {
    public var environment: [String: String]
    public var reader = YAMLReader()
    /// Whether a `${VAR}` that is not set is a warning (`sluice check` and `graph`, which need
    /// no credentials) rather than an error (`run`, `check --strict`).
    public var unsetVariablesAreWarnings = false
    /// The plan is one a run recorded (a manifest's `resolved_plan`), checked when it ran: its
    /// per-item fetches may list the batch keys' defaults, as manifests written before the
    /// resolved plan left them out did (see ``PlanChecker/batchOnlyKeys``).
    public var isRecorded = false
    /// The first overrides given to ``load(bytes:path:overrides:)`` are this many that a
    /// replayed run recorded: a diagnostic numbers the command's own `--set` from 1 all the same.
    public var recordedOverrides = 0
    /// Read the header of each `read-csv` stage's file (relative to the working directory): its
    /// fields are then known to the checks of the stages after it, its `columns` are checked
    /// against it, and a file that is not there is a warning. Blocking file I/O: for callers
    /// that load the plan on a thread of their own (the CLI does).
    public var readsCSVHeaders = false

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads the plan at `path`.
    public func load(path: String, overrides: [String] = []) throws(PlanError) -> Plan {
        let bytes: [UInt8]
        do {
            let url = URL(fileURLWithPath: path)
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if (attributes[.type] as? FileAttributeType) == .typeDirectory {
                throw PlanError([.error("\(path) is a directory, not a plan file", at: nil)])
            }
            // A pipe (`<(...)`), a device or a socket: Foundation reads none, and says "permission
            // denied" of it. (stat follows a link such as /dev/fd/63 to what it names.)
            if let what = Self.notAFile(path) {
                throw PlanError([
                    .error(
                        "cannot read plan \(path): it is \(what), not a file", at: nil,
                        notes: ["save the plan to a file and give its path"])
                ])
            }
            if let size = attributes[.size] as? Int, size > reader.maxBytes {
                let source = SourceText(name: path, text: "")
                throw PlanError([
                    .error(
                        ByteCount.tooLarge(size, limit: reader.maxBytes),
                        at: SourceLocation(source: source, line: 1, column: 1),
                        notes: ["is this the right file?"])
                ])
            }
            bytes = Array(try Data(contentsOf: url))
        } catch let error as PlanError {
            throw error
        } catch {
            throw PlanError([.error("cannot read plan \(path): \(Self.reason(error))", at: nil)])
        }
        return try load(bytes: bytes, path: path, overrides: overrides)
    }

    /// What `path` names when it is there but is no regular file or directory: "a named pipe",
    /// "a device", "a socket"; `nil` otherwise.
    static func notAFile(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        switch status.st_mode & S_IFMT {
        case S_IFIFO: return "a named pipe"
        case S_IFCHR, S_IFBLK: return "a device"
        case S_IFSOCK: return "a socket"
        default: return nil
        }
    }

    public static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileReadNoSuchFileError { return "no such file" }
        if ns.domain == NSCocoaErrorDomain, ns.code == NSFileReadNoPermissionError { return "permission denied" }
        return ns.localizedDescription
    }

    /// Loads a plan from bytes; `path` names it in diagnostics.
    public func load(bytes: [UInt8], path: String, overrides: [String] = []) throws(PlanError) -> Plan {
        let text = String(decoding: bytes, as: UTF8.self)
        let source = SourceText(name: path, text: text)
        let start = SourceLocation(source: source, line: 1, column: 1)
        let parsed: Node?
        do {
            parsed = try reader.read(bytes, source: source)
        } catch {
            throw PlanError(error.diagnostics.map { $0.hiding([]) })
        }
        guard var root = parsed else {
            throw PlanError([
                .error("plan is empty", at: start, notes: ["a plan needs at least 'version: 1', 'name' and 'stages'"])
            ])
        }
        if let s = root.scalar, s.isNull {
            throw PlanError([.error("plan is empty", at: start)])
        }
        var bag = DiagnosticBag()
        Overrides.apply(overrides, recorded: recordedOverrides, to: &root, reader: reader, diagnostics: &bag)
        Interpolator(environment: environment, unsetIsWarning: unsetVariablesAreWarnings)
            .apply(to: &root, diagnostics: &bag)

        var checker = PlanChecker(
            validator: Validator(), diagnostics: bag, isRecorded: isRecorded,
            readsCSVHeaders: readsCSVHeaders && !isRecorded, environment: environment)
        let plan = checker.check(root, path: path, sha256: SHA256.hex(bytes), overrides: overrides)
        let hidden = checker.validator.secretTexts.sorted()
        let all = checker.diagnostics.sorted.map { $0.hiding(hidden) }
        if all.contains(where: { $0.severity == .error }) || plan == nil { throw PlanError(all) }
        var result = plan!
        result.warnings = all.filter { $0.severity != .error }
        result.secretOverrides = checker.validator.secretOverrides
        result.secretTexts = hidden
        result.variableSecrets = checker.validator.variableSecrets.sorted()
        return result
    }
}

/// Validates the plan's top level, connections and stages, then the references between them.
struct PlanChecker {
    var validator: Validator
    var diagnostics: DiagnosticBag
    /// See ``PlanLoader/isRecorded``.
    var isRecorded = false
    /// See ``PlanLoader/readsCSVHeaders``.
    var readsCSVHeaders = false
    /// What each read-csv path holds, read once.
    var csvHeaders: [String: CSVHeader.Outcome] = [:]
    /// The plan's `name`, once checked: a write-csv path's `{plan}`.
    var planName: String?
    /// The environment the plan is loaded in: libpq reads `PGSSLMODE` from it as the run connects.
    var environment: [String: String] = [:]

    /// A fetch's keys that only a batch request reads: a per-item fetch (a path with
    /// placeholders) may not give them, and its resolved plan leaves out their defaults.
    static let batchOnlyKeys = [
        "ids_param", "id_separator", "ids_repeat", "id_prefix", "max_ids", "match", "body", "fallback_path",
    ]
    /// The keys only a GET batch (ids in a query parameter) reads.
    static let queryBatchKeys = ["ids_param", "id_separator", "ids_repeat"]
    /// The longest stage name: the run's files named after a stage (``RunFileNames``) stay well
    /// inside a file name's 255 bytes.
    static let maximumStageNameLength = 100

    mutating func check(_ root: Node, path: String, sha256: String, overrides: [String]) -> Plan? {
        defer { diagnostics.append(contentsOf: validator.diagnostics.diagnostics) }
        guard root.pairs != nil else {
            validator.diagnostics.error(
                "a plan must be a mapping with 'version', 'name' and 'stages', found \(root.kindDescription)",
                at: root.location)
            return nil
        }
        guard
            let top = validator.object(
                root, specs: Schema.planKeys, path: "", what: "the plan",
                skip: ["connections", "stages"])
        else { return nil }

        planName = top.value["name"]?.string
        let connections = checkConnections(root["connections"])
        let stages = checkStages(root["stages"], planLocation: root.location)
        crossCheck(stages: stages, connections: connections)
        warnUnreadOutputs(of: stages)
        refuseSecretNames(root)
        refuseSecretData(root)

        var resolvedEntries = top.redacted.entries
        resolvedEntries.append(.init("connections", .map(connections.map { .init($0.name, $0.redacted) })))
        resolvedEntries.append(.init("stages", .list(stages.map(\.redacted))))

        let definitions = stages.compactMap(\.definition)
        guard let version = top.value["version"]?.int, let name = top.value["name"]?.string,
            definitions.count == stages.count
        else {
            // A value left out was reported where it was written.
            return nil
        }
        return Plan(
            version: version, name: name, description: top.value["description"]?.string,
            connections: connections.map(\.definition), stages: definitions,
            path: path, sha256: sha256, overrides: overrides, warnings: [], resolved: .map(resolvedEntries))
    }

    /// Names are shown and written everywhere: the plan's (and its description) on the terminal,
    /// in `sluice runs` and every manifest, a stage's in every message about it, a written
    /// file's path in the run's summary and on disk. One made of a secret variable's value would show the secret there.
    mutating func refuseSecretNames(_ root: Node) {
        var named: [(Node, String)] = [("name", "the plan's name"), ("description", "the plan's description")]
            .compactMap { key, what in root[key].map { ($0, what) } }
        for stage in root["stages"]?.elements ?? [] {
            if let name = stage["name"] { named.append((name, "a stage's name")) }
            if stage["kind"]?.scalar?.text == "write-csv", let path = stage["path"] {
                named.append((path, "write-csv's path"))
            }
        }
        for (node, what) in named {
            guard let scalar = node.scalar, scalar.isSecret, scalar.raw != scalar.text else { continue }
            validator.diagnostics.error(
                "\(what) takes a secret variable's value (\(scalar.raw)): it would be shown on the terminal and "
                    + "written in `sluice runs`, manifests and file names", at: node.location,
                notes: ["name it with words, or a variable that holds no secret"])
        }
    }

    /// What a transform computes, a fetch's id, a validate rule and a write-csv column become
    /// data: each row's value goes into the spools, the CSVs, the review and the rejects files
    /// (a rule's `one_of` and `pattern` into the rejects' detail), and an apply writes it to the
    /// table, none of which hides a secret. A secret variable there is refused; its name is
    /// shown, never its value. (A query's SQL may hold one in a `WHERE` clause or a function's
    /// argument, where it stays in the database: the query stage refuses a row that returns it.)
    mutating func refuseSecretData(_ root: Node) {
        var places: [(Node, String, String)] = []
        for stage in root["stages"]?.elements ?? [] {
            let label = stage["name"]?.scalar?.text ?? stage["kind"]?.scalar?.text ?? ""
            switch stage["kind"]?.scalar?.text {
            case "transform":
                for field in stage["fields"]?.pairs ?? [] {
                    let name = field.key.scalar?.text ?? ""
                    places.append(
                        (
                            field.value, "transform '\(label)' field '\(name)'",
                            "each row's value would be written to the run's files (spools, CSVs, the review) as data, "
                                + "and an apply would write it to the table"
                        ))
                }
            case "fetch":
                if let id = stage["id"] {
                    places.append(
                        (
                            id, "fetch '\(label)' id",
                            "each row's id is sent in requests and written to the run's answers and rejects files as data"
                        ))
                }
            case "validate":
                for rule in stage["rules"]?.pairs ?? [] {
                    let field = rule.key.scalar?.text ?? ""
                    for (key, node) in Self.scalarNodes(in: rule.value, path: "") {
                        places.append(
                            (
                                node, "validate '\(label)' rule \(field)\(key)",
                                "a rule is quoted in the detail of each row it rejects, in the rejects file"
                            ))
                    }
                }
            case "write-csv":
                for column in stage["columns"]?.elements ?? [] {
                    places.append(
                        (
                            column, "write-csv '\(label)' column",
                            "a column's name is written as the file's header and names the column in the run's files"
                        ))
                }
            default: break
            }
        }
        for (node, what, why) in places {
            guard let scalar = node.scalar, scalar.isSecret, scalar.raw != scalar.text else { continue }
            let variables = Self.secretVariables(in: scalar.raw)
            let named = variables.isEmpty ? "a secret variable" : variables.map { "${\($0)}" }.joined(separator: ", ")
            validator.diagnostics.error(
                "\(what) takes the value of \(named), a secret: \(why)", at: node.location,
                notes: [
                    "a secret belongs in a connection's url, headers or auth, which are never written; compute data "
                        + "from the rows and the API's answers"
                ])
        }
    }

    /// Every scalar under `node`, with its key path (`.one_of[1]`).
    static func scalarNodes(in node: Node, path: String) -> [(String, Node)] {
        if node.scalar != nil { return [(path, node)] }
        if let elements = node.elements {
            return elements.enumerated().flatMap { scalarNodes(in: $1, path: path + "[\($0)]") }
        }
        return (node.pairs ?? []).flatMap { scalarNodes(in: $0.value, path: path + "." + ($0.key.scalar?.text ?? "")) }
    }

    /// The names of the secret variables `raw` interpolates (`${VENDOR_KEY}`, `${API_TOKEN:-...}`),
    /// in order, each once: what a message may name, where the value may not be shown.
    static func secretVariables(in raw: String) -> [String] {
        var names: [String] = []
        var rest = Substring(raw)
        while let start = rest.range(of: "${") {
            guard let close = rest[start.upperBound...].firstIndex(of: "}") else { break }
            let body = rest[start.upperBound..<close]
            let name = String(body.range(of: ":-").map { body[..<$0.lowerBound] } ?? body)
            if Redaction.isSecretName(name), !names.contains(name) { names.append(name) }
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    struct CheckedConnection {
        var name: String
        var definition: ConnectionDefinition
        var redacted: PlanValue
    }

    /// Connections that are defined but invalid, with their kind when that checked (else `""`):
    /// a stage using one is still told when it needs the other kind.
    var invalidConnections: [String: String] = [:]
    /// Connections whose `kind` a `--set` gave, with where: errors that follow from it say so.
    var kindsSetOnTheCommandLine: [String: SourceLocation] = [:]
    /// The JSON body member each connection with `auth: {kind: api-key, body_field: ...}` puts
    /// its key in.
    var bodyKeyFields: [String: String] = [:]
    /// Stages left out because their kind or parameters did not check: still there for the
    /// stages that read from them, which are not reported as reading from an unknown stage too.
    var invalidStages: Set<String> = []

    mutating func checkConnections(_ node: Node?) -> [CheckedConnection] {
        guard let node else { return [] }
        if let s = node.scalar, s.isNull { return [] }
        guard let pairs = validator.mapping(node, what: "'connections'") else { return [] }
        var out: [CheckedConnection] = []
        var seen: [String: SourceLocation] = [:]
        for pair in pairs {
            guard let name = validator.keyText(pair.key) else { continue }
            if let first = seen[name] {
                validator.diagnostics.error(
                    "duplicate connection '\(name)'", at: pair.key.location,
                    notes: ["first defined at line \(first.line), column \(first.column)"])
                continue
            }
            seen[name] = pair.key.location
            invalidConnections[name] = ""
            let what = "connection '\(name)'"
            guard let kindText = discriminator(pair.value, what: what, kinds: ConnectionKind.allCases.map(\.rawValue)),
                let kind = ConnectionKind(rawValue: kindText)
            else { continue }
            invalidConnections[name] = kind.rawValue
            // `--set connections.db.kind=http`: the plan's other keys now fail against the new
            // kind at their lines in the plan; each such error says where the kind came from.
            let mark = validator.diagnostics.count
            if let given = pair.value["kind"]?.location, given.source.name == "--set" {
                kindsSetOnTheCommandLine[name] = given
            }
            defer {
                if let given = kindsSetOnTheCommandLine[name] {
                    validator.diagnostics.addNote(
                        "connection '\(name)' has kind \(kind.rawValue) from \(given)", toErrorsFrom: mark)
                }
            }
            let path = "connections.\(name)"
            guard let checked = validator.object(pair.value, specs: Schema.parameters(of: kind), path: path, what: what)
            else { continue }
            if let auth = pair.value["auth"], !checkAuthKeys(auth, checked: checked.value["auth"], what: what) {
                continue
            }
            let configuration: ConnectionConfiguration
            do throws(ParameterReader.Missing) {
                configuration = try ConnectionConfiguration.decode(
                    kind,
                    from: ParameterReader(
                        value: checked.value, path: path, parsed: validator.parsed, standIns: validator.standIns))
            } catch {
                reportUnreported(error, at: pair.value.location)
                continue
            }
            // A credential written out rather than from a variable: named after the connection
            // (`spotify` → SPOTIFY_CLIENT_SECRET).
            func variableName(_ text: String) -> String {
                text.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            }
            let prefix = variableName(name)
            var literals: [(what: String, node: Node, variable: String)] = []
            for key in ["client_secret", "token", "key", "password"] {
                if let node = pair.value["auth"]?[key] { literals.append((key, node, prefix + "_" + key.uppercased())) }
            }
            // A header whose name says it carries one (`Authorization`, `X-Api-Key`), not
            // `Accept-Version`.
            for header in pair.value["headers"]?.pairs ?? [] {
                guard let headerName = header.key.scalar?.text,
                    headerName.lowercased() == "authorization"
                        || Redaction.isSecretName(headerName.replacingOccurrences(of: "-", with: "_"))
                else { continue }
                literals.append(("header \(headerName)", header.value, prefix + "_" + variableName(headerName)))
            }
            for (what, node, variable) in literals {
                guard let secret = node.scalar, !secret.text.isEmpty else { continue }
                if let unset = secret.secretDefaults.first {
                    Self.warnSecretDefault(what, of: unset, at: node.location, into: &validator.diagnostics)
                }
                guard secret.raw == secret.text else { continue }
                validator.diagnostics.warning(
                    node.location.source.name == "--set"
                        ? "\(what) is given on the command line; manifests keep it redacted, but shell "
                            + "history and the process list show it"
                        : "\(what) is written in the plan file; anyone who can read the file can use it",
                    at: node.location, notes: ["write \"${\(variable)}\" in the plan and set the variable"])
            }
            // An API's URLs are http(s): `127.0.0.1:8080` or `htps://...` would fail every request,
            // each retried, and the run would stop as if the API were down.
            if kind == .http {
                for key in ["base_url", "token_url"] {
                    let node = key == "base_url" ? pair.value["base_url"] : pair.value["auth"]?["token_url"]
                    // (A variable that is not set is said so on its own.)
                    guard let node, let url = node.scalar, !(url.text.isEmpty && url.raw.contains("${")) else {
                        continue
                    }
                    let from = url.raw != url.text ? " (as \(url.raw) gives it)" : ""
                    if let (problem, offset) = Self.httpURLProblem(url.text) {
                        validator.diagnostics.error(
                            "\(key) \(problem)\(from)",
                            at: offset.map {
                                url.raw == url.text ? validator.innerLocation(url, node.location, $0) : nil
                            }
                                ?? node.location,
                            notes: ["an API's URL reads like https://api.example.com/v1, or http://localhost:8080/v1"])
                    } else if Self.hasUserInfo(url.text) {
                        // curl would send it as HTTP Basic; requests here never did, and went
                        // without any credential.
                        validator.diagnostics.error(
                            "\(key) holds a user name or password (https://USER:PASSWORD@host)\(from), which no request "
                                + "sends", at: node.location,
                            notes: [
                                "give the credential with 'auth': for HTTP Basic, auth: { kind: basic, username: "
                                    + "\"${API_USER}\", password: \"${API_PASSWORD}\" }"
                            ])
                    } else if key == "base_url", let mark = url.text.firstIndex(where: { $0 == "?" || $0 == "#" }) {
                        // Each request's path goes after the base URL: after its query or
                        // fragment, `/v1?key=K` + `/tracks` asks `/v1` with `key=K/tracks`.
                        let offset = url.text.distance(from: url.text.startIndex, to: mark)
                        let query = url.text[mark] == "?"
                        validator.diagnostics.error(
                            "base_url has a " + (query ? "query string ('?...')" : "fragment ('#...')") + from
                                + ": each request's path is added after it, so no request would reach the endpoint",
                            at: validator.innerLocation(url, node.location, offset),
                            notes: [
                                query
                                    ? "put query parameters under each fetch's 'query:' (query: { key: value }); an "
                                        + "API key in the query goes in 'auth': { kind: api-key, key: \"${API_KEY}\", "
                                        + "query_param: key }"
                                    : "a URL's fragment is never sent: end base_url with its path (/v1)"
                            ])
                    }
                }
            }
            // A password written out in a database's URL rather than from a variable, ~/.pgpass or
            // PGPASSWORD (an API's URL with one is refused above).
            if let node = pair.value["url"], let url = node.scalar, let unset = url.secretDefaults.first {
                Self.warnSecretDefault("the url's password", of: unset, at: node.location, into: &validator.diagnostics)
            }
            if let node = pair.value["url"], let url = node.scalar, url.raw == url.text,
                Redaction.hasPassword(url.text)
            {
                validator.diagnostics.warning(
                    node.location.source.name == "--set"
                        ? "the url's password is given on the command line; manifests keep it redacted, but shell "
                            + "history and the process list show it"
                        : "the url's password is written in the plan file; anyone who can read the file can use it",
                    at: node.location,
                    notes: [
                        "write \"${DATABASE_URL}\" in the plan and set the variable, or keep the password in "
                            + "~/.pgpass or PGPASSWORD"
                    ])
            }
            // What libpq refuses as the run connects, after its runs directory is made. (A
            // variable that is not set is said so on its own.)
            if let node = pair.value["url"], let url = node.scalar, !(url.text.isEmpty && url.raw.contains("${")),
                let problem = PostgresConnection.refusal(of: url.text, environment: environment)
            {
                let from = url.raw != url.text ? " (as \(url.raw) gives it)" : ""
                let meant = PostgresConnection.unknownOption(in: url.text).map {
                    Suggestion.note(for: $0, in: PostgresConnection.optionKeywords)
                }
                // Refused for the environment's PGSSLMODE alone, the URL is not what to change.
                let environmental = PostgresConnection.refusal(of: url.text) == nil
                validator.diagnostics.error(
                    "'url' in connection '\(name)'\(from): \(problem)", at: node.location,
                    notes: environmental
                        ? [
                            "PGSSLMODE comes from the environment sluice runs in: unset it, or give the URL its own "
                                + "sslmode (?sslmode=verify-full), which libpq reads first"
                        ]
                        : (meant ?? [])
                            + ["a database URL reads like postgresql://user@host:5432/database?sslmode=verify-full"])
            }
            invalidConnections[name] = nil
            out.append(
                CheckedConnection(
                    name: name,
                    definition: ConnectionDefinition(
                        name: name, configuration: configuration, parameters: checked.value,
                        location: pair.key.location, urlLocation: pair.value["url"]?.location),
                    redacted: checked.redacted))
        }
        return out
    }

    /// Warns that `what` is the default of `${variable:-...}`, written in the plan file, which
    /// stood in for the variable (it is not set): the secret is as readable as one given inline.
    static func warnSecretDefault(
        _ what: String, of variable: String, at location: SourceLocation, into diagnostics: inout DiagnosticBag
    ) {
        diagnostics.warning(
            "\(what) is the default written in the plan file for ${\(variable)}, which is not set; anyone who can "
                + "read the file can use it", at: location,
            notes: ["set \(variable), and leave the secret out of the plan: write \"${\(variable)}\""])
    }

    /// What is wrong with `text` as an API's URL, and where in it when one character says so:
    /// not `http://` or `https://`, no host, white space, a host or port no request can reach.
    /// Each would otherwise fail every request of the run, in the HTTP client's words. It quotes
    /// no part of the URL but one character: a URL from a variable is a secret's place.
    static func httpURLProblem(_ text: String) -> (problem: String, offset: Int?)? {
        guard let authority = httpAuthority(of: text) else { return ("must start with http:// or https://", nil) }
        func offset(_ index: String.Index) -> Int { text.distance(from: text.startIndex, to: index) }
        if let blank = text.firstIndex(where: {
            $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true
        }) {
            let what =
                text[blank] == " "
                ? "a space: a URL writes one as %20"
                : text[blank].isWhitespace ? "white space (a tab or a line break)" : "a control character"
            return ("has \(what)", offset(blank))
        }
        let hostAndPort = authority.split(separator: "@", omittingEmptySubsequences: false).last ?? ""
        if hostAndPort.isEmpty || hostAndPort.hasPrefix(":") { return ("has no host", nil) }
        var port: Substring? = nil
        if hostAndPort.hasPrefix("[") {
            // An IPv6 address: `[::1]`, then perhaps `:8080`.
            guard let close = hostAndPort.firstIndex(of: "]") else {
                return (
                    "has an IPv6 host without its closing ']' (written like [::1]:8080)", offset(hostAndPort.startIndex)
                )
            }
            let address = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            if address.isEmpty || !address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) {
                return ("has a host in [ ] that is not an IPv6 address", offset(hostAndPort.startIndex))
            }
            let rest = hostAndPort[hostAndPort.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else {
                    return (
                        "has more after its IPv6 host's ']', where only a port (:8080) may go", offset(rest.startIndex)
                    )
                }
                port = rest.dropFirst()
            }
        } else {
            let host = hostAndPort.prefix { $0 != ":" }
            // Letters of any script (an internationalised name), digits, '-', '.', and the '_' of
            // container and service names.
            if let bad = host.firstIndex(where: { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == "_") }
            ) {
                return (
                    "has '\(host[bad])' in its host name, which takes letters, digits, '-' and '.'",
                    offset(bad)
                )
            }
            if host.endIndex < hostAndPort.endIndex { port = hostAndPort[hostAndPort.index(after: host.endIndex)...] }
        }
        // An empty port (`host:/v1`) is the scheme's own, as curl and browsers read it.
        if let port, !port.isEmpty,
            !(port.allSatisfy({ $0.isASCII && $0.isNumber }) && port.count <= 5
                && (1...65_535).contains(Int(port) ?? 0))
        {
            return ("has a port that is not a number from 1 to 65535", offset(port.startIndex))
        }
        return nil
    }

    /// What an `http://` or `https://` URL names before its path, query or fragment
    /// (`user:pw@host:8080`); `nil` for any other text.
    private static func httpAuthority(of text: String) -> Substring? {
        let lowered = text.lowercased()
        guard let scheme = ["https://", "http://"].first(where: lowered.hasPrefix) else { return nil }
        return text.dropFirst(scheme.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    }

    /// Whether an http(s) URL names a user (and maybe a password) before its host.
    static func hasUserInfo(_ text: String) -> Bool {
        httpAuthority(of: text)?.contains("@") == true
    }

    /// Checks that an http connection's `auth` has the keys its kind needs and no others.
    /// - Returns: whether the auth can be read.
    mutating func checkAuthKeys(_ node: Node, checked: PlanValue?, what: String) -> Bool {
        guard let checked, let kind = checked["kind"]?.string else { return false }
        let (required, optional) = HTTPAuthSettings.keys(of: kind)
        var usable = true
        // `--set connections.api.auth.kind=bearer`: a key the kind needs is missing from what the
        // `--set` made, not from the plan's line (which shows the kind it replaced); the plan's
        // keys that no longer fit fail at their lines, each saying where the kind came from.
        let given = node["kind"]?.location.source.name == "--set" ? node["kind"]?.location : nil
        for key in required where checked[key] == nil {
            validator.diagnostics.error(
                "auth of \(what) is kind \(kind), which needs '\(key)'", at: given ?? node.location,
                code: .missingKey(key))
            usable = false
        }
        let mark = validator.diagnostics.count
        defer {
            if let given {
                validator.diagnostics.addNote("auth of \(what) has kind \(kind) from \(given)", toErrorsFrom: mark)
            }
        }
        for pair in node.pairs ?? [] {
            // A key no auth kind has is reported as unknown already, with a "did you mean".
            guard let key = pair.key.scalar?.text, key != "kind", !required.contains(key), !optional.contains(key),
                Schema.authKeys.contains(where: { $0.name == key })
            else { continue }
            validator.diagnostics.error(
                "'\(key)' is not used by auth kind \(kind)", at: pair.key.location,
                notes: ["kind \(kind) takes: " + (required + optional).joined(separator: ", ")],
                code: .unknownKey(key))
            usable = false
        }
        if kind == "api-key" {
            let places = APIKeyPlace.allCases.map(\.rawValue).filter { checked[$0] != nil }
            if places.count != 1 {
                validator.diagnostics.error(
                    places.isEmpty
                        ? "auth kind api-key needs 'header' (e.g. X-Api-Key), 'query_param' (e.g. api_key) or "
                            + "'body_field' (a POST body's member, e.g. key)"
                        : "auth kind api-key takes one of 'header', 'query_param' and 'body_field', not "
                            + places.map { "'\($0)'" }.joined(separator: " and "),
                    at: places.isEmpty ? given ?? node.location : node.location)
                usable = false
            }
        }
        return usable
    }

    /// A value the typed plan needs is missing. It was left out because it was wrong, and the
    /// validator said so; should it ever be missing without an error, say that rather than
    /// leave the plan silently unloadable.
    mutating func reportUnreported(_ missing: ParameterReader.Missing, at location: SourceLocation) {
        guard !validator.diagnostics.hasErrors else { return }
        validator.diagnostics.error(
            "internal error: '\(missing.path.drop { $0 == "." })' has no value after validation", at: location,
            notes: ["please report this with the plan"])
    }

    /// Reads and checks the `kind` key of a connection or stage.
    mutating func discriminator(_ node: Node, what: String, kinds: [String]) -> String? {
        guard validator.mapping(node, what: what) != nil else { return nil }
        guard let kindNode = node["kind"] else {
            validator.diagnostics.error(
                "\(what) has no 'kind'", at: node.location,
                notes: ["kinds: " + kinds.joined(separator: ", ")])
            return nil
        }
        guard let kind = kindNode.scalar?.text, kinds.contains(kind) else {
            let text = kindNode.scalar?.text ?? ""
            validator.diagnostics.error(
                "unknown kind '\(text.prefix(60))' for \(what)", at: kindNode.location,
                notes: Suggestion.note(for: text, in: kinds) + ["kinds: " + kinds.joined(separator: ", ")],
                code: .unknownKind(text))
            return nil
        }
        return kind
    }

    /// Where `stage`'s name is (``CheckedStage/nameLocation``): a node's keys never come before it,
    /// except in a copy an alias made, whose keys stay where the anchor wrote them.
    static func nameLocation(of stage: Node) -> SourceLocation {
        guard let name = stage["name"]?.location, name >= stage.location else { return stage.location }
        return name
    }

    struct CheckedStage {
        var name: String
        var kind: StageKind
        var input: String?
        var location: SourceLocation
        /// `nil` when a value the stage needs was wrong (and reported).
        var definition: StageDefinition?
        var redacted: PlanValue
        /// Where the stage's name is written; for a stage written as an alias (`- *query`), where
        /// the alias is, since its `name:` is the anchored stage's.
        var nameLocation: SourceLocation
        var explicitInput: Bool
        /// The connection named, whether or not the rest of the stage is valid.
        var connection: String?
        /// The values that passed validation, defaults filled: cross-checks between stages read
        /// them so that a stage with one wrong value is still checked against the others.
        var values: PlanValue
    }

    mutating func checkStages(_ node: Node?, planLocation: SourceLocation) -> [CheckedStage] {
        guard let node else { return [] }
        guard let elements = node.elements else {
            validator.diagnostics.error(
                "'stages' must be a list of stages, found \(node.kindDescription)", at: node.location)
            return []
        }
        if elements.isEmpty {
            validator.diagnostics.error("'stages' is empty: a plan needs at least one stage", at: node.location)
        }
        var out: [CheckedStage] = []
        var previous: String?
        for (index, element) in elements.enumerated() {
            let label = element["name"]?.scalar?.text ?? element["kind"]?.scalar?.text ?? "#\(index + 1)"
            let what = "stage '\(label)'"
            guard let kindText = discriminator(element, what: what, kinds: StageKind.allCases.map(\.rawValue)),
                let kind = StageKind(rawValue: kindText)
            else {
                invalidStages.insert(label)
                previous = label
                continue
            }
            let specs = Schema.commonStageKeys + Schema.parameters(of: kind)
            let path = "stages.\(label)"
            let locatedBefore = validator.locatedPaths.count
            guard let checked = validator.object(element, specs: specs, path: path, what: what) else {
                invalidStages.insert(label)
                continue
            }
            let name = checked.value["name"]?.string ?? kind.rawValue
            let nameLocation = element["name"]?.location ?? element.location
            if name.isEmpty {
                validator.diagnostics.error(
                    "stage name is empty", at: nameLocation,
                    notes: ["name the stage, or leave 'name' out to call it '\(kind.rawValue)'"])
            } else if !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                validator.diagnostics.error(
                    "stage name '\(name)' may use only letters, digits, '-' and '_'", at: nameLocation,
                    notes: ["names are used in --set NAME.PARAM=... and in file names"])
            } else if name.count > Self.maximumStageNameLength {
                // The run names files after it (`NAME.answers.ndjson`, `review-NAME.html`):
                // a longer name makes them longer than a file system's 255 bytes.
                validator.diagnostics.error(
                    "stage name is \(name.count) characters long, above the maximum \(Self.maximumStageNameLength)",
                    at: nameLocation, notes: ["the run names its files after its stages; give it a shorter name"])
            }
            let explicitInput = checked.value["input"]?.string
            let input = kind.takesInput ? (explicitInput ?? previous) : explicitInput
            let common = Set(Schema.commonStageKeys.map(\.name))
            func own(_ v: PlanValue) -> PlanValue { .map(v.entries.filter { !common.contains($0.key) }) }
            var redacted = checked.redacted.entries.filter { $0.key != "name" && $0.key != "kind" }
            redacted.insert(.init("kind", .scalar(.string(kind.rawValue))), at: 0)
            redacted.insert(.init("name", .scalar(.string(name))), at: 0)
            var definition: StageDefinition?
            do throws(ParameterReader.Missing) {
                let common = ParameterReader(
                    value: checked.value, path: path, parsed: validator.parsed, standIns: validator.standIns)
                definition = StageDefinition(
                    name: name, configuration: try StageConfiguration.decode(kind, from: common), input: input,
                    // The one default that depends on the kind.
                    requiresApproval: try common.optional("requires_approval")?.bool() ?? (kind == .apply),
                    buffer: try common.int("buffer"), redactedParameters: own(checked.redacted),
                    location: element.location,
                    // The validator meets each path once: the keys are distinct.
                    parameterLocations: Dictionary(
                        uniqueKeysWithValues: validator.locatedPaths[locatedBefore...].compactMap { key in
                            guard key.hasPrefix(path + "."), let location = validator.locations[key] else { return nil }
                            return (String(key.dropFirst(path.count + 1)), location)
                        }))
            } catch {
                reportUnreported(error, at: element.location)
            }
            // A per-item fetch reads none of the batch keys, a POST batch none of the query
            // batch's: its resolved plan (the manifest's, a replay's plan) leaves out their
            // defaults, which would not check as given.
            if var fetchStage = definition, case .fetch(let fetch) = fetchStage.configuration,
                fetch.perItem || fetch.method == .post
            {
                let keys = fetch.perItem ? Self.batchOnlyKeys : Self.queryBatchKeys
                let unread = Set(keys.filter { !isGiven($0, in: path) })
                redacted.removeAll { unread.contains($0.key) }
                fetchStage.redactedParameters = .map(
                    fetchStage.redactedParameters.entries.filter { !unread.contains($0.key) })
                definition = fetchStage
            }
            if var queryStage = definition, case .query(var query) = queryStage.configuration {
                let scalars = ([element["sql"]] + (element["params"]?.elements ?? [])).compactMap { $0?.scalar }
                    .filter(\.isSecret)
                query.secretValues = Array(Set(scalars.flatMap(\.secretValues).filter { !$0.contains("${") })).sorted()
                query.secretVariables = scalars.flatMap { Self.secretVariables(in: $0.raw) }.reduce(into: []) {
                    if !$0.contains($1) { $0.append($1) }
                }
                queryStage.configuration = .query(query)
                definition = queryStage
            }
            out.append(
                CheckedStage(
                    name: name, kind: kind, input: input, location: element.location, definition: definition,
                    redacted: .map(redacted), nameLocation: Self.nameLocation(of: element),
                    explicitInput: explicitInput != nil, connection: checked.value["connection"]?.string,
                    values: checked.value))
            previous = name
        }
        return out
    }

    /// Where `value` holds a secret: one interpolated into it (its `written` form, the
    /// resolved plan's, then keeps the `${VAR}` or a redaction, where any other string is only
    /// `$`-escaped), or the value of one of the plan's secrets (`known`: an auth key from a
    /// `${VAR}` whose name does not say it is secret) of at least 8 characters, which no
    /// ordinary word is mistaken for.
    ///
    /// - Returns: where in `value` the secret is (`""` for the value itself, `.key`, `[0]`), or
    ///   `nil` when it holds none.
    static func secretPlace(in value: Value, written: Value?, known: Set<String>) -> String? {
        switch (value, written) {
        case (.string(let text), let form):
            if case .string(let form)? = form, form != text.replacingOccurrences(of: "$", with: "$$") { return "" }
            return known.contains { $0.count >= 8 && text.contains($0) } ? "" : nil
        case (.array(let items), _):
            let forms: [Value]
            if case .array(let list)? = written { forms = list } else { forms = [] }
            for (i, item) in items.enumerated() {
                if let inner = secretPlace(in: item, written: i < forms.count ? forms[i] : nil, known: known) {
                    return "[\(i)]" + inner
                }
            }
            return nil
        case (.object(let members), _):
            for key in members.keys.sorted() {
                if let inner = secretPlace(in: members[key]!, written: written?[key], known: known) {
                    return "." + key + inner
                }
            }
            return nil
        default: return nil
        }
    }

    /// Whether the plan (or a `--set`) gave `key` of the object at `path`, rather than its default.
    func isGiven(_ key: String, in path: String) -> Bool { validator.locations["\(path).\(key)"] != nil }

    func location(_ path: String, or fallback: SourceLocation) -> SourceLocation {
        validator.locations[path] ?? fallback
    }

    mutating func crossCheck(stages: [CheckedStage], connections: [CheckedConnection]) {
        if readsCSVHeaders {
            for case .readCSV(let read) in stages.compactMap(\.definition?.configuration)
            where csvHeaders[read.path] == nil {
                csvHeaders[read.path] = CSVHeader.read(read.path)
            }
        }
        let known = knownFields(of: stages)
        for connection in connections {
            if case .apiKey(let field, .body, _)? = connection.definition.http?.auth {
                bodyKeyFields[connection.name] = field
            }
        }
        var firstByName: [String: SourceLocation] = [:]
        var index: [String: Int] = [:]
        var kinds = Dictionary(
            connections.map { ($0.name, $0.definition.kind.rawValue) }, uniquingKeysWith: { a, _ in a })
        // Connections that failed their own checks still exist: don't report them as undefined too.
        for (name, kind) in invalidConnections where kinds[name] == nil { kinds[name] = kind }
        for (i, s) in stages.enumerated() {
            let path = "stages.\(s.name)"
            var known = known
            if let first = firstByName[s.name] {
                validator.diagnostics.error(
                    "duplicate stage name '\(s.name)'", at: s.nameLocation,
                    notes: [
                        "first used at line \(first.line), column \(first.column)",
                        "give one of them a 'name:' of its own",
                    ])
            } else {
                firstByName[s.name] = s.nameLocation
                index[s.name] = i
            }
            // Inputs.
            if let input = s.input, isStandIn("input", in: path) {
                // (Said where 'input' is written.) The stage before stands in: its fields say nothing.
                known[input] = nil
            } else if let input = s.input {
                if !s.kind.takesInput {
                    validator.diagnostics.error(
                        "a \(s.kind.rawValue) stage reads no input; remove 'input'",
                        at: location("\(path).input", or: s.location))
                } else if input == s.name && s.explicitInput {
                    let previous = i > 0 ? stages[i - 1].name : nil
                    validator.diagnostics.error(
                        "stage '\(s.name)' cannot read its own output: 'input' names a stage before it",
                        at: location("\(path).input", or: s.location),
                        notes: previous.map { ["leave 'input' out to read the stage just before it ('\($0)')"] } ?? [],
                        code: .unknownReference(input))
                    // Its fields are its own: checked against them, it would be told it lacks what it reads.
                    known[input] = nil
                } else if index[input] == nil && !invalidStages.contains(input) {
                    let later = stages.contains { $0.name == input }
                    validator.diagnostics.error(
                        later
                            ? "stage '\(s.name)' reads from '\(input)', which does not come before it"
                            : "stage '\(s.name)' reads from unknown stage '\(input)'",
                        at: location("\(path).input", or: s.location),
                        notes: Suggestion.note(for: input, in: index.keys.sorted()), code: .unknownReference(input))
                    known[input] = nil
                }
            } else if s.kind.takesInput {
                validator.diagnostics.error(
                    "stage '\(s.name)' has no input: the first stage must be a source (query or read-csv)",
                    at: s.location)
            }
            // Connections. (One that did not check is reported where it is written; so are the
            // plan's connections when 'connections' is misspelt.)
            if let ref = s.connection, !isStandIn("connection", in: path), !isStandIn("connections", in: "") {
                let at = location("\(path).connection", or: s.location)
                let wanted = s.kind == .fetch ? "http" : "postgres"
                if let kind = kinds[ref] {
                    if kind != wanted, !kind.isEmpty {
                        validator.diagnostics.error(
                            "stage '\(s.name)' needs \(wanted == "http" ? "an" : "a") \(wanted) connection, but '\(ref)' is \(kind)",
                            at: at,
                            notes: kindsSetOnTheCommandLine[ref].map {
                                ["connection '\(ref)' has kind \(kind) from \($0)"]
                            } ?? [])
                    }
                } else {
                    validator.diagnostics.error(
                        "stage '\(s.name)' uses undefined connection '\(ref)'", at: at,
                        notes: Suggestion.note(for: ref, in: kinds.keys.sorted())
                            + (kinds.isEmpty
                                ? ["define it under 'connections:'"]
                                : ["defined: " + kinds.keys.sorted().joined(separator: ", ")]),
                        code: .unknownReference(ref))
                }
            }
            if let definition = s.definition {
                refuseBlankSettings(of: definition, path: path)
                refuseCountersInSQL(of: definition, path: path)
                checkKindSpecific(definition, path: path, stages: stages, index: index, known: known)
            }
        }
    }

    mutating func checkKindSpecific(
        _ s: StageDefinition, path: String, stages: [CheckedStage], index: [String: Int], known: [String: [String]]
    ) {
        switch s.configuration {
        case .chunk(let chunk):
            // A chunk feeding a fetch must not build batches bigger than the endpoint accepts.
            let size = chunk.size
            var frontier = [s.name]
            var visited = Set<String>()
            while let current = frontier.popLast(), visited.insert(current).inserted {
                for reader in stages where reader.input == current {
                    if reader.kind == .fetch, let maxIDs = reader.values["max_ids"]?.int {
                        // (A max_ids that did not check stands in as its default, which says nothing.)
                        if size > maxIDs, !isStandIn("max_ids", in: "stages.\(reader.name)") {
                            validator.diagnostics.error(
                                "chunk size \(size) is more than the \(maxIDs) ids stage '\(reader.name)' may send in one request",
                                at: location("\(path).size", or: s.location),
                                notes: [
                                    "set size to at most \(maxIDs) ("
                                        + (validator.locations["stages.\(reader.name).max_ids"] != nil
                                            ? "fetch max_ids, the most the endpoint takes in one request"
                                            : "fetch max_ids's default; set it to what the endpoint takes, if more")
                                        + ")"
                                ])
                        }
                    } else if reader.kind != .chunk {
                        frontier.append(reader.name)
                    }
                }
            }
        case .fetch(let fetch):
            if let fallback = fetch.fallbackPath, !fallback.contains("{id}") {
                validator.diagnostics.error(
                    "fallback_path must contain '{id}', e.g. '/tracks/{id}'",
                    at: location("\(path).fallback_path", or: s.location))
            }
            checkRequestShape(fetch, stage: s, path: path, input: s.input.flatMap { known[$0] })
            // The answer goes into the row as a field of its own: one of the input's name would be
            // replaced by it in every row (the id it was asked by among them), said by nothing.
            if let input = s.input.flatMap({ known[$0] }), input.contains(fetch.responseField),
                !isStandIn("response_field", in: path)
            {
                let given = isGiven("response_field", in: path)
                validator.diagnostics.error(
                    "stage '\(s.name)' puts each answer in field '\(fetch.responseField)', which its input '\(s.input ?? "")' "
                        + "has already: the answer would replace it in every row",
                    at: location(given ? "\(path).response_field" : path, or: s.location),
                    notes: [
                        given
                            ? "name the answer's field otherwise (response_field: answer)"
                            : "set response_field to a name the input lacks (response_field: answer)"
                    ])
            }
        case .writeCSV(let writeCSV):
            var seen = Set<String>()
            func at(_ i: Int) -> SourceLocation {
                location("\(path).columns[\(writtenIndex(i, in: "\(path).columns"))]", or: s.location)
            }
            for (i, column) in writeCSV.columns.enumerated() where !seen.insert(column).inserted {
                validator.diagnostics.error("column '\(column)' is listed twice", at: at(i))
            }
            if let input = s.input.flatMap({ known[$0] }) {
                for (i, column) in writeCSV.columns.enumerated() where !input.contains(column) {
                    missingField(column, in: input, from: s, at: at(i))
                }
            }
            for (name, offset) in writeCSV.path.unknownPlaceholders {
                let at = location("\(path).path", or: s.location)
                validator.diagnostics.error(
                    "unknown placeholder '{\(name)}' in path", at: at.advanced(intoValueBy: offset),
                    notes: Suggestion.note(for: name, in: PathTemplate.placeholders)
                        + ["placeholders: " + PathTemplate.placeholders.map { "{\($0)}" }.joined(separator: ", ")])
            }
            let template = writeCSV.path.template
            // A relative path is inside the run directory: `..` would leave it unseen.
            if !template.hasPrefix("/"), template.split(separator: "/").contains("..") {
                validator.diagnostics.error(
                    "path \(template) climbs out of the run directory with '..'; a relative path is inside it",
                    at: location("\(path).path", or: s.location),
                    notes: ["to write elsewhere, give an absolute path (with {timestamp} or {run_id} in it)"])
            }
            // Outside the run directory, the same name every run: the second run finds the file
            // there, and a CSV is never overwritten.
            if template.hasPrefix("/"), !template.contains("{timestamp}"), !template.contains("{run_id}") {
                validator.diagnostics.warning(
                    "path \(template) is outside the run directory and names the same file on every run: the "
                        + "second run will fail, since a CSV is never overwritten",
                    at: location("\(path).path", or: s.location),
                    notes: ["put {timestamp} or {run_id} in it, or make it relative (inside the run directory)"])
            }
            if !validator.unresolved.contains("\(path).path"), !isStandIn("path", in: path) {
                checkWriteCSVFile(writeCSV, stage: s, path: path, stages: stages)
            }
        case .verify(let verify):
            for (checked, check) in verify.checks.enumerated() {
                let i = writtenIndex(checked, in: "\(path).checks")
                for expectation in check.expectations {
                    guard case .stageCounter(let ref, let counter) = expectation.expect.operand else { continue }
                    let expect = "\(path).checks[\(i)].expect" + (expectation.column.map { ".\($0)" } ?? "")
                    let at = location(expect, or: s.location)
                    let reference = validator.counterReferences[expect] ?? (at, at)
                    let what =
                        (expectation.column.map { "column '\($0)' of " } ?? "")
                        + "'expect' in item \(i + 1) of 'checks' in stage '\(s.name)'"
                    guard let target = index[ref].map({ stages[$0] }), ref != s.name else {
                        let later = ref != s.name && stages.contains { $0.name == ref }
                        validator.diagnostics.error(
                            later
                                ? "\(what) reads stage '\(ref)', which runs after it"
                                : ref == s.name
                                    ? "\(what) reads its own stage's counters, which are counted only as its checks "
                                        + "finish: read a stage before it"
                                    : "\(what) reads unknown stage '\(ref)'",
                            at: reference.stage,
                            notes: later
                                ? [] : Suggestion.note(for: ref, in: index.keys.filter { $0 != s.name }.sorted()),
                            code: .unknownReference(ref))
                        continue
                    }
                    // A stage that failed its own checks has no definition: its counters are unknown.
                    // So is an apply column's that did not check (its `filled_` counter).
                    guard let definition = target.definition,
                        !(counter.hasPrefix("filled_")
                            && (isStandIn(String(counter.dropFirst("filled_".count)), in: "stages.\(ref).columns")
                                || isStandIn("columns", in: "stages.\(ref)")))
                    else { continue }
                    let counters = Schema.counterNames(of: definition)
                    if !counters.contains(counter) {
                        validator.diagnostics.error(
                            "\(what): stage '\(ref)' has no counter '\(counter)'", at: reference.counter,
                            notes: Suggestion.note(for: counter, in: counters)
                                + [
                                    "stage '\(ref)' (\(definition.kind.rawValue)) counts: "
                                        + counters.joined(separator: ", ")
                                ],
                            code: .unknownReference(counter))
                    }
                }
            }
        case .validate(let validate):
            // A rule on a field the input lacks would refuse every row (missing_field).
            if let input = s.input.flatMap({ known[$0] }) {
                for rule in validate.rules where !input.contains(rule.field) {
                    missingField(
                        rule.field, in: input, from: s, at: location("\(path).rules.\(rule.field)", or: s.location))
                }
            }
            // A read-csv's values are text, and numbers in text are not numbers to a rule's type.
            let readsText = s.input.flatMap { input in stages.first { $0.name == input } }?.kind == .readCSV
            for rule in validate.rules {
                if let lo = rule.min, let hi = rule.max, lo > hi {
                    validator.diagnostics.error(
                        "rule for '\(rule.field)': min \(Expectation.format(lo)) is greater than max \(Expectation.format(hi))",
                        at: location("\(path).rules.\(rule.field).min", or: s.location))
                }
                if readsText, [.int, .double, .bool].contains(rule.type) {
                    validator.diagnostics.warning(
                        "rule for '\(rule.field)': type \(rule.type.rawValue) refuses every row, since read-csv reads "
                            + "every value as text",
                        at: location("\(path).rules.\(rule.field).type", or: s.location),
                        notes: [
                            "make it \(rule.type == .int ? "an" : "a") \(rule.type.rawValue) in a transform before validate: \(rule.field): "
                                + "\(rule.type == .bool ? "\(rule.field) == 'true'" : "number(\(rule.field))")"
                        ])
                }
                // Text is read as a number for bounds (a read-csv's '50' is 50), as the run does;
                // a UUID or a bool never is one.
                let bound = rule.min != nil ? "min" : rule.max != nil ? "max" : nil
                if let bound, [.uuid, .bool].contains(rule.type) {
                    validator.diagnostics.warning(
                        "rule for '\(rule.field)': \(bound) applies to numbers, and '\(rule.field)' is of type "
                            + "\(rule.type.rawValue), never a number, so every row with a value breaks it (reason type)",
                        at: location("\(path).rules.\(rule.field).\(bound)", or: s.location),
                        notes: ["use max_length for text, or a number type"])
                }
            }
        case .transform(let transform):
            if let input = s.input.flatMap({ known[$0] }) {
                for (name, expression) in transform.fields {
                    for field in Set(expression.fields).sorted() where !input.contains(field) {
                        missingField(field, in: input, from: s, at: location("\(path).fields.\(name)", or: s.location))
                    }
                }
            }
            let fields = Set(transform.fields.map(\.name))
            for field in transform.whenEmpty.keys.sorted() where !fields.contains(field) {
                validator.diagnostics.error(
                    "when_empty names '\(field)', which is not one of this stage's fields",
                    at: location("\(path).when_empty.\(field)", or: s.location),
                    notes: Suggestion.note(for: field, in: fields.sorted()))
            }
        case .apply(let apply):
            // In the apply's transaction its temporary tables come first in the search path: a
            // table of the same name, unqualified, would be one of them (nothing written, the
            // input's keys all "matched").
            if !apply.table.contains("."), apply.table.hasPrefix("sluice_apply_") {
                validator.diagnostics.error(
                    "table '\(apply.table)' has the name of a temporary table the apply creates, which would stand "
                        + "for it in the apply's transaction",
                    at: location("\(path).table", or: s.location),
                    notes: ["name it with its schema: public.\(apply.table)"])
            }
            if apply.maxUnknown != nil, apply.mode != .update, !isStandIn("mode", in: path) {
                validator.diagnostics.error(
                    "max_unknown limits the keys an update does not find; with mode: \(apply.mode.rawValue) "
                        + "those keys are inserted",
                    at: location("\(path).max_unknown", or: s.location),
                    notes: ["to limit the rows it adds, use max_changed"])
            }
            guard let input = s.input.flatMap({ known[$0] }) else { break }
            let key = isGiven("key_field", in: path) ? "key_field" : "key"
            // (A misspelt key_field, reported, leaves the field unknown: not the key's default.)
            if !input.contains(apply.keyField), !isStandIn(key, in: path), !isStandIn("key_field", in: path) {
                missingField(apply.keyField, in: input, from: s, at: location("\(path).\(key)", or: s.location))
            }
            for column in apply.columns where !input.contains(column.from) {
                let from = "\(path).columns.\(column.column).from"
                let at = location(from, or: location("\(path).columns.\(column.column)", or: s.location))
                missingField(column.from, in: input, from: s, at: at)
            }
        case .readCSV(let read):
            // (A path that did not check is reported where it is written: there is no file to read.)
            switch isStandIn("path", in: path) ? nil : csvHeaders[read.path] {
            case .header(let header)?:
                // Without `columns`, every header column is read: an empty name (a trailing comma)
                // would fail the run.
                if read.columns == nil,
                    let empty = header.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty })
                {
                    validator.diagnostics.error(
                        "column \(empty + 1) of the header of \(read.path) has no name"
                            + (empty == header.count - 1 ? " (a comma at the end of the header line?)" : ""),
                        at: location("\(path).path", or: s.location),
                        notes: ["name it, or list the columns to read with 'columns'"])
                }
                // Two columns of one name: a row could not say which is meant.
                var named: Set<String> = []
                for name in header where !name.isEmpty && !named.insert(name).inserted {
                    validator.diagnostics.error(
                        "the header of \(read.path) names column '\(name)' twice",
                        at: location("\(path).path", or: s.location),
                        notes: ["rename one of them in the file"])
                }
                for (i, column) in (read.columns ?? []).enumerated() where !header.contains(column) {
                    validator.diagnostics.error(
                        "column '\(column)' is not in the header of \(read.path)",
                        at: location("\(path).columns[\(writtenIndex(i, in: "\(path).columns"))]", or: s.location),
                        notes: Suggestion.note(for: column, in: header)
                            + ["its header: " + header.prefix(20).joined(separator: ", ")],
                        code: .unknownReference(column))
                }
            case .missing?:
                validator.diagnostics.warning(
                    "\(read.path) does not exist (yet): the run reads it from the working directory",
                    at: location("\(path).path", or: s.location))
            case .empty?:
                // The run would stop at it: "the file is empty: expected a header row".
                validator.diagnostics.error(
                    "\(read.path) is empty: expected a header row",
                    at: location("\(path).path", or: s.location),
                    notes: ["a read-csv file starts with a header row naming its columns (id,name)"])
            case .unreadable?, nil:
                break
            }
        case .query:
            break
        }
    }

    /// A field a stage reads that its input (whose fields are known) does not have.
    private mutating func missingField(_ name: String, in input: [String], from s: StageDefinition, at: SourceLocation)
    {
        validator.diagnostics.error(
            "stage '\(s.name)' reads field '\(name)', which its input '\(s.input ?? "")' does not have "
                + "(it has: \(input.joined(separator: ", ")))",
            at: at, notes: Suggestion.note(for: name, in: input), code: .unknownReference(name))
    }
}

extension PlanChecker {
    /// `paginate`: for one request per row, a GET or a POST sending its cursor, offset or page
    /// number in its body, exactly one style, each key with its partner.
    mutating func checkPaginate(
        _ paginate: PaginateSettings, _ fetch: FetchSettings, stage s: StageDefinition, path: String, shapeKnown: Bool
    ) {
        func at(_ key: String) -> SourceLocation { location("\(path).\(key)", or: s.location) }
        func error(_ message: String, at key: String, _ notes: [String] = []) {
            validator.diagnostics.error(message, at: at(key), notes: notes)
        }
        if shapeKnown, !fetch.perItem {
            error(
                "'paginate' in stage '\(s.name)': pages are followed only for one request per row, and this is a "
                    + "batch request (many ids per request)",
                at: "paginate",
                ["remove 'paginate', or give the path {field} placeholders to make one request per row"])
        } else if shapeKnown {
            for (message, key, notes) in Self.paginateMethodErrors(paginate, fetch, stage: s.name) {
                error(message, at: key, notes)
            }
        }
        let styles = paginate.styleKeys
        let allStyles =
            "next_url, link_header: true, cursor (with cursor_param), after_last (with cursor_param), "
            + "offset_param (with page_size) or page_param; for a POST, cursor_field, offset_field or page_field "
            + "instead"
        if styles.isEmpty {
            error(
                "'paginate' in stage '\(s.name)' names no way to find the next page", at: "paginate",
                ["give one of \(allStyles)"])
        } else if styles.count > 1 {
            error(
                "'paginate' in stage '\(s.name)' names \(styles.count) ways to find the next page ("
                    + styles.map { "'\($0)'" }.joined(separator: ", ") + "): give one",
                at: "paginate.\(styles[1])")
        }
        let pageSizeGiven = isGiven("page_size", in: path + ".paginate")
        let offset = paginate.offsetParam != nil || paginate.offsetField != nil
        let page = paginate.pageParam != nil || paginate.pageField != nil
        // Each key that needs another, or that only one style reads.
        let pairs: [(key: String, present: Bool, needs: String, needed: Bool, why: String)] = [
            (
                "cursor", paginate.cursor != nil, "cursor_param' or 'cursor_field",
                paginate.cursorParam != nil || paginate.cursorField != nil,
                "where the cursor is sent: a query parameter, or a POST body's key path"
            ),
            (
                "cursor_field", paginate.cursorField != nil, "cursor' or 'after_last",
                paginate.cursor != nil || paginate.afterLast != nil,
                "the key path of the answer (or of its last item) holding the cursor"
            ),
            (
                "cursor_param", paginate.cursorParam != nil, "cursor' or 'after_last",
                paginate.cursor != nil || paginate.afterLast != nil,
                "the key path of the answer (or of its last item) holding the cursor"
            ),
            (
                "end_cursor", paginate.endCursor != nil, "cursor", paginate.cursor != nil,
                "the key path of the answer holding the cursor it ends"
            ),
            (
                "after_last", paginate.afterLast != nil, "cursor_param' or 'cursor_field",
                paginate.cursorParam != nil || paginate.cursorField != nil,
                "where the last item's value is sent: a query parameter, or a POST body's key path"
            ),
            (
                "has_more", paginate.hasMore != nil,
                "cursor', 'after_last', 'offset_param', 'offset_field', 'page_param' or 'page_field",
                paginate.cursor != nil || paginate.afterLast != nil || offset || page, "the style whose end it says"
            ),
            (
                "offset_param", paginate.offsetParam != nil, "page_size", paginate.pageSize != nil,
                "the number of items a page holds, which the offset grows by"
            ),
            (
                "offset_field", paginate.offsetField != nil, "page_size", paginate.pageSize != nil,
                "the number of items a page holds, which the offset grows by"
            ),
            (
                "page_size", pageSizeGiven, "offset_param', 'offset_field', 'page_param', 'page_field' or 'after_last",
                offset || page || paginate.afterLast != nil, "the style it sizes"
            ),
            (
                "size_param", paginate.sizeParam != nil, "page_size", paginate.pageSize != nil,
                "the number of items to ask for"
            ),
            (
                "size_field", paginate.sizeField != nil, "page_size", paginate.pageSize != nil,
                "the number of items to ask for"
            ),
            (
                "first_page", paginate.firstPage != 1, "page_param' or 'page_field", page,
                "the query parameter or body member of the page number"
            ),
        ]
        for pair in pairs where pair.present && !pair.needed {
            error(
                "'paginate.\(pair.key)' in stage '\(s.name)' needs '\(pair.needs)': \(pair.why)",
                at: "paginate.\(pair.key)")
        }
    }

    /// A paged GET sends its page parameters in the query; a paged POST only in its JSON object
    /// body (`cursor_field`, `offset_field`, `page_field`, `size_field`), at key paths whose steps
    /// the body leaves free or makes objects, none inside another.
    /// - Returns: each error's message, key and notes.
    private static func paginateMethodErrors(
        _ paginate: PaginateSettings, _ fetch: FetchSettings, stage name: String
    ) -> [(String, String, [String])] {
        var errors: [(String, String, [String])] = []
        func error(_ message: String, _ key: String, _ notes: [String]) { errors.append((message, key, notes)) }
        // Each page parameter: its keys' stem, what it carries, its query parameter and its body's key path.
        let places: [(stem: String, what: String, param: String?, field: String?)] = [
            ("cursor", "cursor", paginate.cursorParam, paginate.cursorField),
            ("offset", "offset", paginate.offsetParam, paginate.offsetField),
            ("page", "page number", paginate.pageParam, paginate.pageField),
            ("size", "page size", paginate.sizeParam, paginate.sizeField),
        ]
        guard fetch.method == .post else {
            for place in places where place.field != nil {
                error(
                    "'paginate.\(place.stem)_field' in stage '\(name)' puts the \(place.what) in the request's body, "
                        + "and a GET has none", "paginate.\(place.stem)_field",
                    ["send it in the query with \(place.stem)_param"])
            }
            return errors
        }
        for place in places where place.param != nil {
            if place.field != nil {
                error(
                    "'paginate' in stage '\(name)' sends the \(place.what) both in the query (\(place.stem)_param) "
                        + "and in the body (\(place.stem)_field): give one", "paginate.\(place.stem)_field", [])
            } else if place.stem != "cursor" {
                error(
                    "'paginate.\(place.stem)_param' in stage '\(name)' sends the \(place.what) in the query, and the "
                        + "pages of a POST are asked for in its JSON body", "paginate.\(place.stem)_param",
                    ["use \(place.stem)_field, the body's key path the \(place.what) goes in"])
            }
        }
        guard paginate.cursorField != nil || paginate.offsetField != nil || paginate.pageField != nil else {
            // An offset or page number in the query is said above, with the key to use.
            guard paginate.offsetParam == nil, paginate.pageParam == nil else { return errors }
            error(
                "'paginate' in stage '\(name)': the pages of a POST are followed only by a cursor, an offset or a "
                    + "page number sent in its body, and this names no cursor_field, offset_field or page_field",
                "paginate",
                [
                    "give cursor (or after_last) with cursor_field, offset_field with page_size, or page_field: the "
                        + "body's key path it goes in; or ask with method GET"
                ])
            return errors
        }
        var set: [(stem: String, path: String)] = []
        for place in places {
            guard let field = place.field else { continue }
            let key = "paginate.\(place.stem)_field"
            if let other = set.first(where: {
                field == $0.path || field.hasPrefix($0.path + ".") || $0.path.hasPrefix(field + ".")
            }) {
                error(
                    "'\(key)' in stage '\(name)' is '\(field)', and \(other.stem)_field is '\(other.path)': one member "
                        + "cannot carry both", key, ["name another member of the body for each"])
                continue
            }
            set.append((place.stem, field))
            var step = fetch.body
            for member in field.split(separator: ".", omittingEmptySubsequences: false).map(String.init) {
                guard !member.isEmpty, case .object(let members)? = step else {
                    error(
                        "'\(key)' in stage '\(name)' is '\(field)', and the body "
                            + (member.isEmpty
                                ? "has no member with an empty name" : "is not a JSON object at each step of it")
                            + ": the \(place.what) cannot be set there", key,
                        ["name a member of the body's JSON object, or of an object in it ('variables.after')"])
                    break
                }
                step = members[member] ?? .object([:])
            }
        }
        return errors
    }

    /// A fetch's keys must fit one request shape: per item (a path with placeholders), a batch
    /// in a query parameter (GET), or a batch in a JSON body (POST).
    mutating func checkRequestShape(_ fetch: FetchSettings, stage s: StageDefinition, path: String, input: [String]?) {
        func at(_ key: String) -> SourceLocation { location("\(path).\(key)", or: s.location) }
        func given(_ key: String) -> Bool { isGiven(key, in: path) }
        // A recorded plan's value that is the key's default: what an older manifest listed.
        func isDefault(_ key: String) -> Bool {
            guard let spec = Schema.parameters(of: .fetch).first(where: { $0.name == key }) else { return false }
            return spec.defaultValue != nil && s.redactedParameters[key]?.value == spec.defaultValue
        }
        let itemBody = fetch.itemBody
        // JSON pasted into a block scalar (`body: |`) is a string: sent as one JSON string, which
        // an API that wants the object refuses. (`"{isrc}"` alone is a placeholder, not an object.)
        if case .string(let text)? = fetch.body,
            case let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines),
            (trimmed.hasPrefix("{") && trimmed.hasSuffix("}") && trimmed.contains(":"))
                || (trimmed.hasPrefix("[") && trimmed.hasSuffix("]"))
        {
            validator.diagnostics.warning(
                "'body' is a string that spells JSON: it is sent as one JSON string, not as the object or list "
                    + "it spells",
                at: at("body"),
                notes: [
                    "write the body as YAML, e.g. body: {sku: \"{sku}\", pages: \"{pages}\"} or key: value lines "
                        + "(JSON is YAML too: drop the '|' and quote each placeholder)"
                ])
        }
        // A method or a path that did not check leaves the request's shape unknown: the checks of
        // what the shape takes wait until it is mended.
        let methodKnown = !isStandIn("method", in: path) && !isStandIn("path", in: path)
        if methodKnown, let field = bodyKeyFields[fetch.connection] {
            if fetch.method == .post, case .object(let members)? = fetch.body {
                if members[field] != nil {
                    validator.diagnostics.error(
                        "'body' has '\(field)', which connection '\(fetch.connection)' fills with its key "
                            + "(auth body_field) as each request leaves", at: at("body"),
                        notes: ["remove '\(field)' from the body"])
                }
            } else {
                validator.diagnostics.error(
                    "connection '\(fetch.connection)' sends its key as the member '\(field)' of a POST's JSON body "
                        + "(auth body_field), and stage '\(s.name)' "
                        + (fetch.method == .get ? "sends GET requests" : "has no body that is a JSON object"),
                    at: at(fetch.method == .get ? "method" : "body"),
                    notes: ["use method: POST with a body that is a mapping, or auth header or query_param"])
            }
        }
        // A request's path, query and body are shown in errors and debug logs, and a per-item
        // request is its key, written to the answers and rejects files: no secret in them.
        let written = s.redactedParameters
        let sent: [(String, Value, Value?)] =
            [("path", .string(fetch.path.text), written["path"]?.value)]
            + fetch.query.map { ("query.\($0.0)", .string($0.1.text), written["query"]?[$0.0]?.value) }
            + [("body", fetch.body ?? .null, written["body"]?.value)]
        for (name, value, written) in sent {
            guard let place = Self.secretPlace(in: value, written: written, known: validator.secretTexts)
            else { continue }
            let key = name + place
            validator.diagnostics.error(
                "'\(key)' holds a secret, and a request's path, query and body are shown in errors and debug logs"
                    + (fetch.perItem
                        ? ", and a per-item request's are written to the run's answers and rejects files to name the "
                            + "row it answers" : ""),
                at: at(key),
                notes: [
                    "send the credential with the connection's 'auth' (kind: api-key with header, query_param "
                        + "or body_field, or bearer), which is never written"
                ])
        }
        if let itemsKey = fetch.itemsKey {
            checkKeyPath(
                itemsKey, key: "items_key", stage: s.name, at: at("items_key"),
                whenEmpty: "leave it out when the body itself holds the items", spelled: { "items_key: \($0)" })
        }
        if let paginate = fetch.paginate {
            checkPaginate(paginate, fetch, stage: s, path: path, shapeKnown: methodKnown)
        }
        // A fragment is never sent: what follows a '#' would silently not reach the API. (A query
        // value without placeholders is percent-encoded, '#' and all; one with them is sent as written.)
        let targets =
            [("path", fetch.path.text), ("fallback_path", fetch.fallbackPath ?? "")]
            + fetch.query.filter { $0.1.hasPlaceholders }.map { ("query.\($0.0)", $0.1.text) }
        for (key, text) in targets {
            guard let offset = Array(text).firstIndex(of: "#") else { continue }
            validator.diagnostics.error(
                "'#' in \(key) of stage '\(s.name)' starts a URL fragment, which is never sent: the request "
                    + "would end there",
                at: at(key).advanced(intoValueBy: offset), notes: ["write %23 for a '#' the API should see"])
        }
        if !methodKnown {
            // (Said where the method is written.)
        } else if fetch.perItem {
            let (place, placeholders) =
                fetch.path.hasPlaceholders ? ("path", fetch.path.fields) : ("body", itemBody?.fields ?? [])
            let why =
                "the \(place) has placeholders (\(placeholders.map { "{\($0)}" }.joined(separator: ", "))), "
                + "so fetch makes one request per row"
            // A POST's body is what a per-item POST sends.
            for key in Self.batchOnlyKeys where given(key) && !(isRecorded && isDefault(key)) {
                guard key != "body" || fetch.method == .get else { continue }
                if key == "body" {
                    // A per-item POST sends its body: the method is what is missing.
                    validator.diagnostics.error(
                        "'body' is sent only with method POST, and this request is a GET", at: at(key),
                        notes: ["add method: POST, or remove 'body'"])
                    continue
                }
                validator.diagnostics.error(
                    "'\(key)' applies to batch requests; \(why)", at: at(key),
                    notes: ["remove '\(key)', or use a batch request"])
            }
            if fetch.method == .post, let body = fetch.body, BodyTemplate.placesIDs(body) {
                validator.diagnostics.error(
                    "'body' places a batch's ids (\"{ids}\", or a list of one item holding \"{id}\"); \(why)",
                    at: at("body"),
                    notes: ["per item, write the row's fields in the body: {isbn: \"{isbn}\"} or {isbn: \"{id}\"}"])
            }
        } else {
            // An 'id' given that did not parse was reported where it is written.
            if fetch.id == nil, !given("id") {
                validator.diagnostics.error(
                    "stage '\(s.name)' needs 'id': a batch request sends each row's id", at: s.location,
                    notes: ["or give the path {field} placeholders to make one request per row"],
                    code: .missingKey("id"))
            }
            for (name, template) in fetch.query where template.hasPlaceholders {
                validator.diagnostics.error(
                    "query parameter '\(name)' has placeholders, which only a per-item request can fill",
                    at: at("query.\(name)"),
                    notes: [
                        "a batch request sends the same query for all its rows", "write {{ and }} for literal braces",
                    ])
            }
            switch (fetch.method, fetch.body) {
            case (.post, nil):
                validator.diagnostics.error(
                    "method POST needs a 'body' that places the ids, e.g. body: {ids: \"{ids}\"}", at: at("method"))
            case (.get, .some):
                validator.diagnostics.error("'body' is sent only with method POST", at: at("body"))
            case (.post, .some(let body)):
                if !BodyTemplate.placesIDs(body) {
                    validator.diagnostics.error(
                        "'body' does not say where the ids go: write the string \"{ids}\" where the list belongs, "
                            + "or a one-item list whose item holds \"{id}\"", at: at("body"),
                        notes: ["or fill it from each row, {isbn: \"{isbn}\"}, to send one request per row"])
                } else if case let fields = ItemBodyTemplate(body).fields.filter({ $0 != "ids" && $0 != "id" }),
                    !fields.isEmpty
                {
                    validator.diagnostics.warning(
                        "'body' places a batch's ids, so it is one body for all the rows of a request: "
                            + fields.map { "{\($0)}" }.joined(separator: ", ") + " is sent as written",
                        at: at("body"), notes: ["write {{ and }} if the braces are meant"])
                }
                for key in Self.queryBatchKeys where given(key) && !(isRecorded && isDefault(key)) {
                    validator.diagnostics.error(
                        "'\(key)' applies to GET batch requests; this one sends its ids in 'body'", at: at(key))
                }
            case (.get, nil):
                break
            }
            if fetch.method == .get, fetch.idsRepeat, given("id_separator") {
                validator.diagnostics.error(
                    "'id_separator' has no use with ids_repeat: true: each id is a parameter of its own",
                    at: at("id_separator"))
            } else if fetch.method == .get, fetch.idSeparator.isEmpty {
                validator.diagnostics.error("id_separator must not be empty", at: at("id_separator"))
            }
            // `?=a,b`: a parameter without a name, which no API reads as the ids.
            if fetch.method == .get, fetch.idsParam.isEmpty {
                validator.diagnostics.error(
                    "ids_param of stage '\(s.name)' must not be empty: it names the query parameter that carries the ids",
                    at: at("ids_param"), notes: ["e.g. ids_param: ids, for ?ids=a,b,c"])
            }
            if case .itemField(let field) = fetch.match, !isStandIn("match.item_field", in: path) {
                checkKeyPath(
                    field, key: "match.item_field", stage: s.name, at: at("match.item_field"),
                    whenEmpty: "it names the key of each item that holds its id",
                    spelled: { "match: {item_field: \($0)}" })
            }
        }
        // They see the answer item alone, not the row: any other field is a mistake (once the
        // answer's name is known).
        for (key, expression) in [("not_found_when", fetch.notFoundWhen), ("retry_when", fetch.retryWhen)]
        where !isStandIn("response_field", in: path) {
            for field in expression?.fields ?? [] where field != fetch.responseField {
                validator.diagnostics.error(
                    "\(key) reads '\(field)', but it sees only the answer item, as '\(fetch.responseField)'",
                    at: at(key), notes: ["e.g. \(fetch.responseField).status == 'error'"])
            }
        }
        if fetch.idPattern != nil, fetch.id == nil {
            validator.diagnostics.error(
                "'id_pattern' checks the 'id', which this stage does not set", at: at("id_pattern"))
        }
        // Fields the requests read that the input does not have, when the input's fields are known.
        var placeholders: [(key: String, name: String, at: SourceLocation)] = []
        for (key, template) in [("path", fetch.path)] + fetch.query.map({ ("query.\($0.0)", $0.1) }) {
            for case .field(let name, let offset) in template.parts {
                placeholders.append((key, name, at(key).advanced(intoValueBy: offset)))
            }
        }
        if fetch.perItem, let itemBody {
            placeholders += itemBody.uses.map { use in
                ("body" + use.path, use.field, at("body" + use.path).advanced(intoValueBy: use.offset))
            }
        }
        var warnedOfID = false
        for (key, name, place) in placeholders {
            if name == "id", let id = fetch.id {
                // The expression wins over a field of that name: say so once, it surprises.
                if let input, input.contains("id"), !warnedOfID {
                    warnedOfID = true
                    validator.diagnostics.warning(
                        "{id} in \(key) is the stage's 'id' expression (\(id)), not the input's field 'id'",
                        at: place, notes: ["to send the field, give the expression another name in a transform"])
                }
            } else if let input, !input.contains(name) {
                validator.diagnostics.error(
                    "{\(name)} in \(key) names a field the input does not have", at: place,
                    notes: Suggestion.note(for: name, in: input)
                        + (name == "id" ? ["or set 'id', the expression {id} stands for"] : [])
                        + (name == "ids" ? ["\"{ids}\" places a batch's id list only as a string of its own"] : [])
                        + (name.hasSuffix("?")
                            ? [
                                "'?' (the field may be empty) is for a body's placeholders: a path or query needs the value"
                            ]
                            : [])
                        + ["the input has: " + input.joined(separator: ", ")],
                    code: .unknownReference(name))
            }
        }
        if let input, let id = fetch.id {
            for field in id.fields where !input.contains(field) {
                validator.diagnostics.error(
                    "id '\(id)' reads field '\(field)', which the input does not have", at: at("id"),
                    notes: Suggestion.note(for: field, in: input) + ["the input has: " + input.joined(separator: ", ")],
                    code: .unknownReference(field))
            }
        }
    }

    /// A key path into an answer (`data.results`): not empty, and no empty key before, between or
    /// after its dots, which would name nothing (an answer's key path is looked up key by key).
    /// `spelled`: how the plan writes `key` with a path, for the note that mends it.
    mutating func checkKeyPath(
        _ path: String, key: String, stage: String, at location: SourceLocation, whenEmpty: String,
        spelled: (String) -> String
    ) {
        guard !path.isEmpty else {
            validator.diagnostics.error("\(key) of stage '\(stage)' must not be empty: \(whenEmpty)", at: location)
            return
        }
        guard let empty = Expression.PathComponent.emptyKey(in: path) else { return }
        let parts = path.split(separator: ".")
        validator.diagnostics.error(
            "\(key) '\(path)' of stage '\(stage)' has an empty key \(empty.place): each dot separates two keys of a key path",
            at: location.advanced(intoValueBy: empty.offset),
            notes: parts.isEmpty ? [] : ["write " + spelled(parts.joined(separator: "."))])
    }

    /// The fields of the rows each stage sends, by name, when the plan says them (a stage that
    /// is not there: known only at run time). One pass in plan order: a stage's input comes
    /// before it (or is reported), so its fields are known by then.
    func knownFields(of stages: [CheckedStage]) -> [String: [String]] {
        var known: [String: [String]] = [:]
        // A name two stages have (reported) does not say which one a stage after them reads.
        var named = Set<String>()
        let duplicated = Set(stages.map(\.name).filter { !named.insert($0).inserted })
        for stage in stages where !duplicated.contains(stage.name) {
            // An 'input' that did not check (or is misspelt): the stage just before stands in for the
            // one it names, whose fields are not known.
            let input = isStandIn("input", in: "stages.\(stage.name)") ? nil : stage.input.flatMap { known[$0] }
            // From the values that checked, not the definition: a stage with one wrong setting (a
            // chunk of size 0, a query's unknown connection) still passes its fields on, so the
            // stages after it are checked too and one mistake does not hide the others.
            let fields: [String]?
            switch stage.kind {
            case .query: fields = stage.values["sql"]?.string.flatMap { SelectColumns.names(in: $0) }
            case .chunk, .validate, .writeCSV: fields = input
            case .fetch:
                // A response_field that did not check (or is misspelt) names the answer's field:
                // what the stages after it read of the answer waits until it is mended.
                let answer = stage.values["response_field"]?.string ?? "response"
                fields =
                    isStandIn("response_field", in: "stages.\(stage.name)")
                    ? nil : input.map { $0.contains(answer) ? $0 : $0 + [answer] }
            default:
                switch stage.definition?.configuration {
                case .readCSV(let read)?:
                    switch (read.columns, csvHeaders[read.path]) {
                    case (let columns?, .header(let header)?):
                        // A listed column the header lacks is reported there; the stages after it
                        // are not also told to read the misspelling.
                        fields = columns.allSatisfy(header.contains) ? columns : nil
                    case (let columns?, _): fields = columns
                    case (nil, .header(let header)?): fields = header
                    case (nil, _): fields = nil
                    }
                case .transform(let transform)?:
                    let own = transform.fields.map(\.name)
                    // With a keep_input that did not check, the input's fields may be passed on or
                    // not: a field that is neither its own nor its input's is a mistake either way.
                    let keeps = transform.keepInput || isStandIn("keep_input", in: "stages.\(stage.name)")
                    // Fields that did not check: what the transform passes on is not known.
                    fields =
                        isStandIn("fields", in: "stages.\(stage.name)")
                        ? nil : keeps ? input.map { own + $0.filter { !own.contains($0) } } : own
                default: fields = nil
                }
            }
            if let fields { known[stage.name] = fields }
        }
        return known
    }
}
