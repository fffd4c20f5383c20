import SluiceCore

/// Reads one validated parameter tree into typed settings.
///
/// The validator has filled every default from the ``Schema`` and parsed every expression,
/// so a key that is required or has a default is always here, and nothing is defaulted or
/// parsed again. A key that is not here was wrong and already reported: decoding throws
/// ``Missing`` and the stage gets no configuration.
struct ParameterReader {
    var value: PlanValue
    /// The dotted path the validator used for this value (`stages.fetch.query`).
    var path: String
    var parsed: [String: Validator.Parsed]
    /// ``Validator/standIns``: a list's items that did not check are not among its values.
    var standIns: Set<String>

    /// A value the typed plan needs is absent or of the wrong shape (already reported).
    struct Missing: Error {
        var path: String
    }

    func optional(_ key: String) -> ParameterReader? {
        value[key].map { ParameterReader(value: $0, path: path + "." + key, parsed: parsed, standIns: standIns) }
    }

    func need(_ key: String) throws(Missing) -> ParameterReader {
        guard let reader = optional(key) else { throw Missing(path: path + "." + key) }
        return reader
    }

    /// The entries of a mapping, in the order written.
    var entries: [(key: String, reader: ParameterReader)] {
        value.entries.map {
            ($0.key, ParameterReader(value: $0.value, path: path + "." + $0.key, parsed: parsed, standIns: standIns))
        }
    }

    /// The items of a list, each with the path it was validated at.
    var items: [ParameterReader] {
        let written = Validator.writtenIndices(value.items.count, in: path, standIns: standIns)
        return zip(written, value.items).map {
            ParameterReader(value: $1, path: "\(path)[\($0)]", parsed: parsed, standIns: standIns)
        }
    }

    /// This value as a `T`, read by `get` (`\.string`, `\.int`, ...).
    func read<T>(_ get: (PlanValue) -> T?) throws(Missing) -> T {
        guard let value = get(value) else { throw Missing(path: path) }
        return value
    }

    func string() throws(Missing) -> String { try read(\.string) }
    func int() throws(Missing) -> Int { try read(\.int) }
    func double() throws(Missing) -> Double { try read(\.double) }
    func bool() throws(Missing) -> Bool { try read(\.bool) }

    func scalars() -> [Value] { value.items.compactMap(\.scalarValue) }

    func choice<T: RawRepresentable>(_: T.Type) throws(Missing) -> T where T.RawValue == String {
        guard let text = value.string, let choice = T(rawValue: text) else { throw Missing(path: path) }
        return choice
    }

    func expression() throws(Missing) -> Expression {
        guard case .expression(let e) = parsed[path] else { throw Missing(path: path) }
        return e
    }

    func template() throws(Missing) -> RequestTemplate {
        guard let text = value.string, let template = try? RequestTemplate(text) else { throw Missing(path: path) }
        return template
    }

    func expectation() throws(Missing) -> Expectation {
        guard case .expectation(let e) = parsed[path] else { throw Missing(path: path) }
        return e
    }

    // Shorthands for a key of this mapping.
    func string(_ key: String) throws(Missing) -> String { try need(key).string() }
    func int(_ key: String) throws(Missing) -> Int { try need(key).int() }
    func double(_ key: String) throws(Missing) -> Double { try need(key).double() }
    func bool(_ key: String) throws(Missing) -> Bool { try need(key).bool() }
    func choice<T: RawRepresentable>(_ key: String, _ type: T.Type) throws(Missing) -> T where T.RawValue == String {
        try need(key).choice(type)
    }
}

extension StageConfiguration {
    /// The typed parameters of a stage of `kind`.
    static func decode(_ kind: StageKind, from r: ParameterReader) throws(ParameterReader.Missing) -> Self {
        switch kind {
        case .query:
            return .query(
                QuerySettings(
                    connection: try r.string("connection"), sql: try r.string("sql"),
                    params: try r.need("params").scalars(), batchSize: try r.int("batch_size"),
                    countFirst: try r.bool("count_first")))
        case .readCSV:
            return .readCSV(
                ReadCSVSettings(
                    path: try r.string("path"),
                    columns: try r.optional("columns")?.items.map { item throws(ParameterReader.Missing) in
                        try item.string()
                    }, batchSize: try r.int("batch_size")))
        case .chunk:
            return .chunk(ChunkSettings(size: try r.int("size")))
        case .fetch:
            let match: MatchMode
            if let field = try r.need("match").optional("item_field")?.string() {
                match = .itemField(field)
            } else {
                match = try r.string("match") == "object_keys" ? .objectKeys : .position
            }
            return .fetch(
                FetchSettings(
                    connection: try r.string("connection"), path: try r.need("path").template(),
                    method: try r.choice("method", HTTPMethod.self), id: try r.optional("id")?.expression(),
                    idPattern: try r.optional("id_pattern")?.string(), idsParam: try r.string("ids_param"),
                    idPrefix: try r.string("id_prefix"), idSeparator: try r.string("id_separator"),
                    idsRepeat: try r.bool("ids_repeat"),
                    maxIDs: try r.int("max_ids"),
                    query: try r.need("query").entries.map { entry throws(ParameterReader.Missing) in
                        (entry.key, try entry.reader.template())
                    },
                    body: r.optional("body")?.value.value,
                    bodyKeyOrder: r.optional("body")?.value.jsonKeyOrder ?? .sorted, match: match,
                    itemsKey: try r.optional("items_key")?.string(),
                    paginate: try r.optional("paginate").map { p throws(ParameterReader.Missing) in
                        PaginateSettings(
                            nextURL: try p.optional("next_url")?.string(),
                            linkHeader: try p.optional("link_header")?.bool(),
                            cursor: try p.optional("cursor")?.string(),
                            cursorParam: try p.optional("cursor_param")?.string(),
                            cursorField: try p.optional("cursor_field")?.string(),
                            endCursor: try p.optional("end_cursor")?.string(),
                            afterLast: try p.optional("after_last")?.string(),
                            hasMore: try p.optional("has_more")?.string(),
                            offsetParam: try p.optional("offset_param")?.string(),
                            offsetField: try p.optional("offset_field")?.string(),
                            pageParam: try p.optional("page_param")?.string(),
                            pageField: try p.optional("page_field")?.string(), firstPage: try p.int("first_page"),
                            pageSize: try p.optional("page_size")?.int(),
                            sizeParam: try p.optional("size_param")?.string(),
                            sizeField: try p.optional("size_field")?.string(), maxPages: try p.int("max_pages"))
                    },
                    fallbackPath: try r.optional("fallback_path")?.string(),
                    fallbackNote: try r.optional("fallback_note")?.string(),
                    responseField: try r.string("response_field"), delay: try r.double("delay"),
                    rate: try r.optional("rate")?.int(), concurrency: try r.int("concurrency"),
                    timeout: try r.double("timeout"), retries: try r.int("retries"), backoff: try r.double("backoff"),
                    maxBackoff: try r.double("max_backoff"), maxRetryAfter: try r.double("max_retry_after"),
                    throttleStatuses: try r.need("throttle_statuses").items.map {
                        item throws(ParameterReader.Missing) in
                        try item.int()
                    },
                    onNotFound: try r.choice("on_not_found", NotFoundPolicy.self),
                    onGiveUp: try r.choice("on_give_up", GiveUpPolicy.self),
                    notFoundWhen: try r.optional("not_found_when")?.expression(),
                    retryWhen: try r.optional("retry_when")?.expression()))
        case .transform:
            var whenEmpty: [String: String] = [:]
            for entry in try r.need("when_empty").entries { whenEmpty[entry.key] = try entry.reader.string() }
            return .transform(
                TransformSettings(
                    fields: try r.need("fields").entries.map { entry throws(ParameterReader.Missing) in
                        (name: entry.key, expression: try entry.reader.expression())
                    },
                    keepInput: try r.bool("keep_input"), whenEmpty: whenEmpty))
        case .validate:
            return .validate(
                ValidateSettings(
                    rules: try r.need("rules").entries.map { entry throws(ParameterReader.Missing) in
                        let rule = entry.reader
                        return ValidationRule(
                            field: entry.key, type: try rule.choice("type", ValueType.self),
                            required: try rule.bool("required"), min: try rule.optional("min")?.double(),
                            max: try rule.optional("max")?.double(), pattern: try rule.optional("pattern")?.string(),
                            oneOf: rule.optional("one_of")?.scalars(), maxLength: try rule.optional("max_length")?.int()
                        )
                    },
                    onInvalid: try r.choice("on_invalid", InvalidPolicy.self)))
        case .writeCSV:
            return .writeCSV(
                WriteCSVSettings(
                    path: PathTemplate(try r.string("path")),
                    columns: try r.need("columns").items.map { item throws(ParameterReader.Missing) in
                        try item.string()
                    },
                    header: try r.bool("header")))
        case .apply:
            let key = try r.string("key")
            return .apply(
                ApplySettings(
                    connection: try r.string("connection"), table: try r.string("table"), key: key,
                    keyField: try r.optional("key_field")?.string() ?? key,
                    columns: try r.need("columns").entries.map { entry throws(ParameterReader.Missing) in
                        ApplyColumn(
                            column: entry.key, from: try entry.reader.optional("from")?.string() ?? entry.key,
                            onEmpty: try entry.reader.choice("on_empty", EmptyPolicy.self),
                            maxCleared: entry.reader.optional("max_cleared").flatMap { RowLimit($0.value) },
                            maxUpdated: entry.reader.optional("max_updated").flatMap { RowLimit($0.value) },
                            minCoverage: try entry.reader.optional("min_coverage")?.double())
                    },
                    mode: try r.choice("mode", ApplyMode.self), dryRun: try r.bool("dry_run"),
                    onDrift: try r.choice("on_drift", DriftPolicy.self),
                    maxChanged: r.optional("max_changed").flatMap { RowLimit($0.value) },
                    maxUnknown: r.optional("max_unknown").flatMap { RowLimit($0.value) },
                    analyze: try r.bool("analyze")))
        case .verify:
            return .verify(
                VerifySettings(
                    connection: try r.string("connection"),
                    checks: try r.need("checks").items.map { check throws(ParameterReader.Missing) in
                        let sql = try check.string("sql")
                        let expect = try check.need("expect")
                        let expectations =
                            if case .map = expect.value {
                                try expect.entries.map { column, reader throws(ParameterReader.Missing) in
                                    ColumnExpectation(column: column, expect: try reader.expectation())
                                }
                            } else {
                                [ColumnExpectation(column: nil, expect: try expect.expectation())]
                            }
                        return VerifyCheck(
                            name: try check.optional("name")?.string() ?? sql, sql: sql, expectations: expectations)
                    }))
        }
    }
}

extension ConnectionConfiguration {
    /// The typed parameters of a connection of `kind`.
    static func decode(_ kind: ConnectionKind, from r: ParameterReader) throws(ParameterReader.Missing) -> Self {
        switch kind {
        case .postgres:
            return .postgres(
                PostgresSettings(
                    url: Secret(try r.string("url")), connectTimeout: try r.double("connect_timeout"),
                    statementTimeout: try r.optional("statement_timeout")?.double()))
        case .http:
            var auth: HTTPAuthSettings?
            if let a = r.optional("auth") {
                switch try a.string("kind") {
                case "bearer": auth = .bearer(token: Secret(try a.string("token")))
                case "basic":
                    auth = .basic(
                        username: Secret(try a.string("username")), password: Secret(try a.string("password")))
                case "api-key":
                    // The checker made sure there is exactly one place.
                    let place = APIKeyPlace.allCases.first { a.optional($0.rawValue) != nil } ?? .header
                    auth = .apiKey(name: try a.string(place.rawValue), place: place, key: Secret(try a.string("key")))
                default:
                    auth = .oauth2(
                        OAuth2Settings(
                            tokenURL: try a.string("token_url"), clientID: try a.string("client_id"),
                            clientSecret: Secret(try a.string("client_secret")),
                            scope: try a.optional("scope")?.string(), audience: try a.optional("audience")?.string(),
                            clientAuth: try a.optional("client_auth")?.string() ?? "basic"))
                }
            }
            return .http(
                HTTPSettings(
                    baseURL: try r.string("base_url"), auth: auth,
                    headers: try r.need("headers").entries.map { entry throws(ParameterReader.Missing) in
                        (entry.key, Secret(try entry.reader.string()))
                    }))
        }
    }
}
