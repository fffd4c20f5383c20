import SluicePlan

/// What a CSV given to `sluice apply` must hold, derived from the plan: the columns the apply
/// stage reads, the columns the audit trail may add, and the validate rules that type them.
public struct CSVInputSchema: Sendable {
    /// A column the CSV must have, and why (for the message when it is missing).
    public struct Requirement: Sendable, Hashable {
        public var column: String
        public var reason: String
    }

    /// The apply stage the rows are for.
    public var applyStage: String
    /// The field holding the row's key (the apply stage's `key_field`).
    public var keyField: String
    /// `key_field`, then every `from` of the apply stage's columns.
    public var required: [Requirement]
    /// Columns that may be present besides the required ones: the write-csv stage's columns
    /// (the audit trail's `spotify_id`), which are carried along and otherwise ignored.
    public var optional: [String]
    /// The write-csv stage whose file this usually is, for messages.
    public var auditStage: String?
    /// The rules of the validate stages upstream of apply, in plan order.
    public var rules: [(stage: String, settings: ValidateSettings)]

    public init(
        applyStage: String, keyField: String, required: [Requirement], optional: [String], auditStage: String?,
        rules: [(stage: String, settings: ValidateSettings)]
    ) {
        self.applyStage = applyStage
        self.keyField = keyField
        self.required = required
        self.optional = optional
        self.auditStage = auditStage
        self.rules = rules
    }

    /// The schema for `apply` in `plan`: validate and write-csv stages are those upstream of it
    /// (following `input` links), so a plan's other branches do not apply.
    public init(plan: Plan, apply: StageDefinition, settings: ApplySettings) {
        var required = [Requirement(column: settings.keyField, reason: "key_field of stage '\(apply.name)'")]
        for column in settings.columns where !required.contains(where: { $0.column == column.from }) {
            required.append(
                Requirement(column: column.from, reason: "read by stage '\(apply.name)' for column \(column.column)"))
        }
        var upstream: [StageDefinition] = []
        var current = plan.inputStage(of: apply)
        while let stage = current, !upstream.contains(where: { $0.name == stage.name }) {
            upstream.insert(stage, at: 0)
            current = plan.inputStage(of: stage)
        }
        let audit = upstream.last { $0.writeCSV != nil }
        let names = Set(required.map(\.column))
        self.init(
            applyStage: apply.name, keyField: settings.keyField, required: required,
            optional: (audit?.writeCSV?.columns ?? []).filter { !names.contains($0) }, auditStage: audit?.name,
            rules: upstream.compactMap { stage in stage.validate.map { (stage.name, $0) } })
    }

    /// Whether a rule types the key as a UUID: then every key read is one, in the canonical form
    /// the rule accepts, and the stage's ``KeyLedger`` compares keys as the database's `uuid` does.
    public var keyIsUUID: Bool {
        rules.contains { $0.settings.rules.contains { $0.field == keyField && $0.type == .uuid } }
    }

    /// Every column the CSV may have.
    public var allowed: [String] { required.map(\.column) + optional }
}
