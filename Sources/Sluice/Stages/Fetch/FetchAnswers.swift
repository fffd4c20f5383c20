import Foundation
import SluiceCore
import SluiceHTTP
import SluicePipeline

/// What the API answered for each id, written by the fetch stage as it goes, so an interrupted
/// run (SIGINT, SIGKILL, a crash, a Retry-After over the cap) can be resumed without asking
/// again: `sluice resume RUN` re-fetches at most the batches that were in flight (for one
/// request per row, pieces of ``FetchStage/perItemPiece`` rows).
///
/// One JSON object per line, `{"id":..,"found":ITEM}` (a paged list's `[ITEMS]`), `{"id":..,"not_found":true}` (or the
/// way the API said so, `"not_found":"404: no such record"`) or `{"id":..,"rejected":REASON}`,
/// handed to the kernel as soon as a batch's requests end, in
/// whatever order they end (a `write`, no fsync: it must survive the process, not the
/// machine). A resumed run writes every answer it uses, reused ones included, so the newest
/// file is always complete.
enum FetchAnswers {
    static func fileName(stage: String) -> String { RunFileNames.answers(stage: stage) }

    /// The answers in `url`; lines that do not parse (a line cut short by SIGKILL) are skipped.
    static func load(from url: URL) async -> [ExactText: ItemResult] {
        guard let reader = try? NDJSONReader(url: url) else { return [:] }
        var answers: [ExactText: ItemResult] = [:]
        while true {
            let line: Value?
            do {
                line = try await reader.next()
            } catch {
                continue  // a torn line: that id is simply asked again
            }
            guard let line else { break }
            guard let id = line["id"].stringValue.map(ExactText.init) else { continue }
            let found = line["found"]
            // A paged list's answer is an array (an empty one too).
            if case .object = found {
                answers[id] = .found(found)
            } else if case .array = found {
                answers[id] = .found(found)
            } else if line["not_found"].boolValue == true {
                answers[id] = .notFound(because: nil)
            } else if let because = line["not_found"].stringValue {
                answers[id] = .notFound(because: because)
            } else if let reason = line["rejected"].stringValue {
                answers[id] = .rejected(reason: reason)
            }
        }
        return answers
    }

    /// Appends answers to a run's answers file.
    final class Writer {
        let url: URL
        private let file: PrivateFileWriter
        private(set) var count = 0

        init(runDirectory: URL, stage: String) throws {
            url = runDirectory.appendingPathComponent(FetchAnswers.fileName(stage: stage))
            file = try PrivateFileWriter(at: url)
        }

        func append(id: String, _ result: ItemResult) async throws {
            let line: Value
            switch result {
            case .found(let item): line = .object(["id": .string(id), "found": item])
            case .notFound(let because):
                line = .object(["id": .string(id), "not_found": because.map(Value.string) ?? .bool(true)])
            case .rejected(let reason): line = .object(["id": .string(id), "rejected": .string(reason)])
            // No answer to keep: a resume asks again.
            case .gaveUp, .ambiguous, .tooManyPages: return
            }
            try await file.append { out in
                JSON.encode(line, into: &out)
                out.append(UInt8(ascii: "\n"))
            }
            count += 1
        }

        /// Hands what was appended to the kernel.
        func flush() async throws { try await file.flush() }

        func close(context: StageContext) async throws {
            let summary = try await file.close()
            context.registerArtifact(at: summary.url, kind: "answers", sha256: summary.sha256, rows: count)
        }

        /// After a failure: keeps what was written (it is what a resume reuses) and records it as
        /// the stage's output, so the run says how many answers it kept. A disk that filled up may
        /// have kept fewer bytes than were handed over (the last line cut short): then the file is
        /// recorded as it is on disk, with the answers a resume can read back from it; one gone
        /// (its run directory deleted) is not recorded at all.
        func keep(context: StageContext) async {
            guard let summary = try? await file.close(),
                let onDisk = try? await PrivateFile.sha256(of: summary.url)
            else { return }
            guard onDisk.sha256 != summary.sha256 else {
                context.registerArtifact(at: summary.url, kind: "answers", sha256: summary.sha256, rows: count)
                return
            }
            let readable = await FetchAnswers.load(from: summary.url).count
            context.registerArtifact(at: summary.url, kind: "answers", sha256: onDisk.sha256, rows: readable)
        }
    }
}

/// The latest answers of a run, at most `capacity` of them (the oldest go first): what a
/// per-item fetch answers a request repeated a few pieces later from.
struct RecentAnswers {
    private var answers: [ExactText: ItemResult] = [:]
    private var order: [ExactText] = []
    private var oldest = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    subscript(id: ExactText) -> ItemResult? { answers[id] }

    mutating func remember(_ id: ExactText, _ result: ItemResult) {
        guard capacity > 0, answers.updateValue(result, forKey: id) == nil else { return }
        order.append(id)
        guard answers.count > capacity else { return }
        answers[order[oldest]] = nil
        oldest += 1
        // Drop the forgotten half of the list now and then, not on every answer.
        if oldest > capacity {
            order.removeFirst(oldest)
            oldest = 0
        }
    }
}
