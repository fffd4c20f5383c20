extension SpotifyCatalog {
    /// The share of known tracks without an ISRC, in thousandths (Spotify lacks one for a few percent).
    static let missingISRCPerMille: UInt64 = 30

    /// Every fact about a track, derived from the id it is answered under (so a relinked id
    /// and its target describe the same recording).
    func details(canonicalID id: String, requestedID: String) -> CatalogTrack {
        let nameHash = SeededHash.hash(id, seed: seed, tag: Tag.name)
        let popularityHash = SeededHash.hash(id, seed: seed, tag: Tag.popularity)
        let shape = SeededHash.hash(id, seed: seed, tag: Tag.shape)
        let artistName = Words.pick(Words.artists, SeededHash.hash(id, seed: seed, tag: Tag.artist))
        let albumHash = SeededHash.hash(id, seed: seed, tag: Tag.album)
        let albumName = Words.pick(Words.adjectives, albumHash) + " " + Words.pick(Words.nouns, albumHash >> 20)
        let releaseYear = 1960 + Int(shape % 66)
        // Two uniform draws averaged: popularity clusters in the middle, as real catalogues do.
        let popularity = Int((popularityHash % 101 + (popularityHash >> 32) % 101) / 2)
        return CatalogTrack(
            id: id,
            requestedID: requestedID,
            name: Words.pick(Words.adjectives, nameHash) + " " + Words.pick(Words.nouns, nameHash >> 20),
            popularity: popularity,
            isrc: isrc(for: id, releaseYear: releaseYear),
            artistID: entityID(artistName),
            artistName: artistName,
            albumID: entityID(artistName + "/" + albumName),
            albumName: albumName,
            releaseYear: releaseYear,
            durationMs: 90_000 + Int((shape >> 8) % 330_000),
            explicit: (shape >> 32) % 100 < 12,
            trackNumber: 1 + Int((shape >> 40) % 14)
        )
    }

    /// `CC` + 3 alphanumerics + 2-digit year + 5-digit designation, or `nil` for ~3% of tracks.
    private func isrc(for id: String, releaseYear: Int) -> String? {
        guard SeededHash.hash(id, seed: seed, tag: Tag.isrcPresence) % 1000 >= Self.missingISRCPerMille else {
            return nil
        }
        var hash = SeededHash.hash(id, seed: seed, tag: Tag.isrc)
        let country = Words.pick(Words.isrcCountries, hash)
        hash >>= 8
        let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var registrant = ""
        for _ in 0..<3 {
            registrant.append(alphanumerics[Int(hash % 36)])
            hash /= 36
        }
        let year = releaseYear % 100
        let designation = Int(hash % 100_000)
        return country + registrant + (year < 10 ? "0" : "") + String(year) + Self.zeroPadded(designation, width: 5)
    }

    private func entityID(_ key: String) -> String {
        let head = SeededHash.hash(key, seed: seed, tag: Tag.entityID)
        let tail = SeededHash.hash(key, seed: seed, tag: Tag.entityID + 100)
        return SpotifyID.encode(head, width: 11) + SpotifyID.encode(tail, width: 11)
    }

    private static func zeroPadded(_ value: Int, width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}

/// Word lists for plausible-looking names; only their sizes and order matter to determinism.
private enum Words {
    static func pick(_ words: [String], _ hash: UInt64) -> String {
        words[Int(hash % UInt64(words.count))]
    }

    static let adjectives = [
        "Golden", "Quiet", "Electric", "Broken", "Midnight", "Silver", "Wild", "Lonely", "Burning", "Velvet",
        "Hollow", "Northern", "Paper", "Crystal", "Restless", "Neon", "Faded", "Sweet", "Distant", "Endless",
    ]
    static let nouns = [
        "Hearts", "River", "Summer", "Lights", "Highway", "Dreams", "Ocean", "Echoes", "Garden", "Skyline",
        "Fire", "Shadows", "Morning", "Static", "Horizon", "Letters", "Rain", "Satellites", "Avenue", "Tides",
    ]
    static let artists = [
        "The Lanterns", "Mara Quill", "Northbound", "Juniper & Co", "Ola Brandt", "Static Bloom", "Kenji Aoki",
        "Velvet Orchard", "Lucía Ferrer", "The Paper Kites Club", "Dr. Marlowe", "Ines Okafor", "Glasshouse",
        "Soren Vik", "Amber Fields", "The Midnight Postal",
    ]
    static let isrcCountries = ["US", "GB", "DE", "FR", "SE", "NL", "JP", "CA", "AU", "BR", "QM", "QZ", "ES", "IT"]
}
