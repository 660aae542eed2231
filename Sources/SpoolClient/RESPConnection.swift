import DequeModule
import SpoolCore
import SpoolProtocol
import SpoolTLS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One TCP connection to a RESP server, pipelined: requests are written the moment they are
/// sent, any number may be in flight, and replies are handed back in request order.
///
/// Each connection has its own OS thread (the *I/O thread*) that connects, polls the socket,
/// decodes replies and resumes whoever waits for them; nothing here ever blocks a task on Swift's
/// cooperative pool. A sender writes straight to the socket with a non-blocking send when nothing
/// is queued before it, so a lone request costs no thread hop; what the kernel does not take is
/// queued and written by the I/O thread when the socket drains.
///
/// A reply goes to an `async` caller (`request`) or to a `ReplyHandler` closure, which runs on
/// the I/O thread: it must be quick and must not block. Handlers may send more requests; those are
/// written together when the handlers of one read are done.
///
/// The connection knows nothing of HELLO or AUTH; `SpoolClient` does the handshake.
public final class RESPConnection: Sendable {
    public typealias ReplyHandler = @Sendable (Result<RESPValue, SpoolClientError>) -> Void

    /// "host:port", for messages.
    public let endpoint: String
    private let state: Mutex<State>
    private let wakeup: Wakeup

    /// Bytes read from the socket per recv; also the most one read adds to the decoder at once.
    static let readBufferBytes = 64 << 10

    enum Receiver: Sendable {
        case continuation(CheckedContinuation<Result<RESPValue, SpoolClientError>, Never>)
        case handler(ReplyHandler)

        func deliver(_ result: Result<RESPValue, SpoolClientError>) {
            switch self {
            case .continuation(let continuation): continuation.resume(returning: result)
            case .handler(let handler): handler(result)
            }
        }
    }

    enum Phase {
        /// The I/O thread is connecting.
        case connecting
        case open
        /// `close()` was called; the I/O thread fails what is pending and exits.
        case closing
        /// Terminal: why it ended. The I/O thread has exited (or is exiting) and closed the fds.
        case ended(SpoolClientError)
    }

    struct State {
        var phase = Phase.connecting
        /// -1 until connected. Closed by the I/O thread only, after `phase` is `.ended`.
        var fd: Int32 = -1
        /// One per request whose reply has not arrived, in request order.
        var receivers = Deque<Receiver>()
        /// Bytes waiting for the socket to drain; `outboundStart` of them are already sent.
        var outbound: [UInt8] = []
        var outboundStart = 0
        /// The I/O thread is delivering replies: requests sent meanwhile are only queued, and the
        /// I/O thread writes them all when it is done.
        var delivering = false
        /// The I/O thread has exited its loop; the wakeup fd must not be written any more.
        var exited = false

        var hasOutbound: Bool { outboundStart < outbound.count }
        /// Over TLS: the session. Requests are encrypted into it and replies decrypted out of it
        /// under this lock only, so the senders' threads and the I/O thread never use it at once.
        var tls: TLSSession?
    }

    /// Over TLS (fixed at connect).
    private let usesTLS: Bool

    private init(endpoint: String, wakeup: Wakeup, usesTLS: Bool) {
        self.endpoint = endpoint
        self.wakeup = wakeup
        self.usesTLS = usesTLS
        self.state = Mutex(State())
    }

    /// Connects to `host:port`, waiting at most `timeout` for the TCP handshake.
    public static func connect(
        host: String, port: Int, timeout: Duration = .seconds(5), tls: TLSContext? = nil
    ) async throws(SpoolClientError) -> RESPConnection {
        let endpoint = "\(host):\(port)"
        let wakeup: Wakeup
        do {
            wakeup = try Wakeup()
        } catch {
            throw .connectFailed(endpoint: endpoint, reason: error.description)
        }
        let connection = RESPConnection(endpoint: endpoint, wakeup: wakeup, usesTLS: tls != nil)
        let timeoutMilliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let outcome: Result<Void, SpoolClientError> = await withCheckedContinuation { continuation in
            NativeThread.detach(name: "spool-conn") {
                connection.run(
                    host: host, port: port, timeoutMilliseconds: max(timeoutMilliseconds, 1), tls: tls, connected: continuation)
            }
        }
        try outcome.get()
        return connection
    }

    /// True until the connection is closed or breaks.
    public var isOpen: Bool {
        state.withLock { if case .open = $0.phase { true } else { false } }
    }

    /// Closes the connection. Requests still in flight fail with `.closed`. Idempotent.
    public func close() {
        state.withLock { state in
            switch state.phase {
            case .open, .connecting:
                state.phase = .closing
                if !state.exited { wakeup.signal() }
            case .closing, .ended:
                break
            }
        }
    }

    /// Shuts the socket down under the connection, as a network failure would: requests in
    /// flight fail with `.connectionLost` (the server may have run them). For tests.
    func breakForTesting() {
        state.withLock { state in
            if case .open = state.phase { _ = shutdown(state.fd, Int32(SHUT_RDWR)) }
        }
    }

    // MARK: - Sending

    /// Sends one request; `onReply` runs on the I/O thread with its reply (an error reply is a
    /// `.success(.error(…))`) or with the reason it will never come. Throws, without calling
    /// `onReply`, if the connection is already closed.
    public func send(_ command: RESPCommand, onReply: @escaping ReplyHandler) throws(SpoolClientError) {
        try enqueue(command.encoded, receiver: .handler(onReply))
    }

    /// Sends pre-encoded bytes holding exactly one request (for load generators that encode once).
    public func send(encoded: [UInt8], onReply: @escaping ReplyHandler) throws(SpoolClientError) {
        try enqueue(encoded, receiver: .handler(onReply))
    }

    /// Sends one request and waits for its reply. An error reply is returned as `.error`, not
    /// thrown: the caller decides what it means. Cancelling the task does not cancel the request.
    public func request(_ command: RESPCommand) async throws(SpoolClientError) -> RESPValue {
        let bytes = command.encoded
        let result: Result<RESPValue, SpoolClientError> = await withCheckedContinuation { continuation in
            do throws(SpoolClientError) {
                try enqueue(bytes, receiver: .continuation(continuation))
            } catch {
                continuation.resume(returning: .failure(error))
            }
        }
        return try result.get()
    }

    /// Sends every command in one write and waits for all their replies, in order.
    public func pipeline(_ commands: [RESPCommand]) async throws(SpoolClientError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        var writer = RESPWriter(version: .resp2)
        for command in commands { command.encode(into: &writer) }
        let collector = ReplyCollector(count: commands.count)
        let bytes = writer.bytes
        let result: Result<[RESPValue], SpoolClientError> = await withCheckedContinuation { continuation in
            collector.setContinuation(continuation)
            do throws(SpoolClientError) {
                try enqueue(bytes, receivers: (0..<commands.count).map { index in
                    .handler { collector.receive($0, at: index) }
                })
            } catch {
                collector.fail(error)
            }
        }
        return try result.get()
    }

    private func enqueue(_ bytes: [UInt8], receiver: Receiver) throws(SpoolClientError) {
        try state.withLock { (state) throws(SpoolClientError) in
            try Self.checkOpen(state)
            state.receivers.append(receiver)
            writeLocked(&state, bytes)
        }
    }

    private func enqueue(_ bytes: [UInt8], receivers: [Receiver]) throws(SpoolClientError) {
        try state.withLock { (state) throws(SpoolClientError) in
            try Self.checkOpen(state)
            state.receivers.append(contentsOf: receivers)
            writeLocked(&state, bytes)
        }
    }

    private static func checkOpen(_ state: State) throws(SpoolClientError) {
        switch state.phase {
        case .open: return
        case .connecting, .closing: throw .closed
        case .ended(let error): throw error
        }
    }

    /// Writes now if nothing is queued ahead and the I/O thread is not about to write; otherwise
    /// queues, waking the I/O thread when the queue was empty.
    private func writeLocked(_ state: inout State, _ plaintext: [UInt8]) {
        var bytes = plaintext
        if let tls = state.tls {
            // Held by the session until its handshake is done; what it has to send goes out now.
            _ = tls.send(plaintext)
            bytes = tls.takeOutgoing()
            guard !bytes.isEmpty else { return }
        }
        if state.hasOutbound || state.delivering {
            state.outbound.append(contentsOf: bytes)
            return
        }
        var sent = 0
        let fd = state.fd
        while sent < bytes.count {
            let transfer = bytes.withUnsafeBytes { buffer in
                Socket.send(fd, UnsafeRawBufferPointer(rebasing: buffer[sent...]))
            }
            // On failure the bytes stay queued: the I/O thread's next poll reports the broken
            // socket and fails every pending request, this one included.
            guard case .bytes(let n) = transfer else { break }
            sent += n
        }
        if sent < bytes.count {
            state.outbound.removeAll(keepingCapacity: true)
            state.outboundStart = 0
            state.outbound.append(contentsOf: bytes[sent...])
            if !state.exited { wakeup.signal() }
        }
    }

    // MARK: - The I/O thread

    private func run(
        host: String, port: Int, timeoutMilliseconds: Int32, tls context: TLSContext?,
        connected: CheckedContinuation<Result<Void, SpoolClientError>, Never>
    ) {
        let fd: Int32
        do {
            fd = try Socket.connect(host: host, port: port, timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            let failure = SpoolClientError.connectFailed(endpoint: endpoint, reason: error.description)
            state.withLock {
                $0.phase = .ended(failure)
                $0.exited = true
            }
            wakeup.close()
            connected.resume(returning: .failure(failure))
            return
        }
        let cancelled = state.withLock { state -> Bool in
            if case .closing = state.phase { return true }
            state.fd = fd
            state.phase = .open
            if let context {
                // Made here, under the lock that guards it from now on.
                state.tls = try? TLSSession(context: context)
                // The ClientHello; requests sent before the handshake ends wait in the session.
                if let session = state.tls, case .ok = session.startHandshake() {
                    writeLocked(&state, [])
                } else {
                    state.phase = .closing
                }
            }
            return false
        }
        if cancelled {
            finish(fd: fd, error: .closed)
            connected.resume(returning: .failure(.closed))
            return
        }
        connected.resume(returning: .success(()))
        let error = loop(fd: fd)
        finish(fd: fd, error: error)
    }

    /// Polls until the connection ends; returns why.
    private func loop(fd: Int32) -> SpoolClientError {
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferBytes, alignment: 16)
        defer { readBuffer.deallocate() }
        var decoder = RESPReplyDecoder()
        var replies: [RESPValue] = []
        var pollFDs = [pollfd(fd: fd, events: 0, revents: 0), pollfd(fd: wakeup.readFD, events: Int16(POLLIN), revents: 0)]
        while true {
            let (closing, wantsWrite) = state.withLock { state -> (Bool, Bool) in
                if case .closing = state.phase { return (true, false) }
                return (false, state.hasOutbound)
            }
            if closing { return .closed }
            pollFDs[0].events = Int16(POLLIN) | (wantsWrite ? Int16(POLLOUT) : 0)
            pollFDs[0].revents = 0
            pollFDs[1].revents = 0
            let ready = poll(&pollFDs, 2, -1)
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                SystemCallError.checkNotABug("poll", code)
                return .connectionLost(reason: SystemCallError(call: "poll", code: code).description)
            }
            if pollFDs[1].revents != 0 { wakeup.drain() }
            let events = Int32(pollFDs[0].revents)
            if events & Int32(POLLOUT) != 0 {
                if let error = flushOutbound(fd: fd) { return error }
            }
            if events & (Int32(POLLIN) | Int32(POLLHUP) | Int32(POLLERR)) != 0 {
                var peerClosed = false
                readLoop: while true {
                    switch Socket.receive(fd, into: readBuffer) {
                    case .bytes(let n):
                        let received = UnsafeRawBufferPointer(rebasing: readBuffer[..<n])
                        if let failure = decrypt(received, into: &decoder) { return failure }
                        if n < readBuffer.count { break readLoop }
                    case .wouldBlock:
                        break readLoop
                    case .closed:
                        peerClosed = true
                        break readLoop
                    case .failed(let error):
                        return .connectionLost(reason: error.description)
                    }
                }
                do {
                    while let reply = try decoder.next() {
                        // RESP3 out-of-band messages answer no request.
                        if case .push = reply { continue }
                        replies.append(reply)
                    }
                } catch {
                    return .protocolViolation(error.message)
                }
                if !replies.isEmpty {
                    if let error = deliver(replies, fd: fd) { return error }
                    replies.removeAll(keepingCapacity: true)
                }
                if peerClosed { return .connectionLost(reason: "the server closed the connection") }
            }
        }
    }

    /// Adds what arrived to the decoder: as it is, or decrypted over TLS (whose handshake
    /// messages and released requests are written out). Returns why the connection must end.
    private func decrypt(_ received: UnsafeRawBufferPointer, into decoder: inout RESPReplyDecoder) -> SpoolClientError? {
        guard usesTLS else {
            decoder.append(received)
            return nil
        }
        let ciphertext = Array(received)
        let (plaintext, failure) = state.withLock { state -> ([UInt8], SpoolClientError?) in
            guard let tls = state.tls else { return ([], nil) }
            var plaintext: [UInt8] = []
            let result = ciphertext.withUnsafeBytes { bytes in tls.receive(bytes) { plaintext.append(contentsOf: $0) } }
            writeLocked(&state, [])
            switch result {
            case .ok: return (plaintext, nil)
            case .closed: return (plaintext, .connectionLost(reason: "the server closed the TLS session"))
            case .failed(let reason): return (plaintext, .connectionLost(reason: "TLS: \(reason)"))
            }
        }
        decoder.append(plaintext)
        return failure
    }

    /// Hands each reply to its receiver, then writes whatever the receivers sent meanwhile.
    private func deliver(_ replies: [RESPValue], fd: Int32) -> SpoolClientError? {
        let receivers = state.withLock { state -> [Receiver]? in
            guard state.receivers.count >= replies.count else { return nil }
            state.delivering = true
            var taken: [Receiver] = []
            taken.reserveCapacity(replies.count)
            for _ in 0..<replies.count { taken.append(state.receivers.removeFirst()) }
            return taken
        }
        guard let receivers else {
            return .protocolViolation("the server sent a reply nobody asked for")
        }
        for (receiver, reply) in zip(receivers, replies) {
            receiver.deliver(.success(reply))
        }
        state.withLock { $0.delivering = false }
        return flushOutbound(fd: fd)
    }

    /// Writes queued bytes until the kernel stops taking them.
    private func flushOutbound(fd: Int32) -> SpoolClientError? {
        state.withLock { state -> SpoolClientError? in
            while state.hasOutbound {
                let start = state.outboundStart
                let transfer = state.outbound.withUnsafeBytes { buffer in
                    Socket.send(fd, UnsafeRawBufferPointer(rebasing: buffer[start...]))
                }
                switch transfer {
                case .bytes(let n):
                    state.outboundStart += n
                case .wouldBlock, .closed:
                    // The socket is full: drop what was sent once it is most of the buffer, so a
                    // sender that stays ahead of the network does not grow it without bound.
                    if state.outboundStart >= Self.readBufferBytes && state.outboundStart * 2 >= state.outbound.count {
                        state.outbound.removeSubrange(..<state.outboundStart)
                        state.outboundStart = 0
                    }
                    return nil
                case .failed(let error):
                    return .connectionLost(reason: error.description)
                }
            }
            state.outbound.removeAll(keepingCapacity: state.outbound.capacity <= Self.readBufferBytes)
            state.outboundStart = 0
            return nil
        }
    }

    /// Ends the connection: every pending request fails with `error` (or `.closed` after
    /// `close()`), then the fds are closed.
    private func finish(fd: Int32, error: SpoolClientError) {
        let pending = state.withLock { state -> Deque<Receiver> in
            let reason: SpoolClientError
            if case .closing = state.phase { reason = .closed } else { reason = error }
            state.phase = .ended(reason)
            state.exited = true
            state.outbound = []
            state.outboundStart = 0
            let pending = state.receivers
            state.receivers = []
            return pending
        }
        Glibc.close(fd)
        wakeup.close()
        let reason = state.withLock { state -> SpoolClientError in
            if case .ended(let reason) = state.phase { return reason }
            return error
        }
        for receiver in pending { receiver.deliver(.failure(reason)) }
    }
}

/// Gathers the replies of one pipelined batch and resumes its waiter once, when all are in or
/// the first failure arrives.
final class ReplyCollector: Sendable {
    private struct State {
        var replies: [RESPValue?]
        var remaining: Int
        var continuation: CheckedContinuation<Result<[RESPValue], SpoolClientError>, Never>?
        var done = false
    }
    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(replies: Array(repeating: nil, count: count), remaining: count))
    }

    func setContinuation(_ continuation: CheckedContinuation<Result<[RESPValue], SpoolClientError>, Never>) {
        state.withLock { $0.continuation = continuation }
    }

    func receive(_ result: Result<RESPValue, SpoolClientError>, at index: Int) {
        switch result {
        case .failure(let error):
            fail(error)
        case .success(let reply):
            let finished = state.withLock { state -> (CheckedContinuation<Result<[RESPValue], SpoolClientError>, Never>, [RESPValue])? in
                guard !state.done else { return nil }
                state.replies[index] = reply
                state.remaining -= 1
                guard state.remaining == 0, let continuation = state.continuation else { return nil }
                state.done = true
                return (continuation, state.replies.map { $0! })
            }
            if let (continuation, replies) = finished { continuation.resume(returning: .success(replies)) }
        }
    }

    func fail(_ error: SpoolClientError) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<[RESPValue], SpoolClientError>, Never>? in
            guard !state.done else { return nil }
            state.done = true
            return state.continuation
        }
        continuation?.resume(returning: .failure(error))
    }
}
