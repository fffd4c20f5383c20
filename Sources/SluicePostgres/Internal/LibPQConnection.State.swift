extension LibPQConnection {
    /// What the connection is doing. libpq runs one operation at a time per connection and each
    /// step of one (reading rows, sending COPY data) is valid only while that operation runs, so
    /// the state is one value: a stream and a COPY cannot both be in progress, and a closed
    /// connection has no `PGconn` left to call.
    enum State {
        /// Before `connect` succeeds; no ``PostgresConnection`` exists yet to call anything.
        case unconnected
        /// Open, nothing in progress: a statement, a stream or a COPY may start.
        case idle(PQHandle)
        /// A query in single-row mode whose rows `nextRows` reads until the last one, or a
        /// `COPY (query) TO STDOUT` whose rows `nextTextRows` reads.
        case streaming(PQHandle, Stream)
        /// `COPY ... FROM STDIN` taking data (`putCopyData`) until `endCopy` or `abandon`.
        case copyingIn(PQHandle, Copy)
        /// After `close()`: the `PGconn` is freed.
        case closed
    }

    struct Stream {
        let id: OperationID
        let sql: String
        /// Known from the first result on.
        var columns: [String]?
        /// `COPY (query) TO STDOUT`: rows come as text lines (`nextTextRows`), not results.
        var copyOut = false
    }

    struct Copy {
        let id: OperationID
        let sql: String
    }

    /// Names one stream or COPY, so a step of one that has ended (say, a ``CopyWriter`` kept past
    /// its `copyIn`) cannot act on the operation running now.
    struct OperationID: Hashable, Sendable {
        let value: Int
    }

    /// A stream or a COPY: what runs, or what a step belongs to.
    enum Operation: Equatable, Sendable {
        case stream(OperationID)
        case copy(OperationID)

        var name: String {
            switch self {
            case .stream: "streaming query"
            case .copy: "COPY FROM STDIN"
            }
        }

        func isSameKind(as other: Operation) -> Bool {
            switch (self, other) {
            case (.stream, .stream), (.copy, .copy): true
            default: false
            }
        }
    }
}

extension LibPQConnection.State {
    /// The open connection, whatever it is doing.
    var handle: PQHandle? {
        switch self {
        case .idle(let handle), .streaming(let handle, _), .copyingIn(let handle, _): handle
        case .unconnected, .closed: nil
        }
    }

    /// The stream or COPY in progress, if any.
    var operation: LibPQConnection.Operation? {
        switch self {
        case .streaming(_, let stream): .stream(stream.id)
        case .copyingIn(_, let copy): .copy(copy.id)
        case .unconnected, .idle, .closed: nil
        }
    }

    var isOpen: Bool { handle != nil }

    /// Why `action` cannot be done in this state; see ``refusal(_:expected:running:isOpen:)``.
    func refusal(_ action: String, expected: LibPQConnection.Operation? = nil) -> PostgresError {
        Self.refusal(action, expected: expected, running: operation, isOpen: isOpen)
    }

    /// Why `action` cannot be done: starting an operation (`expected == nil`) needs an open, idle
    /// connection; a step of one needs that very operation to be `running`. Refusing changes
    /// nothing, so whatever is in progress goes on and its owner ends it as usual.
    static func refusal(
        _ action: String, expected: LibPQConnection.Operation?, running: LibPQConnection.Operation?, isOpen: Bool
    ) -> PostgresError {
        guard isOpen else {
            return PostgresError(kind: .connectionLost, message: "cannot \(action): the connection is closed")
        }
        let reason: String
        switch (running, expected) {
        case (nil, nil):
            reason = "nothing is in progress"  // never asked: an idle connection refuses no new operation
        case (nil, let expected?):
            reason = "no \(expected.name) is running"
        case (let running?, nil):
            reason = "the connection is busy with a \(running.name); one connection runs one operation at a time"
        case (let running?, let expected?) where running.isSameKind(as: expected):
            reason = "that \(expected.name) has ended and the connection is busy with another one"
        case (let running?, let expected?):
            reason = "the connection is busy with a \(running.name), not a \(expected.name)"
        }
        return PostgresError(kind: .client, message: "cannot \(action): \(reason)")
    }
}
