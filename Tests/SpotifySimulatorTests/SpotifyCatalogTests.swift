import Foundation
import SpotifySimulator
import Testing

@Suite struct SpotifyCatalogTests {
    let catalog = SpotifyCatalog(seed: 42)
    /// The size of the enrichment job in DESIGN.md.
    static let jobSize = 3159

    static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 22 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    @Test func knownIDsAreWellFormedDistinctAndAnsweredUnderThemselves() {
        let ids = (0..<Self.jobSize).map(catalog.knownID)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(Self.isWellFormed(id))
            let track = catalog.track(for: id)
            #expect(track?.id == id)
            #expect(track?.requestedID == id)
            #expect(track?.isRelinked == false)
        }
    }

    @Test func unknownIDsAreWellFormedButUnknown() {
        for index in 0..<1000 {
            let id = catalog.unknownID(index)
            #expect(Self.isWellFormed(id))
            #expect(catalog.track(for: id) == nil)
        }
    }

    @Test func relinkedIDsAreAnsweredUnderAnotherKnownIDOfTheSameRecording() throws {
        for index in 0..<200 {
            let requested = catalog.relinkedID(index)
            #expect(Self.isWellFormed(requested))
            let track = try #require(catalog.track(for: requested))
            #expect(track.requestedID == requested)
            #expect(track.id != requested)
            #expect(track.isRelinked)
            let target = try #require(catalog.track(for: track.id))
            #expect(target.isRelinked == false)
            #expect(target.name == track.name)
            #expect(target.isrc == track.isrc)
            #expect(target.popularity == track.popularity)
        }
    }

    @Test(arguments: [
        "abc", "", "spotify:track:4uLU6hMCjMI75M1A2tKUQC", "4uLU6hMCjMI75M1A2tKUQC ", "4uLU6hMCjMI75M1A2tKUQ-",
    ])
    func malformedIDsAreUnknown(id: String) {
        #expect(catalog.track(for: id) == nil)
    }

    @Test func sameSeedGivesTheSameCatalogAndAnotherSeedAnother() {
        let twin = SpotifyCatalog(seed: 42)
        let other = SpotifyCatalog(seed: 43)
        for index in 0..<500 {
            #expect(catalog.knownID(index) == twin.knownID(index))
            #expect(catalog.unknownID(index) == twin.unknownID(index))
            #expect(catalog.relinkedID(index) == twin.relinkedID(index))
            #expect(catalog.track(for: catalog.knownID(index)) == twin.track(for: twin.knownID(index)))
            #expect(catalog.knownID(index) != other.knownID(index))
            // Membership is seeded too: one seed's ids are unknown to another.
            #expect(other.track(for: catalog.knownID(index)) == nil)
        }
    }

    @Test func isrcsHaveTheStandardFormatAndCoverNinetyFiveToNinetyEightPercent() throws {
        let pattern = try Regex("^[A-Z]{2}[A-Z0-9]{3}[0-9]{7}$")
        let tracks = (0..<Self.jobSize).compactMap { catalog.track(for: catalog.knownID($0)) }
        #expect(tracks.count == Self.jobSize)
        let isrcs = tracks.compactMap(\.isrc)
        for isrc in isrcs {
            #expect(isrc.wholeMatch(of: pattern) != nil, "\(isrc)")
        }
        let coverage = Double(isrcs.count) / Double(tracks.count)
        #expect((0.95...0.98).contains(coverage), "ISRC coverage \(coverage)")
        #expect(Set(isrcs).count > isrcs.count * 99 / 100, "ISRCs should be (nearly) unique")
    }

    @Test func popularityIsWithinZeroToHundredAndSpread() {
        let popularity = (0..<Self.jobSize).compactMap { catalog.track(for: catalog.knownID($0))?.popularity }
        #expect(popularity.allSatisfy { (0...100).contains($0) })
        #expect(Set(popularity).count > 50)
    }
}
