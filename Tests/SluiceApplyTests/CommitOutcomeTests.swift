import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@testable import SluiceApply

/// When the connection dies while COMMIT is in flight, ``BulkUpdate`` asks the server on a new
/// connection what became of the transaction (`txid_status`) instead of guessing. These drive
/// that check against real transactions in each state; the end-to-end fault tests cut a real
/// COMMIT.
@Suite struct CommitOutcomeTests {
    static let lost = PostgresError(kind: .connectionLost, message: "server closed the connection unexpectedly")

    /// Runs `BEGIN`, takes the transaction id and changes a row, leaving the transaction open.
    static func openTransaction(_ connection: PostgresConnection) async throws -> Int64 {
        _ = try await connection.execute("BEGIN")
        let id = try #require(try await connection.execute("SELECT txid_current()").scalar.intValue)
        _ = try await connection.execute(
            "UPDATE tracks SET spotify_popularity = 99 WHERE id = $1", [.string(Tracks.id(1))])
        return id
    }

    @Test func aCommittedTransactionIsConfirmed() async throws {
        let db = try await Tracks.scratch()
        let writer = try await db.connect()
        let transaction = try await Self.openTransaction(writer)
        _ = try await writer.execute("COMMIT")
        try await Tracks.update.confirmCommit(transaction, lost: Self.lost, on: db.connection)
        #expect(try await Tracks.row(db.connection, 1) == [99, "ISRC-A"])
    }

    @Test func aRolledBackTransactionIsReportedAsSuchAndNothingChanged() async throws {
        let db = try await Tracks.scratch()
        let writer = try await db.connect()
        let transaction = try await Self.openTransaction(writer)
        _ = try await writer.execute("ROLLBACK")
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.confirmCommit(transaction, lost: Self.lost, on: db.connection)
        }
        #expect(error.reason == .connectionLost)
        #expect(error.changedNothing)
        #expect(error.description.contains("transaction \(transaction) was rolled back"))
        #expect(error.description.contains("nothing was changed"))
        #expect(try await Tracks.row(db.connection, 1) == [10, "ISRC-A"])
    }

    @Test func aTransactionStillInProgressIsAnUnknownOutcomeNeverClaimedUnchanged() async throws {
        let db = try await Tracks.scratch()
        let writer = try await db.connect()
        let transaction = try await Self.openTransaction(writer)
        var update = Tracks.update
        update.commitCheckLimit = .milliseconds(500)
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.confirmCommit(transaction, lost: Self.lost, on: db.connection)
        }
        _ = try await writer.execute("ROLLBACK")
        #expect(error.reason == .commitOutcomeUnknown)
        #expect(!error.changedNothing)
        #expect(error.description.contains("in progress"))
        #expect(error.description.contains("SELECT txid_status(\(transaction))"))
        #expect(!error.description.contains("nothing was changed"))
    }

    @Test func withoutATransactionIdTheOutcomeIsUnknown() async throws {
        let db = try await Tracks.scratch()
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update.confirmCommit(nil, lost: Self.lost, on: db.connection)
        }
        #expect(error.reason == .commitOutcomeUnknown)
        #expect(error.description.contains("may have been applied"))
    }
}
