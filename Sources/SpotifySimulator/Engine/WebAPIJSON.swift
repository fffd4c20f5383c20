import Foundation

/// JSON bodies of the Web API and the accounts service, encoded with Spotify's snake_case keys.
enum WebAPIJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every body is made of strings, numbers, bools and optionals: encoding cannot fail.
        return Array(try! encoder.encode(value))
    }
}

struct WebAPIError: Encodable {
    struct Detail: Encodable {
        var status: Int
        var message: String
    }
    var error: Detail
}

struct TokenError: Encodable {
    var error: String
    var errorDescription: String
}

struct TokenGrant: Encodable {
    var accessToken: String
    var tokenType = "Bearer"
    var expiresIn: Int
}

/// `{"tracks":[...]}`; a `nil` element encodes as `null`, as Spotify answers for an unknown id.
struct SeveralTracks: Encodable {
    var tracks: [TrackObject?]
}
