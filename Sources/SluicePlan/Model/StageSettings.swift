import SluiceCore

// Typed views of each stage kind's parameters. The validator has already checked every
// value, so these read without failing; a missing optional value takes its schema default.

public struct QuerySettings: Sendable {
    public var connection: String
    public var sql: String
    public var params: [Value]
    public var batchSize: Int
    public var countFirst: Bool
}

public struct ChunkSettings: Sendable {
    public var size: Int
}

public struct FetchSettings: Sendable {
    public var connection: String
    public var path: String
    public var method: String
    public var id: Expression
    /// Ids that do not match it in whole are rejected before any request.
    public var idPattern: String?
    public var idsParam: String
    public var maxIDs: Int
    public var query: [(String, String)]
    public var itemsKey: String
    public var fallbackPath: String?
    /// Added to the notice when fetch switches to `fallback_path`.
    public var fallbackNote: String?
    public var responseField: String
    /// Seconds between request starts.
    public var delay: Double
    /// Requests per rolling minute.
    public var rate: Int?
    public var concurrency: Int
    public var timeout: Double
    public var retries: Int
    public var backoff: Double
    public var maxBackoff: Double
    public var maxRetryAfter: Double
    /// `reject` or `keep`.
    public var onNotFound: String
}

public struct TransformSettings: Sendable {
    public var fields: [(name: String, expression: Expression)]
    public var keepInput: Bool
    /// Notes per output field, said when the field was empty in every row sent.
    public var whenEmpty: [String: String] = [:]
}

public struct ValidationRule: Sendable {
    public var field: String
    /// any, string, int, double, bool, uuid.
    public var type: String
    public var required: Bool
    public var min: Double?
    public var max: Double?
    public var pattern: String?
    public var oneOf: [Value]?
    public var maxLength: Int?
}

public struct ValidateSettings: Sendable {
    public var rules: [ValidationRule]
    /// `reject` or `fail`.
    public var onInvalid: String
}

public struct WriteCSVSettings: Sendable {
    public var path: PathTemplate
    public var columns: [String]
    public var header: Bool
}

public struct ApplyColumn: Sendable {
    public var column: String
    public var from: String
    /// `clear` or `keep`.
    public var onEmpty: String
}

public struct ApplySettings: Sendable {
    public var connection: String
    public var table: String
    public var key: String
    public var keyField: String
    public var columns: [ApplyColumn]
    public var dryRun: Bool
}

public struct VerifyCheck: Sendable {
    public var name: String
    public var sql: String
    public var expect: Expectation
}

public struct VerifySettings: Sendable {
    public var connection: String
    public var checks: [VerifyCheck]
}

extension StageDefinition {
    private func string(_ key: String, _ fallback: String = "") -> String { parameters[key]?.string ?? fallback }
    private func int(_ key: String, _ fallback: Int) -> Int { parameters[key]?.int ?? fallback }
    private func double(_ key: String, _ fallback: Double) -> Double { parameters[key]?.double ?? fallback }
    private func bool(_ key: String, _ fallback: Bool) -> Bool { parameters[key]?.bool ?? fallback }

    public var query: QuerySettings {
        QuerySettings(
            connection: string("connection"), sql: string("sql"),
            params: parameters["params"]?.items.compactMap(\.scalarValue) ?? [],
            batchSize: int("batch_size", 1000), countFirst: bool("count_first", true))
    }

    public var chunk: ChunkSettings { ChunkSettings(size: int("size", 50)) }

    public var fetch: FetchSettings {
        FetchSettings(
            connection: string("connection"), path: string("path"), method: string("method", "GET"),
            id: (try? Expression.parse(string("id"))) ?? .literal(.null), idPattern: parameters["id_pattern"]?.string,
            idsParam: string("ids_param", "ids"), maxIDs: int("max_ids", 50),
            query: (parameters["query"]?.entries ?? []).map { ($0.key, $0.value.string ?? "") },
            itemsKey: string("items_key", "tracks"), fallbackPath: parameters["fallback_path"]?.string,
            fallbackNote: parameters["fallback_note"]?.string,
            responseField: string("response_field", "response"), delay: double("delay", 0),
            rate: parameters["rate"]?.int, concurrency: int("concurrency", 1), timeout: double("timeout", 30),
            retries: int("retries", 5), backoff: double("backoff", 0.5), maxBackoff: double("max_backoff", 30),
            maxRetryAfter: double("max_retry_after", 600), onNotFound: string("on_not_found", "reject"))
    }

    public var transform: TransformSettings {
        TransformSettings(
            fields: (parameters["fields"]?.entries ?? []).map {
                (name: $0.key, expression: (try? Expression.parse($0.value.string ?? "")) ?? .literal(.null))
            },
            keepInput: bool("keep_input", false),
            whenEmpty: Dictionary(
                (parameters["when_empty"]?.entries ?? []).map { ($0.key, $0.value.string ?? "") },
                uniquingKeysWith: { _, last in last }))
    }

    public var validate: ValidateSettings {
        ValidateSettings(
            rules: (parameters["rules"]?.entries ?? []).map { entry in
                let r = entry.value
                return ValidationRule(
                    field: entry.key, type: r["type"]?.string ?? "any", required: r["required"]?.bool ?? false,
                    min: r["min"]?.double, max: r["max"]?.double, pattern: r["pattern"]?.string,
                    oneOf: r["one_of"].map { $0.items.compactMap(\.scalarValue) }, maxLength: r["max_length"]?.int)
            },
            onInvalid: string("on_invalid", "reject"))
    }

    public var writeCSV: WriteCSVSettings {
        WriteCSVSettings(
            path: PathTemplate(string("path")),
            columns: parameters["columns"]?.items.compactMap(\.string) ?? [], header: bool("header", true))
    }

    public var apply: ApplySettings {
        let key = string("key")
        return ApplySettings(
            connection: string("connection"), table: string("table"), key: key,
            keyField: parameters["key_field"]?.string ?? key,
            columns: (parameters["columns"]?.entries ?? []).map {
                ApplyColumn(
                    column: $0.key, from: $0.value["from"]?.string ?? $0.key,
                    onEmpty: $0.value["on_empty"]?.string ?? "clear")
            },
            dryRun: bool("dry_run", false))
    }

    public var verify: VerifySettings {
        VerifySettings(
            connection: string("connection"),
            checks: (parameters["checks"]?.items ?? []).map { c in
                let sql = c["sql"]?.string ?? ""
                return VerifyCheck(
                    name: c["name"]?.string ?? sql, sql: sql,
                    expect: (try? Expectation.parse(c["expect"]?.string ?? ""))
                        ?? Expectation(comparison: .equal, operand: .number(0), factor: 1))
            })
    }
}
