import Testing

@testable import SluiceCore

@Suite struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ])
    func knownVectors(input: String, digest: String) {
        #expect(SHA256.hex(input) == digest)
    }

    @Test func millionAsInChunksMatchesTheVector() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(h.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func oddChunkBoundariesGiveTheSameDigest() {
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var h = SHA256()
        var i = 0
        for size in [1, 63, 64, 65, 3, 200, 604] {
            h.update(Array(data[i..<(i + size)]))
            i += size
        }
        #expect(h.hexDigest() == SHA256.hex(data))
    }
}

@Suite struct JSONTests {
    /// The word-at-a-time escape test agrees with a byte-by-byte one for every byte value at
    /// every position of texts of 0 to 19 bytes (short tails, one word, two words and a tail).
    @Test func escapeTestAgreesWithEachByte() {
        var disagreements: [String] = []
        var escaped = 0
        for length in 0..<20 {
            for position in 0..<max(length, 1) {
                for byte in UInt8.min...UInt8.max {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    if length > 0 { bytes[position] = byte }
                    let expected = bytes.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
                    if expected { escaped += 1 }
                    if bytes.withUnsafeBufferPointer(JSON.needsEscape) != expected {
                        disagreements.append("byte \(byte) at \(position) of \(length)")
                    }
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
        // 34 of the 256 values need an escape, at each of the 190 positions.
        #expect(escaped == 34 * 190)
    }

    @Test func encodesDeterministicallyWithSortedKeys() {
        let v: Value = .object(["b": 1, "a": .array([.null, true, 1.5, "x\"\n\u{01}"])])
        #expect(JSON.encode(v) == #"{"a":[null,true,1.5,"x\"\n\u0001"],"b":1}"#)
    }

    @Test func keepsIntegersAndDoublesApart() throws {
        #expect(try JSON.decode("7") == .int(7))
        #expect(try JSON.decode("7.0") == .double(7))
        #expect(try JSON.decode("-1e3") == .decimal("-1e3"))
        #expect(try JSON.decode("-1e3").doubleValue == -1000)
    }

    /// A number a double cannot hold exactly (more than 15 significant digits, past 64-bit
    /// integers, past a double's range) keeps its text, and goes out as it came in.
    @Test(arguments: [
        "12345678901234567890", "-98765432109876543210", "19.999999999999999999", "1e400",
        "-1e-400", "123456789012345678901.5",
    ])
    func keepsTheTextOfANumberADoubleCannotHold(text: String) throws {
        #expect(try JSON.decode(text) == .decimal(text))
        #expect(JSON.encode(try JSON.decode("[\(text)]")) == "[\(text)]")
        #expect(Value.decimal(text).text == text)
        #expect(Value.number(parsing: text) == .decimal(text))
    }

    @Test func readsNumbersAsJSONAndSQLWriteThem() throws {
        #expect(try JSON.decode("0.1") == .double(0.1))
        #expect(try JSON.decode("123456789012345") == .int(123_456_789_012_345))
        #expect(try JSON.decode("1.5e+300") == .double(1.5e300))
        #expect(try JSON.decode("100.0") == .double(100))
        // 17 digits, and the shortest form of the double they make: it gives them back.
        #expect(try JSON.decode("0.30000000000000004") == .double(0.1 + 0.2))
        #expect(Value.number(parsing: "-12") == .int(-12))
        #expect(Value.number(parsing: "2.5") == .double(2.5))
        let digitsOnlyUUID = "00000000-0000-4000-8000-000000000001"
        for notANumber in ["0x1A", "0x1p3", "inf", "nan", "", "1,5", " 1", "-", "+.e", "1é", digitsOnlyUUID] {
            #expect(Value.number(parsing: notANumber) == nil, "\(notANumber)")
        }
    }

    /// A number written otherwise than a double's shortest form keeps its text too: a jsonb
    /// value's `10.50` read and written back stays `10.50` (an undo put back `10.5`), an API's
    /// `100.000` goes into the audit CSV as it came. It still counts as the number it is.
    @Test(arguments: ["2.50", "10.50", "100.000", "1e3", "1.5e300", "0e999", "0.00", "-0.10", "1E-7"])
    func keepsTheTextOfANumberWrittenOtherwiseThanItsShortestForm(text: String) throws {
        #expect(try JSON.decode(text) == .decimal(text))
        #expect(JSON.encode(try JSON.decode(#"{"a":[\#(text)]}"#)) == #"{"a":[\#(text)]}"#)
        #expect(Value.number(parsing: text) == .decimal(text))
        #expect(Value.decimal(text).doubleValue == Double(text))
    }

    /// A whole number kept as text is read as the integer it is, exactly; one with a fraction is none.
    @Test func readsAWholeNumberKeptAsTextAsItsInteger() {
        #expect(Value.decimal("3.00").intValue == 3)
        #expect(Value.decimal("1e3").intValue == 1000)
        #expect(Value.decimal("-2.0E+1").intValue == -20)
        #expect(Value.decimal("9007199254740993.0").intValue == 9_007_199_254_740_993)
        #expect(Value.decimal("3.05").intValue == nil)
        #expect(Value.decimal("12345678901234567890").intValue == nil, "past Int64")
        #expect(Value.decimal("1e400").intValue == nil)
    }

    /// Integers are read digit by digit, without text: every edge of Int64 as before, one past
    /// it as the text it is.
    @Test func readsIntegersAtTheEdgesOfInt64() throws {
        #expect(try JSON.decode("9223372036854775807") == .int(.max))
        #expect(try JSON.decode("-9223372036854775808") == .int(.min))
        #expect(try JSON.decode("9223372036854775808") == .decimal("9223372036854775808"))
        #expect(try JSON.decode("-9223372036854775809") == .decimal("-9223372036854775809"))
        #expect(try JSON.decode("[0,-0,42,-7]") == .array([0, 0, 42, -7]))
        #expect(try JSON.decode("99999999999999999999999") == .decimal("99999999999999999999999"))
    }

    /// A string without escapes is read in place: ASCII as is, anything else checked as UTF-8.
    @Test func readsUnescapedStringsAndRefusesInvalidUTF8() throws {
        #expect(try JSON.decode(#"["plain","café 🎵",""]"#) == .array(["plain", "café 🎵", ""]))
        let invalid: [UInt8] = Array(#"["ok","bad "#.utf8) + [0xC3, 0x28] + Array(#""]"#.utf8)
        do {
            _ = try JSON.decode(invalid)
            Issue.record("decoded invalid UTF-8")
        } catch {
            #expect(error.message == "invalid UTF-8 in string")
            #expect(error.offset == invalid.count - 2)  // at the closing quote
        }
    }

    /// A key named twice with different values is told, with where it is; the same value twice
    /// is no conflict. The value kept is the last.
    @Test func tellsAKeyNamedTwiceWithDifferentValues() throws {
        var duplicates: [JSON.DuplicateKey] = []
        let text = #"{"a":{"k":1,"k":2},"b":[0,{"t":"A","t":"A"},{"t":"A","t":"B"}],"a":{"k":3}}"#
        let value = try JSON.decode(Array(text.utf8), duplicates: &duplicates)
        #expect(value["a"] == .object(["k": 3]))
        #expect(
            duplicates == [
                JSON.DuplicateKey(path: [.key("a")], key: "k"),
                JSON.DuplicateKey(path: [.key("b"), .index(2)], key: "t"),
                JSON.DuplicateKey(path: [], key: "a"),
            ])
        _ = try JSON.decode(Array(#"{"a":[1],"b":{"c":"d"}}"#.utf8), duplicates: &duplicates)
        #expect(duplicates.isEmpty)
    }

    @Test func roundTripsUnicodeAndEscapes() throws {
        let text = #"{"s":"caf\u00e9 \ud83c\udfb5 \\ \/ \t"}"#
        #expect(try JSON.decode(text) == .object(["s": "café 🎵 \\ / \t"]))
        let v: Value = .object(["s": "café 🎵"])
        #expect(try JSON.decode(JSON.encode(v)) == v)
    }

    /// An unpaired surrogate is refused like invalid UTF-8, at the offset of its escape: turned
    /// into U+FFFD it changed the data with no notice.
    @Test(arguments: [
        (#""a\ud800b""#, 2, "\\ud800 in string (a high surrogate without its low half)"),
        (#""x\udc00""#, 2, "\\udc00 in string (a low surrogate without its high half)"),
        (#"["ok","\ud800\u0041"]"#, 7, "\\ud800 in string (a high surrogate without its low half)"),
        (#""\ud800\ud83c\udfb5""#, 1, "\\ud800 in string (a high surrogate without its low half)"),
        (#""x\uD800""#, 2, "\\ud800 in string (a high surrogate without its low half)"),
    ])
    func refusesAnUnpairedSurrogate(text: String, offset: Int, message: String) throws {
        let error = #expect(throws: JSON.DecodingError.self) { try JSON.decode(text) }
        #expect(error?.offset == offset)
        #expect(error?.message == "invalid UTF-16 escape " + message)
        #expect(try JSON.decode(#""\ud83c\udfb5""#) == "🎵")
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a" 1}"#, "tru", #""unterminated"#, #"{"a":1}x"#, "01x",
        "[" + String(repeating: "[", count: 600),
    ])
    func rejectsMalformedDocuments(text: String) {
        #expect(throws: JSON.DecodingError.self) { try JSON.decode(text) }
    }

    @Test func truncatedBodyIsAnErrorWithItsOffset() {
        do {
            _ = try JSON.decode(#"{"tracks":[{"id":"x","popularity":5"#)
            Issue.record("decoded a truncated body")
        } catch {
            #expect(error.offset == 35)  // the end of the 35-byte input
        }
    }
}

@Suite struct SplitMix64Tests {
    @Test func theReferenceSequence() {
        // The first outputs of the reference implementation (Vigna's splitmix64.c) for seed 0.
        var random = SplitMix64(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
        #expect(SplitMix64.mix(0) == 0xE220_A839_7B1D_CDAF)
    }
}

@Suite struct CountedTests {
    @Test func singularForExactlyOne() {
        #expect(1.counted("row") == "1 row")
        #expect(0.counted("row") == "0 rows")
        #expect(2.counted("cell") == "2 cells")
        #expect(3.counted("match", plural: "matches") == "3 matches")
        #expect((-1).counted("row") == "-1 rows")
    }
}
