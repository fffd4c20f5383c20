import Foundation
import SluiceCore
import SluicePipeline

/// Writes an RFC 4180 CSV file atomically: rows go to a hidden temporary file beside the
/// target (mode 0600, ``PrivateFileWriter``), which is renamed into place only by ``commit()``.
/// A run that fails leaves no half-written CSV behind.
public final class CSVFileWriter {
    public let url: URL
    public let columns: [String]
    private let file: PrivateFileWriter
    public private(set) var rows = 0

    /// Opens the temporary file and writes the header (when `header` is true). With
    /// `replaceExisting: false`, ``commit()`` fails rather than replace a file that appeared at
    /// `url` meanwhile.
    /// - Throws: ``CSVWriteError`` naming the CSV's path and the system's reason.
    public init(url: URL, columns: [String], header: Bool = true, replaceExisting: Bool = true) async throws {
        self.url = url
        self.columns = columns
        let file: PrivateFileWriter
        do {
            let directory = url.deletingLastPathComponent()
            try await BlockingIO.run {
                do {
                    // A directory made for it holds data, as a run directory does: 0700 (its run
                    // directory, deleted while the run went on, included).
                    try PrivateFile.createDirectory(at: directory)
                } catch {
                    // Foundation says "a file with the same name already exists": name the file.
                    guard let file = Self.fileInPlaceOfDirectory(directory) else { throw error }
                    throw CSVWriteError(path: url.path, reason: "\(file.path) is a file, not a directory")
                }
            }
            file = try PrivateFileWriter(
                at: url, atomic: true, replaceExisting: replaceExisting, bufferSize: 1 << 16)
        } catch let error as CSVWriteError {
            throw error
        } catch {
            throw CSVWriteError(path: url.path, error)
        }
        self.file = file
        if header { try await write { out in Self.appendRecord(columns.map(Optional.some), to: &out) } }
    }

    /// The nearest existing ancestor of `directory` (itself included), when it is not a directory.
    private static func fileInPlaceOfDirectory(_ directory: URL) -> URL? {
        var candidate = directory.standardizedFileURL
        while candidate.path != "/" {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? nil : candidate
            }
            candidate.deleteLastPathComponent()
        }
        return nil
    }

    /// Appends one row per batch row, taking `columns` by name (a missing column is an empty cell).
    public func write(_ batch: Batch) async throws {
        let slots = columns.map { batch.index(of: $0) }
        // One append per batch: no array per row, no call per row.
        try await write { out in
            for row in batch.rows {
                for (i, slot) in slots.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    if let slot, let text = row[slot].text { Self.appendField(text, to: &out) }
                }
                // A lone empty field would be a blank line, which readers skip: write it "".
                if slots.count == 1, slots[0].flatMap({ row[$0].text })?.isEmpty ?? true { out += Self.emptyField }
                out.append(0x0D)  // RFC 4180: CRLF
                out.append(0x0A)
            }
        }
        rows += batch.rows.count
    }

    /// Appends `count` records, written by `body` into the file's buffer (fields with
    /// ``appendField(_:to:)``, each record ended by CRLF).
    func appendRecords(_ count: Int, _ body: (inout [UInt8]) -> Void) async throws {
        try await write(body)
        rows += count
    }

    /// Flushes, fsyncs and renames the file into place; returns its SHA-256.
    @discardableResult
    public func commit() async throws -> String {
        do {
            return try await file.close().sha256
        } catch {
            throw CSVWriteError(path: url.path, error)
        }
    }

    /// Removes the temporary file.
    public func abandon() async {
        await file.discard()
    }

    private func write(_ body: (inout [UInt8]) -> Void) async throws {
        do {
            try await file.append(body)
        } catch {
            throw CSVWriteError(path: url.path, error)
        }
    }

    /// `""`: an empty field that is the whole record, which unquoted would be a blank line.
    static let emptyField: [UInt8] = [UInt8(ascii: "\""), UInt8(ascii: "\"")]

    private static func appendRecord(_ cells: [String?], to out: inout [UInt8]) {
        for (i, cell) in cells.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if let cell { appendField(cell, to: &out) }
        }
        if cells.count == 1, cells[0]?.isEmpty ?? true { out += emptyField }
        out.append(contentsOf: [0x0D, 0x0A])  // RFC 4180: CRLF
    }

    /// Appends one field, quoted when it holds a comma, quote, CR or LF (quotes doubled).
    public static func appendField(_ s: String, to out: inout [UInt8]) {
        var s = s
        // One pass over the bytes in place (a native string's are contiguous), appended whole
        // when nothing needs quoting: what nearly every field of a large file takes.
        let plain = s.withUTF8 { bytes -> Bool in
            // A leading or trailing space is quoted too, so no reader trims it away.
            if bytes.first == UInt8(ascii: " ") || bytes.last == UInt8(ascii: " ") { return false }
            guard !needsQuotes(bytes) else { return false }
            out.append(contentsOf: bytes)
            return true
        }
        guard !plain else { return }
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Whether `bytes` hold a comma, a quote, CR or LF. Eight bytes at a time: a review.csv of a
    /// million rows is 150 MB of fields to look through.
    static func needsQuotes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = UnsafeRawPointer(bytes.baseAddress) else { return false }
        var index = 0
        while index + 8 <= bytes.count {
            let word = base.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            if hasByte(word, 0x2C) || hasByte(word, 0x22) || hasByte(word, 0x0A) || hasByte(word, 0x0D) { return true }
            index += 8
        }
        while index < bytes.count {
            switch bytes[index] {
            case 0x2C, 0x22, 0x0A, 0x0D: return true
            default: index += 1
            }
        }
        return false
    }

    /// Whether any byte of `word` is `byte` (exact: the zero-byte test on `word ^ byte...`).
    @inline(__always)
    private static func hasByte(_ word: UInt64, _ byte: UInt8) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let x = word ^ (ones &* UInt64(byte))
        return (x &- ones) & ~x & 0x8080_8080_8080_8080 != 0
    }
}

public struct CSVWriteError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "cannot write \(path): \(reason)" }

    /// The CSV at `path` could not be written, for `reason`.
    init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// The CSV at `path` could not be written because of `error`: a system call's reason
    /// ("No space left on device") is given as the system words it, for the CSV's own path
    /// rather than its temporary file's.
    init(path: String, _ error: any Error) {
        self.path = path
        if let error = error as? FileError {
            reason = String(cString: strerror(error.errno))
        } else {
            reason = (error as NSError).localizedDescription
        }
    }
}
