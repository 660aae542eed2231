import SpoolCore
import Synchronization

/// The pending result of one publish: awaited with `entryID()`, any number of times, from any
/// task, before or after the server answered.
public final class PublishReceipt: Sendable {
    /// The SEQ this entry was sent with by an idempotent producer; nil otherwise.
    public let sequence: UInt64?
    private let state = Mutex(State.waiting([]))

    private enum State {
        case waiting([CheckedContinuation<Result<EntryID, SpoolClientError>, Never>])
        case done(Result<EntryID, SpoolClientError>)
    }

    init(sequence: UInt64?) {
        self.sequence = sequence
    }

    /// The id the entry was given, once the server acknowledged it (on Spool: once durable).
    /// Cancelling the waiting task does not withdraw the entry; it only stops waiting.
    public func entryID() async throws(SpoolClientError) -> EntryID {
        let result: Result<EntryID, SpoolClientError> = await withCheckedContinuation { continuation in
            let done = state.withLock { state -> Result<EntryID, SpoolClientError>? in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                case .done(let result):
                    return result
                }
            }
            if let done { continuation.resume(returning: done) }
        }
        return try result.get()
    }

    /// The outcome if it is known, without waiting.
    public var result: Result<EntryID, SpoolClientError>? {
        state.withLock { state in
            if case .done(let result) = state { return result }
            return nil
        }
    }

    /// First resolution wins.
    func resolve(_ result: Result<EntryID, SpoolClientError>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<EntryID, SpoolClientError>, Never>] in
            guard case .waiting(let waiters) = state else { return [] }
            state = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }
}
