import SluiceCore
import SluiceTestSupport
import Testing

@testable import SluicePostgres

/// One operation at a time: a call that does not fit what the connection is doing is refused
/// with an error saying so, and what is in progress carries on undisturbed.
@Suite struct ConnectionStateTests {
    @Test func aStatementOrAStreamDuringACopyIsRefusedAndTheCopyCarriesOn() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        let copied = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
            try await writer.write(row: [1])
            try await writer.flush()
            let statement = try await #require(throws: PostgresError.self) {
                try await db.connection.execute("SELECT 1")
            }
            #expect(statement.kind == .client)
            #expect(
                statement.message
                    == "cannot run a statement: the connection is busy with a COPY FROM STDIN; "
                    + "one connection runs one operation at a time")
            let stream = try await #require(throws: PostgresError.self) {
                try await db.connection.stream("SELECT 1", batchSize: 10) { _ in }
            }
            #expect(stream.message.hasPrefix("cannot start a streaming query: the connection is busy with a COPY"))
            try await writer.write(row: [2])
        }
        #expect(copied == 2)
        #expect(try await db.connection.execute("SELECT array_agg(v ORDER BY v)::text FROM t").scalar == "{1,2}")
    }

    @Test func readingStreamRowsDuringACopyIsRefusedWithoutTouchingTheCopy() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        let copied = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
            try await writer.write(row: [1])
            try await writer.flush()
            // What the old driver did here: PQgetResult in the middle of the COPY.
            let error = try await #require(throws: PostgresError.self) {
                try await db.connection.core.nextRows(of: .init(value: 0), limit: 10)
            }
            #expect(error.kind == .client)
            #expect(
                error.message
                    == "cannot read the rows of a streaming query: "
                    + "the connection is busy with a COPY FROM STDIN, not a streaming query")
            try await writer.write(row: [2])
        }
        #expect(copied == 2)
        #expect(try await db.connection.execute("SELECT count(*) FROM t").scalar == .int(2))
    }

    @Test func aCopyWriterKeptPastItsCopyIsRefused() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        var kept: CopyWriter?
        _ = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
            try await writer.write(row: [1])
            kept = writer
        }
        let stale = try #require(kept)
        try await stale.write(row: [99])
        let afterwards = try await #require(throws: PostgresError.self) { try await stale.flush() }
        #expect(afterwards.message == "cannot send COPY data: no COPY FROM STDIN is running")

        // Nor may it write into the next COPY on the same connection.
        let copied = try await db.connection.copyIn("COPY t FROM STDIN") { writer in
            try await stale.write(row: [98])
            let error = try await #require(throws: PostgresError.self) { try await stale.flush() }
            #expect(
                error.message
                    == "cannot send COPY data: that COPY FROM STDIN has ended and the connection is busy with another one"
            )
            try await writer.write(row: [2])
        }
        #expect(copied == 1)
        #expect(try await db.connection.execute("SELECT array_agg(v ORDER BY v)::text FROM t").scalar == "{1,2}")
    }

    @Test func aClosedConnectionRefusesEveryOperation() async throws {
        let db = try await Scratch.make(schema: "CREATE TABLE t (v int)")
        await db.connection.close()
        let stream = try await #require(throws: PostgresError.self) {
            try await db.connection.stream("SELECT 1", batchSize: 1) { _ in }
        }
        #expect(stream.kind == .connectionLost)
        #expect(stream.message == "cannot start a streaming query: the connection is closed")
        let copy = try await #require(throws: PostgresError.self) {
            try await db.connection.copyIn("COPY t FROM STDIN") { _ in }
        }
        #expect(copy.kind == .connectionLost)
    }

    typealias Operation = LibPQConnection.Operation

    /// (the step's operation, the one running, whether the connection is open, the message)
    static let refusals: [(Operation?, Operation?, Bool, String)] = [
        (nil, nil, false, "cannot act: the connection is closed"),
        (.stream(.init(value: 1)), nil, true, "cannot act: no streaming query is running"),
        (.copy(.init(value: 1)), nil, true, "cannot act: no COPY FROM STDIN is running"),
        (
            nil, .stream(.init(value: 1)), true,
            "cannot act: the connection is busy with a streaming query; one connection runs one operation at a time"
        ),
        (
            .copy(.init(value: 1)), .stream(.init(value: 2)), true,
            "cannot act: the connection is busy with a streaming query, not a COPY FROM STDIN"
        ),
        (
            .copy(.init(value: 1)), .copy(.init(value: 2)), true,
            "cannot act: that COPY FROM STDIN has ended and the connection is busy with another one"
        ),
    ]

    @Test(arguments: refusals)
    func refusalsSayWhatTheConnectionIsDoing(
        expected: Operation?, running: Operation?, isOpen: Bool, message: String
    ) {
        let error = LibPQConnection.State.refusal("act", expected: expected, running: running, isOpen: isOpen)
        #expect(error.message == message)
        #expect(error.kind == (isOpen ? .client : .connectionLost))
    }
}
