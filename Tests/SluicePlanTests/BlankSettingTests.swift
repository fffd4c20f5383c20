import Testing

@testable import SluicePlan

/// A setting the run cannot do without, given as `""` or blanks, is refused where it is written
/// by `check`, not left for the run to fail on at the database.
@Suite struct BlankSettingTests {
    @Test func aBlankSQLTableOrKeyIsLocated() {
        let found = ErrorsInOnePassTests.errorsOf([
            ("sql: SELECT id AS track_id, spotify_id FROM tracks", "sql: \"\""),
            ("table: tracks", "table: \" \""),
            ("key: id", "key: \"\""),
            ("- sql: SELECT COUNT(*) FROM tracks", "- sql: \"\""),
        ])
        #expect(
            found == [
                "9:10 'sql' in stage 'query' is empty",
                "35:12 'table' in stage 'apply' is empty",
                "36:10 'key' in stage 'apply' is empty",
                "45:14 'sql' in item 1 of 'checks' in stage 'verify' is empty",
            ], "\(found.joined(separator: "\n"))")
    }

    /// A variable not set (or empty) is said to be so, once: not also a blank setting.
    @Test func anUnsetVariableIsOneError() {
        let found = ErrorsInOnePassTests.errorsOf([
            ("sql: SELECT id AS track_id, spotify_id FROM tracks", "sql: \"${SLUICE_TEST_UNSET_SQL}\"")
        ])
        #expect(
            found == ["9:11 environment variable 'SLUICE_TEST_UNSET_SQL' is not set and has no default"],
            "\(found.joined(separator: "\n"))")
    }

    /// A mapping's key given as `""` names nothing: an apply's column (the run's SQL would fail
    /// on it), a transform's field, a validate rule's.
    @Test func anEmptyNameInAMappingIsLocated() {
        let found = ErrorsInOnePassTests.errorsOf([
            ("track_id: track_id", "\"\": track_id"),
            ("track_id: { type: uuid, required: true }", "\"\": { type: uuid }"),
            ("popularity: { from: popularity, on_empty: keep }", "\"\": { from: popularity }"),
        ])
        #expect(
            found == [
                "21:7 empty output field name in 'fields' in stage 'transform'",
                "26:7 empty field name in 'rules' in stage 'validate'",
                "41:7 empty column name in 'columns' in stage 'apply'",
            ], "\(found.joined(separator: "\n"))")
    }
}
