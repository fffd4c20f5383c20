import Foundation
import SluiceCore

/// What an API answer means for the fetcher, decided from status, `Retry-After` and body
/// alone. Pure, so every status and body shape is testable without a server.
enum ResponseOutcome: Sendable, Equatable {
    /// 2xx with a JSON body (204, no content: `null`).
    case success(Value)
    /// 400, or 422 (what JSON APIs answer for input they cannot process): the request itself
    /// is wrong (for a batch, usually one bad id; per item, the row's values); the API's message.
    case badRequest(String)
    case unauthorized(String)
    case forbidden(String)
    case notFound(String)
    /// 429, or a status the plan says means "slow down" (a rate-limited API's 503).
    case rateLimited(status: Int, retryAfter: Duration?)
    /// Worth trying again: 5xx, 408, a 2xx whose body is not JSON (truncated).
    case transient(String)
    /// A status that another try will not change.
    case final(status: Int, message: String)

    /// `secrets`: the credentials the request carried, hidden in any message taken from the body.
    static func classify(
        status: Int, retryAfter: String?, body: [UInt8], throttleStatuses: Set<Int> = [], secrets: [String] = [],
        now: Date = Date()
    ) -> ResponseOutcome {
        if status == 429 || throttleStatuses.contains(status) {
            return .rateLimited(status: status, retryAfter: RetryAfter.parse(retryAfter, now: now))
        }
        switch status {
        // No content: the API has nothing for this request (per item, "not found").
        case 204: return .success(.null)
        case 200..<300:
            do {
                return .success(try JSON.decode(body))
            } catch {
                return .transient("HTTP \(status) with a body that is not valid JSON (\(body.count) bytes, \(error))")
            }
        case 400, 422: return .badRequest(APIErrorMessage.extract(from: body, hiding: secrets))
        case 401: return .unauthorized(APIErrorMessage.extract(from: body, hiding: secrets))
        case 403: return .forbidden(APIErrorMessage.extract(from: body, hiding: secrets))
        // 410 Gone: it was there and is no more, which for a lookup is "not found" too.
        case 404, 410: return .notFound(APIErrorMessage.extract(from: body, hiding: secrets))
        case 408, 500..<600:
            return .transient("HTTP \(status): \(APIErrorMessage.extract(from: body, hiding: secrets))")
        default: return .final(status: status, message: APIErrorMessage.extract(from: body, hiding: secrets))
        }
    }
}
