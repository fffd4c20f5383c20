/// What the catalog knows about one track; the API layer renders it as a Web API track object.
public struct CatalogTrack: Sendable, Equatable {
    /// The id the API returns; differs from `requestedID` when Spotify relinks the track.
    public var id: String
    /// The id the client asked for.
    public var requestedID: String
    public var name: String
    /// 0-100.
    public var popularity: Int
    /// `nil` for the few percent of tracks Spotify has no ISRC for.
    public var isrc: String?
    public var artistID: String
    public var artistName: String
    public var albumID: String
    public var albumName: String
    public var releaseYear: Int
    public var durationMs: Int
    public var explicit: Bool
    public var trackNumber: Int

    /// Whether the API answers this track under a different id than requested.
    public var isRelinked: Bool { id != requestedID }
}
