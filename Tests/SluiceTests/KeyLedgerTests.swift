import SluiceCore
import Testing

@testable import Sluice

/// The csv-input stage's key ledger: a key given two different sets of values is found, on the
/// line it repeats, whether the keys come in order (no hash table) or not.
@Suite struct KeyLedgerTests {
    static let schema = CSVInputSchema(
        applyStage: "apply", keyField: "track_id",
        required: [.init(column: "track_id", reason: "key"), .init(column: "isrc", reason: "column")],
        optional: ["spotify_id"], auditStage: nil, rules: [])

    static func uuid(_ n: Int) -> String {
        let hex = String(n, radix: 16)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// What the ledger must answer for each row: the line where the same key (ignoring case)
    /// first came with other values, from a plain table of every row before.
    static func expected(_ rows: [(key: String, isrc: String, audit: String)]) -> [Int?] {
        var first: [String: (line: Int, isrc: String)] = [:]
        return rows.enumerated().map { index, row in
            let key = row.key.lowercased()
            guard let seen = first[key] else {
                first[key] = (index + 2, row.isrc)
                return nil
            }
            return seen.isrc == row.isrc ? nil : seen.line
        }
    }

    static func answers(_ rows: [(key: String, isrc: String, audit: String)]) -> (lines: [Int?], repeats: Int) {
        var ledger = KeyLedger(columns: ["track_id", "spotify_id", "isrc"], schema: schema, keyIsUUID: true)
        let lines = rows.enumerated().map { index, row in
            ledger.firstLineWithOtherValues([.string(row.key), .string(row.audit), .string(row.isrc)], line: index + 2)
        }
        return (lines, ledger.repeats)
    }

    @Test func keysInOrderNeverRepeatAndAKeyOutOfOrderIsStillCompared() {
        // In order, then line 7 goes back to key 2 with other values, then 3 again with the same.
        var rows = (1...5).map { (key: Self.uuid($0), isrc: "I\($0)", audit: "a") }
        rows.append((Self.uuid(2), "other", "a"))
        rows.append((Self.uuid(3).uppercased(), "I3", "b"))
        rows.append((Self.uuid(9), "I9", "a"))
        rows.append((Self.uuid(9), "I9x", "a"))
        let (lines, repeats) = Self.answers(rows)
        #expect(lines == Self.expected(rows))
        #expect(lines == [nil, nil, nil, nil, nil, 3, nil, nil, 9])
        #expect(repeats == 3)
    }

    @Test func aKeyRepeatedRightAfterItselfIsCompared() {
        let rows = [(key: Self.uuid(1), isrc: "A", audit: "a"), (Self.uuid(1), "B", "a"), (Self.uuid(2), "C", "a")]
        #expect(Self.answers(rows).lines == [nil, 2, nil])
    }

    @Test(arguments: [1, 2, 3]) func agreesWithAPlainTableOnShuffledKeys(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        // 2,000 rows over 1,500 keys, mostly in order with stretches out of it, some repeated
        // with the same values and some with others.
        var rows: [(key: String, isrc: String, audit: String)] = []
        for n in 0..<2_000 {
            let key = random.next() % 4 == 0 ? Int(random.next() % 1_500) : min(n, 1_499)
            let isrc = random.next() % 3 == 0 ? "I\(key)-\(random.next() % 2)" : "I\(key)"
            rows.append((random.next() % 2 == 0 ? Self.uuid(key) : Self.uuid(key).uppercased(), isrc, "a"))
        }
        #expect(Self.answers(rows).lines == Self.expected(rows))
    }

    /// Text keys are told apart as the table does, code point by code point: `é` written two
    /// ways is two keys (one Swift `String`), and so are two values written so.
    @Test func textKeysAndValuesAreComparedByCodePoint() {
        let (composed, decomposed) = ("caf\u{e9}", "cafe\u{301}")
        var ledger = KeyLedger(columns: ["track_id", "isrc"], schema: Self.schema, keyIsUUID: false)
        #expect(ledger.firstLineWithOtherValues([.string(composed), "A"], line: 2) == nil)
        #expect(ledger.firstLineWithOtherValues([.string(decomposed), "B"], line: 3) == nil)
        #expect(ledger.repeats == 0)
        #expect(ledger.firstLineWithOtherValues(["k", .string(composed)], line: 4) == nil)
        #expect(ledger.firstLineWithOtherValues(["k", .string(decomposed)], line: 5) == 4)
    }
}
