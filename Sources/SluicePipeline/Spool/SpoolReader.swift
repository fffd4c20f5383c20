import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a spool written by ``SpoolWriter`` back as the batches that were written.
///
/// Reads in large chunks and holds at most one batch; when given the recorded SHA-256 it
/// checks the bytes it actually read against it at the end, so a file changed after the
/// replay's up-front check still cannot slip through unnoticed.
final class SpoolReader {
    let url: URL
    private let expectedSHA256: String?
    private var fd: Int32
    private var hash = SHA256()
    private var chunk: [UInt8] = []
    private var start = 0
    private var atEOF = false
    private var pending: Batch?
    private var line = 0

    init(url: URL, expectedSHA256: String? = nil) throws {
        self.url = url
        self.expectedSHA256 = expectedSHA256
        fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path: url.path, errno: errno) }
    }

    deinit {
        if fd >= 0 { systemClose(fd) }
    }

    /// The next batch, or `nil` at the end of the spool.
    func next() async throws -> Batch? {
        while let lineRange = try await nextLine() {
            line += 1
            let value = try chunk.withUnsafeBufferPointer { buffer in
                do {
                    return try JSON.decode(UnsafeBufferPointer(rebasing: buffer[lineRange]))
                } catch {
                    throw SpoolError(url: url, line: line, message: String(describing: error))
                }
            }
            switch value {
            case .object(let header):
                guard case .array(let names) = header["columns"] ?? .null else {
                    throw SpoolError(url: url, line: line, message: "a header line needs \"columns\"")
                }
                let columns = try names.map { name in
                    guard let name = name.stringValue else {
                        throw SpoolError(url: url, line: line, message: "column names must be strings")
                    }
                    return name
                }
                let finished = pending
                pending = Batch(columns: columns)
                if let finished { return finished }
            case .array(let row):
                guard pending != nil else {
                    throw SpoolError(url: url, line: line, message: "a row before the first header")
                }
                pending!.rows.append(row)
            default:
                throw SpoolError(url: url, line: line, message: "expected a header object or a row array")
            }
        }
        if let expectedSHA256 {
            let actual = hash.hexDigest()
            if actual != expectedSHA256 {
                throw SpoolError(
                    url: url, line: line,
                    message: "content changed while reading: sha256 \(actual), recorded \(expectedSHA256)")
            }
        }
        defer { pending = nil }
        return pending
    }

    /// The byte range of the next line in `chunk` (without its newline), reading more as needed.
    private func nextLine() async throws -> Range<Int>? {
        while true {
            if let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let range = start..<newline
                start = newline + 1
                return range
            }
            if atEOF {
                guard start < chunk.count else { return nil }
                let range = start..<chunk.count
                start = chunk.count
                return range
            }
            // Keep the partial line, read the next chunk after it.
            chunk.removeSubrange(0..<start)
            start = 0
            try await fill()
        }
    }

    /// Reads the next chunk on a ``BlockingIO`` thread.
    private func fill() async throws {
        let (fd, path) = (self.fd, url.path)
        let read = try await BlockingIO.run { try Self.readChunk(fd, size: 1 << 18, path: path) }
        read.withUnsafeBytes { hash.update($0) }
        chunk.append(contentsOf: read)
        if read.isEmpty { atEOF = true }
    }

    /// Up to `size` bytes from `fd`; empty at the end of the file.
    static func readChunk(_ fd: Int32, size: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: size)
        var n = 0
        repeat {
            n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress!, size) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw FileError("read", path: path, errno: errno) }
        bytes.removeLast(size - n)
        return bytes
    }
}

/// A spool that cannot be read back.
struct SpoolError: Error, CustomStringConvertible {
    var url: URL
    var line: Int
    var message: String
    var description: String { "\(url.path):\(line): \(message)" }
}
