import Foundation

/// A `tracks` table to enrich, built from a catalog so the outcome of every row is known in
/// advance: the demo loads it, and the end-to-end test checks the table against ``expected``.
///
/// Besides plain known ids it holds the cases real tables have: relinked ids, ids Spotify does
/// not know, `spotify:track:` URIs, `open.spotify.com` URLs, stray whitespace, malformed ids,
/// several tracks sharing one id, rows without an id, and rows that already have values.
public struct DemoDataset: Sendable {
    /// How a row's spotify_id is written, and so what the enrichment must do with it.
    public enum Case: String, Sendable, CaseIterable {
        case known, relinked, unknown, uri, url, whitespace, malformed, duplicate, noID = "no-id"
    }

    public struct Track: Sendable, Hashable {
        public var id: String
        public var title: String
        public var artist: String
        public var spotifyID: String?
        public var popularity: Int?
        public var isrc: String?
        public var kind: Case
    }

    public let catalog: SpotifyCatalog
    public let tracks: [Track]

    /// - Parameter count: rows in the table (3,159 in the original job).
    public init(catalog: SpotifyCatalog, count: Int = 3159) {
        self.catalog = catalog
        var tracks: [Track] = []
        tracks.reserveCapacity(count)
        var known = 0
        for index in 0..<count {
            let kind = Self.kind(of: index)
            var spotifyID: String?
            switch kind {
            case .known: spotifyID = catalog.knownID(known); known += 1
            case .relinked: spotifyID = catalog.relinkedID(index)
            case .unknown: spotifyID = catalog.unknownID(index)
            case .uri: spotifyID = "spotify:track:" + catalog.knownID(known); known += 1
            case .url: spotifyID = "https://open.spotify.com/track/\(catalog.knownID(known))?si=4f1c2a"; known += 1
            case .whitespace: spotifyID = " " + catalog.knownID(known) + " "; known += 1
            case .malformed: spotifyID = index % 2 == 0 ? "abc" : "6rqhFgbbKwnb9MLmUQDhG"  // 21 characters
            case .duplicate: spotifyID = tracks.last?.spotifyID
            case .noID: spotifyID = nil
            }
            // A few rows already hold values: stale ones to be replaced, and ones Spotify cannot confirm.
            let stale = index % 50 == 7
            tracks.append(
                Track(
                    id: Self.uuid(index), title: "Demo track \(index + 1)", artist: "Artist \(index % 97 + 1)",
                    spotifyID: spotifyID, popularity: stale ? 5 : nil, isrc: stale ? "XXOLD0000001" : nil, kind: kind))
        }
        self.tracks = tracks
    }

    /// Spreads the edge cases through the table (about 8% of rows), never two alike in a row.
    static func kind(of index: Int) -> Case {
        switch index % 100 {
        case 3, 53: return .relinked
        case 11: return .unknown
        case 23: return .uri
        case 37: return .url
        case 41: return index % 200 == 41 ? .whitespace : .known
        case 59: return index % 300 == 59 ? .malformed : .known
        case 71: return .duplicate
        case 89: return index % 200 == 89 ? .noID : .known
        default: return .known
        }
    }

    static func uuid(_ index: Int) -> String {
        let hex = String(index, radix: 16)
        return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// What the table should hold for `track` after a successful enrichment and apply:
    /// the catalog's values for every id Spotify knows (an ISRC cleared where Spotify has none),
    /// the row's old values where the id is unknown, malformed or missing.
    public func expected(_ track: Track) -> (popularity: Int?, isrc: String?) {
        guard let raw = track.spotifyID, let found = catalog.track(for: Self.bare(raw)) else {
            return (track.popularity, track.isrc)
        }
        return (found.popularity, found.isrc)
    }

    /// Whether the API knows the track's id once it is normalised to a bare id.
    public func isKnown(_ track: Track) -> Bool {
        track.spotifyID.map { catalog.track(for: Self.bare($0)) != nil } ?? false
    }

    /// The bare id in a URI, URL or padded id (what the plan's `id:` expression gives).
    static func bare(_ raw: String) -> String {
        var id = raw.trimmingCharacters(in: .whitespaces)
        if id.hasPrefix("spotify:track:") { id.removeFirst("spotify:track:".count) }
        if let range = id.range(of: "open.spotify.com/track/") { id = String(id[range.upperBound...]) }
        if let cut = id.firstIndex(of: "?") { id = String(id[..<cut]) }
        return id
    }

    /// `CREATE TABLE tracks ...` (popularity CHECK 0..100, both enriched columns indexed) and
    /// one multi-row INSERT per 500 tracks.
    public func sql(createTable: Bool = true) -> String {
        var out = ""
        if createTable {
            out += """
                CREATE TABLE tracks (
                    id uuid PRIMARY KEY,
                    title text NOT NULL,
                    artist text,
                    spotify_id text,
                    spotify_popularity int CHECK (spotify_popularity BETWEEN 0 AND 100),
                    isrc text,
                    updated_at timestamptz NOT NULL DEFAULT '2026-01-01T00:00:00Z'
                );
                CREATE INDEX tracks_spotify_popularity_idx ON tracks (spotify_popularity);
                CREATE INDEX tracks_isrc_idx ON tracks (isrc);

                """
        }
        for start in stride(from: 0, to: tracks.count, by: 500) {
            out += "INSERT INTO tracks (id, title, artist, spotify_id, spotify_popularity, isrc) VALUES\n"
            out +=
                tracks[start..<min(start + 500, tracks.count)].map { t in
                    "('\(t.id)', \(Self.literal(t.title)), \(Self.literal(t.artist)), \(Self.literal(t.spotifyID)), "
                        + "\(t.popularity.map(String.init) ?? "NULL"), \(Self.literal(t.isrc)))"
                }.joined(separator: ",\n") + ";\n"
        }
        return out
    }

    static func literal(_ text: String?) -> String {
        guard let text else { return "NULL" }
        return "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}
