import Foundation
import SluiceCore

/// Writes an RFC 4180 CSV file atomically: rows go to a hidden temporary file beside the
/// target (mode 0600), which is renamed into place only by ``commit()``. A run that fails
/// leaves no half-written CSV behind.
public final class CSVFileWriter {
    public let url: URL
    public let columns: [String]
    private let temporaryURL: URL
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var hash = SHA256()
    public private(set) var rows = 0
    private var finished = false

    /// Opens the temporary file and writes the header (when `header` is true).
    public init(url: URL, columns: [String], header: Bool = true) throws {
        self.url = url
        self.columns = columns
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        temporaryURL = dir.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString.prefix(8)).tmp")
        let fd = open(temporaryURL.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CSVWriteError(path: url.path, reason: String(cString: strerror(errno)))
        }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        buffer.reserveCapacity(1 << 16)
        if header { appendRecord(columns.map(Optional.some)) }
    }

    deinit {
        if !finished { try? FileManager.default.removeItem(at: temporaryURL) }
    }

    /// Appends one row per batch row, taking `columns` by name (a missing column is an empty cell).
    public func write(_ batch: Batch) throws {
        let slots = columns.map { batch.index(of: $0) }
        for row in batch.rows {
            appendRecord(slots.map { slot in slot.flatMap { row[$0].text } })
            rows += 1
        }
        if buffer.count >= 1 << 16 { try flush() }
    }

    /// Flushes, fsyncs and renames the file into place; returns its SHA-256.
    @discardableResult
    public func commit() throws -> String {
        try flush()
        do {
            try handle.synchronize()
            try handle.close()
            if rename(temporaryURL.path, url.path) != 0 {
                throw CSVWriteError(path: url.path, reason: String(cString: strerror(errno)))
            }
        } catch let error as CSVWriteError {
            throw error
        } catch {
            throw CSVWriteError(path: url.path, reason: "\(error)")
        }
        finished = true
        return hash.hexDigest()
    }

    /// Removes the temporary file.
    public func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(at: temporaryURL)
        finished = true
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { hash.update($0) }
        do {
            try handle.write(contentsOf: buffer)
        } catch {
            throw CSVWriteError(path: url.path, reason: (error as NSError).localizedDescription)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func appendRecord(_ cells: [String?]) {
        for (i, cell) in cells.enumerated() {
            if i > 0 { buffer.append(UInt8(ascii: ",")) }
            if let cell { CSVFileWriter.appendField(cell, to: &buffer) }
        }
        buffer.append(contentsOf: [0x0D, 0x0A])  // RFC 4180: CRLF
    }

    /// Appends one field, quoted when it holds a comma, quote, CR or LF (quotes doubled).
    public static func appendField(_ s: String, to out: inout [UInt8]) {
        let needsQuotes =
            s.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 0x0A || $0 == 0x0D }
            || s.isEmpty == false && (s.first == " " || s.last == " ")
        guard needsQuotes else {
            out.append(contentsOf: s.utf8)
            return
        }
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }
}

public struct CSVWriteError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}
