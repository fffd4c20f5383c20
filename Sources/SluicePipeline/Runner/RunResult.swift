import Foundation

/// How a run ended: its final manifest (also on disk, unless ``manifestWriteError`` says
/// otherwise) and its directory.
public struct RunResult: Sendable {
    public var manifest: Manifest
    public var directory: URL
    /// Why `manifest.json` could not be given the final state (`cannot write PATH: REASON`):
    /// the file then still shows an earlier state, typically `running`. `nil` when it is current.
    public var manifestWriteError: String?

    public init(manifest: Manifest, directory: URL, manifestWriteError: String? = nil) {
        self.manifest = manifest
        self.directory = directory
        self.manifestWriteError = manifestWriteError
    }
}
