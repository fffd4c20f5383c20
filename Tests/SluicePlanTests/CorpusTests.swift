import Foundation
import SluiceCore
import SluicePlan
import Testing

/// Every malformed plan in `Corpus/` gets the located error listed in `Corpus/EXPECTATIONS.tsv`,
/// and no input crashes the loader. Add a file and a line there to add a case.
@Suite struct CorpusTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var line: Int
        var column: Int
        var message: String
        var note: String?
        var testDescription: String { "\(file) \(line):\(column)" }
    }

    static let corpus = Bundle.module.url(forResource: "Corpus", withExtension: nil)!

    /// The cases of `EXPECTATIONS.tsv`, read on a thread of its own (also when Testing lists the
    /// arguments of ``reportsLocatedError(_:)``).
    static func cases() async throws -> [Case] {
        let expectations = corpus.appendingPathComponent("EXPECTATIONS.tsv")
        let text = try await BlockingIO.runOnOwnThread { try String(contentsOf: expectations, encoding: .utf8) }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            let lc = f[1].split(separator: ":").map { Int($0)! }
            return Case(file: f[0], line: lc[0], column: lc[1], message: f[2], note: f.count > 3 ? f[3] : nil)
        }
    }

    static func load(_ file: String) async -> Result<Plan, PlanError> {
        let path = corpus.appendingPathComponent(file).path
        let loaded = try? await BlockingIO.runOnOwnThread {
            Result { () throws(PlanError) -> Plan in try PlanLoader(environment: [:]).load(path: path) }
        }
        return loaded ?? .failure(PlanError([]))
    }

    @Test(arguments: try await cases())
    func reportsLocatedError(_ c: Case) async throws {
        guard case .failure(let error) = await Self.load(c.file) else {
            Issue.record("\(c.file) loaded without errors")
            return
        }
        let match = error.errors.first {
            $0.location?.line == c.line && $0.location?.column == c.column && $0.message.contains(c.message)
        }
        let found = error.errors.map(\.description).joined(separator: "\n")
        let diagnostic = try #require(match, "expected \(c.line):\(c.column) \(c.message); got:\n\(found)")
        if let note = c.note {
            #expect(diagnostic.notes.contains { $0.contains(note) }, "notes: \(diagnostic.notes)")
        }
        // The rendered form quotes the line and puts a caret under the column.
        let rendered = diagnostic.rendered()
        #expect(rendered.hasPrefix(Self.corpus.appendingPathComponent(c.file).path + ":\(c.line):\(c.column): error: "))
        #expect(rendered.contains("^"))
    }

    @Test func everyCorpusFileHasAnExpectation() async throws {
        let corpus = Self.corpus.path
        let files = try await BlockingIO.runOnOwnThread { try FileManager.default.contentsOfDirectory(atPath: corpus) }
            .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("valid-") }
        let covered = Set(try await Self.cases().map(\.file))
        #expect(Set(files).subtracting(covered).isEmpty, "no expectation for: \(Set(files).subtracting(covered))")
        #expect(files.count >= 40)
    }

    @Test func validCorpusPlansLoad() async throws {
        let corpus = Self.corpus.path
        let files = try await BlockingIO.runOnOwnThread { try FileManager.default.contentsOfDirectory(atPath: corpus) }
            .filter {
                $0.hasPrefix("valid-")
            }
        #expect(!files.isEmpty)
        for file in files { _ = try await Self.load(file).get() }
    }
}
