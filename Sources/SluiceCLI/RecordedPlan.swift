import ArgumentParser
import Foundation
import SluiceCore
import SluicePipeline
import SluicePlan

/// The plan an earlier run used, for commands that act on a run (`replay`, `undo`).
enum RecordedPlan {
    /// The plan as the original run used it: its file when unchanged, else the manifest's copy;
    /// the run's overrides first, then this command's.
    static func load(of original: Manifest, directory: URL, overrides: [String]) throws -> Plan {
        let loader = PlanLoader()
        do {
            if let bytes = try? Array(Data(contentsOf: URL(fileURLWithPath: original.plan.path))),
                SHA256.hex(bytes) == original.plan.sha256
            {
                return try loader.load(bytes: bytes, path: original.plan.path, overrides: original.overrides + overrides)
            }
            Terminal.printError(
                "note: \(original.plan.path) is missing or changed since run \(original.runID); "
                    + "using the plan recorded in its manifest")
            let recorded = Array(JSON.encode(original.resolvedPlan).utf8)
            let name = directory.appendingPathComponent(Manifest.fileName).path + " (resolved_plan)"
            return try loader.load(bytes: recorded, path: name, overrides: overrides)
        } catch {
            Terminal.report(error)
            throw ExitCode(ExitStatus.invalidPlan)
        }
    }
}
