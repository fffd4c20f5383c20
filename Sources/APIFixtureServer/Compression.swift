internal import CZlib

/// zlib's deflate, for a fixture that answers compressed bodies (`Content-Encoding: gzip` or
/// `deflate`) as an API behind a compressing proxy does.
enum Compression {
    /// `bytes` as one gzip member (`gzip`) or a zlib stream (HTTP's `deflate`).
    /// - Throws: ``FixtureServerError`` when zlib fails.
    static func compress(_ bytes: [UInt8], gzip: Bool) throws -> [UInt8] {
        let capacity = Int(sluice_compress_bound(UInt(bytes.count)))
        var out = [UInt8](repeating: 0, count: capacity)
        let written = bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                sluice_compress(input.baseAddress, UInt(input.count), output.baseAddress, UInt(capacity), gzip ? 1 : 0)
            }
        }
        guard written >= 0 else { throw FixtureServerError(description: "zlib could not compress an answer") }
        return Array(out.prefix(written))
    }
}
