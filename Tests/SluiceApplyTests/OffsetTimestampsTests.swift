import Testing

@testable import SluiceApply

/// Which spellings of a timestamp carry an offset PostgreSQL's `timestamp` (without time zone)
/// input would drop (``OffsetTimestamps/hasOffset(_:)``).
@Suite struct OffsetTimestampsTests {
    @Test(arguments: [
        ("2024-01-01T00:00:00+05:00", true), ("2024-01-01T00:00:00Z", true), ("2024-01-01 00:00:00z", true),
        ("2024-01-01 00:00:00.123456-08", true), ("2024-01-01 00:00:00 -0800", true), ("2024-01-01 00:00+05", true),
        ("2024-01-01T00:00:00", false), ("2024-01-01 00:00:00.5", false), ("2024-01-01", false),
        ("2024-01-01 00:00:00 PST", false), ("2024-01-01 00:00:00 BC", false), ("00:00:00 2024-01-01", false),
        ("2024-01-01T00:00:00Zulu", false), ("infinity", false), ("", false),
    ])
    func anOffsetIsToldFromADateOrATimeAlone(text: String, hasOffset: Bool) {
        #expect(OffsetTimestamps.hasOffset(text) == hasOffset)
    }
}
