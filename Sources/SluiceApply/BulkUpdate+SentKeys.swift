import SluiceCore

extension BulkUpdate {
    /// The keys of the rows sent into the input table, in input order, as text: a value the
    /// server refuses while the rows are copied in is reported at its input row (the COPY's
    /// line), and this names that row's key.
    ///
    /// The server reports the refusal once the COPY ends, long after the row was sent, so every
    /// key is kept, packed in one byte array (about 40 bytes a uuid key), up to ``budget``: past
    /// it the rest are not kept, and a value refused in a later row is named by its input row
    /// only. An apply's memory then stays the same for a million rows as for a hundred thousand.
    struct SentKeys {
        /// The bytes the keys may take, offsets included: a uuid key's 36 + 4, so about the first
        /// 100,000 rows' keys; short integer keys, some 400,000.
        static let budget = 4 << 20

        private var bytes: [UInt8] = []
        /// Where each key ends in ``bytes``.
        private var ends: [UInt32] = []
        private var full = false

        /// Adds the next row's key.
        mutating func add(_ key: Value) {
            guard !full else { return }
            let text = key.text ?? ""
            guard bytes.count + text.utf8.count + 4 * (ends.count + 1) <= Self.budget else {
                full = true
                return
            }
            bytes.append(contentsOf: text.utf8)
            ends.append(UInt32(bytes.count))
        }

        /// The key of input row `row` (1-based), when it was kept.
        func key(ofRow row: Int) -> String? {
            guard row >= 1, row <= ends.count else { return nil }
            let start = row == 1 ? 0 : Int(ends[row - 2])
            return String(decoding: bytes[start..<Int(ends[row - 1])], as: UTF8.self)
        }
    }
}
