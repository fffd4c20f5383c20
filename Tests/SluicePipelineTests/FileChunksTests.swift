import Foundation
import SluiceCore
import Testing

@testable import SluicePipeline

/// Readers read straight into a buffer they keep: a file read in many chunks costs no array per
/// chunk, and every byte is hashed once, in order.
@Suite struct FileChunksTests {
    static func file(bytes: Int) async throws -> (url: URL, content: [UInt8]) {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-chunks-\(UUID().uuidString)")
        let content = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 251) }
        try await BlockingIO.runOnOwnThread { try Data(content).write(to: url) }
        return (url, content)
    }

    @Test func readsAppendInPlaceAndHashWhatTheyRead() async throws {
        let (url, content) = try await Self.file(bytes: 300_000)
        defer { try? FileManager.default.removeItem(at: url) }
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        var bytes: [UInt8] = []
        // Room for the file and one read's worth more: each read makes room for all it may get.
        bytes.reserveCapacity(content.count + 65_536)
        let storage = bytes.withUnsafeBufferPointer(\.baseAddress)
        var hash = SHA256()
        var reads = 0
        while try await FileChunks.read(fd, upTo: 65_536, appendingTo: &bytes, hashing: &hash, path: url.path) > 0 {
            reads += 1
            // The reading thread appended to this very array: it was not copied to be appended to.
            #expect(bytes.withUnsafeBufferPointer(\.baseAddress) == storage)
            #expect(bytes == Array(content.prefix(bytes.count)))
        }
        #expect(reads == 5)
        #expect(bytes == content)
        #expect(hash.hexDigest() == SHA256.hex(content))
    }

    @Test func linesComeBackWhateverTheChunkBoundaries() async throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-lines-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        let lines = (0..<40_000).map { "\($0):" + String(repeating: "y", count: $0 % 53) }
        let text = lines.joined(separator: "\n")  // the last line has no newline
        try await BlockingIO.runOnOwnThread { try Data(text.utf8).write(to: url) }
        let file = try FileChunks(path: url.path)
        var read: [String] = []
        while let range = try await file.nextLine() {
            read.append(String(decoding: file.bytes[range], as: UTF8.self))
        }
        #expect(read == lines)
        #expect(file.atEOF)
        #expect(file.sha256 == SHA256.hex(Array(text.utf8)))
    }
}
