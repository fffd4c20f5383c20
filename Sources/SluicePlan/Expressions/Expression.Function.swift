extension Expression {
    /// The functions an expression may call, in the order the plan reference lists them.
    public enum Function: String, Sendable, CaseIterable {
        case upper, lower, trim, replace, concat, split, join, regex_extract
        case length, first, count, pluck, sum, min, max
        case coalesce, `default`, `if`
        case int, double, number, string, date, datetime
        case round, abs

        /// Functions earlier versions had, with what a plan writes instead.
        static let retired = [
            "spotify_id":
                "spotify_id() is no longer built in (the engine holds no API's knowledge): "
                + "plans/spotify-enrichment.yaml gets the bare id from a URI or URL with regex_extract; "
                + "copy its fetch `id:`"
        ]

        var arity: ClosedRange<Int> {
            switch self {
            case .upper, .lower, .trim, .length, .first, .int, .double, .number, .string, .datetime,
                .abs:
                return 1...1
            case .coalesce, .concat: return 1...16
            case .default, .split, .join, .regex_extract: return 2...2
            case .date, .round, .count, .sum, .min, .max: return 1...2
            case .pluck: return 2...2
            case .replace, .if: return 3...3
            }
        }

        /// How many arguments a function of any number takes at most, said where the signature's
        /// `...` does not: `at most 16 arguments`.
        var argumentLimit: String? {
            signature.contains("...") ? "at most \(arity.upperBound) arguments" : nil
        }

        var signature: String {
            switch self {
            case .upper, .lower, .trim, .length, .int, .double, .number, .string, .datetime, .abs:
                return "\(rawValue)(value)"
            case .coalesce: return "coalesce(value, fallback, ...)"
            case .concat: return "concat(value, ...)"
            case .default: return "default(value, fallback)"
            case .replace: return "replace(value, find, with)"
            case .split: return "split(value, separator)"
            case .join: return "join(list, separator)"
            case .regex_extract: return "regex_extract(value, pattern)"
            case .first: return "first(list)"
            case .count, .sum, .min, .max: return "\(rawValue)(list[, path])"
            case .pluck: return "pluck(list, path)"
            case .if: return "if(condition, then, else)"
            case .date: return "date(value[, format])"
            case .round: return "round(value[, digits])"
            }
        }

        /// One line for the plan reference.
        var summary: String {
            switch self {
            case .upper: return "the text in upper case"
            case .lower: return "the text in lower case"
            case .trim: return "the text without leading and trailing whitespace"
            case .replace: return "the text with every `find` replaced by `with`"
            case .concat: return "the arguments' text joined; null ones count as empty (null if all are null)"
            case .split: return "a list of the text's pieces between `separator`s (null for an empty separator)"
            case .join: return "the list's non-null items as text, `separator` between them"
            case .regex_extract:
                return
                    "the pattern's first capture group in the text, or the whole match when it has no group; "
                    + "null when nothing matches"
            case .length:
                return
                    "characters in a text (Unicode code points, as PostgreSQL counts them), items in a list, keys in "
                    + "an object"
            case .first: return "a list's first item"
            case .count:
                return
                    "how many of the list's items are not null; with `path`, how many have a value at that key "
                    + "path that reads as true (see above): `count(response, 'pull_request')`"
            case .pluck:
                return
                    "the list of each item's value at the key path `path` (null where it has none), e.g. "
                    + "`join(pluck(response, 'name'), ';')`"
            case .sum:
                return
                    "the sum of the list's numbers (or of the values at `path`), as `+` adds them; items that are "
                    + "not numbers are skipped, and no numbers give null"
            case .min: return "the smallest of the list's numbers (or of the values at `path`), as `sum` picks them"
            case .max: return "the largest of the list's numbers (or of the values at `path`), as `sum` picks them"
            case .coalesce: return "the first argument that is neither null nor empty text"
            case .default: return "`value` unless it is null or empty text, else `fallback`"
            case .if:
                return "`then` when `condition` reads as true (see above), else `else`; only that one is evaluated"
            case .int: return "a whole number from an int, a whole double or integer text"
            case .double: return "the nearest double to a number or numeric text (null past a double's range)"
            case .number:
                return "an int or a double from a number or numeric text (`'42'` gives 42, `'4.5'` 4.5): decimal "
                    + "digits only (`'0x1A'` is not numeric); a number a double would not give back as written "
                    + "(`'1.50'`, past 15 significant digits) keeps its digits as written"
            case .string: return "the value as text (lists and objects as JSON)"
            case .date:
                return
                    "`YYYY-MM-DD` from `2024-03-05`, `2024-03-05T10:00:00Z`, `2024-03` (the 1st) or `2024` "
                    + "(1 January), the calendar date as written; or read with `format` "
                    + "(`yyyy`, `MM`, `dd`; `HH`, `mm`, `ss` are read and ignored), e.g. `date(d, 'dd/MM/yyyy')`"
            case .datetime:
                return
                    "`YYYY-MM-DDTHH:MM:SSZ` in UTC from ISO-8601 text (an offset such as `+02:00` is applied; "
                    + "none means UTC; fractions of a second are dropped) or from unix epoch seconds given as a "
                    + "number (text is read as a date, so a CSV cell's digits need `datetime(int(cell))`)"
            case .round:
                return
                    "rounded half away from zero to `digits` decimals (default 0; negative rounds to tens, "
                    + "hundreds…); an int unless `digits` is positive and the value a double"
            case .abs: return "the absolute value"
            }
        }
    }
}
