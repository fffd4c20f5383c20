extension PostgresError {
    /// This error without a detail that holds values of columns outside `columns`, the ones a
    /// statement writes or finds its rows by: a refused row's detail is the whole row
    /// (`Failing row contains (1, ann, hunter2, ...)`), any column of it a secret, and an error
    /// reaches the terminal, the run's record and its log. A detail naming its columns is kept
    /// when each of them is in `columns`: `Key (isrc)=(X) already exists.`, an exclusion's
    /// `Key (...)=(...) conflicts with existing key (...)=(...)`, `Partition key of the failing
    /// row contains (region) = (asia).` Withheld too: any other detail of an integrity
    /// violation (class 23) or a view's `WITH CHECK OPTION` (44000), which the server may word in
    /// another language.
    public func withholdingRowValues(outside columns: Set<String>) -> PostgresError {
        guard let detail else { return self }
        let refusesARow = sqlState?.hasPrefix("23") == true || sqlState?.hasPrefix("44") == true
        let kept =
            Self.namedColumns(in: detail).map { $0.allSatisfy(columns.contains) }
            ?? !(refusesARow || detail.hasPrefix("Failing row contains"))
        guard !kept else { return self }
        var error = self
        error.detail = nil
        return error
    }

    /// The columns a detail's values are of (`Key (a, "B c")=(...)`: `a`, `B c`), unquoted;
    /// `nil` for a detail worded otherwise.
    static func namedColumns(in detail: String) -> [String]? {
        let openings = ["Key (", "Partition key of the failing row contains ("]
        guard let opening = openings.first(where: detail.hasPrefix) else { return nil }
        var names: [String] = []
        var name = ""
        var quoted = false
        var index = detail.index(detail.startIndex, offsetBy: opening.count)
        while index < detail.endIndex {
            let character = detail[index]
            index = detail.index(after: index)
            if quoted {
                if character != "\"" {
                    name.append(character)
                } else if index < detail.endIndex, detail[index] == "\"" {
                    name.append(character)
                    index = detail.index(after: index)
                } else {
                    quoted = false
                }
                continue
            }
            switch character {
            case "\"": quoted = true
            case ",":
                names.append(name)
                name = ""
            case " " where name.isEmpty: continue
            case ")":
                names.append(name)
                return names
            default: name.append(character)
            }
        }
        return nil
    }
}
