import SluiceCore
import Testing

@testable import SluiceApply

/// A review's distributions come from values counted by value: the same count, min, median and
/// max as sorting every cell, with repeats, even and odd counts, and negatives.
@Suite struct ValueCountsTests {
    static func sortedMedian(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    @Test(arguments: [1, 2, 3, 4, 10, 101, 1000, 1001])
    func theDistributionIsThatOfTheSortedCells(count: Int) throws {
        var generator = SplitMix64(seed: UInt64(count))
        let values = (0..<count).map { _ in Int64(generator.next() % 41) - 20 }
        var counts = ValueCounts()
        for value in values { counts.add(.integer(value)) }
        let distribution = try #require(ReviewSummary.Distribution(counts))
        #expect(distribution.count == count)
        #expect(distribution.min == values.min().map(ExactNumber.integer))
        #expect(distribution.max == values.max().map(ExactNumber.integer))
        #expect(distribution.median.double == Self.sortedMedian(values.map(Double.init)))
        #expect(counts.counts.count <= 41)
    }

    @Test func nothingCountedIsNoDistributionAndNaNIsNoNumber() {
        var counts = ValueCounts()
        #expect(ReviewSummary.Distribution(counts) == nil)
        #expect(ValueCounts.number("NaN") == nil)
        counts.add(4)
        counts.add(8)
        #expect(ReviewSummary.Distribution(counts)?.median == 6)
    }

    /// Integers past a double's 2^53, a `numeric` past 64 bits and its decimals: the min, median
    /// and max keep every digit, as do the deltas, and the summary prints them so.
    @Test func hugeIntegersKeepEveryDigit() throws {
        var counts = ValueCounts()
        for text in ["9223372036854775807", "9223372036854775806", "100000000000000000000", "-9223372036854775808"] {
            counts.add(try #require(ValueCounts.number(text)))
        }
        let distribution = try #require(ReviewSummary.Distribution(counts))
        #expect(distribution.min.description == "-9223372036854775808")
        #expect(distribution.median.description == "9223372036854775806.5")
        #expect(distribution.max.description == "100000000000000000000")
        #expect(ReviewSummary.format(value: distribution.max) == "100000000000000000000")
        #expect(ReviewSummary.format(value: distribution.median) == "9223372036854775806.5")
        let delta =
            try #require(ValueCounts.number("100000000000000000000"))
            - #require(ValueCounts.number("-9223372036854775808"))
        #expect(delta.description == "109223372036854775808")
        #expect((ExactNumber(9_007_199_254_740_993) - 1).description == "9007199254740992")
    }
}

/// The review reads a numeric cell's text as the exact number it spells, however spelt; NaN and
/// the infinities as none.
@Test(
    arguments: [
        ("0", "0"), ("-0", "0"), ("+0", "0"), ("7", "7"), ("-7", "-7"), ("+7", "7"), ("100", "100"), ("1.5", "1.5"),
        ("-0.0", "0"), ("1e3", "1000"), ("1.50", "1.5"), ("15e-1", "1.5"), ("1e+20", "100000000000000000000"),
        ("-1.5E-7", "-0.00000015"), ("9007199254740993", "9007199254740993"),
        ("9223372036854775807", "9223372036854775807"), ("9223372036854775808", "9223372036854775808"),
        ("-9223372036854775808", "-9223372036854775808"), ("-9223372036854775809", "-9223372036854775809"),
        ("12345678901234567890.0100", "12345678901234567890.01"), ("NaN", nil), ("Infinity", nil), ("-Infinity", nil),
        (" 5", nil), ("", nil), ("x", nil), ("1e", nil), (".", nil),
    ] as [(String, String?)])
func aNumericCellReadsAsTheNumberItSpells(text: String, exact: String?) {
    #expect(ValueCounts.number(text)?.description == exact, "\(text)")
}

/// Sums, differences, halves and order agree with integer arithmetic on the same values in
/// thousandths (or ten-thousandths, for a half); rounding to cents goes half away from zero.
@Test func arithmeticAgreesWithIntegersInThousandths() throws {
    var generator = SplitMix64(seed: 7)
    func text(_ units: Int64, places: Int) -> String {
        let scale = Int64(places == 3 ? 1000 : 10000)
        let fraction = String(units.magnitude % UInt64(scale))
        return (units < 0 ? "-" : "") + "\(units.magnitude / UInt64(scale))."
            + String(repeating: "0", count: places - fraction.count) + fraction
    }
    // One expectation over all the pairs: 2,000 pairs of four `#expect`s each held a thread of
    // the cooperative pool for 2.7 s in a debug build, which a pacing test beside it felt.
    var wrong: [String] = []
    for _ in 0..<500 {
        let m = Int64(generator.next() % 2_000_001) - 1_000_000
        let n = Int64(generator.next() % 2_000_001) - 1_000_000
        let (a, b) = (try #require(ExactNumber(text(m, places: 3))), try #require(ExactNumber(text(n, places: 3))))
        if a + b != ExactNumber(text(m + n, places: 3)) { wrong.append("\(a) + \(b)") }
        if a - b != ExactNumber(text(m - n, places: 3)) { wrong.append("\(a) - \(b)") }
        if a.halved != ExactNumber(text(m * 5, places: 4)) { wrong.append("\(a) / 2") }
        if (a < b) != (m < n) || (a == b) != (m == n) { wrong.append("\(a) < \(b)") }
    }
    #expect(wrong.isEmpty, "\(wrong.prefix(10))")
    for (value, cents) in [
        ("0.135", "0.14"), ("-0.135", "-0.14"), ("0.004", "0"), ("0.005", "0.01"), ("1.999", "2"), ("12.3", "12.3"),
        ("0.0004", "0"), ("99.995", "100"),
    ] {
        #expect(ExactNumber(value)?.rounded(places: 2).description == cents, "\(value)")
    }
}

/// A figure whose plain form runs past 30 digits is shown in scientific notation, every digit of
/// it kept (it printed `0.000…0001`, 301 digits, for `1e-300`); one scientific notation would not
/// make shorter stays plain, and so does every number of up to 30 digits.
@Test(
    arguments: [
        ("1e-300", "1e-300"), ("-1.5e-300", "-1.5e-300"), ("2.5e+300", "2.5e+300"), ("1e30", "1e+30"),
        ("1e29", "100000000000000000000000000000"), ("1e-29", "0.00000000000000000000000000001"),
        ("0.000000000000000000000000000001", "1e-30"), ("-0.000015", "-0.000015"),
        ("9223372036854775807", "9223372036854775807"),
        ("123456789012345678901234567890123", "123456789012345678901234567890123"),
        ("0.1234567890123456789012345678901234", "0.1234567890123456789012345678901234"),
        ("1234567890123456789012345678901234e300", "1.234567890123456789012345678901234e+333"),
    ] as [(String, String)])
func aFigureOfMoreThanThirtyDigitsIsShownInScientificNotation(text: String, shown: String) throws {
    let number = try #require(ExactNumber(text))
    #expect(number.shown == shown, "\(text)")
    #expect(ExactNumber(number.shown) == number, "\(text): the shown value reads back as the same number")
}
