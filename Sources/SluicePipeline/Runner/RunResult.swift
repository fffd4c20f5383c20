import Foundation

/// How a run ended: its final manifest (also on disk) and its directory.
public struct RunResult: Sendable {
    public var manifest: Manifest
    public var directory: URL

    public init(manifest: Manifest, directory: URL) {
        self.manifest = manifest
        self.directory = directory
    }
}
