import SluiceCore
import SluicePostgres
import SluiceTestSupport
import Testing

@testable import SluiceApply

/// The client-side duplicate check may only skip the server's check when the keys are surely
/// distinct: every spelling PostgreSQL reads as the same key must get the same fingerprint.
@Suite struct KeyTrackerTests {
    typealias Tracker = BulkUpdate.KeyTracker

    static let uuidSpellings = [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
    ]

    @Test func everyUUIDSpellingHasOneFingerprint() {
        let fingerprints = Set(Self.uuidSpellings.map { Tracker.fingerprint(.string($0), as: .uuid) })
        #expect(fingerprints.count == 1)
        #expect(fingerprints.first! != nil)
        var tracker = Tracker(kind: .uuid)
        tracker.add(.string(Self.uuidSpellings[0]))
        #expect(tracker.proves())
        tracker.add(.string(Self.uuidSpellings[1]))
        #expect(!tracker.proves())
    }

    /// Where a producer will answer for the keys of a uuid column, the apply keeps no fingerprints
    /// of its own (they would prove nothing more); without that word, or for another key type, it
    /// does.
    @Test func aProducersWordLeavesTheTrackerNothingToKeep() async throws {
        let db = try await Tracks.scratch()
        var update = Tracks.update
        let sql = try update.validate(serverVersion: db.connection.serverVersion)
        _ = try await db.connection.execute(sql.createInput(onCommitDrop: false))
        var tracker = try await update.keyTracker(sql, on: db.connection, limit: BulkUpdate.KeyTracker.limit)
        tracker.add(.string(Tracks.id(1)))
        #expect(tracker.kind == .uuid)
        #expect(tracker.proves())
        update.inputKeysDistinctAsUUIDs = { true }
        tracker = try await update.keyTracker(sql, on: db.connection, limit: BulkUpdate.KeyTracker.limit)
        tracker.add(.string(Tracks.id(1)))
        #expect(tracker.kind == .uuid)
        #expect(!tracker.proves())
        #expect(update.keysProvenDistinct(tracker))
        let items = try await Scratch.make(schema: "CREATE TABLE items (id int PRIMARY KEY, size int)")
        var integers = BulkUpdate(table: "items", key: "id", columns: [.init("size", onEmpty: .keep)])
        integers.inputKeysDistinctAsUUIDs = { true }
        let itemsSQL = try integers.validate(serverVersion: items.connection.serverVersion)
        _ = try await items.connection.execute(itemsSQL.createInput(onCommitDrop: false))
        tracker = try await integers.keyTracker(itemsSQL, on: items.connection, limit: BulkUpdate.KeyTracker.limit)
        tracker.add(7)
        #expect(tracker.proves())
    }

    /// Whatever the tracker reads, PostgreSQL reads as the same uuid or integer; what it cannot
    /// read only stops the tracking.
    @Test func readsKeysExactlyAsPostgreSQLDoes() async throws {
        let server = try await TestPostgres.shared()
        let uuids =
            Self.uuidSpellings + [
                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
                "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
                "a0eebc999c0b4ef8bb6d6bb9bd380a11-", "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
                "a0e-ebc999c0b4ef8bb6d6bb9bd380a11",
                "{a0eebc999c0b4ef8bb6d6bb9bd380a11", "g0eebc999c0b4ef8bb6d6bb9bd380a11",
                " a0eebc999c0b4ef8bb6d6bb9bd380a11", "",
            ]
        for text in uuids {
            var text = text
            let ours = text.withUTF8(UUIDText.bits).map { String(format: "%016llx%016llx", $0.high, $0.low) }
            let theirs = try? await server.execute("SELECT replace($1::uuid::text, '-', '')", [.string(text)]).scalar
            if let ours { #expect(theirs == .string(ours), "\(text)") } else { #expect(theirs == nil, "\(text)") }
        }
        for text in [
            "7", " 7", "+7", "007", "7 ", "\t-12\n", "-0", "0x1F", "1_000", "", "+", "9223372036854775807", "1e3",
        ] {
            let ours = Int64(Tracker.trimmingSpace(text))
            let theirs = try? await server.execute("SELECT $1::bigint", [.string(text)]).scalar
            if let ours { #expect(theirs == .int(ours), "\(text)") }
        }
    }

    @Test func integersCompareByValueAndTextByBytes() {
        let seven =
            ["7", " 7", "+7", "007"].map { Tracker.fingerprint(.string($0), as: .integer) } + [
                Tracker.fingerprint(.int(7), as: .integer)
            ]
        #expect(Set(seven).count == 1)
        #expect(Tracker.fingerprint(.string("abc"), as: .text) != Tracker.fingerprint(.string("abc "), as: .text))
        #expect(Tracker.fingerprint(.int(7), as: .text) == Tracker.fingerprint(.string("7"), as: .text))
    }

    /// A review at the gate fingerprints more keys than an apply keeps; a repeat anywhere, or
    /// one key past the limit, leaves the check to the server.
    @Test func aReviewTracksMoreKeysThanAnApplyAndFindsARepeatAnywhere() {
        var review = Tracker(kind: .integer, limit: Tracker.reviewLimit)
        var apply = Tracker(kind: .integer)
        for n in 0..<200_000 {
            review.add(.int(Int64(n)))
            apply.add(.int(Int64(n)))
        }
        #expect(review.proves())
        #expect(!apply.proves())
        let sortedInPlace = review.provesUnique
        #expect(sortedInPlace)
        review.add(.string("+3"))
        #expect(!review.proves())
        var limited = Tracker(kind: .integer, limit: 2)
        for n in 0..<3 { limited.add(.int(Int64(n))) }
        #expect(!limited.proves())
    }

    @Test func keysItCannotReadAndOtherTypesLeaveTheCheckToTheServer() {
        var unreadable = Tracker(kind: .uuid)
        unreadable.add(.string("not-a-uuid"))
        #expect(!unreadable.proves())
        var other = Tracker(kind: .other)
        other.add(.string("x"))
        #expect(!other.proves())
        var floating = Tracker(kind: .integer)
        floating.add(.double(7))
        #expect(!floating.proves())
    }
}

extension BulkUpdate.KeyTracker {
    /// ``provesUnique`` on a copy: `#expect` cannot call a mutating getter.
    func proves() -> Bool {
        var copy = self
        return copy.provesUnique
    }
}

/// The keys sent into the input table, which name the row of a value the server refuses.
@Suite struct SentKeysTests {
    /// Kept in order, as their text, up to a budget: past it none is kept (not a shorter later
    /// one either), so memory stays bounded.
    @Test func sentKeysAreKeptInOrderUpToTheirBudget() {
        var keys = BulkUpdate.SentKeys()
        keys.add(.int(42))
        // A uuid takes 40 bytes with its offset; the 42, 6.
        let kept = 1 + (BulkUpdate.SentKeys.budget - 6) / 40
        for n in 2...(kept + 10) { keys.add(.string(Self.uuid(n))) }
        keys.add("x")
        #expect(keys.key(ofRow: 1) == "42" && keys.key(ofRow: 2) == Self.uuid(2))
        #expect(keys.key(ofRow: kept) == Self.uuid(kept))
        #expect(keys.key(ofRow: kept + 1) == nil && keys.key(ofRow: kept + 11) == nil && keys.key(ofRow: 0) == nil)
    }

    static func uuid(_ n: Int) -> String {
        let digits = String(n)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - digits.count) + digits
    }
}
