import Dispatch
import Foundation

/// Catches signals instead of letting them kill the process, and hands each to `handler` on a
/// serial queue with how many have arrived so far. Gives each signal back the action it replaced
/// when released.
///
/// A signal is caught from the moment `init` returns. A dispatch signal source does not give that:
/// it starts listening a moment after `resume()`, on another thread, and with the signal ignored in
/// the meantime a Ctrl-C pressed on reading "Ctrl-C stops" was lost (a loaded machine lost it most
/// times). Here a plain handler, installed before `init` returns, writes the signal's number to a
/// pipe (`write` is safe in a signal handler), and a read source on the pipe finds it there however
/// late it starts listening.
public final class SignalTrap {
    private let signals: [Int32]
    /// Whole `sigaction`s: a bare handler in an optional loses `SIG_IGN` (address 1, which Swift
    /// reads as "none" when the optional is itself wrapped, as in a `zip`).
    private let replaced: [sigaction]
    private let replacedPipe: Int32
    private let source: any DispatchSourceRead

    /// `handler` gets the signal and how many of the trapped signals have come so far.
    public init(signals: [Int32], handler: @escaping @Sendable (Int32, Int) -> Void) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            fatalError("sluice: cannot make the pipe that carries signals (errno \(errno))")
        }
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        let (readEnd, writeEnd) = (ends[0], ends[1])
        var count = 0
        source = DispatchSource.makeReadSource(fileDescriptor: readEnd, queue: DispatchQueue(label: "sluice.signals"))
        source.setEventHandler {
            var numbers = [UInt8](repeating: 0, count: 16)
            while case let got = read(readEnd, &numbers, numbers.count), got > 0 {
                for number in numbers[..<got] {
                    count += 1
                    handler(Int32(number), count)
                }
            }
        }
        source.setCancelHandler {
            close(readEnd)
            close(writeEnd)
        }
        source.resume()
        self.signals = signals
        replacedPipe = signalPipe
        signalPipe = writeEnd
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { number in
            let saved = errno
            var byte = UInt8(truncatingIfNeeded: number)
            _ = write(signalPipe, &byte, 1)
            errno = saved
        }
        sigemptyset(&action.sa_mask)
        action.sa_flags = SA_RESTART
        replaced = signals.map { number in
            var old = sigaction()
            sigaction(number, &action, &old)
            return old
        }
    }

    deinit {
        for index in signals.indices {
            var old = replaced[index]
            sigaction(signals[index], &old, nil)
        }
        signalPipe = replacedPipe
        source.cancel()
    }
}

/// The pipe's write end for the newest ``SignalTrap``: a signal handler may only read a global.
nonisolated(unsafe) private var signalPipe: Int32 = -1
