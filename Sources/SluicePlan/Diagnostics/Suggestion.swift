/// "Did you mean" suggestions for misspelled keys, kinds and names.
public enum Suggestion {
    /// The candidate closest to `word` by edit distance, if it is close enough to be a likely typo.
    public static func nearest(to word: String, in candidates: some Sequence<String>) -> String? {
        let lowered = word.lowercased()
        var best: (String, Int)?
        for candidate in candidates {
            let d = distance(lowered, candidate.lowercased())
            if best == nil || d < best!.1 { best = (candidate, d) }
        }
        guard let (candidate, d) = best else { return nil }
        let limit = max(1, min(3, candidate.count / 3))
        return d <= limit ? candidate : containedKey(in: lowered, among: candidates)
    }

    /// The one candidate whose words (`max_ids`: max, ids) are all words of `word`, with the
    /// stage's kind or a qualifier around it (`chunk_size` for `size`, `fetch_delay` for `delay`);
    /// `nil` when none or several are.
    private static func containedKey(in word: String, among candidates: some Sequence<String>) -> String? {
        func words(_ text: String) -> Set<String> { Set(text.split { $0 == "_" || $0 == "-" }.map(String.init)) }
        let parts = words(word)
        guard parts.count > 1 else { return nil }
        let found = candidates.filter { candidate in
            let own = words(candidate.lowercased())
            return own.contains { $0.count >= 3 } && own.isSubset(of: parts)
        }
        return found.count == 1 ? found[0] : nil
    }

    /// A "did you mean" note, or nothing.
    static func note(for word: String, in candidates: some Sequence<String>) -> [String] {
        nearest(to: word, in: candidates).map { ["did you mean '\($0)'?"] } ?? []
    }

    /// Damerau-Levenshtein (optimal string alignment) distance.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { d[i][0] = i }
        for j in 0...b.count { d[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
                }
            }
        }
        return d[a.count][b.count]
    }
}
