import SluiceCore
import SluicePipeline
import SluicePlan

/// Regroups rows into batches of `size` (the Spotify batch endpoint takes at most 50 ids).
public struct ChunkStage: Stage {
    public let name: String
    public var kind: String { "chunk" }
    public let parameters: Value
    public let settings: ChunkSettings

    public init(name: String, settings: ChunkSettings, parameters: Value) {
        self.name = name
        self.settings = settings
        self.parameters = parameters
    }

    public func run(_ context: StageContext, input: StageInput?, output: StageOutput) async throws {
        guard let input else { throw StageError(stage: name, "a chunk stage needs an input") }
        guard settings.size > 0 else { throw StageError(stage: name, "size must be at least 1, not \(settings.size)") }
        var chunker = Chunker(size: settings.size)
        var batches = 0
        for try await batch in input {
            for full in chunker.add(batch) {
                try await output.send(full)
                batches += 1
            }
        }
        if let last = chunker.finish() {
            try await output.send(last)
            batches += 1
        }
        context.counters.set("batches", batches)
    }
}
