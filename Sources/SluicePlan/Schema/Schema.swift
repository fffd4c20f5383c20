import SluiceCore

/// Every key a plan may hold: the single source of truth for validation, `--set`, defaults
/// and the generated plan reference (`sluice reference`, docs/plan-reference.md).
public enum Schema {
    public static let stageKinds: [StageKind] = StageKind.allCases

    /// Keys every stage accepts, whatever its kind.
    public static let commonStageKeys: [ParameterSpec] = [
        ParameterSpec(
            "name", .string,
            "Unique stage name (letters, digits, `-` and `_`, at most 100); defaults to the kind. `--set NAME.PARAM=...` uses it."
        ),
        ParameterSpec("kind", .choice(of: StageKind.self), required: true, "What the stage does."),
        ParameterSpec("description", .string, "Free text for people reading the plan."),
        ParameterSpec(
            "input", .stageReference,
            "The stage whose output this stage reads; defaults to the stage before it. Source stages (query) have none."
        ),
        ParameterSpec(
            "requires_approval", .bool,
            "Stop before this stage until a person approves (`--yes`, or a yes on the terminal). Default: true for apply, false otherwise."
        ),
        ParameterSpec(
            "buffer", .int(min: 1, max: 1024), default: 4,
            "Batches that may wait between this stage and the next before the producer is suspended (backpressure)."),
    ]

    /// Top-level keys of a plan.
    public static let planKeys: [ParameterSpec] = [
        ParameterSpec("version", .int(min: 1, max: 1), required: true, "Plan format version. Always `1`."),
        ParameterSpec("name", .string, required: true, "The plan's name; used in run listings and CSV names."),
        ParameterSpec("description", .string, "Free text for people reading the plan."),
        ParameterSpec(
            "connections", .map(of: .object([]), keyName: "connection name"), default: .object([:]),
            "Databases and HTTP APIs the stages use, by name. See Connections."),
        ParameterSpec(
            "stages", .list(of: .object([]), minCount: 1), required: true,
            "The pipeline, in order. See Stages."),
    ]

    /// The keys of a connection of `kind`.
    public static func parameters(of kind: ConnectionKind) -> [ParameterSpec] {
        switch kind {
        case .postgres: return postgresKeys
        case .http: return httpKeys
        }
    }

    static let postgresKeys: [ParameterSpec] = [
        ParameterSpec("kind", .choice(of: ConnectionKind.self), required: true, "`postgres`."),
        ParameterSpec(
            "url", .string, required: true, secret: true,
            "A libpq URI (`postgresql://user@host/db`) or conninfo (`host=... dbname=...`). PG* variables and ~/.pgpass apply as in psql. Write `${DATABASE_URL}` rather than a password."
        ),
        ParameterSpec(
            "connect_timeout", .duration(min: 1, max: 600), default: 10,
            "Give up connecting after this long."),
        // PostgreSQL takes at most 2147483647 ms (24.8 days).
        ParameterSpec(
            "statement_timeout", .duration(min: 0, max: 596 * 3600),
            "Server-side limit for each statement (none by default; at most 596h, PostgreSQL's limit)."),
    ]

    static let httpKeys: [ParameterSpec] = [
        ParameterSpec("kind", .choice(of: ConnectionKind.self), required: true, "`http`."),
        ParameterSpec(
            "base_url", .string, required: true, secret: true,
            "Prefix of every request path, e.g. `https://api.spotify.com/v1`. A user or password in it "
                + "(`https://user:PASSWORD@host`) is refused, never shown: no request sends it; give the "
                + "credential with `auth` (for HTTP Basic, `kind: basic`). A query (`?key=...`) or fragment "
                + "(`#...`) is refused too: each request's path is added after it. Put query parameters under the "
                + "fetch's `query`, an API key sent in the query under `auth` (`kind: api-key`, `query_param`). "
                + "So is a URL no request can be sent to: white space (write `%20`), a host name with other "
                + "characters than letters, digits, `-`, `.` and `_`, an IPv6 host not written `[::1]`, a port "
                + "outside 1-65535."),
        ParameterSpec("auth", .object(authKeys), "How requests authenticate. Omit for none."),
        ParameterSpec(
            "headers", .map(of: .string, keyName: "header name"), default: .object([:]), secret: true,
            "Headers sent with every request to the API, e.g. `User-Agent: my-app/1.0 (me@example.com)` (MusicBrainz "
                + "requires one naming the app; without one here, requests send `User-Agent: sluice/VERSION`). "
                + "Values are treated as secrets: never in the manifest, logs or messages; one whose header name "
                + "reads as a credential (`Authorization`, `Cookie`, `X-Api-Key`, `X-Vendor-Token`) is also "
                + "replaced by `***` where an answer repeats it. Requests ask for gzip or deflate answers "
                + "(`Accept-Encoding`) and decompress them, to at most 64 MiB like any body; an `Accept-Encoding` "
                + "here is sent instead (an answer in an encoding other than gzip and deflate is not decoded, and "
                + "its error says so)."),
    ]

    static let authKeys: [ParameterSpec] = [
        ParameterSpec(
            "kind", .choice(HTTPAuthSettings.kinds), required: true,
            "`oauth2-client-credentials`: a token from `token_url`, refreshed before it expires and on a 401 "
                + "(needs `token_url`, `client_id`, `client_secret`; may have `scope`, `audience`, `client_auth`). "
                + "`bearer`: `Authorization: Bearer TOKEN` "
                + "(needs `token`). `api-key`: `key` sent in the request header `header`, the query parameter "
                + "`query_param`, or the member `body_field` of a `POST`'s JSON body (one of them). `basic`: HTTP "
                + "Basic, `Authorization: Basic BASE64(username:password)` (needs `username`, `password`)."),
        ParameterSpec(
            "token_url", .string, secret: true,
            "oauth2-client-credentials: where tokens come from (a user or password in it is refused, never "
                + "shown: the client id and secret are sent instead)."),
        ParameterSpec("client_id", .string, "oauth2-client-credentials: the OAuth2 client id."),
        ParameterSpec(
            "client_secret", .string, secret: true,
            "oauth2-client-credentials: the client secret. Write `${SPOTIFY_CLIENT_SECRET}`: never put the secret in the file."
        ),
        ParameterSpec(
            "scope", .string,
            "oauth2-client-credentials: the `scope` to ask the token for, when the provider wants one."),
        ParameterSpec(
            "audience", .string,
            "oauth2-client-credentials: the `audience` to ask the token for (the API it is for, as Auth0 asks)."),
        ParameterSpec(
            "client_auth", .choice(OAuth2Settings.clientAuths),
            "oauth2-client-credentials: how the token request carries the client id and secret. `basic` (the "
                + "default): an `Authorization: Basic` header (`client_secret_basic`). `body`: form fields "
                + "(`client_secret_post`)."),
        ParameterSpec("token", .string, secret: true, "bearer: the token. Write `${API_TOKEN}`."),
        ParameterSpec(
            "username", .string, secret: true,
            "basic: the user name. Write `${API_USER}`; an API that takes its key as the user name (as Stripe "
                + "does) takes the key here, with `password: \"\"`."),
        ParameterSpec("password", .string, secret: true, "basic: the password. Write `${API_PASSWORD}`."),
        ParameterSpec("key", .string, secret: true, "api-key: the key. Write `${API_KEY}`."),
        ParameterSpec("header", .string, "api-key: the request header carrying the key, e.g. `X-Api-Key`."),
        ParameterSpec(
            "query_param", .string,
            "api-key: the query parameter carrying the key, e.g. `api_key`. It is added as the request leaves and "
                + "never shown in a logged or reported URL."),
        ParameterSpec(
            "body_field", .string,
            "api-key: the member of a `POST`'s JSON object body carrying the key, e.g. `key`, for an API that "
                + "takes it there. It is added as the request leaves: never in a request's key, the answers or "
                + "rejects files, or a log."),
    ]

    /// A fetch's `paginate`: one style's keys, and `max_pages`.
    static let paginateKeys: [ParameterSpec] = [
        ParameterSpec(
            "next_url", .string,
            "Style: the key path of each page's answer holding the next page's URL (`links.next`, `next`), "
                + "absolute or relative to the page; absent, `null` or `\"\"` ends the list."),
        ParameterSpec(
            "link_header", .bool,
            "Style (`true`): the next page is the `Link` response header's `rel=\"next\"` URL (RFC 8288, "
                + "GitHub); none ends the list."),
        ParameterSpec(
            "cursor", .string,
            "Style: the key path of each page's answer holding the next page's cursor (`meta.next_cursor`); "
                + "the next request is the first with `cursor_param` set to it; absent, `null`, `\"\"`, the number "
                + "0 (Twitter's `next_cursor`) or `end_cursor` ends, or, when given, `has_more` not true."),
        ParameterSpec(
            "end_cursor", .string,
            "With `cursor`: the cursor an API marks the list's end with, e.g. `\"0\"` (Twitter's "
                + "`next_cursor_str`). The text `\"0\"` ends nothing without it, since elsewhere it may be a page "
                + "like any; an API that ends so without it makes the pages loop, which stops the fetch."),
        ParameterSpec(
            "after_last", .string,
            "Style (keyset, Stripe's `starting_after`): the key path of each page's last item whose value the "
                + "next page starts after (`id`); the next request is the first with `cursor_param` set to it. "
                + "`has_more` ends the list; without it an empty page does, or one of fewer than `page_size` items "
                + "when that is given. A page that says there is more (`has_more`, or a full page) but has no "
                + "items, or whose last item has no value there, stops the fetch: the list is never cut short."),
        ParameterSpec(
            "cursor_param", .string,
            "With `cursor` or `after_last`: the query parameter the cursor is sent in (`after`, `starting_after`)."),
        ParameterSpec(
            "cursor_field", .string,
            "With `cursor` or `after_last`, for a POST (instead of `cursor_param`): the key path of the JSON "
                + "body's member the cursor is set in (`start_cursor`, `variables.after`, `search_after`), the body "
                + "otherwise the first request's; the cursor is sent as the answer had it (text, a number, a list)."),
        ParameterSpec(
            "has_more", .string,
            "With `after_last`, `cursor`, `offset_param` or `page_param` (or their `_field`): the key path of each "
                + "page's answer "
                + "saying whether more pages follow (Stripe's and StackExchange's `has_more`, GraphQL's "
                + "`data.x.pageInfo.hasNextPage`); anything but `true` (`false`, absent, `null`) ends the list, "
                + "whatever the page's length or cursor, saving the request for an empty page after the last. "
                + "`true` with no cursor, no items, or (with an offset) fewer items than `page_size` stops the "
                + "fetch: the list is never cut short, nor asked past its end."),
        ParameterSpec(
            "offset_param", .string,
            "Style: the query parameter of the offset, sent as 0, `page_size`, 2 × `page_size`...; a page of "
                + "fewer than `page_size` items ends the list (with `has_more`, the flag alone does), and one of more "
                + "stops the fetch (the API pages by another size, and the next offset would repeat items)."),
        ParameterSpec(
            "offset_field", .string,
            "Style, for a POST (instead of `offset_param`, as it ends): the key path of the JSON body's member the "
                + "offset is set in as a number (Elasticsearch's `from`, Meilisearch's `offset`), the body otherwise "
                + "the first request's. With `page_size`."),
        ParameterSpec(
            "page_param", .string,
            "Style: the query parameter of the page number, sent as `first_page`, then one more each page; "
                + "an empty page ends the list, or one of fewer than `page_size` items when that is given; with "
                + "`has_more` (StackExchange's `page` and `has_more`), the flag alone does."),
        ParameterSpec(
            "page_field", .string,
            "Style, for a POST (instead of `page_param`, as it ends): the key path of the JSON body's member the "
                + "page number is set in as a number (Meilisearch's and Algolia's `page`), the body otherwise the "
                + "first request's."),
        ParameterSpec(
            "first_page", .int(min: 0, max: 1_000_000), default: 1,
            "With `page_param` or `page_field`: the first page's number (Algolia's is 0)."),
        ParameterSpec(
            "page_size", .int(min: 1, max: 1_000_000),
            "Items per page: required with an offset (`offset_param`, `offset_field`), optional with a page number "
                + "and `after_last`; sent in `size_param` (or `size_field`) when that is given. A page of fewer items "
                + "ends the list (but with `has_more`, which alone ends it), so it must be at most the most items the API gives a page, its "
                + "cap (GitHub's `per_page` and MusicBrainz's `limit` take at most 100), and without `size_param` at "
                + "most the API's own page size (with `offset_param`, exactly: a longer page stops the fetch): an API "
                + "that gives fewer items than asked cuts every longer list to its first page with no error, since "
                + "nothing in a short page tells a capped page from a list's last. `page_param` or `after_last` without "
                + "it or `has_more` ends only on an empty page, whatever the API's size, at "
                + "one request more per row."),
        ParameterSpec(
            "size_param", .string,
            "With `page_size`: the query parameter that asks for that many items a page (`limit`, `per_page`)."),
        ParameterSpec(
            "size_field", .string,
            "With `page_size`, for a POST (instead of `size_param`): the key path of the JSON body's member set to "
                + "it as a number (Elasticsearch's `size`, Meilisearch's `limit` or `hitsPerPage`)."),
        ParameterSpec(
            "max_pages", .int(min: 1, max: 1_000_000), default: 100,
            "Most pages one row's list may take. A row whose list has more is rejected (reason `too_many_pages`, "
                + "saying how many were fetched): never a partial list."),
    ]

    static let ruleKeys: [ParameterSpec] = [
        ParameterSpec(
            "type", .choice(of: ValueType.self), default: "any",
            "The value's type. Numbers in strings do not count as numbers."),
        ParameterSpec(
            "required", .bool, default: false,
            "When true, an empty value (null, or empty text, which an apply writes as NULL) is invalid."),
        ParameterSpec(
            "min", .double(),
            "Smallest allowed number (itself allowed). Text is read as a number (`'50'` from a text column); "
                + "text that is no number breaks the rule (reason `type`)."),
        ParameterSpec("max", .double(), "Largest allowed number (itself allowed); text as for `min`."),
        ParameterSpec("pattern", .pattern, "A regular expression the whole text must match."),
        ParameterSpec("one_of", .list(of: .scalar, minCount: 1), "The allowed values."),
        ParameterSpec(
            "max_length", .int(min: 0),
            "Longest allowed text, in characters as PostgreSQL counts them for a `varchar(n)`: Unicode code points (an `é` written as `e` and an accent is two)."
        ),
    ]

    static let applyColumnKeys: [ParameterSpec] = [
        ParameterSpec("from", .string, "The input field holding the new value; defaults to the column's name."),
        ParameterSpec(
            "on_empty", .choice(of: EmptyPolicy.self), default: "clear",
            "What an empty input value means: `clear` sets NULL (the source says there is none); `keep` leaves the table's value (the source could not say). A row that `upsert` or `insert` adds gets NULL either way. Empty is NULL or an empty string alike (a CSV cannot tell them apart), a query's `''` too."
        ),
        ParameterSpec(
            "max_cleared", .limit,
            "Guard-rail: the most cells of this column the apply may clear (value → empty), as rows (`10`) or a percentage of the table's rows after the apply (`1%`). Checked against the review before anything changes; `--force` overrides."
        ),
        ParameterSpec(
            "max_updated", .limit,
            "Guard-rail: the most cells of this column the apply may change from one value to another, as rows or a percentage of the table's rows after the apply."
        ),
        ParameterSpec(
            "min_coverage", .percent,
            "Guard-rail: the least share of the table's rows that must hold a value in this column after the apply, with its sign (`95%`; a bare `0.95` is refused, not read as 0.95%)."
        ),
    ]

    static let checkKeys: [ParameterSpec] = [
        ParameterSpec("name", .string, "Shown in the run summary; defaults to the SQL."),
        ParameterSpec(
            "sql", .string, required: true,
            "A query returning one row: one number, or with `expect` a mapping, one number in each column it "
                + "names. Any other answer, or a query the server refuses, fails this check by name; the other "
                + "checks still run."),
        ParameterSpec(
            "expect", .expectations, required: true,
            "`OP VALUE` with OP one of `==`, `!=`, `>=`, `<=`, `>`, `<`; VALUE a number or `{{ stages.NAME.COUNTER }}`, "
                + "optionally `* FACTOR`. Or a mapping from each column the query returns to its own expectation "
                + "(`{filled: \">= 10\", normalised: \">= 10\"}`): one query, so one scan of a table, answers "
                + "them all, and each is met or failed on its own."
        ),
    ]

    /// The parameters of each stage kind (in addition to ``commonStageKeys``).
    public static func parameters(of kind: StageKind) -> [ParameterSpec] {
        switch kind {
        case .query:
            return [
                ParameterSpec(
                    "connection", .connectionReference(kind: "postgres"), required: true,
                    "The postgres connection to read from."),
                ParameterSpec(
                    "sql", .string, required: true,
                    "The SELECT to run. Rows are read and spooled, then the connection is released. Column types "
                        + "become values as follows: `bool` a boolean; `int2`, `int4`, `int8` an integer; `float4`, "
                        + "`float8` a double (`NaN`, `Infinity` and `-Infinity` stay that text, which a CSV keeps "
                        + "and a `float8` column reads back); `json`, `jsonb` an object or list as that JSON value, a "
                        + "scalar as its JSON text (`\"abc\"` with its quotes, `5`, `true`, `null`), so it goes back into "
                        + "a `jsonb` column as it was; NULL null; every other type "
                        + "(`numeric`, `text`, `uuid`, dates and times, arrays) text as the server prints it (dates "
                        + "and times in ISO style, doubles exactly, whatever the database's `DateStyle` or "
                        + "`extra_float_digits`), "
                        + "`numeric` kept exact. To send a `numeric` as a JSON number, select it `::float8` (or "
                        + "`number(...)` in a transform); an array as a JSON list, `to_jsonb(...)`; a timestamp in "
                        + "ISO 8601, `to_json(...)`."),
                ParameterSpec(
                    "params", .list(of: .scalar), default: .array([]), "Values for `$1`, `$2`, ... in the SQL."),
                ParameterSpec(
                    "batch_size", .int(min: 1, max: 1_000_000), default: 1000, "Rows per batch passed downstream."),
                ParameterSpec(
                    "count_first", .bool, default: true,
                    "Count the rows first so progress can show an ETA."),
            ]
        case .readCSV:
            return [
                ParameterSpec(
                    "path", .string, required: true,
                    "The CSV file (RFC 4180, header row first), relative to the working directory. It is checked "
                        + "whole before any row is sent, and its SHA-256 is recorded in the manifest."),
                ParameterSpec(
                    "columns", .list(of: .string, minCount: 1),
                    "The columns to send, in this order; each must be in the header. Default: all of them. An empty "
                        + "cell is null, any other a string."),
                ParameterSpec(
                    "batch_size", .int(min: 1, max: 1_000_000), default: 1000, "Rows per batch passed downstream."),
            ]
        case .chunk:
            return [
                ParameterSpec(
                    "size", .int(min: 1, max: 1_000_000), required: true,
                    "Rows per batch. Must not exceed a later fetch stage's `max_ids`.")
            ]
        case .fetch:
            return [
                ParameterSpec("connection", .connectionReference(kind: "http"), required: true, "The http connection."),
                ParameterSpec(
                    "path", .requestTemplate, required: true,
                    "Request path under the connection's base_url. A batch endpoint (`/tracks`) gets many ids per "
                        + "request; a path with `{field}` placeholders (`/ws/2/isrc/{isrc}`) makes one request per row, "
                        + "each placeholder a row field (or `{id}`, the `id` expression), percent-encoded. So does a "
                        + "`POST` whose `body` holds placeholders. It may carry a query of its own "
                        + "(`/api/books?format=json`): the ids and `query` follow it after `&`. A `#` is refused: a "
                        + "URL's fragment is never sent (write `%23`)."),
                ParameterSpec(
                    "method", .choice(of: HTTPMethod.self), default: "GET",
                    "HTTP method. `POST` sends a JSON `body`: a batch's ids, or one row's fields."),
                ParameterSpec(
                    "id", .expression,
                    "Expression giving each row's id, e.g. `trim(isrc)`, or `regex_extract(url, '/track/([^?/]+)')` for "
                        + "an id inside a URL. "
                        + "Required for batch requests; per item, what `{id}` stands for (without it, `{id}` is the "
                        + "row's field `id`)."),
                ParameterSpec(
                    "id_pattern", .pattern,
                    "A regular expression every id must match in whole, e.g. `[0-9A-Za-z]{22}` for Spotify. An id "
                        + "that does not is rejected (reason `invalid_id`) without asking the API, instead of costing a "
                        + "refused batch and the requests that isolate it."),
                ParameterSpec(
                    "ids_param", .string, default: "ids",
                    "Batch GET: the query parameter that carries the ids (`ids=a,b,c`)."),
                ParameterSpec(
                    "id_separator", .string, default: ",", "Batch GET: what goes between the ids in `ids_param`."),
                ParameterSpec(
                    "ids_repeat", .bool, default: false,
                    "Batch GET: send each id as a parameter of its own, `?id=a&id=b` (with `ids_param: id`; "
                        + "`ids_param: id[]` gives `?id[]=a&id[]=b`), instead of one `ids_param` joined by "
                        + "`id_separator`."),
                ParameterSpec(
                    "id_prefix", .string, default: "",
                    "Batch requests: written before every id sent (Open Library's `ISBN:`), and expected before it "
                        + "in `object_keys` answers."),
                ParameterSpec(
                    "max_ids", .int(min: 1, max: 10_000), default: 50,
                    "Batch requests: most ids the endpoint accepts in one request (Spotify: 50). A batch the API "
                        + "refuses with 400 is split until the ids it refuses alone are found; when it refuses a "
                        + "whole batch but none of its ids alone, the run's notices say to lower `max_ids`."),
                ParameterSpec(
                    "query", .map(of: .requestTemplate, keyName: "parameter"), default: .object([:]),
                    "Query parameters sent with every request, e.g. `market: US`. Per item, values may hold "
                        + "`{field}` placeholders too."),
                ParameterSpec(
                    "body", .json,
                    "Batch POST: the JSON body, with the string `\"{ids}\"` where the id list goes "
                        + "(`{ids: \"{ids}\"}`), or a one-item list whose item holds `{id}` to send one object per "
                        + "id (`[{isbn: \"{id}\"}]`). Either may sit anywhere in the body, beside other keys: "
                        + "`{items: [{isbn: \"{id}\"}], fields: [title]}`. Per-item POST: a body without them whose "
                        + "strings hold `{field}` placeholders (`{isbn: \"{isbn}\", fields: [title]}`) sends one "
                        + "request per row. A string that is one placeholder alone takes the row's value with its "
                        + "JSON type (a number stays a number); one inside other text is filled with the value as "
                        + "text. Only `{name}` with a field name's characters (letters, digits, `_`, `-`, `.`, "
                        + "spaces) is a placeholder: other braces are sent as written, `{{` and `}}` are literal "
                        + "braces. A row whose field is empty is rejected without a request, unless the placeholder "
                        + "says it may be empty: `{zip?}` alone sends null, inside text nothing. Keys are sent in the "
                        + "order written (an API may sign the body or read it in order), an api-key `body_field` "
                        + "after them."),
                ParameterSpec(
                    "match",
                    .choiceOr(
                        MatchMode.choices,
                        object: [
                            ParameterSpec("item_field", .string, required: true, "The key path naming each item's id.")
                        ]),
                    default: "position",
                    "Batch requests: how answer items are matched to ids. `position`: an array with one entry per id, in "
                        + "order (`null`: not found). `{item_field: id}`: an array in any order, each item naming its id "
                        + "at that key path (`id`, `identifiers.isbn`); an answer whose items all lack it stops the "
                        + "fetch, naming the keys they have; an id two different items name is rejected (reason "
                        + "`ambiguous_answer`), neither used. `object_keys`: an object keyed by the ids sent; an id it names "
                        + "twice with different values is rejected the same way. An item naming one field twice with "
                        + "different values (`{\"title\": \"A\", \"title\": \"B\"}`) is too, whatever the match (and "
                        + "per item). An id nothing answers is not found (`on_not_found`)."),
                ParameterSpec(
                    "items_key", .string,
                    "The key of the answer that holds the items (`tracks`), or a key path to them (`data.results`); "
                        + "without it the body itself is the array, the object keyed by id, or (per item) the item. "
                        + "With `paginate`, where each page's list is (without it, each page's body is the list)."),
                ParameterSpec(
                    "paginate", .object(paginateKeys),
                    "Per-item GET (or POST, with `cursor_field`, `offset_field` or `page_field`): follow the pages of "
                        + "a list the API pages, and attach one array, every page's items (at `items_key`) in order. "
                        + "Exactly one style: `next_url`, `link_header`, `cursor` with `cursor_param` (or "
                        + "`cursor_field`), `after_last` likewise, `offset_param` (or `offset_field`) with `page_size`, "
                        + "or `page_param` (or `page_field`). See Fetch pagination."),
                ParameterSpec(
                    "fallback_path", .string,
                    "Per-item path with `{id}` used when the batch endpoint answers 403, e.g. `/tracks/{id}`."
                ),
                ParameterSpec(
                    "fallback_note", .string,
                    "Added to the notice fetch gives when it switches to `fallback_path` (why the API answers 403, "
                        + "what the per-item answers lack)."),
                ParameterSpec(
                    "response_field", .string, default: "response",
                    "Name of the field the response item is attached as: one the input lacks (check refuses a "
                        + "name the input has, which the answer would replace)."),
                ParameterSpec(
                    "delay", .duration(min: 0, max: 3600), default: 0,
                    "Minimum time between the starts of two requests."),
                ParameterSpec(
                    "rate", .int(min: 1, max: 1_000_000),
                    "Most requests per rolling minute (e.g. 180). None by default."),
                ParameterSpec("concurrency", .int(min: 1, max: 64), default: 1, "Requests in flight at once."),
                ParameterSpec("timeout", .duration(min: 0.001, max: 3600), default: 30, "Deadline for one request."),
                ParameterSpec(
                    "retries", .int(min: 0, max: 100), default: 5,
                    "Attempts after the first for 5xx, 429, timeouts, dropped connections, bad bodies."),
                ParameterSpec(
                    "backoff", .duration(min: 0, max: 3600), default: 0.5,
                    "First retry wait; doubles each attempt, with full jitter."),
                ParameterSpec("max_backoff", .duration(min: 0, max: 86400), default: 30, "Longest retry wait."),
                ParameterSpec(
                    "max_retry_after", .duration(min: 0, max: 604_800), default: 600,
                    "A `Retry-After` asking to wait longer than this (a 429's, a `throttle_statuses` answer's, "
                        + "a 5xx's or 408's, or the token endpoint's), or a rate limit's reset further off "
                        + "(`X-RateLimit-Reset`, `RateLimit-Reset`: see `throttle_statuses`), stops the run as "
                        + "resumable, recording when the wait ends, instead of sleeping."),
                ParameterSpec(
                    "throttle_statuses", .list(of: .int(min: 400, max: 599)), default: .array([429]),
                    "Statuses that mean \"slow down\" (MusicBrainz: 503). Like a 429, the whole host then waits "
                        + "`Retry-After`, or else the reset its rate-limit headers give, or a backoff when there is "
                        + "neither, before anything else is sent. Rate-limit headers are always obeyed: an answer of "
                        + "any status (a 200 too) saying no request is left holds the host back until the reset, and "
                        + "a 403 saying so (GitHub's limit), or with a `Retry-After`, is \"slow down\" too, not "
                        + "\"forbidden\" (read: "
                        + "`RateLimit-Remaining`/`-Reset` and `RateLimit` of the IETF drafts, `X-RateLimit-*`, "
                        + "`X-Rate-Limit-*`; a reset over 10^9 is a Unix time, else seconds from now). A 5xx or "
                        + "408 not listed is a failure, retried after a backoff, but no sooner than its "
                        + "`Retry-After` when it has one (a 503's: how long the service expects to be down), the "
                        + "whole host waiting with it; that retry counts against `retries`, and not in `throttled`."),
                ParameterSpec(
                    "on_give_up", .choice(of: GiveUpPolicy.self), default: "fail",
                    "A request the API still answers with a 5xx after every retry (or with a success whose body "
                        + "is not JSON, cannot be decompressed, or has fewer items than ids; per item, one over the "
                        + "64 MiB body limit, not retried): `fail` stops the fetch, resumably "
                        + "(exit 4: `sluice resume` asks it again); `reject` rejects its ids (`rejects-<stage>.csv`, "
                        + "reason `gave_up` with the last error; counted in `gave_up`, not as ids the API refused; "
                        + "not kept among the answers, so a resume asks again) and goes on, for an id the API always fails on, "
                        + "which would otherwise stop every run and every resume. A batch request rejects all its "
                        + "ids. A timeout or a connection that fails still stops the fetch, and so does an API that "
                        + "failed every request of several and answered no id: it is down, and a run that fetched "
                        + "nothing is not a success."),
                ParameterSpec(
                    "on_not_found", .choice(of: NotFoundPolicy.self), default: "reject",
                    "Ids the API does not know (null, absent; per item 404, 410 or 204): `reject` them (`rejects-<stage>.csv`) "
                        + "or `keep` the row with a null response. An id the API refuses (400 or 422) is always rejected. "
                        + "A fetch whose API found none of its ids stops with `keep` (an apply would write every row's "
                        + "empty answer over the table: most likely the plan asks or reads wrong); `--force` goes on."
                ),
                ParameterSpec(
                    "not_found_when", .expression,
                    "An answer item that means \"not found\" though the API sent it, for an API that answers "
                        + "200 with an error inside: an expression over the item, read as `response` (or "
                        + "`response_field`), e.g. `response.status == 'error'`; where it is true the id is not "
                        + "found (`on_not_found`)."),
                ParameterSpec(
                    "retry_when", .expression,
                    "An answer item that means \"ask again later\" (an API's temporary error inside a 200): "
                        + "an expression over the item, as for `not_found_when`, e.g. "
                        + "`response.error.code == 'TEMPORARILY_UNAVAILABLE'`; where it is true the request is "
                        + "tried again like a 5xx (`retries`, `backoff`), and a run that runs out of retries "
                        + "stops, resumable."),
            ]
        case .transform:
            return [
                ParameterSpec(
                    "fields", .map(of: .expression, keyName: "output field"), required: true,
                    "Output fields in order, each an expression over the input row."),
                ParameterSpec(
                    "keep_input", .bool, default: false, "Also pass the input fields through (after the new ones)."),
                ParameterSpec(
                    "when_empty", .map(of: .string, keyName: "output field"), default: .object([:]),
                    "A note per output field, added to the run summary when the field was empty in every row the "
                        + "stage sent (the summary always says so; the note says why, e.g. what the API leaves out). "
                        + "When a key the field's path reads was in no row, the summary says that too; when the rows "
                        + "hold a key it most likely misspells (one no field of the stage reads), the stage fails suggesting that key (sent on, the "
                        + "empty field would read as no value to every later stage, and an apply would clear its "
                        + "column); `--force` goes on, saying so."),
            ]
        case .validate:
            return [
                ParameterSpec(
                    "rules", .map(of: .object(ruleKeys), keyName: "field"), required: true,
                    "Rules per field. See Validation rules."),
                ParameterSpec(
                    "on_invalid", .choice(of: InvalidPolicy.self), default: "reject",
                    "`reject`: invalid rows go to `rejects-<stage>.csv` and the run goes on; `fail`: the run stops."),
            ]
        case .writeCSV:
            return [
                ParameterSpec(
                    "path", .pathTemplate, required: true,
                    "Where to write. `{timestamp}` is the run's start as YYYYMMDD_HHMMSS; `{date}`, `{run_id}`, `{plan}` also work. Relative paths are inside the run directory, so one may not name a file the run writes there itself (`manifest.json`, `review.csv`, a stage's `<stage>.ndjson`, ...): `check` refuses it. An existing file is never overwritten: the stage fails instead."
                ),
                ParameterSpec(
                    "columns", .list(of: .string, minCount: 1), required: true,
                    "The columns, in this exact order."),
                ParameterSpec("header", .bool, default: true, "Write a header row."),
            ]
        case .apply:
            return [
                ParameterSpec(
                    "connection", .connectionReference(kind: "postgres"), required: true,
                    "The postgres connection to update."),
                ParameterSpec(
                    "table", .string, required: true, "Table to write (`schema.table` allowed); quoted safely."),
                ParameterSpec(
                    "key", .string, required: true,
                    "The table's key column that rows are matched on. `mode: upsert` needs a primary key or unique constraint on it; "
                        + "for `mode: update`, a key without a unique index of its own is checked once the input is copied, and "
                        + "input keys that match more than one row are refused, named, before anything is written."
                ),
                ParameterSpec("key_field", .string, "Input field holding the key; defaults to `key`."),
                ParameterSpec(
                    "columns", .map(of: .object(applyColumnKeys), keyName: "column", minCount: 1), required: true,
                    "Columns to write. Only rows whose values differ are changed."),
                ParameterSpec(
                    "mode", .choice(of: ApplyMode.self), default: "update",
                    "`update` changes the rows whose key is in the table and counts the other keys (`unknown_keys`); `upsert` also inserts rows whose key is new (`INSERT ... ON CONFLICT (key) DO UPDATE`, for a side table); `insert` inserts every row and fails, changing nothing, when a key is already in the table. Undo deletes the rows an upsert or insert added."
                ),
                ParameterSpec(
                    "dry_run", .bool, default: false,
                    "Run everything inside a transaction, report, and roll back."),
                ParameterSpec(
                    "on_drift", .choice(of: DriftPolicy.self), default: "fail",
                    "A row whose value changed between the review and the apply is never overwritten. `fail` stops the apply, changing nothing, and names the rows (review again); `skip` leaves those rows, names and counts them (`drifted`), and applies the rest."
                ),
                ParameterSpec(
                    "max_changed", .limit,
                    "Guard-rail: the most rows the apply may write (updated plus inserted), as rows (`500`) or a percentage of the table's rows after the apply (`10%`). Checked against the review before anything changes; `--force` overrides, recording a warning."
                ),
                ParameterSpec(
                    "max_unknown", .limit,
                    "Guard-rail for `mode: update`: the most input keys the table may not have (`unknown_keys`), as keys (`100`) or a percentage of the input's distinct keys (`1%`), so that a file meant for another table, or keyed by another column, stops before anything changes rather than updating the few keys that happen to match. Checked against the review; `--force` overrides, recording a warning."
                ),
                ParameterSpec(
                    "analyze", .bool, default: true,
                    "After COMMIT, when the apply wrote more than 50 rows plus a tenth of the table (autovacuum's own trigger), `ANALYZE` the columns written (waiting at most 100 ms for the table), so verify and the queries after it are planned on the new values rather than until autovacuum comes by. `false` leaves it to autovacuum."
                ),
            ]
        case .verify:
            return [
                ParameterSpec(
                    "connection", .connectionReference(kind: "postgres"), required: true,
                    "The postgres connection to query."),
                ParameterSpec(
                    "checks", .list(of: .object(checkKeys), minCount: 1), required: true,
                    "Assertions; the run fails when one is not met, showing both values."),
            ]
        }
    }
}

/// The kinds of stage.
public enum StageKind: String, Sendable, CaseIterable, Codable {
    case query
    case readCSV = "read-csv"
    case chunk, fetch, transform, validate
    case writeCSV = "write-csv"
    case apply, verify

    public var summary: String {
        switch self {
        case .query: return "Streams rows from PostgreSQL."
        case .readCSV: return "Reads rows from a CSV file."
        case .chunk: return "Regroups rows into batches of `size`."
        case .fetch:
            return
                "Asks an HTTP API for each row's item (a batch of ids per request, or one request per row) and attaches it. "
                + "Each request's answer is taken as it is, unless a per-item request says how its list is paged "
                + "(`paginate`: a `next` link or cursor, `offset=`, `page=2`, a `Link` header, the last item's id): then every page is "
                + "asked for and the row gets one array of all their items. Without `paginate`, an API that pages "
                + "a list gives only its first page, so `length(response.items)` counts that page, not the list."
        case .transform: return "Computes output fields from expressions."
        case .validate:
            return "Checks fields against rules, and every field for a NUL character (which PostgreSQL and the "
                + "audit CSV cannot hold); rejects or fails on invalid rows."
        case .writeCSV: return "Writes rows to an RFC 4180 CSV file (atomically, mode 0600) and passes them on."
        case .apply: return "Bulk-updates a table from the rows in one transaction, or upserts or inserts them."
        case .verify:
            return "Runs SQL assertions after apply, up to four at a time, each on its own read-only connection. "
                + "Each check's SQL is parsed and described by the server before the run starts (nothing runs), so "
                + "one it would refuse, or whose columns could not meet its `expect`, stops the run before anything "
                + "changes."
        }
    }

    /// Whether the stage reads rows from another stage.
    public var takesInput: Bool { self != .query && self != .readCSV }
}
