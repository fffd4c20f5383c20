import Foundation
import SluiceCore

/// The human part of an error answer: Spotify's `{"error":{"status":400,"message":"invalid id"}}`,
/// OAuth's `{"error":"invalid_client","error_description":"Invalid client"}`, or the title of
/// an HTML error page from a proxy.
enum APIErrorMessage {
    static let textLimit = 200

    /// The message in an error answer; `hiding` the credentials sent with the request, which an
    /// API may echo (`you sent Bearer ...`): they become `***`, here and in every file or log the
    /// message reaches, in each form they may come back in (``ResponseOutcome/forms(of:)``).
    static func extract(from body: [UInt8], hiding secrets: [String]) -> String {
        let forms = ResponseOutcome.forms(of: secrets)
        guard !forms.isEmpty else { return extract(from: body) }
        return extract(
            from: Array(Redaction.masking(forms, in: String(decoding: body, as: UTF8.self), anywhere: true).utf8))
    }

    static func extract(from body: [UInt8]) -> String {
        if let json = try? JSON.decode(body) {
            return extract(from: json) ?? shortened(JSON.encode(json))
        }
        let text = String(decoding: body.prefix(64 * 1024), as: UTF8.self)
        if let title = htmlTitle(text) { return "HTML page: \(title)" }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return "empty body" }
        if trimmed.hasPrefix("<") { return "HTML page" }
        return shortened(trimmed)
    }

    static func extract(from json: Value) -> String? {
        let error = json["error"]
        if let message = error["message"].stringValue { return message }
        if let code = error.stringValue {
            return json["error_description"].stringValue.map { "\(code) (\($0))" } ?? code
        }
        return json["message"].stringValue
    }

    private static func htmlTitle(_ text: String) -> String? {
        guard let open = text.range(of: "<title>", options: .caseInsensitive),
            let close = text.range(of: "</title>", options: .caseInsensitive, range: open.upperBound..<text.endIndex)
        else { return nil }
        return shortened(text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private static func shortened(_ text: String) -> String {
        text.count <= textLimit ? text : text.prefix(textLimit) + "…"
    }
}
