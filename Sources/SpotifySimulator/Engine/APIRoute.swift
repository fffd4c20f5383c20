import Foundation

/// Which `/v1` endpoint a request is for, with its ids as sent.
enum APIRoute: Equatable, Sendable {
    /// `GET /v1/tracks?ids=...`
    case severalTracks(ids: [String])
    /// `GET /v1/tracks/{id}`
    case track(id: String)
    /// A known path with a method other than GET.
    case methodNotAllowed
    case other

    init(_ request: InboundRequest) {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false)
        // "/v1/tracks" splits into ["", "v1", "tracks"].
        guard segments.count >= 3, segments[1] == "v1", segments[2] == "tracks", segments.count <= 4 else {
            self = .other
            return
        }
        guard request.method == "GET" else {
            self = .methodNotAllowed
            return
        }
        if segments.count == 3 || segments[3].isEmpty {
            let ids = request.queryParameters["ids"] ?? ""
            // Split keeping empty pieces, so "a,,b" has an (invalid) empty id like on the real API.
            self = .severalTracks(
                ids: ids.isEmpty ? [] : ids.split(separator: ",", omittingEmptySubsequences: false).map(String.init))
        } else {
            let raw = String(segments[3])
            self = .track(id: raw.removingPercentEncoding ?? raw)
        }
    }

    var isTracks: Bool {
        switch self {
        case .severalTracks, .track: true
        case .methodNotAllowed, .other: false
        }
    }

    /// The ids asked for, for the request log.
    var ids: [String] {
        switch self {
        case .severalTracks(let ids): ids
        case .track(let id): [id]
        case .methodNotAllowed, .other: []
        }
    }
}
