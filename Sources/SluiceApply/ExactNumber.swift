/// A number exactly as the server printed it, for a review's figures: a `bigint` near 2^63 or a
/// `numeric` of 30 digits keeps every digit, where a `Double` would print `9.2233720368547758e+18`
/// or `1e+20`. A whole number that fits in 64 bits (most cells) is held as one, without
/// allocating; any other as its decimal digits and a power of ten. Equal values are equal
/// however they were spelt (`1.50`, `1.5`, `15e-1`; `-0` and `0`).
public enum ExactNumber: Sendable, Hashable {
    case integer(Int64)
    /// `digits` × 10^`exponent`, negated when `negative`: the digits (0-9, most significant
    /// first) have no leading or trailing zero, and the value is not zero, nor a whole number
    /// that fits ``integer``.
    case decimal(negative: Bool, digits: [UInt8], exponent: Int)

    /// Reads a number as PostgreSQL prints one (`-12`, `3.25`, `1e+20`, `1.5E-7`); `nil` for
    /// anything else, `NaN` and the infinities included (they have no place on an axis).
    public init?(_ text: String) {
        if let integer = Int64(text) {
            self = .integer(integer)
            return
        }
        var bytes = Substring(text).utf8[...]
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var digits: [UInt8] = []
        var exponent = 0
        var seenPoint = false
        var seenDigit = false
        while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: "."), !seenPoint {
                seenPoint = true
            } else if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) {
                seenDigit = true
                digits.append(byte - UInt8(ascii: "0"))
                if seenPoint { exponent -= 1 }
            } else {
                return nil
            }
        }
        guard seenDigit else { return nil }
        if !bytes.isEmpty {
            // An exponent: bounded, so that no text makes a number of a million digits.
            guard let power = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)), abs(power) < 100_000 else {
                return nil
            }
            exponent += power
        }
        self = Self.make(negative: negative, digits: digits, exponent: exponent)
    }

    /// The canonical form of `digits` × 10^`exponent` (digits may have leading or trailing zeros).
    static func make(negative: Bool, digits: [UInt8], exponent: Int) -> ExactNumber {
        guard let first = digits.firstIndex(where: { $0 != 0 }) else { return .integer(0) }
        let last = digits.lastIndex(where: { $0 != 0 })!
        let significant = Array(digits[first...last])
        let exponent = exponent + (digits.count - 1 - last)
        if exponent >= 0, significant.count + exponent <= 19 {
            var magnitude: UInt64 = 0
            for digit in significant { magnitude = magnitude * 10 + UInt64(digit) }
            for _ in 0..<exponent { magnitude *= 10 }
            if negative, magnitude <= UInt64(Int64.max) + 1 {
                return .integer(magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude))
            }
            if !negative, magnitude <= UInt64(Int64.max) { return .integer(Int64(magnitude)) }
        }
        return .decimal(negative: negative, digits: significant, exponent: exponent)
    }

    /// The sign, digits and power of ten of any value (an integer's digits may end in zeros).
    private var parts: (negative: Bool, digits: [UInt8], exponent: Int) {
        switch self {
        case .integer(let value):
            return (value < 0, String(value.magnitude).utf8.map { $0 - UInt8(ascii: "0") }, 0)
        case .decimal(let negative, let digits, let exponent):
            return (negative, digits, exponent)
        }
    }

    /// The nearest double, for drawing on an axis and ordering the biggest changes.
    public var double: Double {
        switch self {
        case .integer(let value): return Double(value)
        case .decimal: return Double(description) ?? 0
        }
    }

    /// Half of the value, exactly: the mean of the two middle values of an even count.
    public var halved: ExactNumber {
        if case .integer(let value) = self, value % 2 == 0 { return .integer(value / 2) }
        // x / 2 = 5x / 10.
        let (negative, digits, exponent) = parts
        return Self.make(negative: negative, digits: Self.multiply(digits, by: 5), exponent: exponent - 1)
    }

    /// The value rounded to `places` decimals, halves away from zero.
    public func rounded(places: Int) -> ExactNumber {
        guard case .decimal(let negative, let digits, let exponent) = self, exponent < -places else { return self }
        let dropped = -places - exponent
        guard dropped <= digits.count else { return .integer(0) }
        var kept = Array(digits.prefix(digits.count - dropped))
        if digits[digits.count - dropped] >= 5 { kept = Self.add(kept, [1]) }
        return Self.make(negative: negative, digits: kept, exponent: -places)
    }

    public static func + (lhs: ExactNumber, rhs: ExactNumber) -> ExactNumber {
        if case .integer(let a) = lhs, case .integer(let b) = rhs {
            let (sum, overflow) = a.addingReportingOverflow(b)
            if !overflow { return .integer(sum) }
        }
        let (a, b) = (lhs.parts, rhs.parts)
        let exponent = min(a.exponent, b.exponent)
        let x = a.digits + Array(repeating: 0, count: a.exponent - exponent)
        let y = b.digits + Array(repeating: 0, count: b.exponent - exponent)
        if a.negative == b.negative { return make(negative: a.negative, digits: add(x, y), exponent: exponent) }
        // Opposite signs: the larger magnitude's sign, and the difference of the magnitudes.
        if compare(x, y) >= 0 { return make(negative: a.negative, digits: subtract(x, y), exponent: exponent) }
        return make(negative: b.negative, digits: subtract(y, x), exponent: exponent)
    }

    public static prefix func - (value: ExactNumber) -> ExactNumber {
        if case .integer(let v) = value, v != .min { return .integer(-v) }
        let (negative, digits, exponent) = value.parts
        return make(negative: !negative, digits: digits, exponent: exponent)
    }

    public static func - (lhs: ExactNumber, rhs: ExactNumber) -> ExactNumber { lhs + -rhs }

    /// Magnitudes of the same length of digits compared; a shorter one is smaller.
    private static func compare(_ x: [UInt8], _ y: [UInt8]) -> Int {
        let (x, y) = (Array(x.drop { $0 == 0 }), Array(y.drop { $0 == 0 }))
        if x.count != y.count { return x.count < y.count ? -1 : 1 }
        for (a, b) in zip(x, y) where a != b { return a < b ? -1 : 1 }
        return 0
    }

    private static func add(_ x: [UInt8], _ y: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var carry: UInt8 = 0
        var (i, j) = (x.count - 1, y.count - 1)
        while i >= 0 || j >= 0 || carry > 0 {
            let sum = (i >= 0 ? x[i] : 0) + (j >= 0 ? y[j] : 0) + carry
            out.append(sum % 10)
            carry = sum / 10
            (i, j) = (i - 1, j - 1)
        }
        return out.reversed()
    }

    /// `x - y` for `x` ≥ `y`.
    private static func subtract(_ x: [UInt8], _ y: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var borrow: Int = 0
        var j = y.count - 1
        for i in stride(from: x.count - 1, through: 0, by: -1) {
            var difference = Int(x[i]) - (j >= 0 ? Int(y[j]) : 0) - borrow
            borrow = difference < 0 ? 1 : 0
            if difference < 0 { difference += 10 }
            out.append(UInt8(difference))
            j -= 1
        }
        return out.reversed()
    }

    private static func multiply(_ x: [UInt8], by factor: UInt8) -> [UInt8] {
        var out: [UInt8] = []
        var carry: UInt8 = 0
        for digit in x.reversed() {
            let product = digit * factor + carry
            out.append(product % 10)
            carry = product / 10
        }
        if carry > 0 { out.append(carry) }
        return out.reversed()
    }
}

extension ExactNumber: Comparable {
    public static func < (lhs: ExactNumber, rhs: ExactNumber) -> Bool {
        if case .integer(let a) = lhs, case .integer(let b) = rhs { return a < b }
        let (a, b) = (lhs.parts, rhs.parts)
        let (zeroA, zeroB) = (lhs == .integer(0), rhs == .integer(0))
        // By sign first (zero has none), then by magnitude, reversed for negatives.
        let signA = zeroA ? 0 : a.negative ? -1 : 1
        let signB = zeroB ? 0 : b.negative ? -1 : 1
        if signA != signB { return signA < signB }
        // The position of the leading digit, then the digits from there.
        let (topA, topB) = (a.digits.count + a.exponent, b.digits.count + b.exponent)
        let magnitudeLess: Bool
        if topA != topB {
            magnitudeLess = topA < topB
        } else {
            let (x, y) = (a.digits.drop { $0 == 0 }, b.digits.drop { $0 == 0 })
            magnitudeLess = x.lexicographicallyPrecedes(y)
            if !magnitudeLess, x.elementsEqual(y) { return false }
        }
        return signA < 0 ? !magnitudeLess : magnitudeLess
    }
}

extension ExactNumber: CustomStringConvertible {
    /// Every digit, no exponent: `9223372036854775807`, `100000000000000000000`, `-0.000015`.
    public var description: String {
        let (negative, digits, exponent): (Bool, [UInt8], Int)
        switch self {
        case .integer(let value): return String(value)
        case .decimal(let sign, let significant, let power): (negative, digits, exponent) = (sign, significant, power)
        }
        var text = negative ? "-" : ""
        let characters = digits.map { Character(Unicode.Scalar($0 + UInt8(ascii: "0"))) }
        if exponent >= 0 {
            text += String(characters) + String(repeating: "0", count: exponent)
        } else {
            let point = characters.count + exponent
            if point <= 0 {
                text += "0." + String(repeating: "0", count: -point) + String(characters)
            } else {
                text += String(characters[..<point]) + "." + String(characters[point...])
            }
        }
        return text
    }
}

extension ExactNumber {
    /// The most digits a number is shown with in full (``shown``).
    static let shownDigits = 30

    /// The value as people read it: ``description`` (every digit, no exponent), unless that
    /// takes more than ``shownDigits`` digits and scientific notation is shorter: then the same
    /// digits, every one of them, times a power of ten (`1e-300`, `-1.25e+40`), where the plain
    /// form would run to 300 digits (`0.000…0001`) that no one counts.
    public var shown: String {
        let plain = description
        guard case .decimal(let negative, let digits, let exponent) = self,
            plain.utf8.count(where: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) > Self.shownDigits
        else { return plain }
        let characters = digits.map { Character(Unicode.Scalar($0 + UInt8(ascii: "0"))) }
        let power = digits.count - 1 + exponent
        let mantissa = String(characters[0]) + (characters.count > 1 ? "." + String(characters.dropFirst()) : "")
        let scientific = (negative ? "-" : "") + mantissa + "e" + (power < 0 ? "-" : "+") + String(power.magnitude)
        return scientific.utf8.count < plain.utf8.count ? scientific : plain
    }
}

extension ExactNumber: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
}
