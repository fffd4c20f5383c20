/// A figure a stage records in its manifest (`counters`), which a verify check can compare with:
/// `{{ stages.NAME.COUNTER }}`. A name ending in an upper-case word stands for a family:
/// `filled_COLUMN` is one counter per column an apply writes.
public struct CounterSpec: Sendable {
    public var name: String
    public var doc: String
    /// Recorded only when it applies (`inserted` by an upsert): read as 0 when it was not.
    public var sometimes: Bool

    public init(_ name: String, _ doc: String, sometimes: Bool = false) {
        self.name = name
        self.doc = doc
        self.sometimes = sometimes
    }

    /// `filled_` for `filled_COLUMN`; `nil` for a single counter.
    var familyPrefix: String? {
        guard let underscore = name.lastIndex(of: "_") else { return nil }
        let word = name[name.index(after: underscore)...]
        return word.allSatisfy(\.isUppercase) ? String(name[...underscore]) : nil
    }
}

/// Why validate refused a row: its `rejected_REASON` counter and the reason in the rejects file.
public enum RejectionReason: String, Sendable, CaseIterable {
    case missingField = "missing_field"
    case required, type, min, max
    case maxLength = "max_length"
    case pattern
    case oneOf = "one_of"
    /// Text holding a NUL character, which neither PostgreSQL nor a CSV file can hold: checked
    /// in every field, ruled or not.
    case nulCharacter = "nul_character"
}

extension Schema {
    /// What every stage records: its rows in, out and rejected.
    public static let commonCounters: [CounterSpec] = [
        CounterSpec("rows_in", "Rows the stage read."),
        CounterSpec("rows_out", "Rows it passed on."),
        CounterSpec("rows_rejected", "Rows it set aside (in `rejects-<stage>.csv`)."),
    ]

    /// The counters a stage of `kind` records besides ``commonCounters``. Some are recorded only
    /// when they apply (`inserted`, `drifted`, `analyzed`, `dry_run`, `altered_by_trigger`,
    /// `skipped_by_trigger`, `gave_up`, `ambiguous`, `too_many_pages`, `lists_asked_again`, `rejected_REASON`): a verify check reads one that was not recorded as 0.
    public static func counters(of kind: StageKind) -> [CounterSpec] {
        switch kind {
        case .query:
            return [
                CounterSpec("rows", "Rows the query returned."),
                CounterSpec("read_ms", "Milliseconds from sending the query to its last row."),
            ]
        case .readCSV:
            return [CounterSpec("rows", "Data rows read."), CounterSpec("bytes", "Bytes read.")]
        case .chunk:
            return [CounterSpec("batches", "Batches sent on.")]
        case .fetch:
            return [
                CounterSpec("requests", "Requests to the API (not the token endpoint), retries included."),
                CounterSpec("retries", "Requests that repeated one after a transient failure or a `throttled` answer."),
                CounterSpec("http_429", "429 answers."),
                CounterSpec(
                    "throttled",
                    "Answers that said to slow down: 429s, `throttle_statuses`, and 403s whose rate-limit headers "
                        + "say no request is left or that have a `Retry-After`."),
                CounterSpec(
                    "waits",
                    "Sleeps for a `Retry-After`, a rate limit's reset (an answer saying none is left), or a backoff."),
                CounterSpec(
                    "wait_ms",
                    "Their total length, in milliseconds, summed over the requests that slept: with `concurrency`, "
                        + "sleeps at the same time each count, so it may exceed the stage's time."),
                CounterSpec("paced_ms", "Milliseconds spent waiting for a turn under `delay` or `rate`."),
                CounterSpec("bytes", "Response body bytes received."),
                CounterSpec("token_requests", "Requests to the token endpoint."),
                CounterSpec("token_refreshes", "Of those, the ones that replaced an earlier token."),
                CounterSpec("fallback_requests", "Per-item requests sent because the batch endpoint was forbidden."),
                CounterSpec("narrowed_requests", "Requests sent to find the ids that made a whole batch fail."),
                CounterSpec("pages", "Pages of a row's paged list (`paginate`) asked for after its first."),
                CounterSpec(
                    "too_many_pages",
                    "Ids whose list had more pages than `paginate.max_pages` (reason `too_many_pages` in the rejects "
                        + "file): found, so not \"none found\", but not used (recorded only with `paginate`)."),
                CounterSpec(
                    "lists_asked_again",
                    "Paged lists asked again from their first page because a later page was not found (404, 410, "
                        + "`not_found_when`): the list moved while it was read (recorded only with `paginate`)."),
                CounterSpec("timeouts", "Requests that ran past their deadline."),
                CounterSpec(
                    "redirects",
                    "Redirects to another address on the `base_url`'s own scheme, host and port, followed (each "
                        + "hop's request is in `requests`): a GET's, and a POST's 303 (asked with a GET), 307 or 308 "
                        + "(asked again as it was); a redirect elsewhere, or a POST's 301 or 302, is never followed."),
                CounterSpec(
                    "gave_up",
                    "Ids rejected because the API answered their request with a 5xx after every retry "
                        + "(`on_give_up: reject`; recorded only then)."),
                CounterSpec("found", "Ids the API answered with an item."),
                CounterSpec("not_found", "Ids the API does not know."),
                CounterSpec(
                    "rejected",
                    "Ids the API refused (reason `invalid_id` in the rejects file). Not the stage's `rejected` rows, "
                        + "which also count `malformed_id`, `missing_id` and, with `on_not_found: reject`, `not_found`."
                ),
                CounterSpec(
                    "ambiguous",
                    "Ids the answer named in several different items (`match: {item_field: ...}`), named twice "
                        + "with different values (`object_keys`), or whose item names a field twice with different "
                        + "values (reason `ambiguous_answer` in the rejects file; recorded only then)."),
                CounterSpec(
                    "missing_id",
                    "Rows without an id, or (per item) without a value the request needs: never asked about."),
                CounterSpec("malformed_id", "Ids `id_pattern` refused, never sent (reason `invalid_id` too)."),
                CounterSpec(
                    "reused_answers",
                    "Rows whose id an earlier run answered (resume), not asked again; an id may be in several rows."),
            ]
        case .transform:
            return []
        case .validate:
            let reasons = RejectionReason.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", ")
            return [
                CounterSpec("valid", "Rows that met every rule."),
                CounterSpec("invalid", "Rows that broke one."),
                CounterSpec("rejected_REASON", "Rows refused for REASON: \(reasons).", sometimes: true),
            ]
        case .writeCSV:
            return [CounterSpec("csv_rows", "Data rows written.")]
        case .apply:
            return [
                CounterSpec("input_rows", "Rows in the apply's input."),
                CounterSpec("duplicate_rows", "Input rows whose key an earlier row had."),
                CounterSpec(
                    "matched",
                    "Rows of the table the input's keys found, apart from the rows counted in `drifted`, which are left out of the apply."
                ),
                CounterSpec(
                    "changed",
                    "Rows of the table updated (the rows `upsert` and `insert` add are counted in `inserted`)."),
                CounterSpec("unchanged", "Matched rows that already held the values."),
                CounterSpec("unknown_keys", "Input keys not in the table (`update`)."),
                CounterSpec("inserted", "Rows inserted (`upsert` and `insert`).", sometimes: true),
                CounterSpec(
                    "drifted", "Rows changed since the review and left as they are (an apply held to one).",
                    sometimes: true),
                CounterSpec("filled_COLUMN", "Distinct keys given a value for COLUMN (one of `columns`)."),
                CounterSpec(
                    "analyzed", "1 when it ran `ANALYZE` on the columns it wrote after COMMIT.", sometimes: true),
                CounterSpec("dry_run", "1 for `--dry-run`: the transaction was rolled back.", sometimes: true),
                CounterSpec(
                    "transaction_began",
                    "1 once its transaction began (`BEGIN` answered), 0 until then: a run interrupted at 0 had "
                        + "started nothing in the database; at 1 (and not committed) its transaction was rolled back."),
                CounterSpec(
                    "altered_by_trigger",
                    "Cells that hold another value than the apply wrote, because a row-level `BEFORE` trigger on the "
                        + "table changed it (recorded only for a table with such a trigger).",
                    sometimes: true),
                CounterSpec(
                    "skipped_by_trigger",
                    "Of the rows holding those cells, the ones such a trigger kept from being written at all (it "
                        + "returned NULL); not in `changed` (recorded only for a table with such a trigger).",
                    sometimes: true),
            ]
        case .verify:
            return [
                CounterSpec("checks", "Expectations checked: one per check, or one per column of a check's `expect`."),
                CounterSpec("passed", "Expectations met."),
            ]
        }
    }

    /// Every counter a stage of this definition may record, families spelled out where the plan
    /// says what they hold (an apply's `filled_COLUMN`, validate's `rejected_REASON`).
    public static func counterNames(of stage: StageDefinition) -> [String] {
        var names = commonCounters.map(\.name)
        for counter in counters(of: stage.kind) {
            switch counter.familyPrefix {
            case nil: names.append(counter.name)
            case "filled_": names += (stage.apply?.columns ?? []).map { "filled_" + $0.column }
            case "rejected_": names += RejectionReason.allCases.map { "rejected_" + $0.rawValue }
            case let prefix?: assertionFailure("no members known for the counter family \(prefix)")
            }
        }
        return names
    }

    /// What a stage of `kind` declares of the counter `name` (`filled_isrc` finds `filled_COLUMN`), or
    /// `nil` when it records no such counter.
    public static func counter(_ name: String, of kind: StageKind) -> CounterSpec? {
        (commonCounters + counters(of: kind)).first { spec in
            spec.familyPrefix.map { name.hasPrefix($0) && name.count > $0.count } ?? (spec.name == name)
        }
    }
}
