import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

/// A row another unique index refuses is named by its key and the server's own words, not
/// only by the index's name.
@Suite struct UniqueIndexTests {
    @Test func aValueAnotherUniqueIndexRefusesIsNamed() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE items (id int PRIMARY KEY, code text UNIQUE);
                INSERT INTO items VALUES (1, 'a'), (2, 'b')
                """)
        let update = BulkUpdate(table: "items", key: "id", columns: [.init("code", onEmpty: .clear)])
        let input = Batch(columns: ["id", "code"], rows: [[1, "b"]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(
            error.message
                == "key 1 (code = b) violates constraint \"items_code_key\": Key (code)=(b) already exists",
            "\(error)")
        #expect(error.key == "1")
        #expect(error.changedNothing)
    }
}
