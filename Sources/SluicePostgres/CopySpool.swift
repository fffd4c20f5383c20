import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A COPY's rows, kept in an unnamed temporary file so they can be sent again on another
/// connection (``copy(into:_:)``), or a stretch at a time (``Reader/copy(into:_:_:)``), without
/// encoding them twice or holding them in memory. They get there from a running COPY
/// (``CopyWriter/spool``) or with no COPY running (``CopySpool/Encoder``).
///
/// The file holds the rows only: a binary COPY's header and trailer are added each time rows are
/// sent. It is created with mode 0600 in `directory` (default `$TMPDIR`, else `/tmp`) and
/// unlinked at once: nothing is left behind, even if the process dies; the space is freed when
/// the spool is released. Keeping it is best effort: if a write fails (a full disk) or the spool
/// would pass `limit` bytes, ``failure`` says why and the spool stops growing and must not be sent.
public final class CopySpool {
    private let descriptor: Int32
    private let limit: Int
    /// Where the file is, for messages: it has no name of its own once unlinked.
    let directory: String
    public private(set) var byteCount = 0
    /// Why the spool is incomplete, if it is.
    public private(set) var failure: String?
    /// The rows are in binary format (``BinaryCopyEncoding``).
    var binary = false
    /// The rows the binary encoding declined (``Encoder``), in text format, and their row
    /// numbers: sent after the binary rows.
    private var declined = DeclinedRows()
    /// Rows spooled, declined ones included.
    public internal(set) var rowCount = 0

    public convenience init(directory: String? = nil, limit: Int) throws(PostgresError) {
        let directory =
            directory ?? getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(directory)/sluice-copy-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw PostgresError(
                kind: .client,
                message: "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))")
        }
        unlink(template)
        self.init(descriptor: descriptor, directory: directory, limit: limit)
    }

    /// A spool writing to `descriptor`, an open file it then owns, in `directory`.
    init(descriptor: Int32, directory: String, limit: Int) {
        self.descriptor = descriptor
        self.directory = directory
        self.limit = limit
    }

    deinit {
        close(descriptor)
    }

    /// Marks the spool incomplete: the COPY sent rows it does not hold.
    func invalidate(_ reason: String) {
        if failure == nil { failure = reason }
    }

    /// Appends `bytes`, whole rows (`rows` of them), or records a ``failure`` and ignores this
    /// and every later call. The write runs on a blocking-I/O thread (``BlockingIO``).
    func append(_ bytes: ArraySlice<UInt8>, rows: Int) async {
        guard failure == nil else { return }
        guard byteCount + bytes.count <= limit else {
            failure = "the input is larger than \(limit) bytes"
            return
        }
        let descriptor = descriptor
        let error = await BlockingIO.write(bytes, to: descriptor)
        if let error {
            failure = "cannot write a temporary file in \(directory): \(error)"
            return
        }
        byteCount += bytes.count
        rowCount += rows
    }

    /// Every row spooled, as one stretch.
    public var whole: Stretch {
        Stretch(bytes: 0..<byteCount, firstRow: 1, rowCount: rowCount, declined: declined)
    }

    /// Sends every row spooled into `sql`, a `COPY ... FROM STDIN` taking the same columns, on
    /// `connection` (in binary format if that is what was spooled); returns the rows the server
    /// copied.
    public func copy(into connection: PostgresConnection, _ sql: String) async throws -> Int {
        try await reader().copy(into: connection, sql, whole)
    }

    /// What sends the rows spooled so far, from any task, while more are being spooled.
    /// - Throws: ``PostgresError`` when the spool is incomplete (``failure``) or its file cannot
    ///   be opened again.
    public func reader() throws(PostgresError) -> Reader {
        if let failure { throw PostgresError(kind: .client, message: failure) }
        let copy = dup(descriptor)
        guard copy >= 0 else {
            throw PostgresError(
                kind: .client,
                message: "cannot open a temporary file in \(directory) again: \(String(cString: strerror(errno)))")
        }
        return Reader(descriptor: copy, binary: binary, directory: directory)
    }

    /// Sends stretches of a spool (``CopySpool/reader()``): immutable, so any task may use it
    /// while the spool grows; it reads only bytes already written.
    public final class Reader: Sendable {
        private let descriptor: Int32
        private let binary: Bool
        private let directory: String

        fileprivate init(descriptor: Int32, binary: Bool, directory: String) {
            self.descriptor = descriptor
            self.binary = binary
            self.directory = directory
        }

        deinit {
            close(descriptor)
        }

        /// Bytes read back per blocking-I/O call.
        static let readSize = 4 * CopyWriter.flushThreshold

        /// `count` bytes from `offset`, read on a blocking-I/O thread (``BlockingIO``).
        private func read(_ count: Int, at offset: Int) async throws -> [UInt8] {
            let (descriptor, directory) = (descriptor, directory)
            return try await BlockingIO.run {
                var chunk = [UInt8](repeating: 0, count: count)
                var filled = 0
                while filled < count {
                    let read = chunk.withUnsafeMutableBytes {
                        pread(descriptor, $0.baseAddress! + filled, count - filled, off_t(offset + filled))
                    }
                    if read < 0, errno == EINTR { continue }
                    guard read > 0 else {
                        let reason = read < 0 ? String(cString: strerror(errno)) : "it ended early"
                        throw PostgresError(
                            kind: .client, message: "cannot read a temporary file in \(directory) back: \(reason)")
                    }
                    filled += read
                }
                return chunk
            }
        }

        /// Sends the rows of `stretch` into `sql`, a `COPY ... FROM STDIN` taking the spooled
        /// columns, on `connection`: its binary rows in one COPY, then those the encoding
        /// declined, in text format, in another; returns the rows copied. A server error's `line`
        /// is renumbered to the row's number in the whole input.
        public func copy(into connection: PostgresConnection, _ sql: String, _ stretch: Stretch) async throws -> Int {
            let binary = binary
            var copied = 0
            if !stretch.bytes.isEmpty {
                do {
                    copied = try await connection.copyIn(binary ? PostgresConnection.binaryCopy(sql) : sql) { writer in
                        if binary { try await writer.send(encoded: BinaryCopyEncoding.header) }
                        var offset = stretch.bytes.lowerBound
                        while offset < stretch.bytes.upperBound {
                            let count = min(Self.readSize, stretch.bytes.upperBound - offset)
                            let chunk = try await read(count, at: offset)
                            try await writer.send(encoded: chunk)
                            offset += chunk.count
                        }
                        if binary { try await writer.send(encoded: BinaryCopyEncoding.trailer) }
                    }
                } catch let error as PostgresError {
                    throw error.renumberingCopyLine(stretch.row(ofEncodedLine:))
                }
            }
            guard !stretch.declined.isEmpty else { return copied }
            return copied + (try await stretch.declined.copy(into: connection, sql))
        }
    }

    /// Consecutive rows of the spool: the bytes of those in the spool's format, and those the
    /// binary encoding declined, in text format.
    public struct Stretch: Sendable {
        var bytes: Range<Int>
        /// The number of the first row (1-based, in the whole input).
        public internal(set) var firstRow: Int
        public internal(set) var rowCount: Int
        var declined: DeclinedRows

        /// This stretch and the one right after it, as one.
        public func followed(by next: Stretch) -> Stretch {
            precondition(next.bytes.lowerBound == bytes.upperBound && next.firstRow == firstRow + rowCount)
            var joined = self
            joined.bytes = bytes.lowerBound..<next.bytes.upperBound
            joined.rowCount += next.rowCount
            joined.declined.append(next.declined)
            return joined
        }

        /// The row number of line `line` of the COPY of ``bytes``: its `line`-th row not declined.
        func row(ofEncodedLine line: Int) -> Int { declined.row(ofBinaryLine: line, firstRow: firstRow) }
    }

    /// Encodes rows into a spool with no COPY running, as a ``CopyWriter`` with the same
    /// encoding would send them; ``flush()`` writes what is encoded and returns it as a stretch.
    /// The caller bounds the memory: it calls ``write()`` or ``flush()`` as ``bufferedBytes`` grow.
    public final class Encoder {
        public let spool: CopySpool
        private let encoding: BinaryCopyEncoding?
        private var buffer: [UInt8] = []
        /// The rows encoded since the last ``flush()``.
        private var pending: Stretch

        /// Rows go to `spool` in binary format with `encoding`, in text format without.
        public init(spool: CopySpool, encoding: BinaryCopyEncoding?) {
            self.spool = spool
            self.encoding = encoding
            spool.binary = encoding != nil
            pending = Stretch(
                bytes: spool.byteCount..<spool.byteCount, firstRow: spool.rowCount + 1, rowCount: 0,
                declined: DeclinedRows())
        }

        /// Adds a row (as many values as the COPY has columns), encoded in memory until
        /// ``write()`` or ``flush()``.
        public func append(_ row: [Value]) {
            pending.rowCount += 1
            if let encoding, !encoding.append(row, to: &buffer) {
                pending.declined.add(row, number: pending.firstRow + pending.rowCount - 1)
            } else if encoding == nil {
                PostgresText.appendCopyRow(row, to: &buffer)
            }
        }

        /// Bytes encoded and not yet written.
        public var bufferedBytes: Int { buffer.count }

        /// Writes the rows encoded since the last call to the spool and returns them; `nil` when
        /// there were none.
        public func flush() async -> Stretch? {
            await write()
            guard pending.rowCount > 0 else { return nil }
            let stretch = pending
            pending = Stretch(
                bytes: stretch.bytes.upperBound..<stretch.bytes.upperBound,
                firstRow: stretch.firstRow + stretch.rowCount,
                rowCount: 0, declined: DeclinedRows())
            spool.declined.append(stretch.declined)
            spool.rowCount += stretch.rowCount
            return stretch
        }

        /// Writes what is encoded to the spool, keeping the rows for the next ``flush()``.
        public func write() async {
            guard !buffer.isEmpty else { return }
            await spool.append(buffer[...], rows: 0)
            pending.bytes = pending.bytes.lowerBound..<spool.byteCount
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
