import Foundation

/// ISO-8601 dates and UTC date-times read and written by hand: no locale, no time zone
/// database, no shared formatter, the same on every platform, and nothing to lock per row.
enum DateText {
    /// A calendar date and time of day, fields already range-checked.
    struct Civil: Equatable {
        var year, month, day: Int
        var hour = 0, minute = 0, second = 0
        /// Seconds east of UTC the text was written in.
        var offset = 0
    }

    /// `YYYY-MM-DD` of the date `text` writes, without shifting for its time zone.
    static func date(_ text: String) -> String? { iso(text).map { formatDate($0) } }

    /// `YYYY-MM-DD` of `text` read with `format`: `yyyy` is four digits, `MM` and `dd` one or
    /// two, `HH`, `mm` and `ss` one or two and ignored; other format characters must appear
    /// as written. A missing month or day is the first.
    static func date(_ text: String, format: String) -> String? {
        let t = Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        let f = Array(format.utf8)
        var (i, j) = (0, 0)
        var fields: [String: Int] = [:]
        func token(_ s: String) -> Bool { f[j...].starts(with: s.utf8) }
        while j < f.count {
            if let name = ["yyyy", "MM", "dd", "HH", "mm", "ss"].first(where: token) {
                let width = name == "yyyy" ? 4...4 : 1...2
                var digits = 0
                var value = 0
                while digits < width.upperBound, i < t.count, let d = digit(t[i]) {
                    value = value * 10 + d
                    digits += 1
                    i += 1
                }
                guard width.contains(digits), fields[name] == nil else { return nil }
                fields[name] = value
                j += name.utf8.count
            } else {
                guard i < t.count, t[i] == f[j] else { return nil }
                i += 1
                j += 1
            }
        }
        guard i == t.count, let year = fields["yyyy"],
            let c = civil(
                year, fields["MM"] ?? 1, fields["dd"] ?? 1, fields["HH"] ?? 0, fields["mm"] ?? 0, fields["ss"] ?? 0)
        else { return nil }
        return formatDate(c)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, in UTC, of the instant `text` writes (no offset means UTC).
    static func datetime(_ text: String) -> String? {
        guard let c = iso(text) else { return nil }
        return datetime(
            epochSeconds: Int64(daysFromCivil(c.year, c.month, c.day)) * 86_400
                + Int64(c.hour * 3600 + c.minute * 60 + c.second - c.offset))
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` of unix time `seconds`; nil outside years 1–9999.
    static func datetime(epochSeconds seconds: Int64) -> String? {
        // -62135596800 is 0001-01-01T00:00:00Z, 253402300799 is 9999-12-31T23:59:59Z.
        guard (-62_135_596_800...253_402_300_799).contains(seconds) else { return nil }
        let (days, rest) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(86_400))
        let (y, m, d) = civilFromDays(Int(days))
        let c = Civil(
            year: y, month: m, day: d, hour: Int(rest / 3600), minute: Int(rest % 3600 / 60), second: Int(rest % 60))
        return formatDate(c) + "T" + pad(c.hour, 2) + ":" + pad(c.minute, 2) + ":" + pad(c.second, 2) + "Z"
    }

    /// `2024`, `2024-03`, `2024-03-05`, then optionally `T` (or a space) and `HH:MM[:SS[.fff]]`
    /// and `Z`, `±HH:MM`, `±HHMM` or `±HH`.
    static func iso(_ text: String) -> Civil? {
        var s = Scanner(Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8))
        guard let year = s.digits(4) else { return nil }
        var (month, day) = (1, 1)
        var (hour, minute, second, offset) = (0, 0, 0, 0)
        if s.take("-") {
            guard let m = s.digits(2) else { return nil }
            month = m
            if s.take("-") {
                guard let d = s.digits(2) else { return nil }
                day = d
                if s.take("T") || s.take("t") || s.take(" ") {
                    guard let h = s.digits(2), s.take(":"), let mi = s.digits(2) else { return nil }
                    (hour, minute) = (h, mi)
                    if s.take(":") {
                        guard let se = s.digits(2) else { return nil }
                        second = se
                        if s.take(".") || s.take(",") {
                            guard s.skipDigits() > 0 else { return nil }
                        }
                    }
                    if !(s.take("Z") || s.take("z")), let sign = s.sign() {
                        guard let oh = s.digits(2), oh <= 23 else { return nil }
                        var om = 0
                        if s.take(":") {
                            guard let m = s.digits(2) else { return nil }
                            om = m
                        } else if let m = s.digits(2) {
                            om = m
                        }
                        guard om <= 59 else { return nil }
                        offset = sign * (oh * 3600 + om * 60)
                    }
                }
            }
        }
        guard s.atEnd, var c = civil(year, month, day, hour, minute, second) else { return nil }
        c.offset = offset
        return c
    }

    /// The fields as a ``Civil`` when they name a real date and time in years 1–9999.
    static func civil(_ y: Int, _ m: Int, _ d: Int, _ h: Int, _ mi: Int, _ s: Int) -> Civil? {
        guard (1...9999).contains(y), (1...12).contains(m), (1...daysIn(m, of: y)).contains(d), (0...23).contains(h),
            (0...59).contains(mi), (0...59).contains(s)
        else { return nil }
        return Civil(year: y, month: m, day: d, hour: h, minute: mi, second: s)
    }

    static func daysIn(_ month: Int, of year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func formatDate(_ c: Civil) -> String { pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2) }

    static func pad(_ n: Int, _ width: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func digit(_ byte: UInt8) -> Int? { (48...57).contains(byte) ? Int(byte - 48) : nil }

    /// A cursor over UTF-8 bytes.
    struct Scanner {
        let bytes: [UInt8]
        var i = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { i == bytes.count }

        mutating func take(_ c: Unicode.Scalar) -> Bool {
            guard i < bytes.count, bytes[i] == UInt8(ascii: c) else { return false }
            i += 1
            return true
        }

        /// Exactly `count` digits as a number.
        mutating func digits(_ count: Int) -> Int? {
            guard i + count <= bytes.count else { return nil }
            var value = 0
            for k in i..<(i + count) {
                guard let d = DateText.digit(bytes[k]) else { return nil }
                value = value * 10 + d
            }
            i += count
            return value
        }

        /// 1 for `+`, -1 for `-`, nil for anything else.
        mutating func sign() -> Int? {
            if take("+") { return 1 }
            if take("-") { return -1 }
            return nil
        }

        mutating func skipDigits() -> Int {
            let start = i
            while i < bytes.count, DateText.digit(bytes[i]) != nil { i += 1 }
            return i - start
        }
    }
}

extension Int64 {
    fileprivate func floorDivided(by d: Int64) -> Int64 { (self - floorModulo(d)) / d }
    fileprivate func floorModulo(_ d: Int64) -> Int64 { ((self % d) + d) % d }
}
