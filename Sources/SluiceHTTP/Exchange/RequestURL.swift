import Foundation
import SluiceCore

/// Builds requests from a ``FetchConfiguration``, percent-encoding ids so a malformed one
/// (a space, a `spotify:track:` URI, a URL) still reaches the API as the single id it is.
///
/// An API key sent as a query parameter is never part of these URLs: they are what errors and
/// logs show. ``HTTPFetcher`` adds it as the request leaves.
struct RequestURL {
    let configuration: FetchConfiguration

    /// One request: its method, where it goes and, for a POST, its JSON body.
    struct Request: Sendable {
        var method = "GET"
        var url: String
        var body: [UInt8]?
    }

    /// The request for a batch of ids in the configuration's shape.
    func batch(_ ids: some Collection<String>) -> Request {
        let prefix = configuration.idPrefix
        switch configuration.request {
        case .batchQuery(let parameter, let separator):
            let list = ids.map { Self.encode(prefix + $0) }.joined(
                separator: PercentEncoding.encodeSeparator(separator))
            return Request(
                method: configuration.method, url: url(path: configuration.path, parameters: [(parameter, list)]))
        case .batchQueryRepeated(let parameter):
            let pairs = ids.map { (parameter, Self.encode(prefix + $0)) }
            return Request(method: configuration.method, url: url(path: configuration.path, parameters: pairs))
        case .batchBody(let template, let keyOrder):
            var body: [UInt8] = []
            JSON.encode(BodyTemplate.render(template, ids: ids.map { prefix + $0 }), keyOrder: keyOrder, into: &body)
            return Request(
                method: configuration.method, url: url(path: configuration.path, parameters: []), body: body)
        case .perItem:
            // Each id is a whole request: a batch of them is never one request.
            return perItem(ids.first ?? "")
        }
    }

    /// A ``RequestShape/perItem`` request from its key: the URL below the base URL and, after a
    /// newline, a `POST`'s JSON body.
    func perItem(_ key: String) -> Request {
        guard let newline = key.firstIndex(of: "\n") else {
            return Request(method: configuration.method, url: relative(key))
        }
        return Request(
            method: configuration.method, url: relative(String(key[..<newline])),
            body: Array(key[key.index(after: newline)...].utf8))
    }

    /// A GET of `{base}{fallbackPath with {id}}?{extra query}`; `nil` without a fallback path.
    func item(_ id: String) -> Request? {
        guard let template = configuration.fallbackPath else { return nil }
        return Request(url: url(path: template.replacingOccurrences(of: "{id}", with: Self.encode(id)), parameters: []))
    }

    /// `{base}{key}`: a per-item request's URL, path and query rendered by the caller.
    func relative(_ key: String) -> String {
        base + (key.hasPrefix("/") || key.hasPrefix("?") || key.isEmpty ? key : "/" + key)
    }

    private var base: String {
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }

    private func url(path: String, parameters: [(String, String)]) -> String {
        let path = path.hasPrefix("/") || path.isEmpty ? path : "/" + path
        let extra = configuration.query.sorted { $0.key < $1.key }.map { (Self.encode($0.key), Self.encode($0.value)) }
        let pairs = parameters.map { (Self.encode($0.0), $0.1) } + extra
        return base + URLQuery.appending(pairs.map { "\($0.0)=\($0.1)" }, to: path)
    }

    static func encode(_ text: String) -> String { PercentEncoding.encode(text) }
}

/// Percent-encoding for one URL path segment or query value.
public enum PercentEncoding {
    /// A separator between the ids of one query value, as it goes into the URL: as written when a
    /// query may carry it so (`,`, `;`, `:`, `/`, `@`...), which is how APIs document it, else
    /// percent-encoded like the ids (`|` is `%7C`, a space `%20`; `&`, `=`, `+` and `#` would end
    /// or change the value). The URL then holds only characters a URL may, so no HTTP layer
    /// encodes it again (which would turn an id's `%3A` into `%253A`).
    public static func encodeSeparator(_ separator: String) -> String {
        var out = ""
        for scalar in separator.unicodeScalars {
            switch scalar {
            case "!", "$", "'", "(", ")", "*", ",", ";", ":", "@", "/", "?": out.unicodeScalars.append(scalar)
            default: out += encode(String(scalar))
            }
        }
        return out
    }

    /// Encodes everything but RFC 3986's unreserved characters, so the text stays one segment or
    /// one value whatever it holds (`/`, `&`, `:`, spaces).
    public static func encode(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out +=
                    "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }
}
