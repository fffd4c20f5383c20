import NIOHTTP1

extension HTTPExchange {
    /// What the server did wrong in an answer the HTTP parser refused, in words: its own names
    /// ("invalid constant string", "stream ended at an unexpected time") say nothing of it.
    /// `headers`: the answer's head, when it came and the body broke off; `nil` for another error.
    static func malformed(_ error: any Error, headers: HTTPHeaders?) -> String? {
        guard let error = error as? HTTPParserError else { return nil }
        switch error {
        case .invalidConstant:
            return "the server's answer is not HTTP: no status line (HTTP/1.1 200 OK) before what it sent"
        case .invalidVersion:
            return "the server's answer is not HTTP/1.x: its status line names another version"
        case .invalidStatus:
            return "the server's status line has no status code of three digits"
        case .invalidContentLength:
            return "the answer's Content-Length header is not a number of bytes"
        case .unexpectedContentLength:
            return "the answer has a Content-Length header it may not have (two that differ, or one beside "
                + "Transfer-Encoding)"
        case .invalidChunkSize:
            return "the answer's chunked body has a chunk size that is not a hexadecimal number"
        case .headerOverflow:
            return "the answer's head (status line and headers) is larger than the client reads"
        case .invalidEOFState:
            guard let headers else { return "the server closed the connection before the answer's head was complete" }
            if let length = headers.first(name: "Content-Length") {
                return "the answer ended before its Content-Length of \(length) bytes: the server closed the "
                    + "connection part way through the body"
            }
            if headers.first(name: "Transfer-Encoding")?.lowercased().contains("chunked") == true {
                return "the answer ended before its last chunk (Transfer-Encoding: chunked): the server closed "
                    + "the connection part way through the body"
            }
            return "the server closed the connection part way through the answer"
        case .invalidHeaderToken, .invalidCharactersUsed, .lfExpected:
            return "the answer's head is not HTTP: a header line is malformed"
        default:
            return "the server's answer is not valid HTTP (\(error))"
        }
    }
}
