import Foundation
import SluiceCore
import SluicePipeline

/// Reads a file line by line in large chunks, decoding each line as JSON.
///
/// Used for the query stage's spool and for undo files: memory holds one chunk and one line,
/// never the whole file. Reads run on a ``BlockingIO`` thread. Not thread-safe; one task reads.
final class NDJSONLineReader {
    private let handle: FileHandle
    private let url: URL
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    /// 1-based number of the last line returned, for error messages.
    private(set) var lineNumber = 0

    init(url: URL) throws {
        self.url = url
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw FileError("open", path: url.path, errno: errno)
        }
        self.handle = handle
    }

    deinit { try? handle.close() }

    /// The next line decoded as JSON, `nil` at the end of the file. Empty lines are skipped.
    func next() async throws -> Value? {
        while true {
            if let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                lineNumber += 1
                if line.isEmpty { continue }
                return try decode(line)
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                lineNumber += 1
                return try decode(line)
            }
            try await fill()
        }
    }

    private func fill() async throws {
        buffer.removeFirst(start)
        start = 0
        let handle = self.handle
        let chunk = try await BlockingIO.run { try handle.read(upToCount: 1 << 18) ?? Data() }
        if chunk.isEmpty { atEnd = true } else { buffer.append(contentsOf: chunk) }
    }

    private func decode(_ line: [UInt8]) throws -> Value {
        do {
            return try JSON.decode(line)
        } catch {
            throw NDJSONError(path: url.path, line: lineNumber, message: error.description)
        }
    }
}

/// A line of an NDJSON file that is not valid JSON or not the expected shape.
public struct NDJSONError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var line: Int
    public var message: String
    public var description: String { "\(path):\(line): \(message)" }
}
