import Foundation
import SluiceCore
import Testing

@Suite struct UUIDTextTests {
    /// The canonical form is read eight digits at a time: every byte of one, changed to every
    /// other byte, reads as a plain digit-by-digit reading of that form says (`KeyTrackerTests`
    /// holds the spellings against the server's own reading).
    @Test func aCanonicalUUIDReadsAsItsDigitsSay() {
        func reference(_ bytes: [UInt8]) -> (high: UInt64, low: UInt64)? {
            guard bytes.count == 36 else { return nil }
            var digits: [UInt64] = []
            for (index, byte) in bytes.enumerated() {
                if [8, 13, 18, 23].contains(index) {
                    guard byte == UInt8(ascii: "-") else { return nil }
                } else {
                    guard let digit = UInt64(String(UnicodeScalar(byte)), radix: 16) else { return nil }
                    digits.append(digit)
                }
            }
            return (digits[..<16].reduce(0) { $0 << 4 | $1 }, digits[16...].reduce(0) { $0 << 4 | $1 })
        }
        let canonical = Array("a0eebc99-9c0b-4ef8-BB6D-6bb9bd380a11".utf8)
        var checked = 0
        for index in canonical.indices {
            for byte in UInt8.min...UInt8.max {
                var bytes = canonical
                bytes[index] = byte
                let ours = bytes.withUnsafeBufferPointer(UUIDText.bits)
                let expected = reference(bytes)
                #expect(ours?.high == expected?.high && ours?.low == expected?.low, "byte \(byte) at \(index)")
                if expected != nil { checked += 1 }
            }
        }
        // Each of the 32 digits takes 22 spellings (0-9, a-f, A-F); the hyphens take one.
        #expect(checked == 32 * 22 + 4)
        var generator = SplitMix64(seed: 7)
        for _ in 0..<1000 {
            let high = generator.next()
            let low = generator.next()
            let hex = String(format: "%016llx%016llx", high, low)
            var text = Array(hex.utf8)
            for hyphen in [8, 13, 18, 23] { text.insert(UInt8(ascii: "-"), at: hyphen) }
            #expect(text.withUnsafeBufferPointer(UUIDText.bits).map { [$0.high, $0.low] } == [high, low])
            let upper = Array(String(decoding: text, as: UTF8.self).uppercased().utf8)
            #expect(upper.withUnsafeBufferPointer(UUIDText.bits).map { [$0.high, $0.low] } == [high, low])
        }
    }

    /// The string forms read the same bits as the byte forms, and only the canonical form is canonical.
    @Test(arguments: [
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc999c0b4ef8bb6d6bb9bd380a11}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "not a uuid", "",
    ])
    func stringsReadAsTheirBytes(text: String) {
        var bytes = Array(text.utf8)
        let bits = bytes.withUnsafeMutableBufferPointer { UUIDText.bits(UnsafeBufferPointer($0)) }
        let canonical = bytes.withUnsafeMutableBufferPointer { UUIDText.canonicalBits(UnsafeBufferPointer($0)) }
        #expect(UUIDText.bits(of: text).map { [$0.high, $0.low] } == bits.map { [$0.high, $0.low] })
        #expect(UUIDText.canonicalBits(of: text).map { [$0.high, $0.low] } == canonical.map { [$0.high, $0.low] })
        // The string's bytes as the helper hands them out, and a substring's copy's bits.
        #expect(text.withUTF8Bytes(Array.init) == Array(text.utf8))
        let copied = String(text[...])
        #expect(UUIDText.bits(of: copied).map { [$0.high, $0.low] } == bits.map { [$0.high, $0.low] })
        #expect((canonical != nil) == (text.count == 36 && bits != nil))
    }
}
