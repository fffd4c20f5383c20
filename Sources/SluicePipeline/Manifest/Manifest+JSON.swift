import Foundation
import SluiceCore

// The manifest on disk, through SluiceCore's JSON codec (the one that keeps `7` and `7.0`
// apart, as the resolved plan and the stages' parameters need). Optional fields are written
// as `null` rather than left out: a reader can tell "not yet" from "unknown field".

extension Manifest {
    /// The manifest as written to disk: pretty-printed, sorted keys, ISO 8601 dates with
    /// milliseconds, a trailing newline.
    public func encoded() -> [UInt8] {
        Array(JSON.encodePretty(json).utf8) + [UInt8(ascii: "\n")]
    }

    /// Decodes a manifest from its JSON bytes.
    /// - Throws: `JSON.DecodingError` for bytes that are not JSON; ``ManifestFormatError``
    ///   naming the field that is missing or of the wrong type.
    public static func decode(_ data: Data) throws -> Manifest {
        try Manifest(json: JSON.decode(Array(data)))
    }

    /// The manifest as a JSON value: what ``encoded()`` writes.
    public var json: Value {
        .object([
            "manifest_version": .int(Int64(manifestVersion)), "run_id": .string(runID),
            "tool_version": .string(toolVersion), "plan": plan.json, "resolved_plan": resolvedPlan,
            "resolved_plan_key_order": .object(resolvedPlanKeyOrder.mapValues(Value.strings)),
            "overrides": .strings(overrides), "secret_overrides": .strings(secretOverrides),
            "started_at": .date(startedAt), "finished_at": .date(finishedAt), "status": .string(status.rawValue),
            "error": error?.json ?? .null, "replay_of": replayOf?.json ?? .null, "process": process?.json ?? .null,
            "resume_command": resumeCommand.map(Value.string) ?? .null, "notices": .strings(notices),
            "stages": .array(stages.map(\.json)), "undos": .array(undos.map(\.json)),
            "rejection": rejection?.json ?? .null, "dry_run": .bool(dryRun),
        ])
    }

    init(json: Value) throws {
        let r = try ManifestFields(json, at: "")
        manifestVersion = try r.int("manifest_version")
        runID = try r.string("run_id")
        toolVersion = try r.string("tool_version")
        plan = try Plan(json: r.object("plan"))
        resolvedPlan = r.value("resolved_plan")
        if let order = try r.optionalObject("resolved_plan_key_order") {
            resolvedPlanKeyOrder = try order.fields.keys.reduce(into: [:]) { $0[$1] = try order.optionalStrings($1) }
        }
        overrides = try r.optionalStrings("overrides")
        secretOverrides = try r.optionalStrings("secret_overrides")
        startedAt = try r.date("started_at")
        finishedAt = try r.optionalDate("finished_at")
        status = try r.choice("status", RunStatus.self)
        error = try r.optionalObject("error").map(ErrorRecord.init(json:))
        replayOf = try r.optionalObject("replay_of").map(ReplayOrigin.init(json:))
        process = try r.optionalObject("process").map(ProcessRecord.init(json:))
        resumeCommand = try r.optionalString("resume_command")
        notices = try r.optionalStrings("notices")
        stages = try r.objects("stages").map(StageRecord.init(json:))
        undos = try r.optionalObjects("undos").map(UndoRecord.init(json:))
        rejection = try r.optionalObject("rejection").map(RejectionRecord.init(json:))
        dryRun = try r.optionalBool("dry_run") ?? false
    }
}

extension Manifest.RejectionRecord {
    var json: Value {
        .object([
            "stage": .string(stage), "rejected_at": .date(rejectedAt), "user": user.map(Value.string) ?? .null,
            "uid": uid.map { .int(Int64($0)) } ?? .null,
            "reason": reason.map(Value.string) ?? .null,
        ])
    }

    init(json r: ManifestFields) throws {
        self.init(
            stage: try r.string("stage"), rejectedAt: try r.date("rejected_at"), user: try r.optionalString("user"),
            uid: try r.optionalInt("uid"), reason: try r.optionalString("reason"))
    }
}

extension Manifest.UndoRecord {
    var json: Value {
        .object([
            "stage": .string(stage), "undone_at": .date(undoneAt), "restored": .int(Int64(restored)),
            "deleted": .int(Int64(deleted)), "changed_since": .int(Int64(changedSince)),
            "partly_restored": .int(Int64(partlyRestored)),
        ])
    }

    init(json r: ManifestFields) throws {
        self.init(
            stage: try r.string("stage"), undoneAt: try r.date("undone_at"), restored: try r.int("restored"),
            deleted: try r.int("deleted"), changedSince: try r.int("changed_since"),
            partlyRestored: try r.optionalInt("partly_restored") ?? 0)
    }
}

extension Manifest.Plan {
    var json: Value { .object(["path": .string(path), "sha256": .string(sha256), "name": .string(name)]) }

    init(json r: ManifestFields) throws {
        self.init(path: try r.string("path"), sha256: try r.string("sha256"), name: try r.string("name"))
    }
}

extension Manifest.Artifact {
    var json: Value {
        .object(["kind": .string(kind), "path": .string(path), "sha256": .string(sha256), "rows": .int(Int64(rows))])
    }

    init(json r: ManifestFields) throws {
        self.init(
            kind: try r.string("kind"), path: try r.string("path"), sha256: try r.string("sha256"),
            rows: try r.int("rows"))
    }
}

extension Manifest.ErrorRecord {
    var json: Value {
        var fields: [String: Value] = [
            "message": .string(message), "stage": stage.map(Value.string) ?? .null,
            "detail": detail.map(Value.string) ?? .null, "resumable": .bool(resumable),
        ]
        if let notBefore { fields["not_before"] = .date(notBefore) }
        return .object(fields)
    }

    init(json r: ManifestFields) throws {
        self.init(
            message: try r.string("message"), stage: try r.optionalString("stage"),
            detail: try r.optionalString("detail"), resumable: try r.optionalBool("resumable") ?? false,
            notBefore: try r.optionalDate("not_before"))
    }
}

extension Manifest.ProcessRecord {
    var json: Value {
        .object([
            "pid": .int(Int64(pid)), "host": .string(host), "boot_id": bootID.map(Value.string) ?? .null,
            "start_ticks": startTicks.map { .int(Int64($0)) } ?? .null,
            "resume_command": resumeCommand.map(Value.string) ?? .null, "user": user.map(Value.string) ?? .null,
            "uid": uid.map { .int(Int64($0)) } ?? .null,
        ])
    }

    init(json r: ManifestFields) throws {
        self.init(
            pid: try r.int("pid"), host: try r.string("host"), bootID: try r.optionalString("boot_id"),
            startTicks: try r.optionalInt("start_ticks"), resumeCommand: try r.optionalString("resume_command"),
            user: try r.optionalString("user"), uid: try r.optionalInt("uid"))
    }
}

extension Manifest.ReplayOrigin {
    var json: Value {
        var fields: [String: Value] = [
            "run_id": .string(runID), "path": .string(path), "stage": .string(stage), "mode": .string(mode.rawValue),
        ]
        if resumed { fields["resumed"] = .bool(true) }
        return .object(fields)
    }

    init(json r: ManifestFields) throws {
        self.init(
            runID: try r.string("run_id"), path: try r.string("path"), stage: try r.string("stage"),
            mode: try r.choice("mode", Manifest.ReplayMode.self), resumed: try r.optionalBool("resumed") ?? false)
    }
}

extension Manifest.StageRecord {
    var json: Value {
        var fields: [String: Value] = [
            "name": .string(name), "kind": .string(kind), "parameters": parameters,
            "input": input.map(Value.string) ?? .null, "requires_approval": .bool(requiresApproval),
            "status": .string(status.rawValue), "started_at": .date(startedAt), "finished_at": .date(finishedAt),
            "waited_for_input_ms": waitedForInputMilliseconds.map { .int(Int64($0)) } ?? .null,
            "rows_in": .int(Int64(rowsIn)), "rows_out": .int(Int64(rowsOut)),
            "rows_rejected": .int(Int64(rowsRejected)),
            "counters": .object(counters.mapValues { .int(Int64($0)) }),
            "inputs": .array(inputs.map(\.json)), "outputs": .array(outputs.map(\.json)),
            "error": error?.json ?? .null, "review": review?.json ?? .null,
        ]
        // Absent when it has nothing to say: added since the format's first version.
        if let committedAt { fields["committed_at"] = .date(committedAt) }
        if let notBefore { fields["not_before"] = .date(notBefore) }
        return .object(fields)
    }

    init(json r: ManifestFields) throws {
        self.init(
            name: try r.string("name"), kind: try r.string("kind"), parameters: r.value("parameters"),
            input: try r.optionalString("input"), requiresApproval: try r.optionalBool("requires_approval") ?? false,
            status: try r.choice("status", StageStatus.self))
        startedAt = try r.optionalDate("started_at")
        finishedAt = try r.optionalDate("finished_at")
        committedAt = try r.optionalDate("committed_at")
        notBefore = try r.optionalDate("not_before")
        waitedForInputMilliseconds = try r.optionalInt("waited_for_input_ms")
        rowsIn = try r.optionalInt("rows_in") ?? 0
        rowsOut = try r.optionalInt("rows_out") ?? 0
        rowsRejected = try r.optionalInt("rows_rejected") ?? 0
        counters = try r.optionalObject("counters")?.intValues() ?? [:]
        inputs = try r.optionalObjects("inputs").map(Manifest.Artifact.init(json:))
        outputs = try r.optionalObjects("outputs").map(Manifest.Artifact.init(json:))
        error = try r.optionalObject("error").map(Manifest.ErrorRecord.init(json:))
        review = try r.optionalObject("review").map(Manifest.Review.init(json:))
    }
}

extension Manifest.Review {
    var json: Value {
        var fields: [String: Value] = [
            "file": file.json, "files": .array(files.map(\.json)),
            "input_sha256": inputSHA256.map(Value.string) ?? .null, "run_id": .string(runID),
            "reviewed_at": .date(reviewedAt), "summary": summary, "text": .string(text),
        ]
        if !guardRails.isEmpty { fields["guard_rails"] = .strings(guardRails) }
        if changesNothing { fields["changes_nothing"] = .bool(true) }
        return .object(fields)
    }

    init(json r: ManifestFields) throws {
        self.init(
            file: try Manifest.Artifact(json: r.object("file")),
            files: try r.optionalObjects("files").map(Manifest.Artifact.init(json:)),
            inputSHA256: try r.optionalString("input_sha256"), runID: try r.optionalString("run_id") ?? "",
            reviewedAt: try r.date("reviewed_at"), summary: r.value("summary"),
            text: try r.optionalString("text") ?? "",
            guardRails: try r.optionalStrings("guard_rails"),
            changesNothing: try r.optionalBool("changes_nothing") ?? false)
    }
}

extension Manifest {
    static let dateStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// `date` rounded to whole milliseconds: what the manifest holds, so that a manifest read
    /// back equals the one written (the runner stores its dates already rounded).
    public static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// `2024-05-01T12:00:00.123Z`. Formatted from whole milliseconds by hand: the format
    /// style truncates, so a date a hair below a millisecond would lose one on every round trip.
    public static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = ms.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, millis) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let text = Date(timeIntervalSince1970: TimeInterval(wholeSeconds)).formatted(Date.ISO8601FormatStyle())
        let digits = String(millis)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// An ISO 8601 date, with or without fractional seconds.
    static func parseDate(_ text: String) -> Date? {
        if let date = try? dateStyle.parse(text) { return milliseconds(date) }
        return try? Date.ISO8601FormatStyle().parse(text)
    }
}

extension Value {
    fileprivate static func strings(_ list: [String]) -> Value { .array(list.map(Value.string)) }
    fileprivate static func date(_ date: Date?) -> Value { date.map { .string(Manifest.format($0)) } ?? .null }
}

/// A manifest field that is missing or of the wrong type, by its path (`stages[2].status`).
public struct ManifestFormatError: Error, CustomStringConvertible, Sendable {
    public var field: String
    public var expected: String
    public var description: String { "manifest field '\(field)': expected \(expected)" }
}

/// Reads the fields of one JSON object of a manifest, naming the field in every error.
struct ManifestFields {
    let fields: [String: Value]
    let path: String

    init(_ value: Value, at path: String) throws {
        guard case .object(let fields) = value else {
            throw ManifestFormatError(field: path.isEmpty ? "(top level)" : path, expected: "an object")
        }
        self.fields = fields
        self.path = path
    }

    private func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func wrong(_ key: String, _ expected: String) -> ManifestFormatError {
        ManifestFormatError(field: name(key), expected: expected)
    }

    /// The field, `.null` when absent.
    func value(_ key: String) -> Value { fields[key] ?? .null }

    func optionalString(_ key: String) throws -> String? {
        switch value(key) {
        case .null: return nil
        case .string(let s): return s
        default: throw wrong(key, "a string")
        }
    }

    func string(_ key: String) throws -> String {
        guard let s = try optionalString(key) else { throw wrong(key, "a string") }
        return s
    }

    func optionalInt(_ key: String) throws -> Int? {
        switch value(key) {
        case .null: return nil
        case .int(let i): return Int(i)
        default: throw wrong(key, "an integer")
        }
    }

    func int(_ key: String) throws -> Int {
        guard let i = try optionalInt(key) else { throw wrong(key, "an integer") }
        return i
    }

    func optionalBool(_ key: String) throws -> Bool? {
        switch value(key) {
        case .null: return nil
        case .bool(let b): return b
        default: throw wrong(key, "true or false")
        }
    }

    func optionalDate(_ key: String) throws -> Date? {
        guard let text = try optionalString(key) else { return nil }
        guard let date = Manifest.parseDate(text) else { throw wrong(key, "an ISO 8601 date") }
        return date
    }

    func date(_ key: String) throws -> Date {
        guard let date = try optionalDate(key) else { throw wrong(key, "an ISO 8601 date") }
        return date
    }

    func choice<T: RawRepresentable>(_ key: String, _: T.Type) throws -> T where T.RawValue == String {
        guard let choice = T(rawValue: try string(key)) else { throw wrong(key, "one of the known values") }
        return choice
    }

    func optionalStrings(_ key: String) throws -> [String] {
        switch value(key) {
        case .null: return []
        case .array(let items):
            return try items.map { item in
                guard case .string(let s) = item else { throw wrong(key, "a list of strings") }
                return s
            }
        default: throw wrong(key, "a list of strings")
        }
    }

    func optionalObject(_ key: String) throws -> ManifestFields? {
        let field = value(key)
        if case .null = field { return nil }
        return try ManifestFields(field, at: name(key))
    }

    func object(_ key: String) throws -> ManifestFields {
        guard let object = try optionalObject(key) else { throw wrong(key, "an object") }
        return object
    }

    func optionalObjects(_ key: String) throws -> [ManifestFields] {
        switch value(key) {
        case .null: return []
        case .array(let items):
            return try items.enumerated().map { index, item in try ManifestFields(item, at: "\(name(key))[\(index)]") }
        default: throw wrong(key, "a list")
        }
    }

    func objects(_ key: String) throws -> [ManifestFields] {
        guard case .array = value(key) else { throw wrong(key, "a list") }
        return try optionalObjects(key)
    }

    /// The fields as integers (a stage's counters).
    func intValues() throws -> [String: Int] {
        try fields.mapValues { value in
            guard case .int(let i) = value else { throw ManifestFormatError(field: path, expected: "integers") }
            return Int(i)
        }
    }
}
