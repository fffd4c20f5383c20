import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file read front to back in large chunks on ``BlockingIO`` threads, hashing every byte it
/// reads: the reading half of the line formats Sluice reads back (spools, fetch answers, undo
/// files). Memory holds the unread part of one chunk and one line, never the whole file.
///
/// Not thread-safe: one task reads.
public final class FileChunks {
    public let path: String
    private var fd: Int32
    /// Buffered bytes; those before ``position`` are consumed.
    public private(set) var bytes: [UInt8] = []
    public private(set) var position = 0
    public private(set) var atEOF = false
    private var hash = SHA256()
    /// 1-based number of the last line ``nextLine()`` returned.
    public private(set) var lineNumber = 0

    public static let chunkSize = 1 << 18

    /// Opens the file.
    /// - Throws: ``FileError`` when it cannot be opened or is a directory.
    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path: path, errno: errno) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            _ = systemClose(fd)
            fd = -1
            throw FileError("read", path: path, errno: EISDIR)
        }
    }

    deinit {
        if fd >= 0 { _ = systemClose(fd) }
    }

    /// The SHA-256 of the bytes read so far (of the whole file once ``atEOF``).
    public var sha256: String { hash.hexDigest() }

    /// The next line, without its newline, as a range of ``bytes`` (valid until the next call);
    /// `nil` at the end of the file. A last line without a newline counts.
    public func nextLine() async throws -> Range<Int>? {
        while true {
            if let newline = bytes[position...].firstIndex(of: UInt8(ascii: "\n")) {
                defer { position = newline + 1 }
                lineNumber += 1
                return position..<newline
            }
            if atEOF {
                guard position < bytes.count else { return nil }
                defer { position = bytes.count }
                lineNumber += 1
                return position..<bytes.count
            }
            try await fill(atLeast: bytes.count - position + 1)
        }
    }

    /// Reads until at least `count` unread bytes are buffered or the file ends. Consumed bytes
    /// are dropped once they are a megabyte or all of the buffer, so the copy is paid once per
    /// megabyte, not once per line.
    public func fill(atLeast count: Int) async throws {
        if position >= 1 << 20 || position == bytes.count {
            bytes.removeSubrange(0..<position)
            position = 0
        }
        let (fd, path) = (self.fd, self.path)
        while bytes.count - position < count && !atEOF {
            let want = max(Self.chunkSize, count - (bytes.count - position))
            let read = try await BlockingIO.run { try Self.readBlocking(fd, upTo: want, path: path) }
            if read.isEmpty {
                atEOF = true
                break
            }
            read.withUnsafeBytes { hash.update($0) }
            bytes.append(contentsOf: read)
        }
    }

    /// Up to `count` bytes from `fd`; empty at the end of the file. Blocks: call it on a
    /// ``BlockingIO`` thread.
    public static func readBlocking(_ fd: Int32, upTo count: Int, path: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var n = 0
        repeat {
            n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        } while n < 0 && errno == EINTR
        guard n >= 0 else { throw FileError("read", path: path, errno: errno) }
        bytes.removeLast(count - n)
        return bytes
    }
}

/// Reads a file of JSON values, one per line (fetch answers, undo files).
public final class NDJSONReader {
    private let file: FileChunks

    /// - Throws: ``FileError`` when the file cannot be opened.
    public init(url: URL) throws {
        file = try FileChunks(path: url.path)
    }

    /// 1-based number of the last line returned, for error messages.
    public var lineNumber: Int { file.lineNumber }

    /// The next line decoded as JSON, `nil` at the end of the file. Empty lines are skipped.
    /// - Throws: ``NDJSONError`` for a line that is not JSON; ``FileError``.
    public func next() async throws -> Value? {
        while let range = try await file.nextLine() {
            if range.isEmpty { continue }
            do {
                return try file.bytes.withUnsafeBufferPointer { buffer in
                    try JSON.decode(UnsafeBufferPointer(rebasing: buffer[range]))
                }
            } catch {
                throw NDJSONError(path: file.path, line: file.lineNumber, message: String(describing: error))
            }
        }
        return nil
    }
}

/// A line of an NDJSON file that is not valid JSON or not the expected shape.
public struct NDJSONError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var line: Int
    public var message: String
    public init(path: String, line: Int, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }
    public var description: String { "\(path):\(line): \(message)" }
}
