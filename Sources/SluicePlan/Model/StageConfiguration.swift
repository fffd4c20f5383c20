import SluiceCore

// The typed plan: what validation produces for each stage. Every value has been checked,
// every default filled from the ``Schema``, every expression and expectation parsed once;
// a choice is an enum. Stages read these and nothing else.

/// One stage's parameters, by kind.
public enum StageConfiguration: Sendable {
    case query(QuerySettings)
    case readCSV(ReadCSVSettings)
    case chunk(ChunkSettings)
    case fetch(FetchSettings)
    case transform(TransformSettings)
    case validate(ValidateSettings)
    case writeCSV(WriteCSVSettings)
    case apply(ApplySettings)
    case verify(VerifySettings)

    public var kind: StageKind {
        switch self {
        case .query: return .query
        case .readCSV: return .readCSV
        case .chunk: return .chunk
        case .fetch: return .fetch
        case .transform: return .transform
        case .validate: return .validate
        case .writeCSV: return .writeCSV
        case .apply: return .apply
        case .verify: return .verify
        }
    }

    /// The connection the stage uses, if its kind has one.
    public var connection: String? {
        switch self {
        case .query(let s): return s.connection
        case .fetch(let s): return s.connection
        case .apply(let s): return s.connection
        case .verify(let s): return s.connection
        case .readCSV, .chunk, .transform, .validate, .writeCSV: return nil
        }
    }
}

public struct QuerySettings: Sendable {
    public var connection: String
    public var sql: String
    public var params: [Value]
    public var batchSize: Int
    public var countFirst: Bool
    /// The values of the secret variables `sql` and `params` are written with (keep in memory
    /// only), and those variables' names: a row the query returns holding one is refused, as it
    /// would be written to the run's files as data.
    public var secretValues: [String] = []
    public var secretVariables: [String] = []
}

public struct ReadCSVSettings: Sendable {
    /// The file, relative to the working directory.
    public var path: String
    /// The columns to send, in this order; `nil`: all of the header's.
    public var columns: [String]?
    public var batchSize: Int
}

public struct ChunkSettings: Sendable {
    public var size: Int
}

/// The HTTP methods a fetch may use: `POST` carries a JSON `body`, a batch's ids or one row's fields.
public enum HTTPMethod: String, Sendable, CaseIterable {
    case get = "GET"
    case post = "POST"
}

/// How fetch matches the items of a batch answer to the ids it asked for.
public enum MatchMode: Sendable, Hashable {
    /// An array with one entry per id, in request order (`null`: not found).
    case position
    /// An array in any order; each item names its id at this dotted key path.
    case itemField(String)
    /// An object keyed by the ids asked for (with `id_prefix`).
    case objectKeys

    /// The plan's spelling of the choice.
    public static let choices = ["position", "object_keys"]
}

/// What fetch does with a row whose id the API does not know.
public enum NotFoundPolicy: String, Sendable, CaseIterable {
    /// Write it to `rejects-<stage>.csv` (reason `not_found`) and drop it.
    case reject
    /// Pass it on with a null response.
    case keep
}

/// What fetch does with a request the API keeps failing with 5xx after every retry.
public enum GiveUpPolicy: String, Sendable, CaseIterable {
    /// Stop the fetch, resumably.
    case fail
    /// Reject the request's ids with the last error, and go on.
    case reject
}

public struct FetchSettings: Sendable {
    public var connection: String
    /// The request path below the connection's `base_url`; with `{field}` placeholders, one
    /// request per row.
    public var path: RequestTemplate
    public var method: HTTPMethod
    /// Each row's id; required for batch requests, optional per item (then `{id}` is unused).
    public var id: Expression?
    /// Ids that do not match it in whole are rejected before any request.
    public var idPattern: String?
    public var idsParam: String
    /// Written before each id in a batch request, and expected before it in `object_keys` answers.
    public var idPrefix: String
    /// Between the ids in `ids_param`.
    public var idSeparator: String
    /// Each id is an `ids_param` of its own (`?id=a&id=b`); `id_separator` is then unused.
    public var idsRepeat: Bool
    public var maxIDs: Int
    /// Query parameters of every request; per item, values may hold `{field}` placeholders.
    public var query: [(String, RequestTemplate)]
    /// The JSON body of a `POST`: for a batch, `"{ids}"` marks where the id list goes; per item,
    /// `{field}` placeholders are filled from each row (``itemBody``).
    public var body: Value?
    /// The order ``body`` wrote its keys in, which requests send them in.
    public var bodyKeyOrder: JSONKeyOrder
    public var match: MatchMode
    /// Where the answer's items are; `nil`: the body itself.
    public var itemsKey: String?
    /// How a per-item request's paged list is followed; `nil`: its first answer is taken as it is.
    public var paginate: PaginateSettings?
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
    /// Statuses that mean "slow down", besides 429.
    public var throttleStatuses: [Int]
    public var onNotFound: NotFoundPolicy
    public var onGiveUp: GiveUpPolicy = .fail
    /// An answer item for which this is true is "not found" (an error the API sent with a 200);
    /// it reads only ``responseField``, the item.
    public var notFoundWhen: Expression?
    /// An answer item for which this is true makes its request a transient failure, tried again.
    public var retryWhen: Expression?

    /// The `POST` body as a per-item template: a body that does not place a batch's ids. Its
    /// placeholders make the fetch one request per row, as a path's do. Parsed on each use:
    /// callers that ask per row keep it.
    public var itemBody: ItemBodyTemplate? {
        guard method == .post, let body, !BodyTemplate.placesIDs(body) else { return nil }
        return ItemBodyTemplate(body, keyOrder: bodyKeyOrder)
    }

    /// One request per row: the path, or a `POST` body, names row fields.
    public var perItem: Bool { path.hasPlaceholders || itemBody?.fields.isEmpty == false }
}

/// A fetch's `paginate`, its keys as written: `sluice check` makes sure they name exactly one
/// style (``style``) with the keys it needs.
public struct PaginateSettings: Sendable, Equatable {
    public var nextURL: String?
    public var linkHeader: Bool?
    public var cursor: String?
    public var cursorParam: String?
    /// The key path of a POST body's member the cursor is sent in, instead of `cursorParam`.
    public var cursorField: String?
    /// With `cursor`: the text an API marks the list's end with (Twitter's `"0"`).
    public var endCursor: String?
    /// The key path of each page's last item whose value the next page starts after.
    public var afterLast: String?
    /// With `cursor`, `after_last`, an offset or a page number: the key path of the answer's
    /// "more pages" flag, which alone then ends the list.
    public var hasMore: String?
    public var offsetParam: String?
    /// The key path of a POST body's member the offset is sent in, instead of `offsetParam`.
    public var offsetField: String?
    public var pageParam: String?
    /// The key path of a POST body's member the page number is sent in, instead of `pageParam`.
    public var pageField: String?
    public var firstPage: Int
    public var pageSize: Int?
    public var sizeParam: String?
    /// The key path of a POST body's member the page size is sent in, instead of `sizeParam`.
    public var sizeField: String?
    public var maxPages: Int

    /// How the next page is found.
    public enum Style: Sendable, Equatable {
        case nextURL(String)
        case linkHeader
        case cursor(String, parameter: String)
        case afterLast(String, parameter: String)
        case offset(parameter: String, pageSize: Int)
        case page(parameter: String)
    }

    /// The style keys given (`link_header: false` is none), in the order the reference lists them;
    /// an offset or page number sent both in the query and in the body is one style (which
    /// `sluice check` refuses otherwise).
    public var styleKeys: [String] {
        [
            nextURL.map { _ in "next_url" }, linkHeader == true ? "link_header" : nil, cursor.map { _ in "cursor" },
            afterLast.map { _ in "after_last" }, offsetParam.map { _ in "offset_param" },
            offsetParam == nil ? offsetField.map { _ in "offset_field" } : nil, pageParam.map { _ in "page_param" },
            pageParam == nil ? pageField.map { _ in "page_field" } : nil,
        ].compactMap { $0 }
    }

    /// The one style the keys name with what it needs; `nil` for none, several, or a style
    /// without its partner key (which `sluice check` refuses).
    public var style: Style? {
        guard styleKeys.count == 1 else { return nil }
        if let nextURL { return .nextURL(nextURL) }
        if linkHeader == true { return .linkHeader }
        // `parameter`: the query parameter, or the body's key path (`cursorField`, `offsetField`,
        // `pageField`).
        if let cursor { return (cursorParam ?? cursorField).map { .cursor(cursor, parameter: $0) } }
        if let afterLast { return (cursorParam ?? cursorField).map { .afterLast(afterLast, parameter: $0) } }
        if let offset = offsetParam ?? offsetField { return pageSize.map { .offset(parameter: offset, pageSize: $0) } }
        return (pageParam ?? pageField).map { .page(parameter: $0) }
    }
}

public struct TransformSettings: Sendable {
    public var fields: [(name: String, expression: Expression)]
    public var keepInput: Bool
    /// Notes per output field, said when the field was empty in every row sent.
    public var whenEmpty: [String: String]
}

/// The type a validation rule asks of a value.
public enum ValueType: String, Sendable, CaseIterable {
    case any, string, int, double, bool, uuid
}

public struct ValidationRule: Sendable {
    public var field: String
    public var type: ValueType
    public var required: Bool
    public var min: Double?
    public var max: Double?
    public var pattern: String?
    public var oneOf: [Value]?
    public var maxLength: Int?
}

/// What validate does with a row that breaks a rule.
public enum InvalidPolicy: String, Sendable, CaseIterable {
    /// Write it to `rejects-<stage>.csv` and go on.
    case reject
    /// Stop the run.
    case fail
}

public struct ValidateSettings: Sendable {
    public var rules: [ValidationRule]
    public var onInvalid: InvalidPolicy
}

public struct WriteCSVSettings: Sendable {
    public var path: PathTemplate
    public var columns: [String]
    public var header: Bool
}

/// What apply does with an empty input value.
public enum EmptyPolicy: String, Sendable, CaseIterable {
    /// Set the column to NULL: the source says there is no value.
    case clear
    /// Leave the table's value: the source could not say.
    case keep
}

/// How apply writes the rows to its table.
public enum ApplyMode: String, Sendable, CaseIterable {
    /// Update the rows whose key is in the table; other keys are counted, not added.
    case update
    /// Insert the rows whose key is new; update the others where a value differs.
    case upsert
    /// Insert every row; a key already in the table fails the apply.
    case insert
}

/// What apply does with a row that changed between the review and the apply.
public enum DriftPolicy: String, Sendable, CaseIterable {
    /// Stop, changing nothing, naming the rows.
    case fail
    /// Leave those rows, name and count them, apply the rest.
    case skip
}

/// A guard-rail's limit: a number of rows (or keys) or a percentage of what it is measured against.
public enum RowLimit: Sendable, Hashable, CustomStringConvertible {
    case rows(Int)
    case percent(Double)

    /// `10` or `5%`, as the plan writes it (``Validator`` checked the form).
    public init?(_ value: PlanValue) {
        guard let scalar = value.scalarValue else { return nil }
        if let rows = scalar.intValue {
            self = .rows(Int(rows))
        } else if let text = scalar.stringValue, text.hasSuffix("%"), let percent = Double(text.dropLast()) {
            self = .percent(percent)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .rows(let rows): return rows.counted("row")
        case .percent(let percent): return "\(percent.rounded() == percent ? String(Int(percent)) : String(percent))%"
        }
    }
}

public struct ApplyColumn: Sendable {
    public var column: String
    public var from: String
    public var onEmpty: EmptyPolicy
    public var maxCleared: RowLimit? = nil
    public var maxUpdated: RowLimit? = nil
    /// A percentage, 0 to 100.
    public var minCoverage: Double? = nil
}

public struct ApplySettings: Sendable {
    public var connection: String
    public var table: String
    public var key: String
    public var keyField: String
    public var columns: [ApplyColumn]
    public var mode: ApplyMode
    public var dryRun: Bool
    public var onDrift: DriftPolicy = .fail
    public var maxChanged: RowLimit? = nil
    /// The most input keys an update may not find in the table, as keys or a percentage of the
    /// input's distinct keys.
    public var maxUnknown: RowLimit? = nil
    /// `ANALYZE` the columns written after an apply that changed more than a tenth of the table.
    public var analyze = true
}

public struct VerifyCheck: Sendable {
    public var name: String
    public var sql: String
    /// What the query's one row must hold: one expectation of its one number (`column` nil), or
    /// one for each column, in the plan's order (`expect: {isrc: ">= 3"}`): one scan of a table
    /// can answer several checks.
    public var expectations: [ColumnExpectation]

    public init(name: String, sql: String, expectations: [ColumnExpectation]) {
        self.name = name
        self.sql = sql
        self.expectations = expectations
    }

    /// A check of a query returning one number.
    public init(name: String, sql: String, expect: Expectation) {
        self.init(name: name, sql: sql, expectations: [ColumnExpectation(column: nil, expect: expect)])
    }

    /// Whether the query answers with named columns, each with its expectation.
    public var hasColumns: Bool { expectations.contains { $0.column != nil } }
}

/// The expectation a verify check's number meets: the query's one number (`column` nil), or
/// the number in the named column of its one row.
public struct ColumnExpectation: Sendable {
    public var column: String?
    public var expect: Expectation

    public init(column: String?, expect: Expectation) {
        self.column = column
        self.expect = expect
    }
}

public struct VerifySettings: Sendable {
    public var connection: String
    public var checks: [VerifyCheck]
}

extension StageDefinition {
    // Each kind's settings, or `nil` for a stage of another kind.
    public var query: QuerySettings? { if case .query(let s) = configuration { s } else { nil } }
    public var readCSV: ReadCSVSettings? { if case .readCSV(let s) = configuration { s } else { nil } }
    public var chunk: ChunkSettings? { if case .chunk(let s) = configuration { s } else { nil } }
    public var fetch: FetchSettings? { if case .fetch(let s) = configuration { s } else { nil } }
    public var transform: TransformSettings? { if case .transform(let s) = configuration { s } else { nil } }
    public var validate: ValidateSettings? { if case .validate(let s) = configuration { s } else { nil } }
    public var writeCSV: WriteCSVSettings? { if case .writeCSV(let s) = configuration { s } else { nil } }
    public var apply: ApplySettings? { if case .apply(let s) = configuration { s } else { nil } }
    public var verify: VerifySettings? { if case .verify(let s) = configuration { s } else { nil } }
}
