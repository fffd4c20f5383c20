extension Validator {
    /// What the text of a stand-in for quoted text starts with: a character no plan writes, so
    /// that a field named by the stand-in (`['${FIELD}']`) is told from the plan's own.
    static let standInMark: Character = "\u{1}"

    /// An expression with a `${VAR}` that is not set, as `check` sees it: when every such
    /// variable stands inside quoted text (`concat(name, '${SUFFIX}')`), whatever it holds is
    /// text and the rest reads the same, so the expression is parsed with a stand-in for that
    /// text, and its errors, fields and functions are checked as if the variable were set.
    /// - Returns: the expression with its stand-ins, or `nil` when a variable is part of the
    ///   expression itself (`${FIELD} + 1`) or names a field (`['${FIELD}']`): the run checks it.
    mutating func expressionWithStandIns(
        _ s: Scalar, at location: SourceLocation, path: String, what: String
    ) -> Expression? {
        let chars = Array(s.text)
        // The quoted texts, from their opening quote to their closing one (`''` inside is a quote).
        var quoted: [Range<Int>] = []
        var open: (quote: Character, at: Int)?
        var i = 0
        while i < chars.count {
            if let (quote, start) = open {
                if chars[i] == quote, i + 1 < chars.count, chars[i + 1] == quote {
                    i += 2
                    continue
                }
                if chars[i] == quote {
                    quoted.append(start..<(i + 1))
                    open = nil
                }
            } else if chars[i] == "'" || chars[i] == "\"" {
                open = (chars[i], i)
            }
            i += 1
        }
        // Each quoted text holding a variable, with how long it is written in the plan.
        var replaced: [(range: Range<Int>, written: Int)] = []
        for variable in s.unsetVariables {
            guard let text = quoted.first(where: { $0.lowerBound < variable.offset && variable.offset < $0.upperBound })
            else { return nil }
            if let last = replaced.last, last.range == text {
                replaced[replaced.count - 1].written += variable.written.count
            } else {
                replaced.append((text, text.count + variable.written.count))
            }
        }
        // `'yyyy...'`: a valid pattern, a date format; as long as written, where it fits, so that
        // the columns of what follows are the plan's.
        var standIn: [Character] = []
        var next = 0
        for (range, written) in replaced {
            standIn += chars[next..<range.lowerBound]
            let quote = chars[range.lowerBound]
            let body = [Self.standInMark] + Array(repeating: Character("y"), count: max(4, written - 3))
            standIn += [quote] + body + [quote]
            next = range.upperBound
        }
        standIn += chars[next...]
        let text = String(standIn)
        var reconstructed = s.text
        for variable in s.unsetVariables.reversed() {
            reconstructed.insert(
                contentsOf: variable.written,
                at: reconstructed.index(reconstructed.startIndex, offsetBy: variable.offset))
        }
        let aligned = (s.style == .plain || s.isQuoted) && reconstructed == s.raw && standIn.count == s.raw.count
        do {
            let e = try Expression.parse(text)
            return e.fields.contains { $0.contains(Self.standInMark) } ? nil : e
        } catch {
            guard !error.message.contains(Self.standInMark) else { return nil }
            // The stand-ins are as long as the variables are written: offsets into the plan's text.
            let at = aligned ? location.advanced(intoWrittenValueBy: error.offset) : location
            diagnostics.error(
                "\(what): \(error.message)", at: at, notes: error.notes, code: .invalidValue(path: path))
            return nil
        }
    }
}
