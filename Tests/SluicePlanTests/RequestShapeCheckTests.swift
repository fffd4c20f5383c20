import Foundation
import SluiceCore
import Testing

@testable import SluicePlan

/// `sluice check` on the request shapes, match rules and auth kinds: each mistake is an error
/// at the key (or the character) that makes it.
@Suite struct RequestShapeCheckTests {
    /// A plan whose fetch stage has `fetch` lines and whose http connection has `connection` lines.
    static func plan(
        fetch: String, connection: String = "", sql: String = "SELECT id AS track_id, isrc FROM tracks"
    )
        -> String
    {
        """
        version: 1
        name: shapes
        connections:
          db: { kind: postgres, url: "postgresql://127.0.0.1/db" }
          api:
            kind: http
            base_url: http://127.0.0.1:9
        \(connection.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        stages:
          - kind: query
            connection: db
            sql: \(sql)
          - kind: fetch
            connection: api
        \(fetch.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """
    }

    /// The answer's field named like one of the input's would replace it in every row (the
    /// tester's `response_field: item` lost the ids the rows were asked by): refused where it is
    /// named, or at the stage when the default `response` is the one the input has.
    @Test func anAnswerFieldTheInputHasAlreadyIsRefused() throws {
        let named = errors(Self.plan(fetch: "path: /isrc/{isrc}\nresponse_field: isrc"))
        #expect(
            named.map(\.message) == [
                "stage 'fetch' puts each answer in field 'isrc', which its input 'query' has already: the answer "
                    + "would replace it in every row"
            ], "\(named)")
        #expect(named.first?.location?.line == 16, "\(named)")
        let byDefault = errors(
            Self.plan(fetch: "path: /isrc/{isrc}", sql: "SELECT id AS track_id, isrc, response FROM tracks"))
        #expect(byDefault.first?.message.contains("in field 'response', which its input") == true, "\(byDefault)")
        #expect(byDefault.first?.notes.first?.hasPrefix("set response_field to a name the input lacks") == true)
        _ = try load(Self.plan(fetch: "path: /isrc/{isrc}\nresponse_field: answer"))
    }

    @Test func perItemPathWithQueryTemplatesLoads() throws {
        let plan = try load(Self.plan(fetch: "path: /isrc/{isrc}\nquery: { fmt: json, track: \"{track_id}\" }"))
        let fetch = try #require(plan.stage(named: "fetch")?.fetch)
        #expect(fetch.perItem)
        #expect(fetch.path.fields == ["isrc"])
        #expect(fetch.id == nil)
    }

    /// A per-item fetch's resolved plan (what a manifest records, and a replay of an edited
    /// plan loads) leaves out the batch keys' defaults; one recorded with them (manifests of
    /// earlier versions did) loads as a recorded plan, and only with the defaults.
    @Test func aRecordedPerItemPlanListingTheBatchDefaultsLoads() throws {
        let plan = try load(Self.plan(fetch: "path: /isrc/{isrc}"))
        let resolved = plan.resolved["stages"]?.items.last
        #expect(resolved?["max_ids"] == nil && resolved?["match"] == nil && resolved?["id_separator"] == nil)
        #expect(resolved?["path"]?.string == "/isrc/{isrc}")

        let older = Self.plan(fetch: "path: /isrc/{isrc}\nmax_ids: 50\nmatch: position\nid_separator: \",\"")
        var loader = PlanLoader(environment: [:])
        #expect(throws: PlanError.self) { try loader.load(bytes: Array(older.utf8), path: "older.json") }
        loader.isRecorded = true
        #expect(
            try loader.load(bytes: Array(older.utf8), path: "older.json").stage(named: "fetch")?.fetch?.perItem == true)
        let changed = Self.plan(fetch: "path: /isrc/{isrc}\nmax_ids: 10")
        #expect(throws: PlanError.self) { try loader.load(bytes: Array(changed.utf8), path: "older.json") }
    }

    /// An 'id' that does not parse is reported once, where it is written: not also as missing.
    /// A pattern given with --set unquoted reads as a YAML list; the error says to quote it.
    @Test func anIDThatDoesNotParseIsNotAlsoMissingAndAnUnquotedPatternIsExplained() {
        let found = errors(Self.plan(fetch: "path: /tracks\nid: \"upper(\""))
        #expect(found.count == 1, "\(found.map(\.message))")
        #expect(!found.contains { $0.message.contains("needs 'id'") })
        let pattern = errors(Self.plan(fetch: "path: /tracks\nid: isrc"), overrides: ["fetch.id_pattern=[a-z0-9]+"])
        #expect(
            pattern.first?.notes.contains {
                $0.contains(
                    #"to give it as text (a pattern, a separator), quote it: --set 'fetch.id_pattern="[a-z0-9]+"'"#)
            } == true, "\(pattern.map(\.notes))")
        #expect(
            errors(Self.plan(fetch: "path: /tracks\nid: isrc"), overrides: [#"fetch.id_pattern="[a-z0-9]+""#]).isEmpty)
    }

    @Test func theThreeShapesLoadWithTheirMatchRules() throws {
        let books = try load(
            Self.plan(fetch: "path: /api/books\nid: isrc\nids_param: bibkeys\nid_prefix: \"ISBN:\"\nmatch: object_keys")
        )
        #expect(books.stage(named: "fetch")?.fetch?.match == .objectKeys)
        #expect(books.stage(named: "fetch")?.fetch?.idPrefix == "ISBN:")
        let vendor = try load(
            Self.plan(
                fetch: "path: /v1/lookup\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\", fields: [a, b] }\n"
                    + "match: { item_field: meta.id }"))
        let fetch = try #require(vendor.stage(named: "fetch")?.fetch)
        #expect(fetch.match == .itemField("meta.id"))
        #expect(fetch.body == .object(["ids": "{ids}", "fields": .array(["a", "b"])]))
        #expect(fetch.method == .post)
        let repeated = try load(Self.plan(fetch: "path: /v3/lookup\nid: isrc\nids_param: id\nids_repeat: true"))
        #expect(repeated.stage(named: "fetch")?.fetch?.idsRepeat == true)
    }

    /// A POST batch's resolved plan (what a manifest records, and a replay loads) leaves out the
    /// GET keys' defaults; one recorded with them (manifests of earlier versions did) loads as a
    /// recorded plan.
    @Test func aRecordedPostPlanListingTheGETDefaultsLoads() throws {
        let post = "path: /lookup\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\" }"
        let plan = try load(Self.plan(fetch: post))
        let resolved = plan.resolved["stages"]?.items.last
        #expect(resolved?["ids_param"] == nil && resolved?["id_separator"] == nil && resolved?["ids_repeat"] == nil)
        #expect(resolved?["max_ids"] != nil)

        let older = Self.plan(fetch: post + "\nids_param: ids\nid_separator: \",\"\nids_repeat: false")
        var loader = PlanLoader(environment: [:])
        #expect(throws: PlanError.self) { try loader.load(bytes: Array(older.utf8), path: "older.json") }
        loader.isRecorded = true
        #expect(
            try loader.load(bytes: Array(older.utf8), path: "older.json").stage(named: "fetch")?.fetch?.method == .post)
    }

    /// Each mistake, the message it gets and the line and column it points at.
    @Test(arguments: [
        ("path: /isrc/{isrc}\nids_param: ids", "'ids_param' applies to batch requests", 16, 16),
        ("path: /isrc/{isrc}\nid: isrc\nid_prefix: \"X:\"", "'id_prefix' applies to batch requests", 17, 16),
        ("path: /isrc/{isrc}\nmatch: object_keys", "'match' applies to batch requests", 16, 12),
        ("path: /isrc/{isrcc}", "{isrcc} in path names a field the input does not have", 15, 17),
        ("path: /isrc/{id}", "{id} in path names a field the input does not have", 15, 17),
        ("path: /isrc/{isrc\nid: x", "'{' without '}'", 15, 17),
        ("path: /tracks", "needs 'id': a batch request sends each row's id", 13, 5),
        ("path: /lookup\nmethod: POST\nid: isrc", "method POST needs a 'body'", 16, 13),
        ("path: /lookup\nid: isrc\nbody: { ids: x }", "'body' is sent only with method POST", 17, 11),
        ("path: /lookup\nmethod: POST\nid: isrc\nbody: { ids: [x] }", "'body' does not say where the ids go", 18, 11),
        ("path: /tracks\nid: isrc\nquery: { q: \"{isrc}\" }", "query parameter 'q' has placeholders", 17, 17),
        ("path: /isrc/{isrc}\nids_repeat: true", "'ids_repeat' applies to batch requests", 16, 17),
        (
            "path: /isrc/{isrc}\nnot_found_when: isrc == 'x'",
            "not_found_when reads 'isrc', but it sees only the answer item, as 'response'", 16, 21
        ),
        (
            "path: /isrc/{isrc}\nretry_when: isrc == 'x'",
            "retry_when reads 'isrc', but it sees only the answer item, as 'response'", 16, 17
        ),
        (
            "path: /lookup\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\" }\nids_repeat: true",
            "'ids_repeat' applies to GET batch requests", 19, 17
        ),
        (
            "path: /lookup\nid: isrc\nids_param: id\nids_repeat: true\nid_separator: \"|\"",
            "'id_separator' has no use with ids_repeat: true", 19, 19
        ),
        // Empty names and key paths with an empty key: refused, not run as `?=a,b` or a lookup of "".
        ("path: /tracks\nid: isrc\nids_param: \"\"", "ids_param of stage 'fetch' must not be empty", 17, 16),
        (
            "path: /tracks\nid: isrc\nmatch: { item_field: \"\" }",
            "match.item_field of stage 'fetch' must not be empty", 17, 26
        ),
        (
            "path: /tracks\nid: isrc\nmatch: { item_field: meta..id }",
            "match.item_field 'meta..id' of stage 'fetch' has an empty key between two dots", 17, 30
        ),
        ("path: /tracks\nid: isrc\nitems_key: \"\"", "items_key of stage 'fetch' must not be empty", 17, 16),
        (
            "path: /tracks\nid: isrc\nitems_key: data..results",
            "items_key 'data..results' of stage 'fetch' has an empty key between two dots", 17, 20
        ),
        (
            "path: /tracks\nid: isrc\nitems_key: .data",
            "items_key '.data' of stage 'fetch' has an empty key before its first dot", 17,
            16
        ),
        (
            "path: /isrc/{isrc}\nitems_key: \"data.\"",
            "items_key 'data.' of stage 'fetch' has an empty key after its last dot", 16, 21
        ),
        // A fragment is never sent: at the '#'.
        ("path: /books#x\nid: isrc", "'#' in path of stage 'fetch' starts a URL fragment, which is never sent", 15, 17),
        (
            "path: /isrc/{isrc}\nquery: { q: \"a#{isrc}\" }", "'#' in query.q of stage 'fetch' starts a URL fragment",
            16, 19
        ),
        (
            "path: /tracks\nid: isrc\nfallback_path: \"/t/{id}#x\"",
            "'#' in fallback_path of stage 'fetch' starts a URL fragment", 17, 28
        ),
        ("path: /tracks\nid: spotify_id", "id 'spotify_id' reads field 'spotify_id'", 16, 9),
        // Per-item POST: a body filled from the row.
        ("path: /lookup\nmethod: POST\nbody: { isbn: \"{isrcc}\" }", "{isrcc} in body.isbn names a field", 17, 20),
        (
            "path: /lookup\nmethod: POST\nbody: { q: { a: [ \"x {isrx}\" ] } }",
            "{isrx} in body.q.a[0] names a field", 17, 26
        ),
        // In a block scalar: on the block's line that holds it, literal or folded alike.
        (
            "path: /lookup\nmethod: POST\nbody:\n  text: |\n    Summary of\n    ISRC {isrx} now",
            "{isrx} in body.text names a field", 20, 14
        ),
        (
            "path: /lookup\nmethod: POST\nbody:\n  text: >\n    Summary of\n    ISRC {isrx} now",
            "{isrx} in body.text names a field", 20, 14
        ),
        (
            "path: /lookup\nmethod: POST\nbody: { isbn: \"{id}\" }",
            "{id} in body.isbn names a field the input does not have", 17, 20
        ),
        (
            "path: /lookup/{isrc}\nbody: { a: 1 }", "'body' is sent only with method POST, and this request is a GET",
            16, 11
        ),
        (
            "path: /lookup/{isrc}\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\" }",
            "'body' places a batch's ids", 18, 11
        ),
        (
            "path: /lookup\nmethod: POST\nbody: { isrc: \"{isrc}\" }\nmax_ids: 10",
            "'max_ids' applies to batch requests; the body has placeholders ({isrc})", 18, 14
        ),
        (
            "path: /lookup\nmethod: POST\nbody: { isrc: \"{isrc}\", key: \"${API_KEY}\" }", "'body.key' holds a secret",
            17, 34
        ),
        ("path: /isrc/{isrc}\nquery: { key: \"${API_KEY}\" }", "'query.key' holds a secret", 16, 19),
        // A batch request's URL is shown in errors and debug logs too.
        ("path: /tracks\nid: isrc\nquery: { apikey: \"${API_KEY}\" }", "'query.apikey' holds a secret", 17, 22),
        (
            "path: /tracks\nid: isrc\nmethod: POST\nbody: { ids: \"{ids}\", key: \"${API_KEY}\" }",
            "'body.key' holds a secret, and a request's path, query and body are shown", 18, 32
        ),
        (
            "path: /tracks\nid: isrc\nmatch: keys",
            "must be one of position, object_keys, or a mapping {item_field: ...}", 17, 12
        ),
    ])
    func mistakesAreLocated(fetch: String, message: String, line: Int, column: Int) {
        let found = errors(Self.plan(fetch: fetch), env: ["API_KEY": "s3cret-value"])
        let error = found.first { $0.message.contains(message) }
        #expect(error != nil, "\(found.map(\.message))")
        #expect(error?.location?.line == line, "\(found.map(\.message))")
        #expect(error?.location?.column == column, "\(found.map(\.message))")
    }

    /// A key path with an empty key (a doubled, leading or trailing dot) says how to write it
    /// without; an empty `ids_param` says what it is for.
    @Test func anEmptyKeyOrNameSaysHowToWriteIt() {
        let items = errors(Self.plan(fetch: "path: /tracks\nid: isrc\nitems_key: .data..results."))
        #expect(items.map(\.notes) == [["write items_key: data.results"]], "\(items.map(\.message))")
        let field = errors(Self.plan(fetch: "path: /tracks\nid: isrc\nmatch: { item_field: \"meta..id\" }"))
        #expect(field.map(\.notes) == [["write match: {item_field: meta.id}"]], "\(field.map(\.message))")
        let param = errors(Self.plan(fetch: "path: /tracks\nid: isrc\nids_param: \"\""))
        #expect(param.map(\.notes) == [["e.g. ids_param: ids, for ?ids=a,b,c"]], "\(param.map(\.message))")
        // A key path whose dots each sit between two keys is fine.
        #expect(
            errors(Self.plan(fetch: "path: /lookup\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\" }\nitems_key: a.b"))
                .isEmpty)
    }

    /// A wrong setting in one stage does not hide the field mistakes after it: a chunk of size
    /// 0, or a query on an undefined connection, still passes its fields on.
    @Test func aWrongSettingUpstreamDoesNotHideAFieldMistakeDownstream() {
        let chunked = Self.plan(fetch: "path: /isrc/{isrcc}").replacingOccurrences(
            of: "  - kind: fetch", with: "  - kind: chunk\n    size: 0\n  - kind: fetch")
        let messages = errors(chunked).map(\.message)
        #expect(messages.contains { $0.contains("'size' in stage 'chunk' is 0") }, "\(messages)")
        #expect(
            messages.contains { $0.contains("{isrcc} in path names a field the input does not have") }, "\(messages)")

        let unconnected = Self.plan(fetch: "path: /isrc/{isrcc}").replacingOccurrences(
            of: "connection: db", with: "connection: dbb")
        let more = errors(unconnected).map(\.message)
        #expect(more.contains { $0.contains("undefined connection 'dbb'") }, "\(more)")
        #expect(more.contains { $0.contains("{isrcc} in path names a field the input does not have") }, "\(more)")
    }

    /// A POST body with row fields and no id list is one request per row, the stage's `id`
    /// optional; a fixed body with a per-item path is sent as it is. A batch body naming a row
    /// field is a warning: it is one body for all the rows.
    @Test func aPostBodyFilledFromTheRowIsOneRequestPerRow() throws {
        let plan = try load(Self.plan(fetch: "path: /lookup\nmethod: POST\nbody: { isrc: \"{isrc}\", n: 2 }"))
        let fetch = try #require(plan.stage(named: "fetch")?.fetch)
        #expect(fetch.perItem)
        #expect(fetch.itemBody?.fields == ["isrc"])
        let resolved = plan.resolved["stages"]?.items.last
        #expect(resolved?["max_ids"] == nil && resolved?["ids_param"] == nil)

        let fixed = try load(Self.plan(fetch: "path: /lookup/{isrc}\nmethod: POST\nbody: { fields: [title] }"))
        #expect(fixed.stage(named: "fetch")?.fetch?.perItem == true)

        let batch = try load(
            Self.plan(fetch: "path: /lookup\nmethod: POST\nid: isrc\nbody: { ids: \"{ids}\", m: \"{market}\" }"))
        #expect(batch.stage(named: "fetch")?.fetch?.perItem == false)
        #expect(batch.warnings.contains { $0.message.contains("{market} is sent as written") }, "\(batch.warnings)")
    }

    /// `{zip?}` may be empty only in a body: in a path or query it is named as the mistake it is.
    @Test func anOptionalPlaceholderOutsideABodyIsExplained() {
        let found = errors(Self.plan(fetch: "path: /isrc/{isrc}\nquery: { z: \"{isrc?}\" }"))
        let error = found.first { $0.message.hasPrefix("{isrc?} in query.z names a field") }
        #expect(
            error?.notes.contains { $0.hasPrefix("'?' (the field may be empty) is for a body's") } == true, "\(found)")
    }

    /// `{id}` is the stage's `id` expression when it sets one (a warning says so when the input
    /// has a field `id` too), else the input's field `id`.
    @Test func idIsTheExpressionWhenThereIsOneElseTheField() throws {
        let sql = "SELECT id, isrc FROM tracks"
        let field = try load(Self.plan(fetch: "path: /isrc/{id}", sql: sql))
        #expect(field.warnings.isEmpty, "\(field.warnings)")
        let both = try load(Self.plan(fetch: "path: /isrc/{id}\nid: upper(isrc)", sql: sql))
        #expect(
            both.warnings.map(\.message) == [
                "{id} in path is the stage's 'id' expression (upper(isrc)), not the input's field 'id'"
            ])
    }

    /// A key in the body: the body must be a JSON object without that member.
    @Test func aKeyInTheBodyNeedsAnObjectBodyWithoutIt() throws {
        let connection = "auth: { kind: api-key, body_field: key, key: \"${GEO_KEY}\" }"
        let env = ["GEO_KEY": "gk-PRIVATE-999"]
        _ = try load(
            Self.plan(fetch: "path: /geo\nmethod: POST\nbody: { street: \"{isrc}\" }", connection: connection), env: env
        )
        let taken = errors(
            Self.plan(fetch: "path: /geo\nmethod: POST\nbody: { street: \"{isrc}\", key: x }", connection: connection),
            env: env)
        #expect(taken.map(\.message).contains { $0.hasPrefix("'body' has 'key', which connection 'api' fills") })
        let list = errors(
            Self.plan(fetch: "path: /geo\nmethod: POST\nid: isrc\nbody: [{ isrc: \"{id}\" }]", connection: connection),
            env: env)
        #expect(list.map(\.message).contains { $0.hasSuffix("has no body that is a JSON object") }, "\(list)")
    }

    /// An auth key whose variable's name does not say it is secret is still known to be one:
    /// a per-item body that sends it too is refused, and the error does not quote it.
    @Test func theAuthKeyInAPerItemBodyIsRefused() {
        let found = errors(
            Self.plan(
                fetch: "path: /lookup\nmethod: POST\nbody: { isrc: \"{isrc}\", k: \"${VENDOR}\" }",
                connection: "auth: { kind: api-key, header: X-Key, key: \"${VENDOR}\" }"),
            env: ["VENDOR": "v3ndor-key-value"])
        #expect(found.map(\.message).contains { $0.hasPrefix("'body.k' holds a secret") }, "\(found.map(\.message))")
        #expect(!found.map(\.description).joined().contains("v3ndor-key-value"))
    }

    /// Doubled braces are literal, in a batch query as anywhere.
    @Test func doubledBracesAreLiteral() throws {
        let plan = try load(Self.plan(fetch: "path: /tracks\nid: isrc\nquery: { q: \"{{\\\"a\\\"}}\" }"))
        let template = try #require(plan.stage(named: "fetch")?.fetch?.query.first?.1)
        #expect(!template.hasPlaceholders)
        #expect(template.render { _ in nil } == "{\"a\"}")
    }

    /// With a `SELECT *` the input's fields are known only at run time: no guess, no error.
    @Test func anUnknownInputIsNotGuessedAt() throws {
        _ = try load(Self.plan(fetch: "path: /isrc/{whatever}", sql: "SELECT * FROM tracks"))
    }

    @Test(arguments: [
        ("auth: { kind: bearer }", "auth of connection 'api' is kind bearer, which needs 'token'"),
        ("auth: { kind: bearer, token: x, client_id: y }", "'client_id' is not used by auth kind bearer"),
        ("auth: { kind: api-key, key: x }", "auth kind api-key needs 'header'"),
        ("auth: { kind: api-key, key: x, header: H, query_param: q }", "not 'header' and 'query_param'"),
        (
            "auth: { kind: api-key, key: x, body_field: k }",
            "as the member 'k' of a POST's JSON body (auth body_field), and stage 'fetch' sends GET requests"
        ),
        ("auth: { kind: oauth2-client-credentials, token_url: http://t }", "which needs 'client_id'"),
        ("auth: { kind: basic }", "auth of connection 'api' is kind basic, which needs 'username'"),
        ("auth: { kind: basic, username: u }", "auth of connection 'api' is kind basic, which needs 'password'"),
        ("auth: { kind: basic, username: u, password: p, token: t }", "'token' is not used by auth kind basic"),
        ("auth: { kind: basics }", "must be one of oauth2-client-credentials, bearer, api-key, basic"),
        ("auth: { kind: bearer, token: x, scope: y }", "'scope' is not used by auth kind bearer"),
        (
            "auth: { kind: oauth2-client-credentials, token_url: http://t, client_id: i, client_secret: s, "
                + "client_auth: post }", "'client_auth' in 'auth' in connection 'api' must be one of basic, body"
        ),
    ])
    func authKindsNeedTheirKeys(auth: String, message: String) {
        let found = errors(Self.plan(fetch: "path: /isrc/{isrc}", connection: auth))
        #expect(found.contains { $0.message.contains(message) }, "\(found.map(\.message))")
    }

    /// A key no auth kind has is one error, with its "did you mean", not also "not used by" the kind.
    @Test func anUnknownAuthKeyIsOneError() {
        let found = errors(
            Self.plan(
                fetch: "path: /isrc/{isrc}",
                connection:
                    "auth: { kind: oauth2-client-credentials, token_url: http://t, client_id: i, client_secret: s, "
                    + "scopes: r }"))
        #expect(found.map(\.message) == ["unknown key 'scopes' in 'auth' in connection 'api'"])
    }

    /// The provider's scope and audience, and the credentials in the form instead of a header.
    @Test func oauth2TakesScopeAudienceAndWhereTheCredentialsGo() throws {
        let connection =
            "auth: { kind: oauth2-client-credentials, token_url: http://t, client_id: i, client_secret: s"
        let plain = try load(Self.plan(fetch: "path: /isrc/{isrc}", connection: connection + " }"))
        let defaults = try #require(plain.connections.first { $0.name == "api" }?.http?.auth?.oauth2)
        #expect(defaults.scope == nil && defaults.audience == nil && defaults.clientAuth == "basic")
        let plan = try load(
            Self.plan(
                fetch: "path: /isrc/{isrc}",
                connection: connection + ", scope: \"read:books\", audience: https://api, client_auth: body }"))
        let oauth2 = try #require(plan.connections.first { $0.name == "api" }?.http?.auth?.oauth2)
        #expect(oauth2.scope == "read:books" && oauth2.audience == "https://api" && oauth2.clientAuth == "body")
    }

    @Test func aLiteralTokenIsWarnedAboutAndNeverQuoted() throws {
        let plan = try load(
            Self.plan(fetch: "path: /isrc/{isrc}", connection: "auth: { kind: bearer, token: tok-4711 }"))
        #expect(plan.connections.first { $0.name == "api" }?.http.map { "\($0.auth!)" }?.contains("tok-4711") == false)
    }

    @Test(
        arguments: [
            ("SELECT id AS track_id, spotify_id FROM tracks WHERE x", ["track_id", "spotify_id"]),
            ("select distinct t.ID, lower(isrc) as Isrc, \"Mixed\" from t", ["id", "isrc", "Mixed"]),
            ("SELECT count(*) FROM tracks", nil),
            ("SELECT * FROM tracks", nil),
            ("WITH a AS (SELECT 1) SELECT x FROM a", nil),
            ("SELECT coalesce(a, b) AS c, d -- note\nFROM t", ["c", "d"]),
        ] as [(String, [String]?)])
    func selectColumnsAreReadOnlyWhenPlain(sql: String, names: [String]?) {
        #expect(SelectColumns.names(in: sql) == names)
    }
}

extension RequestShapeCheckTests {
    /// JSON pasted as a block scalar is a string, sent as a JSON string: check warns, saying
    /// how to write the object; a string that does not spell JSON is sent as it is, silently.
    @Test(arguments: [
        ("body: |\n  {\"isrc\": \"{isrc}\", \"n\": 1}", true),
        ("body: '[\"{isrc}\"]'", true),
        ("body: \"{isrc}\"", false),
        ("body: { isrc: \"{isrc}\" }", false),
    ])
    func aBodyStringThatSpellsJSONIsWarnedOf(body: String, warned: Bool) throws {
        let found = try load(Self.plan(fetch: "path: /lookup\nmethod: POST\n" + body)).warnings
        let warning = found.first { $0.message.hasPrefix("'body' is a string that spells JSON") }
        #expect((warning != nil) == warned, "\(found)")
        #expect(warning == nil || warning?.severity == .warning)
        #expect(warning == nil || warning?.location?.line == 17, "\(found)")
        #expect(warning == nil || warning?.notes.first?.contains("drop the '|' and quote each placeholder") == true)
    }
}

/// A write-csv path outside the run directory without a per-run placeholder: check warns.
@Suite struct WriteCSVPathCheckTests {
    static func plan(path: String) -> String {
        """
        version: 1
        name: audit
        stages:
          - kind: read-csv
            path: in.csv
            columns: [id]
          - kind: write-csv
            path: "\(path)"
            columns: [id]
        """
    }

    @Test(arguments: [
        ("/srv/audit/enrich.csv", true), ("/srv/audit/enrich_{date}.csv", true),
        ("/srv/audit/enrich_{timestamp}.csv", false), ("/srv/audit/{run_id}.csv", false), ("enrich.csv", false),
    ])
    func aFixedPathOutsideTheRunIsWarnedOf(path: String, warned: Bool) throws {
        let warnings = try load(Self.plan(path: path)).warnings
        let warning = warnings.first { $0.message.contains("names the same file on every run") }
        #expect((warning != nil) == warned, "\(warnings)")
        #expect(warning == nil || warning?.location?.line == 8, "\(warnings)")
    }

    /// A relative path is inside the run directory: one that climbs out with `..` is refused.
    @Test(arguments: [
        ("../escape_{timestamp}.csv", true), ("out/../../x.csv", true), ("sub/x..y.csv", false),
        ("/tmp/../srv/x_{run_id}.csv", false),
    ])
    func aRelativePathThatClimbsOutIsRefused(path: String, refused: Bool) throws {
        let found = errors(Self.plan(path: path))
        let error = found.first { $0.message.contains("climbs out of the run directory") }
        #expect((error != nil) == refused, "\(found)")
        #expect(error == nil || error?.location?.line == 8, "\(found)")
    }

    /// A plan whose run writes every kind of run file: spools, a fetch's answers, timeline and
    /// rejects, a validate's rejects, an apply's undo file and review; `apply` is named `APPLY`.
    static func runPlan(path: String, apply: String = "apply") -> String {
        """
        version: 1
        name: audit
        connections:
          db: { kind: postgres, url: "postgres://localhost/db" }
          api: { kind: http, base_url: "http://127.0.0.1:9/v1" }
        stages:
          - kind: query
            connection: db
            sql: SELECT id, spotify_id FROM tracks
          - kind: chunk
            size: 50
          - kind: fetch
            connection: api
            path: /tracks
            id: spotify_id
          - kind: transform
            fields: { id: id, pop: response.popularity }
          - kind: validate
            rules: { pop: { min: 0 } }
          - kind: write-csv
            path: "\(path)"
            columns: [id, pop]
          - name: \(apply)
            kind: apply
            connection: db
            table: tracks
            key: id
            columns: { popularity: { from: pop } }
        """
    }

    /// A relative path is inside the run directory, where the run writes its own files: a CSV
    /// named like one would overwrite it (review.csv, losing the review) or stop the run as it
    /// finds it there. Check refuses it at the path, naming what writes that file.
    @Test(arguments: [
        ("review.csv", "stage 'apply' (its review)"), ("./review.html", "stage 'apply' (its review page)"),
        ("manifest.json", "the run's manifest"), ("query.ndjson", "stage 'query' (its output spool)"),
        ("write-csv.ndjson", "stage 'write-csv' (its output spool)"), ("fetch.answers.ndjson", "stage 'fetch'"),
        ("fetch.timeline.csv", "stage 'fetch'"), ("rejects-fetch.csv", "stage 'fetch' (the rows it rejects)"),
        ("rejects-validate.csv", "stage 'validate'"), ("apply.undo.ndjson", "stage 'apply' (its undo file)"),
        ("{plan}.ndjson", "stage 'audit'"),
    ])
    func aPathNamingARunFileIsRefused(path: String, writer: String) throws {
        // `{plan}` is the plan's name: a stage named after the plan spools to the same file.
        let plan = Self.runPlan(path: path, apply: path.hasPrefix("{plan}") ? "audit" : "apply")
        let found = errors(plan)
        let error = found.first { $0.message.contains("a file the run writes itself") }
        #expect(error?.message.contains(writer) == true, "\(found)")
        #expect(error?.location?.line == 21 && error?.location?.column == 11, "\(found)")
    }

    /// Another apply's review is review-STAGE.csv; names nothing writes pass.
    @Test(arguments: [
        ("review-push.csv", "push", true), ("review.csv", "push", false), ("reviewed.csv", "apply", false),
        ("out/review.csv", "apply", false), ("review_{timestamp}.csv", "apply", false),
        ("/srv/review.csv", "apply", false),
    ])
    func onlyTheRunsOwnFilesAreRefused(path: String, apply: String, refused: Bool) throws {
        let found = errors(Self.runPlan(path: path, apply: apply))
        #expect(found.contains { $0.message.contains("a file the run writes itself") } == refused, "\(found)")
    }

    /// `path: ""` (or the run directory itself) names no file: the run would fail at it.
    @Test(arguments: ["", ".", "./"])
    func aPathNamingNoFileIsRefused(path: String) throws {
        let found = errors(Self.plan(path: path))
        let error = found.first { $0.message.contains("path is empty") || $0.message.contains("not a file") }
        #expect(error?.location?.line == 8, "\(found)")
    }

    /// Two write-csv stages writing one file: the second would find the first's there.
    @Test func twoWriteCSVStagesOfOneFileAreRefused() throws {
        let yaml =
            Self.plan(path: "out.csv")
            + "\n  - kind: write-csv\n    name: again\n    path: ./out.csv\n    columns: [id]"
        let found = errors(yaml)
        let error = found.first { $0.message.contains("a file the run writes itself") }
        #expect(error?.message.contains("stage 'write-csv' (its CSV)") == true, "\(found)")
        #expect(error?.location?.line == 12, "\(found)")
    }

    /// An unset `${VAR}` in the path is checked at run time, not taken for an empty path.
    @Test func anUnsetVariableInThePathIsNotAnEmptyPath() throws {
        var loader = PlanLoader(environment: [:])
        loader.unsetVariablesAreWarnings = true
        let plan = try loader.load(bytes: Array(Self.plan(path: "${OUT}").utf8), path: "plan.yaml")
        #expect(!plan.warnings.contains { $0.message.contains("path is empty") })
    }
}

/// Where a character of a scalar's text is in the plan: quoted, plain, and in block scalars,
/// whose lines (and a folded block's blank lines) are walked.
@Suite struct ScalarLocationTests {
    static let text = """
        a: "x {f}"
        b: x {f}
        c: |
          one
            {f} more
        d: >
          one

          two {f}
        e: 1
        """

    func place(line: Int, column: Int, offset: Int) -> (Int, Int) {
        let at = SourceLocation(source: SourceText(name: "p.yaml", text: Self.text), line: line, column: column)
            .advanced(intoValueBy: offset)
        return (at.line, at.column)
    }

    @Test func findsTheCharacterWhereverTheScalarIsWritten() {
        #expect(place(line: 1, column: 4, offset: 2) == (1, 7), "after the quote")
        #expect(place(line: 2, column: 4, offset: 2) == (2, 6))
        // "one\n  {f} more\n": a more-indented line keeps its extra spaces.
        #expect(place(line: 3, column: 4, offset: 6) == (5, 5))
        // "one\ntwo {f}\n": the blank line is the line break; the break before it is dropped.
        #expect(place(line: 6, column: 4, offset: 8) == (9, 7))
        // Past the block's end: the block's start.
        #expect(place(line: 3, column: 4, offset: 99) == (3, 4))
    }
}
