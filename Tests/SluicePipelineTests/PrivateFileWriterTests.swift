import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// The writer hashes and writes each full buffer on another thread while the caller fills the
/// next: the file and its hash must still be every byte, in order, and `flush` must mean written.
@Suite struct PrivateFileWriterTests {
    static func directory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func contents(of url: URL) async throws -> [UInt8] {
        try await BlockingIO.run { Array(try Data(contentsOf: url)) }
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
        let left = try await BlockingIO.run { try FileManager.default.contentsOfDirectory(atPath: root.path) }
        #expect(left.isEmpty)
    }
}
