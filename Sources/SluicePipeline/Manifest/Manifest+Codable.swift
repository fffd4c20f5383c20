import Foundation
import SluiceCore

// Hand-written coding so that optional fields are written as `null` rather than left out
// (a reader can tell "not yet" from "unknown field") and ``Value`` travels as plain JSON.

extension Manifest: Codable {
    enum CodingKeys: String, CodingKey {
        case manifestVersion = "manifest_version", runID = "run_id", toolVersion = "tool_version", plan
        case resolvedPlan = "resolved_plan", overrides, secretOverrides = "secret_overrides", startedAt = "started_at",
            finishedAt = "finished_at"
        case status, error, replayOf = "replay_of", process, resumeCommand = "resume_command", notices, stages
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        manifestVersion = try c.decode(Int.self, forKey: .manifestVersion)
        runID = try c.decode(String.self, forKey: .runID)
        toolVersion = try c.decode(String.self, forKey: .toolVersion)
        plan = try c.decode(Plan.self, forKey: .plan)
        resolvedPlan = try c.decodeIfPresent(CodableValue.self, forKey: .resolvedPlan)?.value ?? .null
        overrides = try c.decodeIfPresent([String].self, forKey: .overrides) ?? []
        secretOverrides = try c.decodeIfPresent([String].self, forKey: .secretOverrides) ?? []
        startedAt = try c.decode(Date.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
        status = try c.decode(RunStatus.self, forKey: .status)
        error = try c.decodeIfPresent(ErrorRecord.self, forKey: .error)
        replayOf = try c.decodeIfPresent(ReplayOrigin.self, forKey: .replayOf)
        process = try c.decodeIfPresent(ProcessRecord.self, forKey: .process)
        resumeCommand = try c.decodeIfPresent(String.self, forKey: .resumeCommand)
        notices = try c.decodeIfPresent([String].self, forKey: .notices) ?? []
        stages = try c.decode([StageRecord].self, forKey: .stages)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(manifestVersion, forKey: .manifestVersion)
        try c.encode(runID, forKey: .runID)
        try c.encode(toolVersion, forKey: .toolVersion)
        try c.encode(plan, forKey: .plan)
        try c.encode(CodableValue(resolvedPlan), forKey: .resolvedPlan)
        try c.encode(overrides, forKey: .overrides)
        try c.encode(secretOverrides, forKey: .secretOverrides)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(status, forKey: .status)
        try c.encode(error, forKey: .error)
        try c.encode(replayOf, forKey: .replayOf)
        try c.encode(process, forKey: .process)
        try c.encode(resumeCommand, forKey: .resumeCommand)
        try c.encode(notices, forKey: .notices)
        try c.encode(stages, forKey: .stages)
    }
}

extension Manifest.StageRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case name, kind, parameters, input, requiresApproval = "requires_approval", status
        case startedAt = "started_at", finishedAt = "finished_at", rowsIn = "rows_in", rowsOut = "rows_out"
        case rowsRejected = "rows_rejected", counters, inputs, outputs, error
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        kind = try c.decode(String.self, forKey: .kind)
        parameters = try c.decodeIfPresent(CodableValue.self, forKey: .parameters)?.value ?? .null
        input = try c.decodeIfPresent(String.self, forKey: .input)
        requiresApproval = try c.decodeIfPresent(Bool.self, forKey: .requiresApproval) ?? false
        status = try c.decode(StageStatus.self, forKey: .status)
        startedAt = try c.decodeIfPresent(Date.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(Date.self, forKey: .finishedAt)
        rowsIn = try c.decodeIfPresent(Int.self, forKey: .rowsIn) ?? 0
        rowsOut = try c.decodeIfPresent(Int.self, forKey: .rowsOut) ?? 0
        rowsRejected = try c.decodeIfPresent(Int.self, forKey: .rowsRejected) ?? 0
        counters = try c.decodeIfPresent([String: Int].self, forKey: .counters) ?? [:]
        inputs = try c.decodeIfPresent([Manifest.Artifact].self, forKey: .inputs) ?? []
        outputs = try c.decodeIfPresent([Manifest.Artifact].self, forKey: .outputs) ?? []
        error = try c.decodeIfPresent(Manifest.ErrorRecord.self, forKey: .error)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(kind, forKey: .kind)
        try c.encode(CodableValue(parameters), forKey: .parameters)
        try c.encode(input, forKey: .input)
        try c.encode(requiresApproval, forKey: .requiresApproval)
        try c.encode(status, forKey: .status)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(rowsIn, forKey: .rowsIn)
        try c.encode(rowsOut, forKey: .rowsOut)
        try c.encode(rowsRejected, forKey: .rowsRejected)
        try c.encode(counters, forKey: .counters)
        try c.encode(inputs, forKey: .inputs)
        try c.encode(outputs, forKey: .outputs)
        try c.encode(error, forKey: .error)
    }
}

extension Manifest.ErrorRecord: Codable {
    enum CodingKeys: String, CodingKey {
        case message, stage, detail, resumable
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        message = try c.decode(String.self, forKey: .message)
        stage = try c.decodeIfPresent(String.self, forKey: .stage)
        detail = try c.decodeIfPresent(String.self, forKey: .detail)
        resumable = try c.decodeIfPresent(Bool.self, forKey: .resumable) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(message, forKey: .message)
        try c.encode(stage, forKey: .stage)
        try c.encode(detail, forKey: .detail)
        try c.encode(resumable, forKey: .resumable)
    }
}

extension Manifest {
    /// The manifest as written to disk: pretty-printed, sorted keys, ISO 8601 dates with
    /// milliseconds, a trailing newline.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Self.format(date))
        }
        return Array(try encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Decodes a manifest from its JSON bytes.
    public static func decode(_ data: Data) throws -> Manifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            if let date = try? Self.dateStyle.parse(text) { return Self.milliseconds(date) }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 date: \(text)")
        }
        return try decoder.decode(Manifest.self, from: data)
    }

    static let dateStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// `date` rounded to whole milliseconds: what the manifest holds, so that a manifest read
    /// back equals the one written (the runner stores its dates already rounded).
    public static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// `2024-05-01T12:00:00.123Z`. Formatted from whole milliseconds by hand: the format
    /// style truncates, so a date a hair below a millisecond would lose one on every round trip.
    static func format(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = ms.quotientAndRemainder(dividingBy: 1000)
        let (wholeSeconds, millis) = fraction < 0 ? (seconds - 1, fraction + 1000) : (seconds, fraction)
        let text = Date(timeIntervalSince1970: TimeInterval(wholeSeconds)).formatted(Date.ISO8601FormatStyle())
        let digits = String(millis)
        return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }
}

/// ``Value`` as plain JSON through Codable.
struct CodableValue: Codable {
    var value: Value

    init(_ value: Value) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            value = .null
        } else if let b = try? c.decode(Bool.self) {
            value = .bool(b)
        } else if let i = try? c.decode(Int64.self) {
            value = .int(i)
        } else if let d = try? c.decode(Double.self) {
            value = .double(d)
        } else if let s = try? c.decode(String.self) {
            value = .string(s)
        } else if let a = try? c.decode([CodableValue].self) {
            value = .array(a.map(\.value))
        } else {
            value = .object(try c.decode([String: CodableValue].self).mapValues(\.value))
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch value {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d):
            // JSON has no NaN or infinity; Value's own codec writes them as null too.
            if d.isFinite { try c.encode(d) } else { try c.encodeNil() }
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a.map(CodableValue.init))
        case .object(let o): try c.encode(o.mapValues(CodableValue.init))
        }
    }
}
