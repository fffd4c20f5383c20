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
    private var ahead = ReadAhead()
    /// Buffered bytes; those before ``position`` are consumed.
    public var bytes: [UInt8] { ahead.bytes }
    public var position: Int { ahead.position }
    public var atEOF: Bool { ahead.atEOF }
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
    public var sha256: String { ahead.hash.hexDigest() }

    /// The next line, without its newline, as a range of ``bytes`` (valid until the next call);
    /// `nil` at the end of the file. A last line without a newline counts.
    public func nextLine() async throws -> Range<Int>? {
        while true {
            let start = ahead.position
            if let newline = ahead.bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
                ahead.position = newline + 1
                lineNumber += 1
                return start..<newline
            }
            if ahead.atEOF {
                guard start < ahead.bytes.count else { return nil }
                ahead.position = ahead.bytes.count
                lineNumber += 1
                return start..<ahead.bytes.count
            }
            try await ahead.fill(from: fd, atLeast: ahead.bytes.count - start + 1, path: path)
        }
    }

    /// Reads up to `count` bytes of `fd` onto the end of `bytes`, adding them to `hash`, on a
    /// ``BlockingIO`` thread: straight into the array's storage, which a reader reuses from one
    /// read to the next (no array per read, no copy, and no new memory once it has grown).
    /// - Returns: how many bytes were read; 0 at the end of the file.
    public static func read(
        _ fd: Int32, upTo count: Int, appendingTo bytes: inout [UInt8], hashing hash: inout SHA256, path: String
    ) async throws -> Int {
        let target = ReadTarget()
        swap(&target.bytes, &bytes)
        target.hash = hash
        defer {
            swap(&target.bytes, &bytes)
            hash = target.hash
        }
        return try await BlockingIO.run { try target.read(fd, upTo: count, path: path) }
    }

    /// The buffer and hash of a read in progress, lent to the ``BlockingIO`` thread that reads:
    /// the caller awaits that thread before it takes them back (`@unchecked Sendable` for that),
    /// and the array is the box's alone meanwhile, so appending to it never copies it.
    private final class ReadTarget: @unchecked Sendable {
        var bytes: [UInt8] = []
        var hash = SHA256()

        func read(_ fd: Int32, upTo count: Int, path: String) throws -> Int {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: count))
            var n = 0
            repeat {
                n = bytes.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + start, count) }
            } while n < 0 && errno == EINTR
            let error = errno
            bytes.removeLast(count - max(n, 0))
            guard n >= 0 else { throw FileError("read", path: path, errno: error) }
            bytes.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[start...])) }
            return n
        }
    }
}

/// The bytes read ahead of a file read front to back, and the hash of all it read: what
/// ``FileChunks`` and the CSV reader read into. The reader consumes them by moving
/// ``position``.
public struct ReadAhead {
    /// Buffered bytes; those before ``position`` are consumed.
    public var bytes: [UInt8] = []
    public var position = 0
    public private(set) var atEOF = false
    /// Bytes read from the file so far.
    public private(set) var bytesRead = 0
    /// The SHA-256 of every byte read so far.
    public private(set) var hash = SHA256()

    public init() {}

    /// Reads `fd` until at least `count` unread bytes are buffered or the file ends, in reads of
    /// ``FileChunks/chunkSize`` or more. Consumed bytes are dropped once they are a megabyte or
    /// all of the buffer, so the copy is paid once per megabyte, not once per line.
    public mutating func fill(from fd: Int32, atLeast count: Int, path: String) async throws {
        if position >= 1 << 20 || position == bytes.count {
            bytes.removeSubrange(0..<position)
            position = 0
        }
        while bytes.count - position < count && !atEOF {
            let want = max(FileChunks.chunkSize, count - (bytes.count - position))
            let read = try await FileChunks.read(fd, upTo: want, appendingTo: &bytes, hashing: &hash, path: path)
            if read == 0 { atEOF = true }
            bytesRead += read
        }
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
