import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

#if canImport(Glibc)
import Glibc
#endif

/// The writer hashes and writes each full buffer on another thread while the caller fills the
/// next: the file and its hash must still be every byte, in order, and `flush` must mean written.
@Suite struct PrivateFileWriterTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func contents(of url: URL) async throws -> [UInt8] {
        try await BlockingIO.runOnOwnThread { Array(try Data(contentsOf: url)) }
    }

    /// Lines of varied length, so buffer boundaries fall anywhere in them.
    static func line(_ n: Int) -> [UInt8] {
        Array("\(n):\(String(repeating: "x", count: n % 97))\n".utf8)
    }

    @Test(arguments: [false, true]) func everyByteLandsInOrderAndTheHashIsTheFiles(atomic: Bool) async throws {
        let root = try Self.directory()
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appendingPathComponent("out.ndjson")
        let writer = try PrivateFileWriter(at: url, atomic: atomic, bufferSize: 256)
        var expected: [UInt8] = []
        for n in 0..<3_000 {
            let bytes = Self.line(n)
            expected += bytes
            if n % 2 == 0 {
                try await writer.write(bytes)
            } else {
                try await writer.append { $0 += bytes }
            }
            if n == 1_500 {
                // Written through, not merely handed off: a reader sees all of it now.
                try await writer.flush()
                if !atomic { #expect(try await Self.contents(of: url) == expected) }
            }
        }
        let summary = try await writer.close()
        let written = try await Self.contents(of: url)
        #expect(written == expected)
        #expect(summary.bytes == expected.count)
        #expect(summary.sha256 == SHA256.hex(expected))
        // Two buffers take turns for the whole file: none is copied to be filled again.
        #expect(writer.buffersCopied == 0)
    }

    /// Discarding while a buffer may still be on its way leaves no temporary file behind.
    @Test func discardingAnAtomicFileMidWriteLeavesNothing() async throws {
        let root = try Self.directory()
        defer { try? FileManager.default.removeItem(at: root) }
        let writer = try PrivateFileWriter(at: root.appendingPathComponent("out.csv"), atomic: true, bufferSize: 64)
        for n in 0..<200 { try await writer.write(Self.line(n)) }
        await writer.discard()
        let left = try await BlockingIO.runOnOwnThread {
            try FileManager.default.contentsOfDirectory(atPath: root.path)
        }
        #expect(left.isEmpty)
    }

    /// Whether a file written to disk in the temporary directory can leave the page cache: not
    /// on tmpfs, where the page cache is the file (a file of one page, synced, then dropped).
    static func pageCacheCanBeDropped() async throws -> Bool {
        #if os(Linux)
        let root = try directory()
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appendingPathComponent("probe")
        try await BlockingIO.runOnOwnThread {
            try Data(repeating: 1, count: 4096).write(to: url)
            let fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError("open", path: url.path, errno: errno) }
            defer { close(fd) }
            _ = fsync(fd)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        }
        return try await residentPages(of: url).resident == 0
        #else
        return false
        #endif
    }

    /// How many of the file's pages are in the page cache (`mincore(2)` on a mapping of it).
    static func residentPages(of url: URL) async throws -> (resident: Int, pages: Int) {
        #if os(Linux)
        try await BlockingIO.runOnOwnThread {
            let fd = open(url.path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw FileError("open", path: url.path, errno: errno) }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw FileError("stat", path: url.path, errno: errno) }
            let size = Int(info.st_size)
            let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
            let pages = (size + pageSize - 1) / pageSize
            guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else {
                throw FileError("mmap", path: url.path, errno: errno)
            }
            defer { munmap(map, size) }
            var vector = [UInt8](repeating: 0, count: pages)
            guard mincore(map, size, &vector) == 0 else { throw FileError("mincore", path: url.path, errno: errno) }
            return (vector.filter { $0 & 1 != 0 }.count, pages)
        }
        #else
        return (0, 0)
        #endif
    }

    /// Written behind and fsynced: a closed file, of any size, is on the disk and keeps none of
    /// it in the page cache.
    @Test(.enabled("the temporary directory is not on tmpfs, on Linux") { try await pageCacheCanBeDropped() })
    func aClosedFileKeepsNothingInThePageCache() async throws {
        let root = try Self.directory()
        defer { try? FileManager.default.removeItem(at: root) }
        let url = root.appendingPathComponent("out.ndjson")
        let bufferSize = 1 << 16
        let writer = try PrivateFileWriter(at: url, bufferSize: bufferSize)
        var expected: [UInt8] = []
        var n = 0
        while expected.count < 40 * bufferSize {
            let bytes = Self.line(n)
            expected += bytes
            try await writer.write(bytes)
            n += 1
        }
        let summary = try await writer.close()
        #expect(summary.sha256 == SHA256.hex(expected))
        let (resident, pages) = try await Self.residentPages(of: url)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        #expect(pages >= 40 * bufferSize / pageSize)
        #expect(resident == 0, "\(resident) of \(pages) pages cached")
        #expect(try await Self.contents(of: url) == expected)
    }
}
