import DequeModule
import SpoolCore
import SpoolProtocol
import Synchronization

/// How a `Producer` publishes.
public struct ProducerOptions: Sendable {
    /// Publishes sent and not yet acknowledged; `send` waits for room beyond this.
    public var inFlightMax: Int
    /// Trimming applied by every XADD.
    public var trim: Trim?
    /// Tag every entry with `PRODUCER id SEQ n` (a Spool extension) and resend what is
    /// unacknowledged after a reconnect; the server turns a resent SEQ it already committed into
    /// the original id, so nothing is appended twice.
    public var idempotence: Idempotence?

    public struct Idempotence: Sendable {
        public var producerID: String
        public var epoch: UInt64?
        /// The SEQ of the first entry. A new producer id starts at 1; a producer resuming an id it
        /// used before must start after the last SEQ it had acknowledged.
        public var firstSequence: UInt64

        /// `producerID` defaults to a random one, which makes every Producer object a new producer.
        public init(producerID: String? = nil, epoch: UInt64? = nil, firstSequence: UInt64 = 1) {
            self.producerID = producerID ?? Self.randomProducerID()
            self.epoch = epoch
            self.firstSequence = firstSequence
        }

        static func randomProducerID() -> String {
            var generator = SystemRandomNumberGenerator()
            let high = generator.next() as UInt64
            let low = generator.next() as UInt64
            return "p-" + String(high, radix: 16) + String(low, radix: 16)
        }
    }

    public init(inFlightMax: Int = 1024, trim: Trim? = nil, idempotence: Idempotence? = nil) {
        precondition(inFlightMax > 0, "inFlightMax must be positive")
        self.inFlightMax = inFlightMax
        self.trim = trim
        self.idempotence = idempotence
    }

    public static func idempotent(producerID: String? = nil, epoch: UInt64? = nil, firstSequence: UInt64 = 1) -> ProducerOptions {
        ProducerOptions(idempotence: Idempotence(producerID: producerID, epoch: epoch, firstSequence: firstSequence))
    }
}

/// Publishes to one stream over a connection of its own, pipelined: `send` writes the entry at
/// once and returns a receipt, so many publishes are in flight and each has its own awaitable
/// result. Replies arrive in send order.
///
/// When the connection breaks, publishes in flight fail with `.connectionLost` (they may or may
/// not have been appended) unless the producer is idempotent: then they are kept, the connection
/// is re-made with the client's backoff, and every unacknowledged entry is sent again, in order,
/// with its original SEQ, before anything new.
public final class Producer: Sendable {
    public let stream: String
    public let options: ProducerOptions
    private let client: SpoolClient
    private let streamBytes: [UInt8]
    private let state: Mutex<State>

    private struct Pending {
        var sequence: UInt64?
        var bytes: [UInt8]
        var receipt: PublishReceipt
        /// The connection generation it was last written on; nil while it waits to be (re)sent.
        var sentGeneration: UInt64?
    }

    private struct State {
        var connection: RESPConnection?
        /// Bumped for every new connection; replies are matched to the generation they were sent on.
        var generation: UInt64 = 0
        var reconnecting = false
        var nextSequence: UInt64
        /// Every publish not yet resolved, in send (and so SEQ) order.
        var unresolved = Deque<Pending>()
        var windowWaiters = Deque<CheckedContinuation<Void, Never>>()
        var drainWaiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }

    init(client: SpoolClient, stream: String, options: ProducerOptions) {
        self.client = client
        self.stream = stream
        self.options = options
        streamBytes = Array(stream.utf8)
        state = Mutex(State(nextSequence: options.idempotence?.firstSequence ?? 0))
    }

    deinit {
        if let connection = state.withLock({ $0.connection }) { client.retire(connection) }
    }

    /// The producer id entries are tagged with, when idempotent.
    public var producerID: String? { options.idempotence?.producerID }

    /// Publishes not yet resolved.
    public var inFlightCount: Int { state.withLock { $0.unresolved.count } }

    /// Sends one entry and returns without waiting for the server (only for room in the window
    /// when `inFlightMax` publishes are unresolved).
    public func send(_ fields: [Field]) async throws(SpoolClientError) -> PublishReceipt {
        guard !fields.isEmpty else { throw .invalidArgument("an entry needs at least one field") }
        let limit = options.inFlightMax
        while true {
            let receipt = try state.withLock { (state) throws(SpoolClientError) -> PublishReceipt? in
                if state.closed { throw .closed }
                // Checked under the lock that also enqueues, so concurrent senders never overfill.
                guard state.unresolved.count < limit else { return nil }
                var options = PublishOptions(trim: self.options.trim)
                var sequence: UInt64?
                if let idempotence = self.options.idempotence {
                    sequence = state.nextSequence
                    options.producer = ProducerTag(
                        producerID: idempotence.producerID, sequence: state.nextSequence, epoch: idempotence.epoch)
                    state.nextSequence += 1
                }
                let pending = Pending(
                    sequence: sequence, bytes: options.command(stream: streamBytes, fields: fields).encoded,
                    receipt: PublishReceipt(sequence: sequence), sentGeneration: nil)
                state.unresolved.append(pending)
                // Entries wait behind a reconnect so that resent ones go first, in order.
                if !state.reconnecting {
                    writeLocked(&state, index: state.unresolved.count - 1)
                }
                return pending.receipt
            }
            if let receipt { return receipt }
            try await waitForRoom()
        }
    }

    /// `send(["k": "v"])`.
    public func send(_ fields: KeyValuePairs<String, String>) async throws(SpoolClientError) -> PublishReceipt {
        try await send([Field](fields))
    }

    /// Sends one entry and waits for its id.
    @discardableResult
    public func publish(_ fields: [Field]) async throws(SpoolClientError) -> EntryID {
        try await send(fields).entryID()
    }

    @discardableResult
    public func publish(_ fields: KeyValuePairs<String, String>) async throws(SpoolClientError) -> EntryID {
        try await send([Field](fields)).entryID()
    }

    /// Waits until every publish sent so far is resolved (acknowledged or failed).
    public func flush() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.unresolved.isEmpty { return true }
                state.drainWaiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Stops: unresolved publishes fail with `.closed` (they may still have been appended).
    public func close() {
        let (connection, pending, waiters) = state.withLock { state in
            state.closed = true
            let connection = state.connection
            state.connection = nil
            let pending = state.unresolved
            state.unresolved = []
            let waiters = Array(state.windowWaiters) + state.drainWaiters
            state.windowWaiters = []
            state.drainWaiters = []
            return (connection, pending, waiters)
        }
        if let connection { client.retire(connection) }
        for item in pending { item.receipt.resolve(.failure(.closed)) }
        for waiter in waiters { waiter.resume() }
    }

    // MARK: - Internals

    private func waitForRoom() async throws(SpoolClientError) {
        let limit = options.inFlightMax
        while true {
            let (closed, hasRoom) = state.withLock { ($0.closed, $0.unresolved.count < limit) }
            if closed { throw .closed }
            if hasRoom { return }
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.closed || state.unresolved.count < limit { return true }
                    state.windowWaiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    /// Writes `unresolved[index]` on the current connection, or starts a reconnect (which
    /// writes it later) when there is none.
    private func writeLocked(_ state: inout State, index: Int) {
        guard let connection = state.connection, connection.isOpen else {
            startReconnectLocked(&state)
            return
        }
        let generation = state.generation
        let receipt = state.unresolved[index].receipt
        do {
            try connection.send(encoded: state.unresolved[index].bytes) { [self] result in
                handleReply(result, receipt: receipt, generation: generation)
            }
            state.unresolved[index].sentGeneration = generation
        } catch {
            startReconnectLocked(&state)
        }
    }

    private func startReconnectLocked(_ state: inout State) {
        guard !state.reconnecting, !state.closed else { return }
        state.reconnecting = true
        if let old = state.connection { client.retire(old) }
        state.connection = nil
        Task { await reconnect() }
    }

    private func reconnect() async {
        let connection: RESPConnection
        do throws(SpoolClientError) {
            connection = try await client.makeDedicatedConnection()
        } catch {
            // Out of attempts: everything waiting fails; the next send tries again.
            let failed = state.withLock { state -> [PublishReceipt] in
                state.reconnecting = false
                let failed = state.unresolved.map(\.receipt)
                state.unresolved = []
                return failed
            }
            for receipt in failed { receipt.resolve(.failure(error)) }
            wakeWaiters()
            return
        }
        let stale = state.withLock { state -> Bool in
            state.reconnecting = false
            if state.closed { return true }
            state.generation += 1
            state.connection = connection
            // Resend in order: with idempotence, everything not acknowledged on this connection;
            // without, only what was never written (what was written failed or will fail).
            let isIdempotent = options.idempotence != nil
            for index in state.unresolved.indices {
                let sent = state.unresolved[index].sentGeneration
                if sent == nil || (isIdempotent && sent != state.generation) {
                    writeLocked(&state, index: index)
                }
            }
            return false
        }
        if stale { client.retire(connection) }
    }

    private func handleReply(_ result: Result<RESPValue, SpoolClientError>, receipt: PublishReceipt, generation: UInt64) {
        let resolution = state.withLock { state -> Result<EntryID, SpoolClientError>? in
            guard let index = state.unresolved.firstIndex(where: { $0.receipt === receipt }),
                state.unresolved[index].sentGeneration == generation
            else { return nil }  // resolved already, or resent on a newer connection
            let resolution: Result<EntryID, SpoolClientError>
            switch result {
            case .success(.error(let message)):
                resolution = .failure(.server(ServerError(message: message)))
            case .success(let reply):
                if let id = reply.entryID {
                    resolution = .success(id)
                } else {
                    resolution = .failure(.unexpectedReply(command: "XADD", reply: reply.summary))
                }
            case .failure(let error):
                if options.idempotence != nil, error.isTransient, !state.closed {
                    // Kept for the resend after the reconnect.
                    state.unresolved[index].sentGeneration = nil
                    if generation == state.generation { startReconnectLocked(&state) }
                    return nil
                }
                resolution = .failure(error)
            }
            state.unresolved.remove(at: index)
            return resolution
        }
        guard let resolution else { return }
        receipt.resolve(resolution)
        wakeWaiters()
    }

    private func wakeWaiters() {
        let limit = options.inFlightMax
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var waiters: [CheckedContinuation<Void, Never>] = []
            var room = limit - state.unresolved.count
            while room > 0, let waiter = state.windowWaiters.popFirst() {
                waiters.append(waiter)
                room -= 1
            }
            if state.unresolved.isEmpty {
                waiters += state.drainWaiters
                state.drainWaiters = []
            }
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Breaks the connection as a network failure would (tests use this to check the retry).
    func breakConnectionForTesting() {
        state.withLock { $0.connection }?.breakForTesting()
    }
}
