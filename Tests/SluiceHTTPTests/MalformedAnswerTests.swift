import SluiceHTTP
import SluiceTestSupport
import Testing

/// A server that breaks HTTP in its answer: the error says in words what it did wrong, not the
/// HTTP parser's own names for it ("invalid constant string", "stream ended at an unexpected
/// time"), names the host, and the request is tried again as after a failed connection.
@Suite struct MalformedAnswerTests {
    static let cases: [(reply: String, says: String)] = [
        // HTTP/0.9 style: the body alone.
        ("{\"tracks\": []}\n", "the server's answer is not HTTP: no status line (HTTP/1.1 200 OK) before what it sent"),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/json\r\n\r\n{\"tracks\":",
            "the answer ended before its Content-Length of 100 bytes: the server closed the connection part way "
                + "through the body"
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n{}",
            "the answer's Content-Length header is not a number of bytes"
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            "the answer has a Content-Length header it may not have (two that differ, or one beside Transfer-Encoding)"
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"tra",
            "the answer ended before its last chunk (Transfer-Encoding: chunked)"
        ),
        (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "the answer's chunked body has a chunk size that is not a hexadecimal number"
        ),
        ("HTTP/1.1 2000 OK\r\n\r\n", "the server's status line has no status code of three digits"),
        ("HTTP/1.1 200 OK\r\nContent-", "the server closed the connection before the answer's head was complete"),
        ("", "connection failed: the server closed the connection without answering"),
    ]

    @Test(arguments: cases)
    func aMalformedAnswerIsSaidInWordsNamingTheHostAndTriedAgain(reply: String, says: String) async throws {
        let server = try RawReplyServer(reply: reply)
        let (error, counters, _) = try await failingFetch(baseURL: "http://127.0.0.1:\(server.port)/v1", retries: 1)
        await server.stop()
        #expect(error.kind == .exhausted(attempts: 2) && counters.requests == 2, "\(error)")
        #expect(
            error.description.hasPrefix("gave up after 2 attempts; the last one: \(says)")
                && error.description.contains("http://127.0.0.1:\(server.port)/"), "\(error)")
    }
}
