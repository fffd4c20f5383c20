import SluiceCore

/// Writes rows into a running `COPY ... FROM STDIN`; lent by
/// ``PostgresConnection/copyIn(_:binary:_:)`` for the duration of its closure. Kept past it, it
/// can send nothing: it is tied to its own COPY, not to whichever runs on the connection next.
///
/// Values are escaped straight into a byte buffer (text format: `\N` for NULL; backslash, tab,
/// newline and carriage return escaped) that is sent whenever it passes ``flushThreshold`` bytes,
/// so each `await` on the connection carries hundreds of rows. With a ``BinaryCopyEncoding``
/// rows go in binary format, and a row it declines is kept aside in text format (with its row
/// number) for the text COPY that follows. Those rows are held in memory: the encoding declines
/// only values the server would refuse or spellings it would have to parse (`" 7"`, `"2.5"` for a
/// float), not the values a typed input carries.
public final class CopyWriter {
    /// About how many bytes go to the server per `PQputCopyData` call.
    public static let flushThreshold = 64 * 1024

    private let core: LibPQConnection
    private let copy: LibPQConnection.OperationID
    /// How many values every row must have: the COPY's column count.
    public let columnCount: Int
    /// Rows accepted so far (1-based line numbers in server errors count the same rows).
    public private(set) var rowsWritten = 0
    private var buffer: [UInt8] = []
    /// Also receives every byte sent, to send the same COPY again elsewhere
    /// (``CopySpool/copy(into:_:)``).
    public var spool: CopySpool?
    private let binary: BinaryCopyEncoding?
    /// The rows the binary encoding declined.
    private(set) var declined = DeclinedRows()
    /// Whether the buffer's start, a binary COPY's header, went out already.
    private var headerSent = false
    /// Of ``rowsWritten``, those the spool got.
    private var rowsSpooled = 0

    init(core: LibPQConnection, copy: LibPQConnection.OperationID, columnCount: Int, binary: BinaryCopyEncoding?) {
        self.core = core
        self.copy = copy
        self.columnCount = columnCount
        self.binary = binary
        buffer.reserveCapacity(Self.flushThreshold + 4096)
        if binary != nil { buffer.append(contentsOf: BinaryCopyEncoding.header) }
    }

    /// Adds one row.
    /// - Throws: ``PostgresError`` (kind `.client`) when the row has the wrong number of values,
    ///   or whatever sending a full buffer to the server throws.
    public func write(row: [Value]) async throws {
        try append(row)
        if buffer.count >= Self.flushThreshold { try await flush() }
    }

    /// Adds every row of `batch` (its column names are not checked: COPY's column list rules).
    public func write(_ batch: Batch) async throws {
        for row in batch.rows {
            try append(row)
            if buffer.count >= Self.flushThreshold { try await flush() }
        }
    }

    @inline(__always)
    private func append(_ row: [Value]) throws(PostgresError) {
        guard row.count == columnCount else {
            throw PostgresError(
                kind: .client,
                message: "COPY row \(rowsWritten + 1) has \(row.count) values but the COPY takes \(columnCount) columns"
            )
        }
        rowsWritten += 1
        guard let binary else {
            PostgresText.appendCopyRow(row, to: &buffer)
            return
        }
        if !binary.append(row, to: &buffer) { declined.add(row, number: rowsWritten) }
    }

    /// Ends the rows: whatever is buffered is sent, then a binary COPY's trailer.
    func finish() async throws {
        try await flush()
        if binary != nil { _ = try await core.putCopyData(BinaryCopyEncoding.trailer, to: copy) }
    }

    /// Sends what is buffered now.
    public func flush() async throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        if let spool {
            // The spool holds rows only: a binary COPY's header is added when they are sent.
            spool.binary = binary != nil
            await spool.append(
                chunk[(binary != nil && !headerSent ? BinaryCopyEncoding.header.count : 0)...],
                rows: rowsWritten - rowsSpooled)
            rowsSpooled = rowsWritten
        }
        headerSent = true
        _ = try await core.putCopyData(chunk, to: copy)
    }

    /// Sends bytes already in COPY text format (whole rows or not), after what is buffered.
    func send(encoded bytes: [UInt8]) async throws {
        try await flush()
        await spool?.append(bytes[...], rows: 0)
        _ = try await core.putCopyData(bytes, to: copy)
    }
}
