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
        let values = (0..<count).map { _ in Double(Int(generator.next() % 41)) - 20 }
        var counts = ValueCounts()
        for value in values { counts.add(value) }
        let distribution = try #require(ReviewSummary.Distribution(counts))
        #expect(distribution.count == count)
        #expect(distribution.min == values.min())
        #expect(distribution.max == values.max())
        #expect(distribution.median == Self.sortedMedian(values))
        #expect(counts.counts.count <= 41)
    }

    @Test func nothingCountedIsNoDistributionAndNaNIsLeftOut() {
        var counts = ValueCounts()
        #expect(ReviewSummary.Distribution(counts) == nil)
        counts.add(.nan)
        #expect(ReviewSummary.Distribution(counts) == nil)
        counts.add(4)
        counts.add(8)
        #expect(ReviewSummary.Distribution(counts)?.median == 6)
    }
}

/// The review reads a numeric cell's text as a number: an integer by the integer reading, the
/// rest (and the sign of a negative zero) as `Double` reads it; NaN and the infinities as none.
@Test(arguments: [
    "0", "-0", "+0", "7", "-7", "+7", "100", "1.5", "-0.0", "1e3", "NaN", "Infinity", "-Infinity",
    "9007199254740993", "9223372036854775807", "9223372036854775808", "-9223372036854775808", " 5", "", "x",
])
func aNumericCellReadsAsDoubleReadsIt(text: String) {
    let ours = ValueCounts.number(text)
    let double = Double(text).flatMap { $0.isFinite ? $0 : nil }
    #expect(ours?.bitPattern == double?.bitPattern, "\(text)")
}
