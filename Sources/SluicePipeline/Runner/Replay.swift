import Foundation

/// Which part of an earlier run to re-run, and on which recorded inputs.
///
/// Stages before ``stage`` are not run: they are recorded as `skipped` with the original
/// run's figures, and the first replayed stage reads the original run's spool of its input,
/// checked against the recorded SHA-256 first. In ``Manifest/ReplayMode/stage`` mode the
/// stages after ``stage`` are `skipped` too (with empty figures: the original ones do not
/// derive from this run's output); in ``Manifest/ReplayMode/from`` mode they all run.
public struct Replay: Sendable {
    /// The original run's manifest.
    public var original: Manifest
    /// The original run's directory: relative paths in ``original`` are relative to it.
    public var originalDirectory: URL
    public var mode: Manifest.ReplayMode
    /// The first (or only) stage to re-run.
    public var stage: String
    /// A `sluice resume`, recorded as such (``Manifest/ReplayOrigin/resumed``).
    public var resumed: Bool

    public init(
        original: Manifest, originalDirectory: URL, mode: Manifest.ReplayMode, stage: String, resumed: Bool = false
    ) {
        self.original = original
        self.originalDirectory = originalDirectory
        self.mode = mode
        self.stage = stage
        self.resumed = resumed
    }

    /// `path` as an absolute file URL: relative paths are taken relative to the original run.
    public func resolve(_ path: String) -> URL {
        Manifest.resolve(path, in: originalDirectory)
    }

    /// The original record with its artifact paths made absolute, so that it still points at
    /// the original run's files from the new run's manifest.
    func absoluteRecord(_ name: String) -> Manifest.StageRecord? {
        guard var record = original.stage(name) else { return nil }
        record.inputs = record.inputs.map(absolute)
        record.outputs = record.outputs.map(absolute)
        if var review = record.review {
            review.file = absolute(review.file)
            review.files = review.files.map(absolute)
            record.review = review
        }
        return record
    }

    private func absolute(_ artifact: Manifest.Artifact) -> Manifest.Artifact {
        var artifact = artifact
        artifact.path = resolve(artifact.path).standardizedFileURL.path
        return artifact
    }
}
