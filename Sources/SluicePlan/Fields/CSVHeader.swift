import Foundation

/// The header of a CSV file a `read-csv` stage will read, as `sluice check` sees it: for the
/// fields the stage sends (when the plan lists no `columns`) and to check the ones it lists.
/// Reads the first line only (at most 64 KiB), RFC 4180 quoting, a UTF-8 byte order mark
/// dropped; the stage's own reader checks the whole file when the run reads it.
enum CSVHeader {
    enum Outcome: Equatable {
        case header([String])
        /// No file at that path (yet): the run needs one.
        case missing
        /// No header: the file is empty, or its first line is (the run stops at it).
        case empty
        /// There, but no header could be read from it (empty, not text, a directory...).
        case unreadable
    }

    /// `path` relative to the working directory, as the stage resolves it.
    static func read(_ path: String) -> Outcome {
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        guard let handle = FileHandle(forReadingAtPath: path) else { return .unreadable }
        defer { try? handle.close() }
        let read: Data?
        do {
            read = try handle.read(upToCount: 64 * 1024)
        } catch {
            return .unreadable
        }
        // Nothing before the end of the file: an empty file.
        guard let data = read else { return .empty }
        var bytes = Array(data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        // As the stage's reader: a first line with nothing on it is no header.
        if bytes.first.map({ $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }) ?? true { return .empty }
        // Not UTF-8 (a UTF-16 export, a binary file): the stage's reader says what it is.
        let names = fields(ofFirstLine: String(decoding: bytes, as: UTF8.self))
        return names.isEmpty || names.contains(where: { $0.contains("\u{FFFD}") }) ? .unreadable : .header(names)
    }

    /// The fields of the first record of `text`.
    static func fields(ofFirstLine text: String) -> [String] {
        var fields: [String] = []
        var field = ""
        var quoted = false
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            if quoted {
                if c == "\"" {
                    // A doubled quote is one quote; a single one ends the quoted part.
                    var lookahead = iterator
                    if lookahead.next() == "\"" {
                        field.append("\"")
                        iterator = lookahead
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(field)
                field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                break
            } else {
                field.append(c)
            }
        }
        fields.append(field)
        return fields == [""] ? [] : fields
    }
}
