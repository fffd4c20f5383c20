import Foundation
import SluiceCore
import SluicePipeline

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A strict, streaming RFC 4180 reader that locates every problem at `LINE:COL`.
///
/// - UTF-8 only (a leading byte-order mark is skipped); invalid UTF-8 is an error; a UTF-16
///   byte-order mark or a NUL byte (a binary or UTF-16 file) stops the reading. Any other control
///   character is data: write-csv writes a value as the API or the table gave it (a BEL in a note),
///   and its audit trail must read back to the same value; only NUL, which no PostgreSQL text holds,
///   never appears in one.
/// - Records end in CRLF or LF (mixed is fine); a lone CR stops the reading, since every line
///   number after it would be wrong. The last record may lack its line end.
/// - A field is either unquoted — no `"` in it — or quoted from its first character to a
///   closing `"` that is followed by `,`, a line end or the end of the file; inside it `""` is
///   one quote and commas and line ends are data. Anything else is an error, and a quote still
///   open at the end of the file is reported where it opened.
/// - Reading is streamed, into one buffer reused for the whole file: memory holds a row's limit
///   read ahead (a megabyte) and one row. A row longer than ``maxRowBytes`` stops the reading
///   at once, so a 10 MB line costs 1 MB of reading.
///
/// Why not the `yaslab/CSV.swift` package (issue 5 asked for a well-kept library unless we show
/// why not; docs/apply.md, "Why not CSV.swift", has the details): its `CSVReader` (2.5.2) reports no
/// positions (``CSVError`` cases carry no line), and silently accepts what we must refuse — an
/// invalid UTF-8 byte splits its row in two, a quote never closed or a closing quote followed by
/// text (its source says `// ERROR?`) swallows the rest of the file into one field — and grows a
/// field without bound, so a 10 MB line is buffered whole.
///
/// Not thread-safe: one task reads.
public final class CSVReader {
    /// One field: its text and where it starts.
    public struct Field: Sendable, Hashable {
        public var value: String
        public var line: Int
        public var column: Int
    }

    /// One record (a row, or the header).
    public struct Record: Sendable {
        public var fields: [Field]
        /// Where the record starts.
        public var line: Int
        /// Where it ends: the position of its line end (or of the end of the file).
        public var endLine: Int
        public var endColumn: Int
        /// The reader reported a problem inside this record (its values may be garbled).
        public var hasProblem: Bool
        /// An empty line: one empty, unquoted field.
        public var isBlank: Bool
    }

    public static let defaultMaxRowBytes = 1 << 20
    public static let defaultMaxProblems = 50
    /// How the note that ends reading at ``maxProblems`` begins.
    static let tooManyProblems = "too many problems "

    /// The file as the user named it, for diagnostics.
    public let path: String
    public let url: URL
    /// The longest row (in bytes, line ends included) this reader accepts.
    public let maxRowBytes: Int
    /// Reading stops after this many problems.
    public let maxProblems: Int

    /// Every problem so far, in file order (the caller may add its own with ``report(line:column:_:)``).
    public private(set) var diagnostics: [CSVDiagnostic] = []
    /// Reading stopped before the end: a problem that makes the rest unreadable, or too many.
    public private(set) var stoppedEarly = false
    /// Bytes read from the file so far.
    public var bytesRead: Int { ahead.bytesRead }
    /// The SHA-256 of the whole file, once it has been read to its end.
    public private(set) var sha256: String?
    /// Records returned so far (the header included).
    public private(set) var records = 0
    /// The file's size when it was opened (0 when the system does not say: a pipe).
    public private(set) var fileSize = 0

    private var fd: Int32
    /// The file read ahead: the parser reads `ahead.bytes` from `ahead.position` on.
    private var ahead = ReadAhead()
    private var finished = false
    private var checkedByteOrderMark = false
    private var line = 1
    private var column = 1
    private var rowBytes = 0
    private var rowStart = (line: 1, column: 1)
    private var recordHasProblem = false
    /// The fields of the record returned last (whose storage the next one reuses).
    private var lastFields: [Field] = []
    // UTF-8 validation state: continuation bytes still expected, the bounds of the next one,
    // and where the sequence started.
    private var utf8Need = 0
    private var utf8Low: UInt8 = 0x80
    private var utf8High: UInt8 = 0xBF
    private var utf8Start = (line: 1, column: 1)

    private struct Stop: Error {}

    private static let quote = UInt8(ascii: "\"")
    private static let comma = UInt8(ascii: ",")
    private static let lf = UInt8(ascii: "\n")
    private static let cr = UInt8(ascii: "\r")

    /// Opens the file.
    /// - Throws: ``FileError`` when it cannot be opened.
    public init(
        url: URL, path: String, maxRowBytes: Int = CSVReader.defaultMaxRowBytes,
        maxProblems: Int = CSVReader.defaultMaxProblems
    ) throws {
        self.url = url
        self.path = path
        self.maxRowBytes = maxRowBytes
        self.maxProblems = maxProblems
        fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileError("open", path: path, errno: errno) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            fd = -1
            throw FileError("read", path: path, errno: EISDIR)
        }
        fileSize = (info.st_mode & S_IFMT) == S_IFREG ? Int(info.st_size) : 0
        // The most the buffer holds: a megabyte consumed (then dropped), a row's limit ahead and
        // a read's room. Grown once, not doubled (and copied) on the way there.
        ahead.bytes.reserveCapacity((1 << 20) + maxRowBytes + Self.lookahead + FileChunks.chunkSize)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Where reading is: just after the last record returned, or the end of the file once
    /// ``next()`` has returned `nil` (where to report what the file lacks).
    public var location: (line: Int, column: Int) { (line, column) }

    /// Bytes of the file the records returned so far span (what was read ahead is not counted).
    public var bytesConsumed: Int { bytesRead - (ahead.bytes.count - ahead.position) }

    /// Whether the caller should stop asking for records.
    public var isStopped: Bool { stoppedEarly || finished }

    /// Records a problem the caller found (a wrong header, a value breaking a rule). Past
    /// ``maxProblems`` reading stops.
    public func report(line: Int, column: Int, _ message: String) {
        guard !stoppedEarly else { return }
        diagnostics.append(CSVDiagnostic(path: path, line: line, column: column, message: message))
        recordHasProblem = true
        if diagnostics.count >= maxProblems {
            diagnostics.append(
                CSVDiagnostic(
                    path: path, line: line, column: column,
                    message: Self.tooManyProblems + "(\(maxProblems)); stopped reading here"))
            stoppedEarly = true
        }
    }

    /// The next record, or `nil` at the end of the file or once reading has stopped.
    /// - Throws: ``FileError`` when the file cannot be read; CSV problems are never thrown but
    ///   collected in ``diagnostics``.
    public func next() async throws -> Record? {
        guard !isStopped else { return nil }
        do {
            // Everything the record can span is buffered first, read on a BlockingIO thread;
            // the parser below then never waits for the disk.
            try await ahead.fill(from: fd, atLeast: maxRowBytes + Self.lookahead, path: path)
            return try readRecord()
        } catch is Stop {
            stoppedEarly = true
            return nil
        }
    }

    // MARK: Records

    private func readRecord() throws -> Record? {
        if !checkedByteOrderMark {
            checkedByteOrderMark = true
            try skipByteOrderMark()
        }
        guard try peek() != nil else {
            try finish()
            return nil
        }
        let start = (line: line, column: column)
        rowStart = start
        rowBytes = 0
        recordHasProblem = false
        // The last record's array, its storage reused once the caller has let go of that record.
        var fields = lastFields
        lastFields = []
        fields.removeAll(keepingCapacity: true)
        var bytes: [UInt8] = []
        var blankCandidate = true
        while true {
            let fieldStart = (line: line, column: column)
            bytes.removeAll(keepingCapacity: true)
            var quoted = false
            if try peek() == Self.quote {
                quoted = true
                blankCandidate = false
                _ = try consume()
                try readQuoted(into: &bytes, openedAt: fieldStart)
                if let next = try peek(), next != Self.comma, next != Self.lf, next != Self.cr {
                    report(
                        line: line, column: column,
                        "a quoted field must end at its closing quote, but '\(Self.display(next))' follows it "
                            + "(write a quote inside a quoted field as \"\")")
                }
            }
            var reportedQuote = false
            let plain = takePlainText(blankCandidate: &blankCandidate)
            let value: String
            if !quoted, Self.endsField(try peek()) {
                // The whole field is plain ASCII text: made into a string straight from the buffer.
                value = ahead.bytes.withUnsafeBufferPointer { String(decoding: $0[plain], as: UTF8.self) }
            } else {
                bytes.append(contentsOf: ahead.bytes[plain])
                while let next = try peek(), !Self.endsField(next) {
                    let at = (line: line, column: column)
                    _ = try consume()
                    blankCandidate = false
                    if next == Self.quote && !quoted && !reportedQuote {
                        reportedQuote = true
                        report(
                            line: at.line, column: at.column,
                            "a quote inside an unquoted field (quote the whole field and write the quote as \"\")")
                    }
                    bytes.append(next)
                }
                value = String(decoding: bytes, as: UTF8.self)
            }
            fields.append(Field(value: value, line: fieldStart.line, column: fieldStart.column))
            let end = (line: line, column: column)
            guard let terminator = try consume() else {
                try finish()
                return record(fields, start, end, blank: blankCandidate && fields.count == 1)
            }
            if terminator == Self.comma {
                blankCandidate = false
                continue
            }
            if terminator == Self.cr {
                guard try peek() == Self.lf else {
                    throw stop(
                        line: end.line, column: end.column,
                        "a carriage return not followed by a line feed: lines must end in CRLF or LF "
                            + "(was the file saved with classic Mac line ends?)")
                }
                _ = try consume()
            }
            return record(fields, start, end, blank: blankCandidate && fields.count == 1)
        }
    }

    private func record(
        _ fields: [Field], _ start: (line: Int, column: Int), _ end: (line: Int, column: Int), blank: Bool
    ) -> Record {
        records += 1
        lastFields = fields
        return Record(
            fields: fields, line: start.line, endLine: end.line, endColumn: end.column, hasProblem: recordHasProblem,
            isBlank: blank)
    }

    /// Whether `byte` ends a field: a comma, a line end, or the end of the file (`nil`).
    private static func endsField(_ byte: UInt8?) -> Bool {
        guard let byte else { return true }
        return byte == comma || byte == lf || byte == cr
    }

    /// Takes the run of printable ASCII bytes (no quote, no comma) at the reading position in
    /// one go: what ``consume()`` does byte by byte for them — count them against the row limit,
    /// advance the column — without the per-byte calls. Stops short of the row limit, and does
    /// nothing inside a UTF-8 sequence, so the byte-by-byte path reports those exactly as before.
    /// Returns where the bytes taken are in `ahead.bytes`.
    private func takePlainText(blankCandidate: inout Bool) -> Range<Int> {
        let start = ahead.position
        guard utf8Need == 0 else { return start..<start }
        let limit = min(ahead.bytes.count, start + max(maxRowBytes - rowBytes, 0))
        let end = ahead.bytes.withUnsafeBufferPointer { buffer -> Int in
            var end = start
            while end < limit {
                let byte = buffer[end]
                guard byte >= 0x20, byte < 0x7F, byte != Self.quote, byte != Self.comma else { break }
                end += 1
            }
            return end
        }
        guard end > start else { return start..<start }
        ahead.position = end
        rowBytes += end - start
        column += end - start
        blankCandidate = false
        return start..<end
    }

    /// Reads a quoted field's content up to and including its closing quote.
    private func readQuoted(into bytes: inout [UInt8], openedAt open: (line: Int, column: Int)) throws {
        while true {
            guard let byte = try consume() else {
                throw stop(
                    line: open.line, column: open.column,
                    "unbalanced quote: the quoted field that opens here is never closed (the file ends inside it)")
            }
            if byte == Self.quote {
                guard try peek() == Self.quote else { return }
                _ = try consume()
            }
            bytes.append(byte)
        }
    }

    /// Skips a UTF-8 byte-order mark; stops at a UTF-16 one (Excel's "Unicode text"), whose
    /// bytes would otherwise read as invalid UTF-8 and NUL bytes.
    private func skipByteOrderMark() throws {
        if ahead.bytes.count - ahead.position >= 2 {
            switch (ahead.bytes[ahead.position], ahead.bytes[ahead.position + 1]) {
            case (0xFF, 0xFE), (0xFE, 0xFF):
                throw stop(
                    line: 1, column: 1,
                    "this file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it as UTF-8 (CSV UTF-8)")
            default: break
            }
        }
        if ahead.bytes.count - ahead.position >= 3, ahead.bytes[ahead.position] == 0xEF,
            ahead.bytes[ahead.position + 1] == 0xBB,
            ahead.bytes[ahead.position + 2] == 0xBF
        {
            ahead.position += 3
        }
    }

    /// At the end of the file: a UTF-8 sequence cut short is a problem; the hash is complete.
    private func finish() throws {
        guard !finished else { return }
        if utf8Need > 0 {
            utf8Need = 0
            report(line: utf8Start.line, column: utf8Start.column, "invalid UTF-8: the file ends inside a character")
        }
        sha256 = ahead.hash.hexDigest()
        finished = true
    }

    // MARK: Bytes

    /// The next byte without consuming it; `nil` at the end of the file.
    /// ``next()`` buffered everything a record can span (or the rest of the file), so the end
    /// of the buffer is the end of the file or past the row limit.
    private func peek() throws -> UInt8? {
        ahead.position < ahead.bytes.count ? ahead.bytes[ahead.position] : nil
    }

    /// Consumes the next byte: counts it against the row limit, checks it is valid UTF-8 text
    /// and advances the line and column.
    private func consume() throws -> UInt8? {
        guard let byte = try peek() else { return nil }
        ahead.position += 1
        rowBytes += 1
        if rowBytes > maxRowBytes {
            throw stop(
                line: rowStart.line, column: rowStart.column,
                "this row is longer than \(maxRowBytes) bytes, the most one row may hold (is this the right file?)")
        }
        try checkText(byte)
        if byte == Self.lf {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
        return byte
    }

    private func checkText(_ byte: UInt8) throws {
        if utf8Need > 0 {
            if byte >= utf8Low && byte <= utf8High {
                utf8Need -= 1
                utf8Low = 0x80
                utf8High = 0xBF
                return
            }
            utf8Need = 0
            report(
                line: utf8Start.line, column: utf8Start.column,
                "invalid UTF-8: a character is cut short (byte 0x\(Self.hex(byte)) where a continuation byte belongs); "
                    + "save the file as UTF-8")
        }
        switch byte {
        case 0x00:
            throw stop(
                line: line, column: column, "a NUL byte: this looks like a binary or UTF-16 file, not UTF-8 CSV text")
        case 0x01...0x7F:
            return
        case 0xC2...0xDF: begin(1, byte)
        case 0xE0: begin(2, byte, low: 0xA0)
        case 0xE1...0xEC, 0xEE...0xEF: begin(2, byte)
        case 0xED: begin(2, byte, high: 0x9F)
        case 0xF0: begin(3, byte, low: 0x90)
        case 0xF1...0xF3: begin(3, byte)
        case 0xF4: begin(3, byte, high: 0x8F)
        default:
            report(
                line: line, column: column,
                "invalid UTF-8 (byte 0x\(Self.hex(byte))); save the file as UTF-8")
        }
    }

    private func begin(_ need: Int, _ byte: UInt8, low: UInt8 = 0x80, high: UInt8 = 0xBF) {
        utf8Need = need
        utf8Low = low
        utf8High = high
        utf8Start = (line, column)
    }

    private func stop(line: Int, column: Int, _ message: String) -> Stop {
        diagnostics.append(CSVDiagnostic(path: path, line: line, column: column, message: message))
        return Stop()
    }

    /// Bytes past a row's limit the parser may look at: a byte-order mark, the line end after
    /// a record.
    private static let lookahead = 16

    private static func hex(_ byte: UInt8) -> String {
        let text = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + text : text
    }

    private static func display(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "0x" + hex(byte)
    }
}
