import Foundation
import SluiceApply
import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Synchronization
import Testing

/// Duplicate keys are found however the input spells them, whether or not the client-side check
/// proves the keys distinct, and a second connection never stalls the apply.
@Suite struct BulkUpdateKeyTests {
    /// A key with no unique index of its own (part of a composite primary key) that matches
    /// several rows is refused, naming it, before anything is written, by the apply and by the
    /// review at the gate alike; keys that match one row each go through.
    @Test(arguments: [false, true]) func aKeyMatchingSeveralRowsIsRefused(concurrent: Bool) async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE shelf (shelf int, isbn text, qty int, PRIMARY KEY (shelf, isbn));
                INSERT INTO shelf VALUES (1, 'A', 5), (2, 'A', 7), (1, 'B', 1), (1, 'C', 3)
                """)
        let table = "SELECT shelf, isbn, qty FROM shelf ORDER BY shelf, isbn"
        let before = try await db.connection.execute(table).rows
        var update = BulkUpdate(table: "shelf", key: "isbn", columns: [.init("qty", onEmpty: .keep)])
        update.concurrentPriorReadRows = concurrent ? 1 : nil
        let input = Batch(columns: ["isbn", "qty"], rows: [["A", 100], ["B", 200]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: [input]) { _ in }
        }
        #expect(error.keys == ["A"])
        #expect(
            error.message.hasPrefix("isbn is not unique in shelf: 1 key of the input matches more than one row (A)"))
        #expect(try await db.connection.execute(table).rows == before)
        let review = try await #require(throws: BulkUpdateError.self) {
            try await update.review(on: db.connection, input: AsyncBatches([input])) { _ in }
        }
        #expect(review.keys == ["A"])

        let unique = Batch(columns: ["isbn", "qty"], rows: [["B", 200], ["C", 300]])
        let stats = try await update.run(on: db.connection, batches: [unique]) { _ in }
        #expect(stats.changed == 2)
    }

    /// A parent's primary key does not cover its inheritance children, whose rows an UPDATE of
    /// the parent writes too: a key in both is refused before anything is written (it wrote
    /// both rows, counted -1 unchanged, and left an undo file no undo could apply).
    @Test func aKeyInAParentAndItsInheritanceChildIsRefused() async throws {
        let db = try await Scratch.make(
            schema: """
                CREATE TABLE par (id int PRIMARY KEY, v text);
                CREATE TABLE chi (extra int) INHERITS (par);
                INSERT INTO par VALUES (1, 'p1'); INSERT INTO chi VALUES (1, 'c1', 0), (2, 'c2', 0)
                """)
        let table = "SELECT tableoid::regclass::text, id, v FROM par ORDER BY 1, 2"
        let before = try await db.connection.execute(table).rows
        let update = BulkUpdate(table: "par", key: "id", columns: [.init("v", onEmpty: .keep)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(
                on: db.connection, batches: [Batch(columns: ["id", "v"], rows: [[1, "X"], [2, "Y"]])]
            ) {
                _ in
            }
        }
        #expect(error.keys == ["1"])
        #expect(try await db.connection.execute(table).rows == before)

        // A key in one table only is one row: written, once.
        let stats = try await update.run(on: db.connection, batches: [Batch(columns: ["id", "v"], rows: [[2, "Y"]])]) {
            _ in
        }
        #expect(stats.changed == 1 && stats.matched == 1)
    }

    @Test(arguments: [false, true]) func aUUIDSpelledTwoWaysIsOneKey(concurrent: Bool) async throws {
        let db = try await Tracks.scratch()
        let before = try await Tracks.snapshot(db.connection)
        let upper = Tracks.id(2).uppercased()
        let braced = "{\(Tracks.id(2).replacingOccurrences(of: "-", with: ""))}"
        let conflicting = Batch(
            columns: ["id", "spotify_popularity", "isrc"],
            rows: [[.string(Tracks.id(2)), 22, "X"], [.string(Tracks.id(3)), 33, nil], [.string(upper), 23, "X"]])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [conflicting]) { _ in }
        }
        #expect(error.reason == .duplicateKeys)
        #expect(error.keys == [Tracks.id(2)])
        #expect(try await Tracks.snapshot(db.connection) == before)

        // The same values spelled three ways are one row, folded; the prior values are read on
        // the main connection (the second one's copy of the input is not deduplicated).
        let identical = Batch(
            columns: ["id", "spotify_popularity", "isrc"],
            rows: [[.string(Tracks.id(2)), 22, "X"], [.string(upper), 22, "X"], [.string(braced), 22, "X"]])
        var prior: [Batch] = []
        let stats = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [identical]) {
            prior.append($0)
        }
        #expect(stats.duplicateRows == 2)
        #expect(stats.matched == 1)
        #expect(stats.changed == 1)
        #expect(!stats.priorReadConcurrently)
        #expect(prior.flatMap(\.rows) == [[.string(Tracks.id(2)), 20, "ISRC-B", 22, "X"]])
    }

    @Test func integerKeysCompareByValue() async throws {
        let db = try await Scratch.make(
            schema: "CREATE TABLE items (id int PRIMARY KEY, size int); INSERT INTO items VALUES (7, 1), (8, 1)")
        let update = BulkUpdate(table: "items", key: "id", columns: [.init("size", onEmpty: .keep)])
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(
                on: db.connection,
                batches: [Batch(columns: ["id", "size"], rows: [["7", 2], [" +007", 3], [8, 2]])]
            ) { _ in }
        }
        #expect(error.reason == .duplicateKeys)
        #expect(error.keys == ["7"])
        let stats = try await update.run(
            on: db.connection, batches: [Batch(columns: ["id", "size"], rows: [["7", 2], [8, 2]])]
        ) { _ in }
        #expect(stats.changed == 2)
        #expect(stats.duplicateRows == 0)
    }

    /// A producer's word that the keys are distinct UUIDs skips the server's check: trusted (the
    /// exact repeat below is then not folded, which is how the test sees the check did not run)
    /// for a uuid key only, asked after the COPY, and never in place of a "no".
    @Test func keysProvenDistinctAsUUIDsSkipTheServersCheckForAUUIDKeyOnly() async throws {
        let repeated = [[Value.string(Tracks.id(2)), 22, "X"], [.string(Tracks.id(2)), 22, "X"]]
        for (word, folded) in [(true, 0), (false, 1)] {
            let db = try await Tracks.scratch()
            var update = Tracks.update
            let asked = Counted()
            update.inputKeysDistinctAsUUIDs = {
                asked.add()
                return word
            }
            let stats = try await update.run(
                on: db.connection, batches: [Batch(columns: ["id", "spotify_popularity", "isrc"], rows: repeated)]
            ) { _ in }
            #expect(stats.duplicateRows == folded, "told \(word)")
            #expect(asked.count == 1)
            let review = try await update.review(
                on: db.connection,
                input: AsyncBatches([Batch(columns: ["id", "spotify_popularity", "isrc"], rows: repeated)])
            ) { _ in }
            #expect(review.duplicateRows == folded, "told \(word)")
        }
        // An integer key: the word is not about it, and the server checks.
        let db = try await Scratch.make(
            schema: "CREATE TABLE items (id int PRIMARY KEY, size int); INSERT INTO items VALUES (7, 1)")
        var update = BulkUpdate(table: "items", key: "id", columns: [.init("size", onEmpty: .keep)])
        update.inputKeysDistinctAsUUIDs = { true }
        let stats = try await update.run(
            on: db.connection, batches: [Batch(columns: ["id", "size"], rows: [[7, 2], [" 007", 2]])]
        ) { _ in }
        #expect(stats.duplicateRows == 1)
    }

    /// Keys the client cannot fingerprint (a `numeric` key) are proven distinct by a unique index
    /// over the input, or, when it cannot be built, looked at by the server's `GROUP BY`: in the
    /// apply's transaction (behind a savepoint) and in a review (before its read-only snapshot).
    @Test func keysTheClientCannotFingerprintAreCheckedByTheServerEitherWay() async throws {
        let db = try await Scratch.make(
            schema: "CREATE TABLE items (id numeric PRIMARY KEY, size int); INSERT INTO items VALUES (7, 1), (8, 1)")
        let update = BulkUpdate(table: "items", key: "id", columns: [.init("size", onEmpty: .keep)])
        func batch(_ rows: [[Value]]) -> [Batch] { [Batch(columns: ["id", "size"], rows: rows)] }
        // Distinct: the index proves it; nothing folded, and the index is gone again.
        let review = try await update.review(on: db.connection, input: AsyncBatches(batch([["7", 2], ["8", 3]]))) { _ in
        }
        #expect(review.duplicateRows == 0 && review.changedRows == 2)
        let distinct = try await update.run(on: db.connection, batches: batch([["7", 2], ["8", 3]])) { _ in }
        #expect(distinct.duplicateRows == 0 && distinct.changed == 2)
        // 7 and 7.0 are one numeric: the index refuses, the GROUP BY folds the repeat.
        let folded = try await update.review(
            on: db.connection, input: AsyncBatches(batch([["7", 4], ["7.0", 4], ["8", 3]]))
        ) { _ in }
        #expect(folded.duplicateRows == 1 && folded.changedRows == 1)
        let applied = try await update.run(on: db.connection, batches: batch([["7", 4], ["7.0", 4], ["8", 3]])) { _ in }
        #expect(applied.duplicateRows == 1 && applied.changed == 1)
        // Different values for one key fail, naming it, and change nothing.
        let error = try await #require(throws: BulkUpdateError.self) {
            try await update.run(on: db.connection, batches: batch([["7", 5], ["7.00", 6]])) { _ in }
        }
        #expect(error.reason == .duplicateKeys)
        #expect(
            try await db.connection.execute("SELECT id::text, size FROM items ORDER BY id").rows == [
                ["7", 4], ["8", 3],
            ])
    }

    /// A DDL statement queued behind the apply's table lock would make the second connection
    /// wait for it while it waits for the apply: a deadlock the server cannot see. The second
    /// connection gives up after its 1 s lock timeout and the apply reads on its own connection.
    @Test(.timeLimit(.minutes(1))) func aStatementWaitingForTheTableDoesNotStallTheSecondConnection() async throws {
        let db = try await Tracks.scratch()
        let monitor = try await db.connect()
        let ddl = try await db.connect()
        let pid = Int64(db.connection.backendPID)
        let (stream, continuation) = AsyncStream.makeStream(of: Batch.self)
        let alter = Task<Void, any Error> {
            continuation.yield(Tracks.batch([(1, 11, "ISRC-A"), (2, 22, "ISRC-B")]))
            _ = try await eventually {
                try await monitor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'COPY%'", [.int(pid)]
                ).scalar == .int(1)
            }
            let altering = Task { try await ddl.execute("ALTER TABLE tracks ADD COLUMN note text") }
            _ = try await eventually {
                try await monitor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'ALTER%'"
                ).scalar == .int(1)
            }
            continuation.yield(Tracks.batch([(3, 33, "ISRC-C")]))
            continuation.finish()
            _ = try await altering.value
        }
        let stats = try await Tracks.update(concurrent: true).run(on: db.connection, input: stream) { _ in }
        try await alter.value
        #expect(!stats.priorReadConcurrently)
        #expect(stats.changed == 3)
        #expect(try await Tracks.row(db.connection, 3) == [33, "ISRC-C"])
        #expect(try await db.connection.execute("SELECT count(note) FROM tracks").scalar == .int(0))
    }

    /// The second connection's copy of the input is an unnamed file: nothing is left in the
    /// spool directory; an input over the spool limit is read before the update instead.
    @Test func theSpoolLeavesNoFileAndItsLimitFallsBackToReadingBeforeTheUpdate() async throws {
        let db = try await Tracks.scratch()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-spool-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: directory) }
        var update = Tracks.update(concurrent: true)
        update.spoolDirectory = directory.path
        let input = Tracks.batch([(1, 11, "ISRC-A"), (2, 22, "ISRC-B")])
        let spooled = try await update.run(on: db.connection, batches: [input]) { _ in }
        #expect(spooled.priorReadConcurrently)
        #expect(spooled.changed == 2)
        let left = try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: directory.path)
        }
        #expect(left.isEmpty, "the spool was left: \(left)")

        update.spoolLimit = 10
        var prior: [Batch] = []
        let limited = try await update.run(on: db.connection, batches: [Tracks.batch([(1, 12, "ISRC-A")])]) {
            prior.append($0)
        }
        #expect(!limited.priorReadConcurrently)
        #expect(limited.changed == 1)
        #expect(prior.flatMap(\.rows) == [[.string(Tracks.id(1)), 11, "ISRC-A", 12, "ISRC-A"]])
    }

    /// Reading the prior values before the UPDATE or on a second connection during it gives the
    /// same counts, the same undo rows and the same table, on 3,000 random rows (NULLs, empty
    /// strings, unchanged rows, unknown keys, both `keep` and `clear`); undo restores both.
    @Test func bothWaysOfReadingThePriorValuesAgree() async throws {
        var random = SplitMix64(seed: 7)
        func value(_ range: ClosedRange<Int>) -> Value {
            switch random.next() % 4 {
            case 0: return .null
            case 1: return .string("")
            default: return .int(Int64(range.lowerBound + Int(random.next() % UInt64(range.count))))
            }
        }
        let rows = 3_000
        let seed = """
            INSERT INTO tracks (id, title, spotify_popularity, isrc)
            SELECT format('00000000-0000-4000-8000-%s', lpad(n::text, 12, '0'))::uuid, 'T' || n,
                   CASE WHEN n % 3 = 0 THEN NULL ELSE n % 101 END, CASE WHEN n % 4 = 0 THEN NULL ELSE 'I' || n END
            FROM generate_series(1, \(rows)) AS n
            """
        let input = Batch(
            columns: ["id", "spotify_popularity", "isrc"],
            rows: (1...rows + 200).map { n in
                let id = String(format: "00000000-0000-4000-8000-%012d", n)
                let isrc: Value =
                    random.next() % 5 == 0 ? .string("I\(n)") : value(0...9).text.map { .string("J\($0)") } ?? .null
                return [.string(random.next() % 2 == 0 ? id : id.uppercased()), value(0...100), isrc]
            })
        var outcomes: [(stats: BulkUpdateStats, undo: [[Value]], table: [[Value]])] = []
        for concurrent in [false, true] {
            let db = try await Scratch.make(schema: TestPostgres.tracksSchema + ";\n" + seed)
            let before = try await Tracks.snapshot(db.connection)
            var undo: [Batch] = []
            let stats = try await Tracks.update(concurrent: concurrent).run(on: db.connection, batches: [input]) {
                undo.append($0)
            }
            #expect(stats.priorReadConcurrently == concurrent)
            let table = try await Tracks.snapshot(db.connection)
            _ = try await Tracks.update.undoing.run(on: db.connection, batches: undo) { _ in }
            #expect(try await Tracks.snapshot(db.connection) == before)
            let rows = undo.flatMap(\.rows).sorted { $0[0].text! < $1[0].text! }
            outcomes.append((stats, rows, table.map { Array($0.prefix(6)) }))
        }
        let (first, second) = (outcomes[0], outcomes[1])
        #expect(first.stats.changed > 1_000 && first.stats.unchanged > 0 && first.stats.unknownKeys == 200)
        #expect(first.stats.changed == second.stats.changed)
        #expect(first.stats.matched == second.stats.matched)
        #expect(first.stats.unknownKeys == second.stats.unknownKeys)
        #expect(first.undo == second.undo)
        #expect(first.undo.count == first.stats.changed)
        #expect(first.table == second.table)
    }
}

/// A count a `@Sendable` closure can add to.
final class Counted: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
