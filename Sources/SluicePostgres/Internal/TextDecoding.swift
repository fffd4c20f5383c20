internal import CLibPQ
import SluiceCore

/// How one result column's text is turned into a ``Value``, chosen once per column by type OID.
enum ColumnDecoding: Sendable {
    case bool, int, double, json, string

    /// Built-in type OIDs from `pg_type.dat`; they are fixed across server versions.
    init(oid: UInt32) {
        switch oid {
        case 16: self = .bool  // bool
        case 20, 21, 23, 26: self = .int  // int8, int2, int4, oid
        // float4, float8; `NaN` and `±Infinity` stay text (below): JSON has no spelling for them.
        case 700, 701: self = .double
        case 114, 3802: self = .json  // json, jsonb
        // numeric (1700) stays a string on purpose: it is exact, a Double is not.
        // text, varchar, uuid, timestamptz and anything unknown: the server's own spelling.
        default: self = .string
        }
    }

    func decode(_ bytes: UnsafeBufferPointer<UInt8>) -> Value {
        switch self {
        case .bool:
            return .bool(bytes.first == UInt8(ascii: "t"))
        case .int:
            if let i = TextDecoding.int64(bytes) { return .int(i) }
        case .double:
            if let d = Double(TextDecoding.string(bytes)), d.isFinite { return .double(d) }
        case .json:
            // An object or a list is read as the JSON value; a scalar (a string, a number,
            // `true`, `null`) stays the server's JSON text, so it goes back into a json column
            // as it was: the string "123" is not the number 123, and JSON null not SQL NULL.
            if let v = try? JSON.decode(bytes) {
                switch v {
                case .object, .array: return v
                default: break
                }
            }
        case .string:
            break
        }
        return .string(TextDecoding.string(bytes))
    }
}

enum TextDecoding {
    static func string(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Parses an optionally negative decimal integer without going through `String`.
    static func int64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard !bytes.isEmpty else { return nil }
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative || bytes[0] == UInt8(ascii: "+") { index = 1 }
        guard index < bytes.count else { return nil }
        var value: Int64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) =
                negative
                ? shifted.subtractingReportingOverflow(Int64(digit)) : shifted.addingReportingOverflow(Int64(digit))
            guard !o1, !o2 else { return nil }
            value = next
            index += 1
        }
        return value
    }
}

/// Reads rows out of a `PGresult*` (text format) into values.
struct ResultReader {
    let result: OpaquePointer
    let columnCount: Int32
    let decodings: [ColumnDecoding]

    init(_ result: OpaquePointer) {
        self.result = result
        self.columnCount = PQnfields(result)
        self.decodings = (0..<columnCount).map { ColumnDecoding(oid: PQftype(result, $0)) }
    }

    var rowCount: Int32 { PQntuples(result) }

    var columnNames: [String] {
        (0..<columnCount).map { String(cString: PQfname(result, $0)) }
    }

    func row(_ row: Int32) -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(Int(columnCount))
        for column in 0..<columnCount {
            if PQgetisnull(result, row, column) != 0 {
                values.append(.null)
                continue
            }
            let length = Int(PQgetlength(result, row, column))
            let pointer = UnsafeRawPointer(PQgetvalue(result, row, column)!).assumingMemoryBound(to: UInt8.self)
            values.append(decodings[Int(column)].decode(UnsafeBufferPointer(start: pointer, count: length)))
        }
        return values
    }

    func allRows() -> [[Value]] {
        (0..<rowCount).map(row)
    }
}
