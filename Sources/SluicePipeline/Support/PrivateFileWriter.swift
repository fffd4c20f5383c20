import Foundation
import SluiceCore

#if canImport(Glibc)
internal import CFileIO
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
/// Appending fills the buffer on the caller's thread; no system call runs on the cooperative
/// pool: each buffer is hashed and written on a thread of its own (a write can wait for the
/// disk as long as it takes, see below) while the caller fills a second one, and `fsync` and
/// `rename` run on a ``BlockingIO`` thread. ``flush()`` and ``close()`` wait for every write.
/// Not thread-safe: one task writes at a time.
///
/// The file is written behind (on Linux): once a full buffer is written, the kernel starts
/// putting it on the disk, and the buffer two before it, on the disk by then unless the disk
/// lags, leaves the page cache; once the file is closed (fsynced), all of it does. Every file
/// is fsynced when closed, so this is the same disk I/O spread over the writing, not added: the
/// final fsync has little left to do, and the run's files (a million-row apply writes some 280
/// MB of spool, review and undo) hold about three buffers each of the page cache while they are
/// written and none after, where they would push out the database's pages and other
/// processes'. New pages cost the kernel far more than pages it reuses (7 ms/MB against 0.2 on
/// a VM whose free memory goes back to its host): dropped pages are what the next buffers get.
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
    /// The last buffer handed off, being hashed and written on a thread of its own.
    private var inFlight: Write?
    /// Where in the file the last buffer handed off went, and the one before it (where the next
    /// goes is what was accepted less what is still buffered).
    private var lastOffset = 0
    private var olderOffset = 0

    /// A buffer's write, on a thread of its own: its task gives the hash with the buffer added,
    /// and the buffer comes back through `held`, for reuse.
    private struct Write: Sendable {
        let task: Task<SHA256, any Error>
        let held: HeldBuffer
        var value: SHA256 { get async throws { try await task.value } }
    }

    /// A buffer on its way to the file. The write reads it; the writer takes it back once the
    /// write is over (the task's end orders the two: `@unchecked Sendable` for that). Not the
    /// task's result: a task keeps its result while it lives, so emptying a buffer given back
    /// that way copied it into new storage. Out of the box the buffer is the writer's alone, and
    /// two buffers take turns for the whole file.
    private final class HeldBuffer: @unchecked Sendable {
        var bytes: [UInt8]

        init(_ bytes: consuming [UInt8]) {
            self.bytes = bytes
        }

        /// The buffer, leaving the box empty.
        func take() -> [UInt8] {
            var taken: [UInt8] = []
            swap(&taken, &bytes)
            return taken
        }
    }

    /// Buffers given back by a write that had to be copied to be filled again (something still
    /// held them): each a new allocation. None, by design; counted for the tests to see.
    private(set) var buffersCopied = 0
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
        guard fd >= 0 else { return }
        let (fd, temporary) = (fd, atomic ? writeURL.path : nil)
        guard let write = inFlight else { return Self.abandon(fd, removing: temporary) }
        Self.abandon(fd, removing: temporary, after: write)
    }

    /// ``abandon(_:removing:)`` once `write` is over: not while it may still use the descriptor,
    /// whose number could be another file's by then.
    private static func abandon(_ fd: Int32, removing path: String?, after write: Write) {
        Task {
            _ = try? await write.value
            abandon(fd, removing: path)
        }
    }

    /// Closes a file left incomplete, removing it when it is a temporary (`path`).
    private static func abandon(_ fd: Int32, removing path: String?) {
        systemClose(fd)
        if let path { unlink(path) }
    }

    /// Appends bytes, flushing to the file when the buffer is full.
    public func write(_ bytes: some Collection<UInt8>) async throws {
        buffer.append(contentsOf: bytes)
        byteCount += bytes.count
        if buffer.count >= bufferSize { try await handOff(full: true) }
    }

    /// Appends the UTF-8 bytes of `string`.
    public func write(_ string: String) async throws {
        try await write(string.utf8)
    }

    /// Appends through a closure that writes into the buffer directly (no intermediate
    /// arrays), then flushes if the buffer is full.
    public func append(_ body: (inout [UInt8]) -> Void) async throws {
        let before = buffer.count
        body(&buffer)
        byteCount += buffer.count - before
        if buffer.count >= bufferSize { try await handOff(full: true) }
    }

    /// Hands the buffered bytes to the kernel, on a thread of its own (a slow disk never holds a
    /// cooperative thread), and waits until every byte appended so far is written.
    public func flush() async throws {
        try await handOff(full: false)
        // The buffer just handed off comes back empty; the caller fills it next.
        if inFlight != nil { buffer = try await settle() }
    }

    /// Starts hashing and writing the buffer once the write before it is done, and goes on
    /// with the buffer that write gives back: the caller fills one while the other is written.
    /// - Parameter full: the buffer is full (not flushed early): the file is written behind
    ///   (a flush, which a stage may call for every few rows, leaves the disk to the kernel).
    private func handOff(full: Bool) async throws {
        guard !buffer.isEmpty else { return }
        var chunk = try await settle()
        swap(&chunk, &buffer)
        // Every byte accepted is in this buffer or an earlier one: it ends the file so far.
        let written = (byteCount - chunk.count)..<byteCount
        let behind = olderOffset..<lastOffset
        (olderOffset, lastOffset) = (lastOffset, written.lowerBound)
        inFlight = Self.startWrite(
            chunk, to: fd, path: writeURL.path, hash: hash, behind: full ? (written, behind) : nil)
    }

    /// - Parameter behind: the bytes this buffer goes to, and those the write two before it
    ///   wrote: once this buffer is written, the first go to the disk and the second leave the
    ///   page cache (``writeBehind(_:written:before:)``).
    private static func startWrite(
        _ chunk: consuming [UInt8], to fd: Int32, path: String, hash: SHA256,
        behind: (written: Range<Int>, before: Range<Int>)?
    ) -> Write {
        let held = HeldBuffer(chunk)
        let write: @Sendable () throws -> SHA256 = {
            var hash = hash
            held.bytes.withUnsafeBytes { hash.update($0) }
            try writeAll(held.bytes, to: fd, path: path)
            if let behind { writeBehind(fd, written: behind.written, before: behind.before) }
            return hash
        }
        // A write can wait on the disk (on a page still being written out, or starting a disk
        // write: ext4 allocates the blocks then, inside its journal), for as long as the disk
        // takes: on a thread of its own, not on the BlockingIO threads every file read, fsync
        // and small write shares. There, with the test suite's files written behind, a stage
        // that flushes after every request (fetch) waited behind other stages' writes.
        let task = Task { try await BlockingIO.runOnOwnThread(write) }
        return Write(task: task, held: held)
    }

    /// Starts the disk write of `written` and drops the pages of `before` (written two buffers
    /// ago) from the page cache: whole pages (the one it shares with the buffer after it goes
    /// next time), and only those on the disk by then. Nothing here waits for the disk to
    /// finish, so a page whose write is still under way when its turn comes stays cached (until
    /// ``close()``). Advice only: a failed disk write is reported by the fsync at ``close()``.
    private static func writeBehind(_ fd: Int32, written: Range<Int>, before: Range<Int>) {
        #if os(Linux)
        // Whole pages: the next buffer's write would wait for one it shares with this buffer.
        let writeEnd = written.upperBound / pageSize * pageSize
        if writeEnd > written.lowerBound {
            _ = sluice_start_writeback(fd, Int64(written.lowerBound), Int64(writeEnd - written.lowerBound))
        }
        let start = before.lowerBound / pageSize * pageSize
        let end = before.upperBound / pageSize * pageSize
        guard end > start else { return }
        _ = posix_fadvise(fd, start, end - start, POSIX_FADV_DONTNEED)
        #endif
    }

    #if os(Linux)
    private static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 1)
    #endif

    /// Waits for the write in flight, takes its hash, and returns its buffer emptied for reuse
    /// (a new one when none was in flight): a large file costs no allocation per buffer.
    private func settle() async throws -> [UInt8] {
        guard let write = inFlight else {
            var spare: [UInt8] = []
            spare.reserveCapacity(bufferSize)
            return spare
        }
        inFlight = nil
        hash = try await write.value
        var returned = write.held.take()
        let storage = returned.withUnsafeBufferPointer(\.baseAddress)
        returned.removeAll(keepingCapacity: true)
        if returned.withUnsafeBufferPointer(\.baseAddress) != storage { buffersCopied += 1 }
        return returned
    }

    /// Creates `url` atomically with `bytes`, on the calling thread (a ``BlockingIO`` one).
    static func writeWholeFileBlocking(_ bytes: [UInt8], to url: URL) throws {
        let writer = try PrivateFileWriter(at: url, atomic: true, bufferSize: 0)
        let fd = writer.fd
        writer.fd = -1  // from here on this function owns the descriptor
        do {
            try writeAll(bytes, to: fd, path: writer.writeURL.path)
        } catch {
            systemClose(fd)
            unlink(writer.writeURL.path)
            throw error
        }
        try syncAndClose(fd, writePath: writer.writeURL.path, path: url.path, atomic: true, replaceExisting: true)
    }

    private static func writeAll(_ chunk: [UInt8], to fd: Int32, path: String) throws {
        try chunk.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileError("write", path: path, errno: errno)
                }
                offset += n
            }
        }
    }

    /// Flushes, fsyncs and closes the file (renaming it into place when atomic), the system
    /// calls on a ``BlockingIO`` thread.
    /// - Throws: ``FileError``; the file is then left incomplete (an atomic one is removed).
    public func close() async throws -> Summary {
        guard fd >= 0 else { throw FileError("close", path: writeURL.path, errno: EBADF) }
        do { try await flush() } catch {
            await discard()
            throw error
        }
        let fd = self.fd
        self.fd = -1
        let (writePath, path, atomic, replaceExisting) = (writeURL.path, url.path, atomic, replaceExisting)
        try await BlockingIO.run {
            try Self.syncAndClose(
                fd, writePath: writePath, path: path, atomic: atomic, replaceExisting: replaceExisting)
        }
        return Summary(url: url, sha256: hash.hexDigest(), bytes: byteCount)
    }

    private static func syncAndClose(
        _ fd: Int32, writePath: String, path: String, atomic: Bool, replaceExisting: Bool
    ) throws {
        if fsync(fd) != 0 {
            let error = errno
            systemClose(fd)
            if atomic { unlink(writePath) }
            throw FileError("sync", path: writePath, errno: error)
        }
        #if os(Linux)
        // On the disk now: none of it need stay in the page cache (see the type's comment).
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        #endif
        if systemClose(fd) != 0 {
            let error = errno
            if atomic { unlink(writePath) }
            throw FileError("close", path: writePath, errno: error)
        }
        guard atomic else { return }
        let moved = replaceExisting ? rename(writePath, path) == 0 : moveIntoPlaceUnlessTaken(writePath, path)
        if !moved {
            let error = errno
            unlink(writePath)
            throw FileError("rename into place", path: path, errno: error)
        }
        // Make the rename itself durable.
        let dir = open(URL(fileURLWithPath: path).deletingLastPathComponent().path, O_RDONLY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            systemClose(dir)
        }
    }

    /// Gives the temporary file its final name only if that name is free, atomically; `false`
    /// with `errno` set otherwise (`EEXIST` when another file took the name).
    private static func moveIntoPlaceUnlessTaken(_ writePath: String, _ path: String) -> Bool {
        if link(writePath, path) == 0 {
            unlink(writePath)
            return true
        }
        // A file system without hard links: check, then rename (a narrow race, but never a
        // silent replacement of a file that was there when we looked).
        guard errno == EPERM || errno == EOPNOTSUPP || errno == EXDEV else { return false }
        if access(path, F_OK) == 0 {
            errno = EEXIST
            return false
        }
        return rename(writePath, path) == 0
    }

    /// Closes without completing: an atomic file's temporary is removed; a plain file keeps
    /// what was written to it, the buffer included.
    public func discard() async {
        guard fd >= 0 else { return }
        if !atomic { try? await flush() }
        // No write may use the descriptor once it is closed.
        if let write = inFlight {
            inFlight = nil
            _ = try? await write.value
        }
        let (fd, temporary) = (self.fd, atomic ? writeURL.path : nil)
        self.fd = -1
        try? await BlockingIO.run { Self.abandon(fd, removing: temporary) }
    }
}
