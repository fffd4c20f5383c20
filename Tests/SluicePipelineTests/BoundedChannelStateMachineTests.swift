import Testing

@testable import SluicePipeline

/// The channel's pure state machine, driven with plain tokens instead of continuations.
@Suite struct BoundedChannelStateMachineTests {
    typealias Machine = BoundedChannelStateMachine<Int, String, String>

    @Test func buffersUpToCapacityThenSuspendsTheSender() {
        var machine = Machine(capacity: 2)
        guard case .buffered = machine.send(1), case .buffered = machine.send(2) else {
            Issue.record("the first two sends should be buffered")
            return
        }
        guard case .suspend = machine.send(3) else {
            Issue.record("a full buffer should suspend the sender")
            return
        }
        guard case .none = machine.suspendSender(id: 7, element: 3, continuation: "s7") else {
            Issue.record("the sender should stay suspended")
            return
        }
        #expect(machine.buffer == [1, 2])
        #expect(machine.suspendedSenderCount == 1)
    }

    @Test func receivingFromAFullBufferResumesTheOldestSender() {
        var machine = Machine(capacity: 1)
        _ = machine.send(1)
        _ = machine.suspendSender(id: 1, element: 2, continuation: "s1")
        _ = machine.suspendSender(id: 2, element: 3, continuation: "s2")
        guard case .elementResumingSender(let element, let sender) = machine.receive() else {
            Issue.record("expected an element and a sender to resume")
            return
        }
        #expect(element == 1)
        #expect(sender == "s1")
        #expect(machine.buffer == [2])
        #expect(machine.suspendedSenderCount == 1)
    }

    @Test func aSendHandsItsElementToAWaitingReceiver() {
        var machine = Machine(capacity: 4)
        guard case .suspend = machine.receive() else {
            Issue.record("an empty channel should suspend the receiver")
            return
        }
        _ = machine.suspendReceiver(id: 1, continuation: "r1")
        guard case .resumeReceiver(let receiver) = machine.send(9) else {
            Issue.record("expected the waiting receiver to get the element")
            return
        }
        #expect(receiver == "r1")
        #expect(machine.buffer.isEmpty)
    }

    @Test func capacityZeroIsARendezvous() {
        var machine = Machine(capacity: 0)
        guard case .suspend = machine.send(5) else {
            Issue.record("with no buffer a send must wait for a receiver")
            return
        }
        _ = machine.suspendSender(id: 1, element: 5, continuation: "s1")
        guard case .elementResumingSender(5, "s1") = machine.receive() else {
            Issue.record("the receiver should take the sender's element directly")
            return
        }
    }

    @Test func finishingDrainsTheBufferBeforeTheEnd() {
        var machine = Machine(capacity: 2)
        _ = machine.send(1)
        _ = machine.finish()
        guard case .closed = machine.send(2) else {
            Issue.record("a send after finish must fail")
            return
        }
        guard case .element(1) = machine.receive(), case .finished = machine.receive() else {
            Issue.record("expected the buffered element, then the end")
            return
        }
    }

    @Test func aFailureIsDeliveredOnceAfterTheBuffer() {
        struct Boom: Error {}
        var machine = Machine(capacity: 2)
        _ = machine.send(1)
        _ = machine.finish(throwing: Boom())
        guard case .element(1) = machine.receive(), case .failed(let error) = machine.receive() else {
            Issue.record("expected the buffered element, then the failure")
            return
        }
        #expect(error is Boom)
        guard case .finished = machine.receive() else {
            Issue.record("after the failure the stream ends")
            return
        }
    }

    @Test func finishingWakesWaitingReceiversAndFailsSuspendedSenders() {
        var machine = Machine(capacity: 0)
        _ = machine.suspendSender(id: 1, element: 1, continuation: "s1")
        var resumptions = machine.finish()
        #expect(resumptions.senders == ["s1"])
        #expect(resumptions.sendersError is ChannelClosedError)

        machine = Machine(capacity: 1)
        _ = machine.suspendReceiver(id: 1, continuation: "r1")
        resumptions = machine.finish()
        #expect(resumptions.receivers == ["r1"])
        #expect(resumptions.receiversError == nil)
    }

    @Test func cancellingASuspendedSenderReturnsItsContinuation() {
        var machine = Machine(capacity: 0)
        _ = machine.suspendSender(id: 3, element: 1, continuation: "s3")
        #expect(machine.cancelSender(id: 3) == "s3")
        #expect(machine.suspendedSenderCount == 0)
    }

    @Test func aCancellationBeforeSuspendingFailsTheSuspension() {
        var machine = Machine(capacity: 0)
        #expect(machine.cancelSender(id: 4) == nil)
        guard case .fail(let error) = machine.suspendSender(id: 4, element: 1, continuation: "s4") else {
            Issue.record("a sender cancelled before it suspended must fail at once")
            return
        }
        #expect(error is CancellationError)
        #expect(machine.cancelReceiver(id: 5) == nil)
        guard case .fail = machine.suspendReceiver(id: 5, continuation: "r5") else {
            Issue.record("a receiver cancelled before it suspended must fail at once")
            return
        }
    }

    @Test func afterTheReceiverLeavesSendsAreDropped() {
        var machine = Machine(capacity: 1)
        _ = machine.send(1)
        _ = machine.suspendSender(id: 1, element: 2, continuation: "s1")
        let resumptions = machine.stopReceiving()
        #expect(resumptions.senders == ["s1"])
        #expect(resumptions.sendersError == nil)
        #expect(machine.buffer.isEmpty)
        guard case .dropped = machine.send(3) else {
            Issue.record("with nobody reading, sends are dropped")
            return
        }
    }
}
