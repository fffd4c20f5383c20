import Testing

@testable import SluicePostgres

@Suite struct RowValuesTests {
    /// A detail is kept when every column it shows values of is one the statement writes or
    /// finds rows by; a failing row, a key over other columns (or an expression), or an
    /// integrity violation's detail worded otherwise (another language) is withheld.
    @Test(arguments: [
        ("23514", "Failing row contains (1, hunter2, -3).", false),
        ("23502", "Failing row contains (1, hunter2, null).", false),
        ("23505", "Key (code)=(c1) already exists.", true),
        ("23505", "Key (secret, code)=(hunter2, c1) already exists.", false),
        ("23505", "Key (\"Code\", id)=(c1, 2) already exists.", true),
        ("23505", "Key (lower(code))=(c1) already exists.", false),
        ("23503", "Key (id)=(5) is still referenced from table \"x\".", true),
        ("23P01", "Key (during)=([1,3)) conflicts with existing key (during)=([2,4)).", true),
        ("23514", "Partition key of the failing row contains (region) = (asia).", true),
        ("23514", "La ligne en échec contient (1, hunter2, -3).", false),
        ("44000", "Failing row contains (1, hunter2, -3).", false),
        ("P0001", "the trigger's own words", true),
    ])
    func aDetailIsKeptOnlyWithValuesOfTheGivenColumns(sqlState: String, detail: String, kept: Bool) {
        let error = PostgresError(kind: .server, message: "refused", sqlState: sqlState, detail: detail)
        let withheld = error.withholdingRowValues(outside: ["id", "code", "Code", "during", "region"])
        #expect(withheld.detail == (kept ? detail : nil))
        #expect(withheld.message == "refused")
    }
}
