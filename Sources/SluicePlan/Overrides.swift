import SluiceCore

/// `--set STAGE.PARAM=VALUE` overrides, applied to the node tree before validation so an
/// override is typed and checked exactly like the same value written in the file.
///
/// `STAGE` is a stage's name (which defaults to its kind); `PARAM` may be a dotted path
/// into nested mappings (`apply.columns.isrc.on_empty=keep`). `connections.NAME.KEY=VALUE`
/// overrides a connection, and `name=` / `description=` the plan's own keys. `VALUE` is
/// read as YAML, so `20` is a number, `0.5s` a duration, `[a, b]` a list.
enum Overrides {
    /// The first `recorded` of `overrides` are those a replayed run recorded, numbered apart
    /// from the command's own (`recorded --set:1`, `--set:1`).
    static func apply(
        _ overrides: [String], recorded: Int = 0, to root: inout Node, reader: YAMLReader,
        diagnostics: inout DiagnosticBag
    ) {
        for (i, text) in overrides.enumerated() {
            let shown = i < recorded ? "recorded --set:\(i + 1)" : "--set:\(i + 1 - recorded)"
            let source = SourceText(name: "--set", text: text, order: i + 1, shownName: shown)
            let start = SourceLocation(source: source, line: 1, column: 1)
            guard let eq = text.firstIndex(of: "=") else {
                diagnostics.error(
                    "expected STAGE.PARAM=VALUE, found '\(text)'", at: start,
                    notes: ["for example: --set chunk.size=20 or --set fetch.delay=0.5s"])
                continue
            }
            let keyPath = text[..<eq].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            let valueOffset = text.distance(from: text.startIndex, to: eq) + 1
            let valueText = String(text[text.index(after: eq)...])
            if keyPath.contains(where: \.isEmpty) || keyPath.count < 1 {
                diagnostics.error("'\(text[..<eq])' is not a parameter path (expected STAGE.PARAM)", at: start)
                continue
            }
            let value: Node
            // A value that YAML reads as something other than its text: how to give the text (a
            // secret's, an auth token starting with `[`, is not repeated).
            let secret = keyPath.contains { Redaction.isSecretName($0) || $0 == "headers" || $0 == "url" }
            let quoteIt = valueText.first.map { first in
                let what =
                    first == "[" ? "a YAML list" : first == "{" ? "a YAML mapping" : "YAML syntax, not text"
                return "a value starting with '\(first)' is read as \(what); "
                    + "to give it as text (a pattern, a separator), quote it: --set '\(text[..<eq])=\"\(secret ? "..." : valueText)\"'"
            }
            do {
                let parsed = try reader.read(Array(valueText.utf8), source: source)
                // `|` or `>` starts a block scalar: on one line it is empty, never the character.
                if case .scalar(let s)? = parsed?.content, s.style == .literal || s.style == .folded,
                    !valueText.contains("\n"), let quoteIt
                {
                    diagnostics.error(
                        "'\(valueText)' is an empty YAML block scalar", at: start.advanced(by: valueOffset),
                        notes: [quoteIt])
                    continue
                }
                // `&name` marks a node; alone it marks an empty one, never the text.
                if case .scalar(let s)? = parsed?.content, s.style == .plain, s.text.isEmpty,
                    valueText.first == "&", let quoteIt
                {
                    diagnostics.error(
                        "'\(valueText)' is a YAML anchor with no value, not text", at: start.advanced(by: valueOffset),
                        notes: [quoteIt])
                    continue
                }
                value = shifted(parsed ?? Node(.scalar(Scalar(text: "", style: .plain)), at: start), by: valueOffset)
            } catch {
                // A tag alone (`!x`): refused as any tag is, said as the mark of an empty node it is.
                if valueText.first == "!", !valueText.contains(where: \.isWhitespace), let quoteIt {
                    diagnostics.error(
                        "'\(valueText)' is a YAML tag with no value, not text", at: start.advanced(by: valueOffset),
                        notes: [quoteIt])
                    continue
                }
                for var d in error.diagnostics {
                    // A one-line value's error past its line (libyaml's "end of input") is at its end.
                    d.location = d.location.map {
                        $0.line > 1 && !valueText.contains("\n")
                            ? start.advanced(by: text.count) : $0.advanced(by: valueOffset)
                    }
                    if let first = valueText.first, "[{@`&*!%".contains(first), let quoteIt { d.notes.append(quoteIt) }
                    diagnostics.append(contentsOf: [d])
                }
                continue
            }
            let keyLocation = start
            if keyPath.count == 1, ["name", "description"].contains(keyPath[0]) {
                set(&root, path: keyPath, value: value, keyLocation: keyLocation, diagnostics: &diagnostics)
                continue
            }
            if keyPath[0] == "connections" {
                guard keyPath.count >= 3 else {
                    diagnostics.error("expected connections.NAME.KEY=VALUE", at: start)
                    continue
                }
                set(
                    &root, path: keyPath, value: value, keyLocation: keyLocation, diagnostics: &diagnostics,
                    mustExist: 2)
                continue
            }
            guard keyPath.count >= 2 else {
                let names = (root["stages"]?.elements ?? []).compactMap { ($0["name"] ?? $0["kind"])?.scalar?.text }
                if keyPath[0] == "stages" {
                    // The list is the plan's own: --set changes what is in it, one parameter at a time.
                    diagnostics.error(
                        "--set cannot replace the plan's stages: it sets one parameter of one stage, "
                            + "--set STAGE.PARAM=VALUE", at: start,
                        notes: ["add, remove or reorder stages in the plan file"]
                            + (names.isEmpty ? [] : ["stages: " + names.joined(separator: ", ")]))
                } else if names.contains(keyPath[0]) {
                    diagnostics.error(
                        "expected STAGE.PARAM=VALUE, found '\(text)'", at: start,
                        notes: ["name one of its parameters: --set \(keyPath[0]).PARAM=VALUE"])
                } else {
                    // `--set version=2` (or a stage name misspelt): `name=` is taken, so say what is.
                    diagnostics.error(
                        "--set cannot set '\(keyPath[0])': it takes STAGE.PARAM=VALUE, connections.NAME.KEY=VALUE, "
                            + "name=VALUE or description=VALUE", at: start,
                        notes: ["for example: --set chunk.size=20 or --set fetch.delay=0.5s"]
                            + (names.isEmpty ? [] : ["stages: " + names.joined(separator: ", ")]))
                }
                continue
            }
            setStage(
                &root, stage: keyPath[0], path: Array(keyPath.dropFirst()), value: value, keyLocation: keyLocation,
                diagnostics: &diagnostics)
        }
    }

    /// Moves every location in a tree parsed from the value part of `--set K=V` past `K=`.
    static func shifted(_ node: Node, by offset: Int) -> Node {
        var n = node
        if n.location.line == 1 { n.location = n.location.advanced(by: offset) }
        switch n.content {
        case .scalar: break
        case .sequence(let e): n.content = .sequence(e.map { shifted($0, by: offset) })
        case .mapping(let p):
            n.content = .mapping(
                p.map { .init(key: shifted($0.key, by: offset), value: shifted($0.value, by: offset)) })
        }
        return n
    }

    static func setStage(
        _ root: inout Node, stage: String, path: [String], value: Node, keyLocation: SourceLocation,
        diagnostics: inout DiagnosticBag
    ) {
        guard case .mapping(var pairs) = root.content,
            let stagesIndex = pairs.firstIndex(where: { $0.key.scalar?.text == "stages" }),
            case .sequence(var stages) = pairs[stagesIndex].value.content
        else {
            diagnostics.error("the plan has no stages to override", at: keyLocation)
            return
        }
        func name(_ n: Node) -> String? { n["name"]?.scalar?.text ?? n["kind"]?.scalar?.text }
        guard let i = stages.firstIndex(where: { name($0) == stage }) else {
            let names = stages.compactMap(name)
            diagnostics.error(
                "--set names stage '\(stage)', but the plan has no stage of that name", at: keyLocation,
                notes: Suggestion.note(for: stage, in: names) + ["stages: " + names.joined(separator: ", ")])
            return
        }
        if path.count == 1, path[0] == "name" || path[0] == "kind" {
            diagnostics.error("--set cannot change a stage's \(path[0])", at: keyLocation)
            return
        }
        var target = stages[i]
        // The parameter's own place in the --set, past `STAGE.`: where a misspelt key is shown.
        set(
            &target, path: path, value: value, keyLocation: keyLocation.advanced(by: stage.count + 1),
            diagnostics: &diagnostics)
        stages[i] = target
        pairs[stagesIndex].value.content = .sequence(stages)
        root.content = .mapping(pairs)
    }

    /// Sets `path` inside a mapping node, creating intermediate mappings.
    /// The first `mustExist` components must already be there.
    static func set(
        _ node: inout Node, path: [String], value: Node, keyLocation: SourceLocation,
        diagnostics: inout DiagnosticBag, mustExist: Int = 0
    ) {
        guard case .mapping(var pairs) = node.content else {
            diagnostics.error(
                "cannot set '\(path.joined(separator: "."))': \(node.kindDescription) is not a mapping",
                at: keyLocation)
            return
        }
        let key = path[0]
        // `checks[0]`: not a key, and a list's items have no path of their own here.
        if let bracket = key.firstIndex(of: "["), key.hasSuffix("]") {
            let list = (keyLocation.source.line(1) ?? key).prefix { $0 != "[" }
            diagnostics.error(
                "--set cannot change one item of a list ('\(key)'): it replaces '\(key[..<bracket])' whole",
                at: keyLocation, notes: ["for example: --set '\(list)=[{...}, {...}]', every item written out"])
            return
        }
        let keyNode = Node(.scalar(Scalar(text: key, style: .plain)), at: keyLocation)
        if path.count == 1 {
            if let j = pairs.firstIndex(where: { $0.key.scalar?.text == key }) {
                // `--set fetch.delay=$DELAY` with DELAY unset: the plan's pacing would go silently.
                if case .scalar(let given) = value.content, given.text.isEmpty, given.style == .plain,
                    case .scalar(let was) = pairs[j].value.content, !was.text.isEmpty
                {
                    let secret = Redaction.isSecretName(key) || key == "url"
                    let given = (keyLocation.source.line(1) ?? key).prefix { $0 != "=" }
                    diagnostics.warning(
                        "--set \(given)= is empty: it restores the default, replacing the plan's "
                            + (secret ? "value" : "'\(was.raw)'"),
                        at: keyLocation, notes: ["to keep the plan's value, leave this --set out"])
                }
                pairs[j].value = value
            } else {
                pairs.append(.init(key: keyNode, value: value))
            }
        } else if let j = pairs.firstIndex(where: { $0.key.scalar?.text == key }) {
            var child = pairs[j].value
            set(
                &child, path: Array(path.dropFirst()), value: value,
                keyLocation: keyLocation.advanced(by: key.count + 1),
                diagnostics: &diagnostics, mustExist: mustExist - 1)
            pairs[j].value = child
        } else if mustExist > 0 {
            let known = pairs.compactMap { $0.key.scalar?.text }
            diagnostics.error(
                "--set names '\(key)', which the plan does not define", at: keyLocation,
                notes: Suggestion.note(for: key, in: known))
            return
        } else {
            var child = Node(.mapping([]), at: keyLocation)
            set(
                &child, path: Array(path.dropFirst()), value: value,
                keyLocation: keyLocation.advanced(by: key.count + 1),
                diagnostics: &diagnostics)
            pairs.append(.init(key: keyNode, value: child))
        }
        node.content = .mapping(pairs)
    }
}
