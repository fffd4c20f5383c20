import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered writer for a new private (mode 0600) file that computes the content's SHA-256
/// as it goes.
///
/// Writes are collected in a buffer of `bufferSize` bytes and handed to the kernel in large
/// `write(2)` calls; memory stays bounded by the buffer whatever the file's size. With
/// `atomic`, the content goes to a temporary file in the same directory that ``close()``
/// renames over the destination (a reader never sees half a file) — or, with
/// `replaceExisting: false`, moves into place only if nothing is there yet (`link(2)`, which
/// fails when the name exists, then `unlink(2)` of the temporary); otherwise the file is
/// created exclusively and must not exist yet.
///
/// Used by the runner for spools and by stages for their artifacts (CSV, rejects, undo files).
/// Not thread-safe: one task writes at a time.
public final class PrivateFileWriter {
    /// The file the content ends up in.
    public let url: URL
    private let writeURL: URL
    private let atomic: Bool
    private let replaceExisting: Bool
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferSize: Int
    private var hash = SHA256()
    /// Bytes accepted so far (buffered or written).
    public private(set) var byteCount = 0

    /// What a closed file holds.
    public struct Summary: Sendable, Hashable {
        public var url: URL
        public var sha256: String
        public var bytes: Int
    }

    public init(at url: URL, atomic: Bool = false, replaceExisting: Bool = true, bufferSize: Int = 1 << 18) throws {
        self.url = url
        self.atomic = atomic
        self.replaceExisting = replaceExisting
        self.bufferSize = bufferSize
        if atomic {
            let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
            writeURL = url.deletingLastPathComponent()
                .appendingPathComponent(".\(url.lastPathComponent).\(suffix).tmp")
        } else {
            writeURL = url
        }
        fd = open(writeURL.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, PrivateFile.fileMode)
        guard fd >= 0 else { throw FileError("create", path: writeURL.path, errno: errno) }
        // The mode given to open is filtered by the umask; 0600 is what we want in any case.
        _ = fchmod(fd, PrivateFile.fileMode)
        buffer.reserveCapacity(bufferSize)
    }

    deinit {
        if fd >= 0 {
            systemClose(fd)
            if atomic { unlink(writeURL.path) }
        }
    }

    /// Appends bytes, flushing to the file when the buffer is full.
    public func write(_ bytes: some Collection<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        byteCount += bytes.count
        if buffer.count >= bufferSize { try flush() }
    }

    /// Appends the UTF-8 bytes of `string`.
    public func write(_ string: String) throws {
        try write(string.utf8)
    }

    /// Appends through a closure that writes into the buffer directly (no intermediate
    /// arrays), then flushes if the buffer is full.
    public func append(_ body: (inout [UInt8]) -> Void) throws {
        let before = buffer.count
        body(&buffer)
        byteCount += buffer.count - before
        if buffer.count >= bufferSize { try flush() }
    }

    /// Hands the buffered bytes to the kernel.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { bytes in
            hash.update(bytes)
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError("write", path: writeURL.path, errno: errno)
                }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, fsyncs and closes the file (renaming it into place when atomic).
    /// - Throws: ``FileError``; the file is then left incomplete (an atomic one is removed).
    public func close() throws -> Summary {
        guard fd >= 0 else { throw FileError("close", path: writeURL.path, errno: EBADF) }
        do { try flush() } catch {
            discard()
            throw error
        }
        if fsync(fd) != 0 { throw FileError("sync", path: writeURL.path, errno: errno) }
        let result = systemClose(fd)
        fd = -1
        if result != 0 { throw FileError("close", path: writeURL.path, errno: errno) }
        if atomic {
            if replaceExisting ? rename(writeURL.path, url.path) != 0 : !moveIntoPlaceUnlessTaken() {
                let error = errno
                unlink(writeURL.path)
                throw FileError("rename into place", path: url.path, errno: error)
            }
            // Make the rename itself durable.
            let dir = open(url.deletingLastPathComponent().path, O_RDONLY | O_CLOEXEC)
            if dir >= 0 {
                _ = fsync(dir)
                systemClose(dir)
            }
        }
        return Summary(url: url, sha256: hash.hexDigest(), bytes: byteCount)
    }

    /// Gives the temporary file its final name only if that name is free, atomically; `false`
    /// with `errno` set otherwise (`EEXIST` when another file took the name).
    private func moveIntoPlaceUnlessTaken() -> Bool {
        if link(writeURL.path, url.path) == 0 {
            unlink(writeURL.path)
            return true
        }
        // A file system without hard links: check, then rename (a narrow race, but never a
        // silent replacement of a file that was there when we looked).
        guard errno == EPERM || errno == EOPNOTSUPP || errno == EXDEV else { return false }
        if access(url.path, F_OK) == 0 {
            errno = EEXIST
            return false
        }
        return rename(writeURL.path, url.path) == 0
    }

    /// Closes without completing: an atomic file's temporary is removed; a plain file keeps
    /// what was flushed so far.
    public func discard() {
        guard fd >= 0 else { return }
        try? flush()
        systemClose(fd)
        if atomic { unlink(writeURL.path) }
        fd = -1
    }
}
