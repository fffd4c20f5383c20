import Foundation
import SluiceCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files and directories that hold data, created readable by their owner only.
///
/// Data files (spools, CSVs, rejects, undo files, manifests) are mode 0600 and run
/// directories 0700, whatever the umask, because they may hold personal data.
public enum PrivateFile {
    public static let fileMode: mode_t = 0o600
    public static let directoryMode: mode_t = 0o700

    /// Creates `url` (mode 0700) and any missing parents (default mode); an existing
    /// directory is left as it is, a file in its place is an error (`ENOTDIR`).
    public static func createDirectory(at url: URL) throws {
        let parent = url.deletingLastPathComponent()
        if parent.path != url.path, !FileManager.default.fileExists(atPath: parent.path) {
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        }
        if mkdir(url.path, directoryMode) != 0 {
            let error = errno
            guard error == EEXIST else { throw FileError("create directory", path: url.path, errno: error) }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue
            else { throw FileError("create directory", path: url.path, errno: ENOTDIR) }
            return
        }
        // mkdir applies the umask; make the mode exact.
        _ = chmod(url.path, directoryMode)
    }

    /// Which file `url` names now (its device and inode), or `nil` when none does.
    public static func identity(of url: URL) async -> FileIdentity? {
        try? await BlockingIO.run { () -> FileIdentity? in
            var info = stat()
            guard stat(url.path, &info) == 0 else { return nil }
            return FileIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        }
    }

    /// A file as the file system knows it: the same identity at a path later means the same
    /// file is still there (not removed, nor replaced).
    public struct FileIdentity: Sendable, Equatable {
        public var device: UInt64
        public var inode: UInt64
    }

    /// Writes `bytes` to `url` atomically: a private temporary file in the same directory,
    /// fsync, then rename over `url`, so a reader sees the old or the new content, never a mix.
    public static func writeAtomically(_ bytes: [UInt8], to url: URL) async throws {
        try await BlockingIO.run { try writeAtomicallyBlocking(bytes, to: url) }
    }

    /// ``writeAtomically(_:to:)`` on the calling thread, which it blocks until the data is on
    /// disk: only for a ``BlockingIO`` thread.
    @available(*, noasync, message: "blocks the thread until fsync returns; use writeAtomically")
    public static func writeAtomicallyBlocking(_ bytes: [UInt8], to url: URL) throws {
        try PrivateFileWriter.writeWholeFileBlocking(bytes, to: url)
    }

    /// The SHA-256 of a file's content and its size in bytes, read in large chunks on a
    /// ``BlockingIO`` thread.
    public static func sha256(of url: URL) async throws -> (sha256: String, bytes: Int) {
        try await BlockingIO.run { try sha256Blocking(of: url) }
    }

    private static func sha256Blocking(of url: URL) throws -> (sha256: String, bytes: Int) {
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path: url.path, errno: errno) }
        defer { close(fd) }
        var hash = SHA256()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw FileError("read", path: url.path, errno: errno)
            }
            if n == 0 { break }
            hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return (hash.hexDigest(), total)
    }
}

// File-scope wrappers: inside types with `write`/`close` methods these names would resolve
// to the methods.
@inline(__always)
func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

@inline(__always)
func systemRead(_ fd: Int32, _ bytes: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, bytes, count)
}

@inline(__always)
@discardableResult
func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}
