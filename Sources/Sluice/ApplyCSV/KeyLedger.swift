import SluiceCore

/// The keys of the rows a ``CSVInputStage`` has read, to find a key given two different sets of
/// values before the database does (it would say so only once a transaction is open).
///
/// Per key it keeps the line where it was first seen and a hash of the values apply reads from
/// that row, not the values: memory grows by a few tens of bytes per row. A key repeated with
/// the same values is fine (apply keeps one of them); columns apply does not read (the audit
/// trail's `spotify_id`) may differ. A hash collision would let a conflict through to the
/// database, which refuses it too.
///
/// UUID keys that come in increasing order (a file written in key order, as the Spotify plan's
/// query sorts its rows) cannot repeat one before them: they are appended to an array, in order,
/// and no hash table is touched. The first key out of order moves them into the table, and from
/// there on every key is looked up, as for a file in any order.
struct KeyLedger {
    /// Where the key is in a row.
    let keyIndex: Int
    /// Where the columns apply reads are.
    let valueIndices: [Int]
    /// Compare keys as UUIDs (case-insensitive), as the database does for a `uuid` key.
    let keyIsUUID: Bool
    /// Rows whose key an earlier row had (with the same values or not).
    private(set) var repeats = 0
    /// Keys as the table tells them apart: text code point by code point (`é` written two ways
    /// is two keys, though one `String`).
    private var seen: [Key: Entry] = [:]
    /// UUID keys by their 128 bits: cheaper to hash and compare than their text, and equal
    /// exactly when the texts are equal ignoring case.
    private var seenUUIDs: [UUIDBits: Entry] = [:]
    /// UUID keys while they come in increasing order, each greater than the one before.
    private var ordered: [(bits: UUIDBits, entry: Entry)] = []
    /// Every UUID key so far was greater than the one before: they are in ``ordered``.
    private var inOrder = true

    private enum Key: Hashable {
        case text(ExactText)
        case other(Value)

        init(_ value: Value) {
            if case .string(let text) = value { self = .text(ExactText(text)) } else { self = .other(value) }
        }
    }

    private struct Entry {
        var line: Int
        var digest: Int
        /// What a key not seen yet reads as, before ``note(_:in:)`` fills it in.
        static let unseen = Entry(line: -1, digest: 0)
    }

    /// `slot` is a key's entry in place (one hash lookup, inserting as needed): fills an unseen
    /// one with `entry` and returns `nil`, or returns the entry already there.
    private static func note(_ entry: Entry, in slot: inout Entry) -> Entry? {
        guard slot.line >= 0 else {
            slot = entry
            return nil
        }
        return slot
    }

    private struct UUIDBits: Hashable, Comparable {
        var high: UInt64
        var low: UInt64

        /// The order of the 16 bytes, as PostgreSQL sorts `uuid` values.
        static func < (a: Self, b: Self) -> Bool { (a.high, a.low) < (b.high, b.low) }
    }

    /// - Parameter columns: the header; it holds every required column of `schema`.
    init(columns: [String], schema: CSVInputSchema, keyIsUUID: Bool) {
        keyIndex = columns.firstIndex(of: schema.keyField) ?? 0
        valueIndices = schema.required.compactMap { requirement in
            requirement.column == schema.keyField ? nil : columns.firstIndex(of: requirement.column)
        }
        self.keyIsUUID = keyIsUUID
    }

    /// Makes room for about `count` keys at once, instead of growing step by step.
    mutating func reserveCapacity(_ count: Int) {
        if !keyIsUUID {
            seen.reserveCapacity(count)
        } else if inOrder {
            ordered.reserveCapacity(count)
        } else {
            seenUUIDs.reserveCapacity(count)
        }
    }

    /// Notes a row's key; returns the line where the same key came with other values, if it did.
    mutating func firstLineWithOtherValues(_ row: [Value], line: Int) -> Int? {
        var hasher = Hasher()
        for index in valueIndices { hasher.combine(Key(row[index])) }
        let entry = Entry(line: line, digest: hasher.finalize())
        let first: Entry?
        if keyIsUUID, let text = row[keyIndex].stringValue, let bits = Self.uuidBits(text) {
            if inOrder {
                guard let last = ordered.last?.bits, bits <= last else {
                    ordered.append((bits, entry))
                    return nil
                }
                leaveOrder()
            }
            first = Self.note(entry, in: &seenUUIDs[bits, default: .unseen])
        } else {
            var key = row[keyIndex]
            if keyIsUUID, let text = key.stringValue { key = .string(text.lowercased()) }
            first = Self.note(entry, in: &seen[Key(key), default: .unseen])
        }
        guard let first else { return nil }
        repeats += 1
        return first.digest == entry.digest ? nil : first.line
    }

    /// A key out of order: the keys so far go into the hash table, where every key is looked up
    /// from now on.
    private mutating func leaveOrder() {
        inOrder = false
        seenUUIDs.reserveCapacity(Swift.max(ordered.capacity, ordered.count + 1))
        for (bits, entry) in ordered { seenUUIDs[bits] = entry }
        ordered = []
    }

    /// The bits of a UUID in its canonical form (36 characters, hyphens at 8, 13, 18 and 23, as
    /// the `uuid` rule accepts), or `nil` for any other text.
    private static func uuidBits(_ text: String) -> UUIDBits? {
        UUIDText.canonicalBits(of: text).map { UUIDBits(high: $0.high, low: $0.low) }
    }
}
