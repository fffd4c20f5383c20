/// Spotify's id format: exactly 22 characters of base62 (`0-9a-zA-Z`).
enum SpotifyID {
    static let length = 22
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    /// Whether `text` is a well-formed id. A URI, a URL, or a trailing space is not.
    static func isWellFormed(_ text: some StringProtocol) -> Bool {
        let bytes = text.utf8
        return bytes.count == length && bytes.allSatisfy(isBase62)
    }

    static func isBase62(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    /// Writes `value` as exactly `width` base62 digits, most significant first (truncating high digits).
    static func encode(_ value: UInt64, width: Int) -> String {
        var digits = [UInt8](repeating: alphabet[0], count: width)
        var rest = value
        for position in stride(from: width - 1, through: 0, by: -1) {
            digits[position] = alphabet[Int(rest % 62)]
            rest /= 62
        }
        return String(decoding: digits, as: UTF8.self)
    }

    /// Reads base62 digits back into a number; `nil` for a character outside the alphabet.
    static func decode(_ text: some StringProtocol) -> UInt64? {
        var value: UInt64 = 0
        for byte in text.utf8 {
            guard let digit = alphabet.firstIndex(of: byte) else { return nil }
            value = value &* 62 &+ UInt64(digit)
        }
        return value
    }
}
