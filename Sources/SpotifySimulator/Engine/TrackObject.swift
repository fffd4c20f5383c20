/// A Web API track object ("full track"), with the fields clients of `/v1/tracks` read.
struct TrackObject: Encodable {
    struct ExternalIDs: Encodable {
        /// Omitted (not `null`) when the track has no ISRC, as Spotify does.
        var isrc: String?
    }

    struct ExternalURLs: Encodable {
        var spotify: String
    }

    struct ArtistObject: Encodable {
        var externalUrls: ExternalURLs
        var href: String
        var id: String
        var name: String
        var type = "artist"
        var uri: String
    }

    struct AlbumObject: Encodable {
        var albumType = "album"
        var artists: [ArtistObject]
        var externalUrls: ExternalURLs
        var href: String
        var id: String
        var images: [String] = []
        var name: String
        var releaseDate: String
        var releaseDatePrecision = "year"
        var totalTracks: Int
        var type = "album"
        var uri: String
    }

    /// `linked_from`: the track that was asked for when Spotify relinked it.
    struct LinkedTrack: Encodable {
        var externalUrls: ExternalURLs
        var href: String
        var id: String
        var type = "track"
        var uri: String
    }

    var album: AlbumObject
    var artists: [ArtistObject]
    var discNumber = 1
    var durationMs: Int
    var explicit: Bool
    var externalIds: ExternalIDs
    var externalUrls: ExternalURLs
    var href: String
    var id: String
    var isLocal = false
    /// Present only when the request named a market, as in the real API.
    var isPlayable: Bool?
    var linkedFrom: LinkedTrack?
    var name: String
    /// Absent for Development Mode apps since February 2026.
    var popularity: Int?
    var trackNumber: Int
    var type = "track"
    var uri: String

    /// Renders a catalog track the way `api.spotify.com` does, with `href`s under `apiBase`.
    init(_ track: CatalogTrack, apiBase: String, includePopularity: Bool, market: String?) {
        func link(_ kind: String, _ id: String) -> (ExternalURLs, String, String) {
            (
                ExternalURLs(spotify: "https://open.spotify.com/\(kind)/\(id)"), "\(apiBase)/\(kind)s/\(id)",
                "spotify:\(kind):\(id)"
            )
        }
        let (artistURLs, artistHref, artistURI) = link("artist", track.artistID)
        let artist = ArtistObject(
            externalUrls: artistURLs, href: artistHref, id: track.artistID, name: track.artistName, uri: artistURI)
        let (albumURLs, albumHref, albumURI) = link("album", track.albumID)
        album = AlbumObject(
            artists: [artist], externalUrls: albumURLs, href: albumHref, id: track.albumID, name: track.albumName,
            releaseDate: String(track.releaseYear), totalTracks: max(track.trackNumber, 10), uri: albumURI)
        artists = [artist]
        durationMs = track.durationMs
        explicit = track.explicit
        externalIds = ExternalIDs(isrc: track.isrc)
        (externalUrls, href, uri) = link("track", track.id)
        id = track.id
        isPlayable = market == nil ? nil : true
        if track.isRelinked {
            let (urls, href, uri) = link("track", track.requestedID)
            linkedFrom = LinkedTrack(externalUrls: urls, href: href, id: track.requestedID, uri: uri)
        }
        name = track.name
        popularity = includePopularity ? track.popularity : nil
        trackNumber = track.trackNumber
    }
}
