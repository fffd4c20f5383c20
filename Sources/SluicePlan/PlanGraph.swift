import Foundation

/// Renders a plan's stages and connections as a Mermaid flowchart or a Graphviz digraph.
public enum PlanGraph {
    public enum Format: String, Sendable, CaseIterable {
        case mermaid, dot
    }

    public static func render(_ plan: Plan, format: Format) -> String {
        switch format {
        case .mermaid: return mermaid(plan)
        case .dot: return dot(plan)
        }
    }

    /// A node id for `name`, different for every name (`w-a` and `w_a` are two stages): ASCII
    /// letters and digits as they are, `_` doubled, any other character as `_<hex>_`.
    static func id(_ prefix: String, _ name: String) -> String {
        var id = prefix + "_"
        for scalar in name.unicodeScalars {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                id.unicodeScalars.append(scalar)
            } else if scalar == "_" {
                id += "__"
            } else {
                id += "_" + String(scalar.value, radix: 16) + "_"
            }
        }
        return id
    }

    static func label(_ stage: StageDefinition) -> String {
        stage.name == stage.kind.rawValue ? stage.name : "\(stage.name) (\(stage.kind.rawValue))"
    }

    static func mermaid(_ plan: Plan) -> String {
        var lines = ["flowchart LR"]
        for c in plan.connections {
            let shape = c.kind == .postgres ? "[(\"\(escape(c.name))\")]" : "{{\"\(escape(c.name))\"}}"
            lines.append("    \(id("c", c.name))\(shape)")
        }
        for s in plan.stages {
            let text = escape(label(s)) + (s.requiresApproval ? " ⏸ approval" : "")
            lines.append("    \(id("s", s.name))[\"\(text)\"]")
        }
        for s in plan.stages {
            if let input = s.input { lines.append("    \(id("s", input)) --> \(id("s", s.name))") }
            if let c = s.configuration.connection {
                lines.append("    \(id("s", s.name)) -.- \(id("c", c))")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func dot(_ plan: Plan) -> String {
        var lines = [
            "digraph \"\(escape(plan.name))\" {", "    rankdir=LR;", "    node [shape=box, fontname=\"Helvetica\"];",
        ]
        for c in plan.connections {
            let shape = c.kind == .postgres ? "cylinder" : "hexagon"
            lines.append("    \(id("c", c.name)) [label=\"\(escape(c.name))\", shape=\(shape)];")
        }
        for s in plan.stages {
            let style = s.requiresApproval ? ", style=dashed, xlabel=\"approval\"" : ""
            lines.append("    \(id("s", s.name)) [label=\"\(escape(label(s)))\"\(style)];")
        }
        for s in plan.stages {
            if let input = s.input { lines.append("    \(id("s", input)) -> \(id("s", s.name));") }
            if let c = s.configuration.connection {
                lines.append("    \(id("s", s.name)) -> \(id("c", c)) [style=dotted, arrowhead=none];")
            }
        }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
    }
}
