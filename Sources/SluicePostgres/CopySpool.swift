#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The bytes a ``CopyWriter`` sent (set as its ``CopyWriter/spool``), kept in an unnamed
/// temporary file so the same COPY can be sent again on another connection (``copy(into:_:)``)
/// without encoding the rows twice or holding them in memory.
///
/// The file is created with mode 0600 in `directory` (default `$TMPDIR`, else `/tmp`) and
/// unlinked at once: nothing is left behind, even if the process dies; the space is freed when
/// the spool is released. Keeping it is best effort: if a write fails (a full disk) or the spool
/// would pass `limit` bytes, ``failure`` says why and the spool stops growing and must not be sent.
public final class CopySpool {
    private let descriptor: Int32
    private let limit: Int
    public private(set) var byteCount = 0
    /// Why the spool is incomplete, if it is.
    public private(set) var failure: String?
    /// The bytes are a binary-format COPY (``BinaryCopyEncoding``).
    var binary = false

    public init(directory: String? = nil, limit: Int) throws(PostgresError) {
        let directory =
            directory ?? getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        self.limit = limit
        var template = Array("\(directory)/sluice-copy-XXXXXX".utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw PostgresError(
                kind: .client,
                message: "cannot create a temporary file in \(directory): \(String(cString: strerror(errno)))")
        }
        unlink(template)
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Marks the spool incomplete: the COPY sent rows it does not hold.
    func invalidate(_ reason: String) {
        if failure == nil { failure = reason }
    }

    /// Appends `bytes`, or records a ``failure`` and ignores this and every later call.
    func append(_ bytes: [UInt8]) {
        guard failure == nil else { return }
        guard byteCount + bytes.count <= limit else {
            failure = "the input is larger than \(limit) bytes"
            return
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = "cannot write a temporary file: \(String(cString: strerror(errno)))"
                return
            }
            offset += written
        }
        byteCount += bytes.count
    }

    /// Sends everything spooled into `sql`, a `COPY ... FROM STDIN` taking the same columns, on
    /// `connection` (in binary format if that is what was spooled); returns the rows the server
    /// copied.
    public func copy(into connection: PostgresConnection, _ sql: String) async throws -> Int {
        if let failure { throw PostgresError(kind: .client, message: failure) }
        return try await connection.copyIn(binary ? PostgresConnection.binaryCopy(sql) : sql) { writer in
            var offset = 0
            while offset < byteCount {
                var chunk = [UInt8](repeating: 0, count: min(CopyWriter.flushThreshold, byteCount - offset))
                let read = chunk.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress!, $0.count, off_t(offset)) }
                if read < 0, errno == EINTR { continue }
                guard read > 0 else {
                    let reason = read < 0 ? String(cString: strerror(errno)) : "it ended early"
                    throw PostgresError(kind: .client, message: "cannot read a temporary file back: \(reason)")
                }
                chunk.removeLast(chunk.count - read)
                try await writer.send(encoded: chunk)
                offset += read
            }
        }
    }
}
