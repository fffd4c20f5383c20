import Foundation
import SluiceCore

/// Reads a spool written by ``SpoolWriter`` back as the batches that were written.
///
/// Reads in large chunks and holds at most one batch; when given the recorded SHA-256 it
/// checks the bytes it actually read against it at the end, so a file changed after the
/// replay's up-front check still cannot slip through unnoticed.
final class SpoolReader {
    let url: URL
    private let expectedSHA256: String?
    private let file: FileChunks
    private var pending: Batch?

    init(url: URL, expectedSHA256: String? = nil) throws {
        self.url = url
        self.expectedSHA256 = expectedSHA256
        file = try FileChunks(path: url.path)
    }

    /// The next batch, or `nil` at the end of the spool.
    func next() async throws -> Batch? {
        while let lineRange = try await file.nextLine() {
            let line = file.lineNumber
            let value = try file.bytes.withUnsafeBufferPointer { buffer in
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
            let actual = file.sha256
            if actual != expectedSHA256 {
                throw SpoolError(
                    url: url, line: file.lineNumber,
                    message: "content changed while reading: sha256 \(actual), recorded \(expectedSHA256)")
            }
        }
        defer { pending = nil }
        return pending
    }
}

/// A spool that cannot be read back.
struct SpoolError: Error, CustomStringConvertible {
    var url: URL
    var line: Int
    var message: String
    var description: String { "\(url.path):\(line): \(message)" }
}
