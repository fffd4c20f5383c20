import Foundation
import SluiceCore

/// What an API answer means for the fetcher, decided from status, `Retry-After` and body
/// alone. Pure, so every status and body shape is testable without a server.
enum ResponseOutcome: Sendable, Equatable {
    /// 2xx with a JSON body (204, no content: `null`); `duplicates`: the keys it names twice with
    /// different values.
    case success(Value, duplicates: [JSON.DuplicateKey] = [])
    /// 2xx with a JSON body that repeated a credential the request carried, masked in it.
    case echoed(Value, duplicates: [JSON.DuplicateKey] = [])
    /// 400, or 422 (what JSON APIs answer for input they cannot process): the request itself
    /// is wrong (for a batch, usually one bad id; per item, the row's values); the API's message.
    case badRequest(String, status: Int)
    case unauthorized(String)
    case forbidden(String)
    /// 404 or 410, with the API's message.
    case notFound(String, status: Int)
    /// 429, a status the plan says means "slow down" (a rate-limited API's 503), or a 403 whose
    /// rate-limit headers say none is left (GitHub's primary limit) or that has a `Retry-After`
    /// (GitHub's secondary limit).
    case rateLimited(status: Int, retryAfter: Duration?)
    /// Worth trying again: 5xx, 408, a 2xx whose body is not JSON (truncated); not before the
    /// answer's `Retry-After`, when it has one (a 503's: how long the service expects to be down).
    case transient(String, retryAfter: Duration? = nil)
    /// A status that another try will not change.
    case final(status: Int, message: String)
    /// 3xx: the answer is elsewhere, at `location` when the answer says where
    /// (``HTTPFetcher/redirected(_:status:location:visited:purpose:url:)`` decides whether to go).
    case redirect(status: Int, location: String?)

    /// Whether `body` holds `secret`'s bytes. Every 2xx body is searched, so by `memchr` for
    /// the first byte and `memcmp` for the rest, not a generic collection search.
    static func contains(_ body: [UInt8], _ secret: String) -> Bool {
        let needle = Array(secret.utf8)
        guard let first = needle.first, body.count >= needle.count else { return false }
        return body.withUnsafeBytes { haystack in
            needle.withUnsafeBytes { pattern in
                guard let base = haystack.baseAddress else { return false }
                var offset = 0
                let last = haystack.count - pattern.count
                while offset <= last {
                    guard let hit = memchr(base + offset, Int32(first), last - offset + 1) else { return false }
                    let at = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + at, pattern.baseAddress!, pattern.count) == 0 { return true }
                    offset = at + 1
                }
                return false
            }
        }
    }

    /// The texts an answer may repeat a credential as: as sent, percent-encoded (in upper- or
    /// lower-case hex, a space as `+` too: a query string or form echoed back) and JSON-escaped
    /// (a body echoed inside a string); texts under 4 characters are not (too common).
    static func forms(of secrets: [String]) -> [String] {
        var forms = Set<String>()
        for secret in secrets where secret.count >= 4 {
            let encoded = PercentEncoding.encode(secret)
            let escaped = String(JSON.encode(.string(secret)).dropFirst().dropLast())
            forms.formUnion([
                secret, encoded, Self.lowercasingHex(encoded), encoded.replacingAll("%20", with: "+"), escaped,
            ])
        }
        return forms.sorted { $0.count > $1.count }
    }

    /// `%2b` for `%2B`: some servers echo percent-encoding in lower case.
    static func lowercasingHex(_ encoded: String) -> String {
        var out = ""
        var hexLeft = 0
        for c in encoded {
            if c == "%" {
                hexLeft = 2
                out.append(c)
            } else if hexLeft > 0 {
                hexLeft -= 1
                out += c.lowercased()
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// `value` with every secret in its texts (and keys) replaced by `***`.
    static func masking(_ secrets: [String], in value: Value) -> Value {
        switch value {
        case .string(let text): return .string(Redaction.masking(secrets, in: text, anywhere: true))
        case .array(let items): return .array(items.map { masking(secrets, in: $0) })
        case .object(let members):
            return .object(
                Dictionary(
                    members.map {
                        (Redaction.masking(secrets, in: $0.key, anywhere: true), masking(secrets, in: $0.value))
                    },
                    uniquingKeysWith: { first, _ in first }))
        default: return value
        }
    }

    /// Why a body that is not JSON may be compressed still: an encoding the client does not decode
    /// (`br`, `zstd`: asked for by an `Accept-Encoding` in the connection's headers), or gzip data
    /// no `Content-Encoding` announced; empty otherwise.
    static func compression(of body: [UInt8], contentEncoding: String?) -> String {
        let encoding = contentEncoding?.trimmingCharacters(in: .whitespaces) ?? ""
        if !encoding.isEmpty, !["gzip", "deflate", "identity"].contains(encoding.lowercased()) {
            return "; it is compressed (Content-Encoding: \(encoding)), which Sluice does not decode: it decodes "
                + "gzip and deflate, and asks for them itself when the connection's headers set no Accept-Encoding"
        }
        if encoding.isEmpty, body.starts(with: [0x1F, 0x8B]) {
            return "; it is gzip data, though the answer has no Content-Encoding: gzip to say so"
        }
        return ""
    }

    /// `secrets`: the credentials the request carried, hidden in any message taken from the body
    /// and, unless `answerSecrets` names fewer, in a 2xx body that repeats them. `contentEncoding`: the answer's `Content-Encoding`
    /// (the client has decompressed gzip and deflate), named when the body is not JSON. `limitSpent`:
    /// the answer's rate-limit headers say no request is left (``RateLimitHeaders/isSpent``), which
    /// makes a 403 "slow down" rather than "forbidden", as a `Retry-After` does: a refusal that says
    /// when to come back is not one for good. `kept`: the part of a 2xx answer the run keeps (a
    /// paged list's items; `nil`: the whole answer): a credential repeated only elsewhere (a next
    /// page's link) is masked all the same, but the answer is not `.echoed`.
    static func classify(
        status: Int, retryAfter: String?, body: [UInt8], throttleStatuses: Set<Int> = [], secrets: [String] = [],
        answerSecrets: [String]? = nil, location: String? = nil, contentEncoding: String? = nil,
        limitSpent: Bool = false, kept: (@Sendable (Value) -> Value?)? = nil, now: Date = Date()
    ) -> ResponseOutcome {
        let wait = RetryAfter.parse(retryAfter, now: now)
        if status == 429 || throttleStatuses.contains(status) || (status == 403 && (limitSpent || wait != nil)) {
            return .rateLimited(status: status, retryAfter: wait)
        }
        switch status {
        // No content: the API has nothing for this request (per item, "not found").
        case 204: return .success(.null)
        case 200..<300:
            do {
                var duplicates: [JSON.DuplicateKey] = []
                let json = try JSON.decode(body, duplicates: &duplicates)
                // An API that echoes the request would hand back the key it carried: never kept.
                // One scan of the bytes for a plain secret; one that JSON may spell in more than one
                // way (a quote, a backslash, a slash, a control or non-ASCII character, escaped as
                // the API's encoder likes) is looked for in the decoded answer, where it is itself.
                let answerSecrets = answerSecrets ?? secrets
                let mayEcho = answerSecrets.contains { secret in
                    secret.utf8.contains { $0 == 0x22 || $0 == 0x5C || $0 == 0x2F || $0 < 0x20 || $0 >= 0x80 }
                        || Self.contains(body, secret)
                }
                guard mayEcho else { return .success(json, duplicates: duplicates) }
                let masked = Self.masking(answerSecrets, in: json)
                guard masked != json else { return .success(json, duplicates: duplicates) }
                if let part = kept?(json), Self.masking(answerSecrets, in: part) == part {
                    return .success(masked, duplicates: duplicates)
                }
                return .echoed(masked, duplicates: duplicates)
            } catch {
                // A maintenance page or a login form behind a proxy answers 200 too: say so.
                let said = APIErrorMessage.extract(from: body, hiding: secrets)
                let page = said.hasPrefix("HTML page") ? "\(said), " : ""
                return .transient(
                    "HTTP \(status) with a body that is not valid JSON (\(page)\(body.count) bytes, \(error))"
                        + Self.compression(of: body, contentEncoding: contentEncoding))
            }
        case 400, 422: return .badRequest(APIErrorMessage.extract(from: body, hiding: secrets), status: status)
        case 401: return .unauthorized(APIErrorMessage.extract(from: body, hiding: secrets))
        case 403: return .forbidden(APIErrorMessage.extract(from: body, hiding: secrets))
        // 410 Gone: it was there and is no more, which for a lookup is "not found" too.
        case 404, 410: return .notFound(APIErrorMessage.extract(from: body, hiding: secrets), status: status)
        case 408, 500..<600:
            return .transient(
                "HTTP \(status): \(APIErrorMessage.extract(from: body, hiding: secrets))",
                retryAfter: RetryAfter.parse(retryAfter, now: now))
        case 300..<400: return .redirect(status: status, location: location)
        default: return .final(status: status, message: APIErrorMessage.extract(from: body, hiding: secrets))
        }
    }
}
