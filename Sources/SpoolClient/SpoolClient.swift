import SpoolCore
import SpoolProtocol
import SpoolTLS
import Synchronization

/// A client for Spool (or any Redis-compatible server): one shared, pipelined connection for
/// ordinary commands, opened lazily and reopened with backoff when it breaks, plus dedicated
/// connections for what blocks (tails, group consumers) and for producers.
///
/// Every method is safe to call from any task at the same time; concurrent calls are pipelined
/// on the shared connection. Nothing blocks the caller's executor: sockets live on each
/// connection's own I/O thread.
///
/// Reads (XRANGE, XINFO, XPENDING …) are retried once on a fresh connection when the shared one
/// breaks under them; writes are not (they may have been applied), except through an idempotent
/// `Producer`.
public final class SpoolClient: Sendable {
    public let configuration: SpoolClientConfiguration
    private let state = Mutex(State())

    private struct State {
        var shared: RESPConnection?
        /// The connect in progress for `shared`, which every caller waiting for it joins.
        var connecting: Task<Result<RESPConnection, SpoolClientError>, Never>?
        /// Connections handed to tails, consumers and producers, closed with the client.
        var dedicated: [ObjectIdentifier: RESPConnection] = [:]
        var closed = false
    }

    /// Does not connect: the first command does. Use `connect(_:)` to find out at once whether
    /// the server is there.
    public init(_ configuration: SpoolClientConfiguration = SpoolClientConfiguration()) {
        self.configuration = configuration
    }

    /// Connects (with the reconnect policy's retries) and checks the handshake.
    public static func connect(
        _ configuration: SpoolClientConfiguration = SpoolClientConfiguration()
    ) async throws(SpoolClientError) -> SpoolClient {
        let client = SpoolClient(configuration)
        _ = try await client.sharedConnection()
        return client
    }

    /// Closes every connection. Requests in flight fail with `.closed`; later calls too.
    public func close() {
        let (connections, connecting) = state.withLock { state -> ([RESPConnection], Task<Result<RESPConnection, SpoolClientError>, Never>?) in
            state.closed = true
            var all = Array(state.dedicated.values)
            if let shared = state.shared { all.append(shared) }
            state.shared = nil
            state.dedicated = [:]
            let connecting = state.connecting
            state.connecting = nil
            return (all, connecting)
        }
        connecting?.cancel()
        for connection in connections { connection.close() }
    }

    // MARK: - Commands

    /// Runs `command` on the shared connection. An error reply throws `.server`.
    /// `isRead`: safe to run twice, so retried once if the connection breaks under it.
    @discardableResult
    public func execute(_ command: RESPCommand, isRead: Bool = false) async throws(SpoolClientError) -> RESPValue {
        let reply = try await executeReturningErrors(command, isRead: isRead)
        if case .error(let message) = reply { throw .server(ServerError(message: message)) }
        return reply
    }

    /// Like `execute` but an error reply is returned as `.error` instead of thrown.
    public func executeReturningErrors(_ command: RESPCommand, isRead: Bool = false) async throws(SpoolClientError) -> RESPValue {
        let connection = try await sharedConnection()
        do {
            return try await connection.request(command)
        } catch let error where isRead && (error.isTransient || error == .closed) {
            let fresh = try await sharedConnection()
            return try await fresh.request(command)
        }
    }

    /// Sends every command in one write on the shared connection; returns each reply (errors as
    /// `.error` values) in order.
    public func pipeline(_ commands: [RESPCommand]) async throws(SpoolClientError) -> [RESPValue] {
        let connection = try await sharedConnection()
        return try await connection.pipeline(commands)
    }

    /// PING; returns the reply text ("PONG").
    public func ping() async throws(SpoolClientError) -> String {
        try await execute(RESPCommand("PING"), isRead: true).text ?? ""
    }

    /// INFO [section …].
    public func info(_ sections: [String] = []) async throws(SpoolClientError) -> ServerInfo {
        var command = RESPCommand("INFO")
        for section in sections { command.append(section) }
        let reply = try await execute(command, isRead: true)
        guard let text = reply.text else { throw .unexpectedReply(command: "INFO", reply: reply.summary) }
        return ServerInfo(text: text)
    }

    /// Whether the server knows `command` (COMMAND INFO answers nil for unknown ones). Spool's
    /// extensions (XNACK, producer options) are not commands of their own; see `isSpool`.
    public func supportsCommand(_ name: String) async throws(SpoolClientError) -> Bool {
        let reply = try await execute(RESPCommand("COMMAND", "INFO", name), isRead: true)
        guard let first = reply.elements?.first else { return false }
        return !first.isNull
    }

    // MARK: - Connections

    /// The shared connection, opening it (with backoff) if it is not open.
    func sharedConnection() async throws(SpoolClientError) -> RESPConnection {
        let (existing, task) = try state.withLock { (state) throws(SpoolClientError) -> (RESPConnection?, Task<Result<RESPConnection, SpoolClientError>, Never>?) in
            if state.closed { throw .closed }
            if let shared = state.shared, shared.isOpen { return (shared, nil) }
            if let connecting = state.connecting { return (nil, connecting) }
            let task = Task { [self] () -> Result<RESPConnection, SpoolClientError> in
                let result: Result<RESPConnection, SpoolClientError>
                do throws(SpoolClientError) {
                    result = .success(try await openConnection())
                } catch {
                    result = .failure(error)
                }
                let stale = self.state.withLock { state -> RESPConnection? in
                    state.connecting = nil
                    guard case .success(let connection) = result else { return nil }
                    if state.closed { return connection }
                    state.shared = connection
                    return nil
                }
                if let stale {
                    stale.close()
                    return .failure(.closed)
                }
                return result
            }
            state.connecting = task
            return (nil, task)
        }
        if let existing { return existing }
        return try await task!.value.get()
    }

    /// A new connection of its own for a tail, consumer or producer, handshaken, with the
    /// reconnect policy's retries. Closed by `close()`; owners give it back with `retire(_:)`.
    public func makeDedicatedConnection() async throws(SpoolClientError) -> RESPConnection {
        if state.withLock({ $0.closed }) { throw .closed }
        let connection = try await openConnection()
        let accepted = state.withLock { state -> Bool in
            if state.closed { return false }
            state.dedicated[ObjectIdentifier(connection)] = connection
            return true
        }
        if !accepted {
            connection.close()
            throw .closed
        }
        return connection
    }

    /// Closes a dedicated connection and forgets it.
    public func retire(_ connection: RESPConnection) {
        connection.close()
        _ = state.withLock { $0.dedicated.removeValue(forKey: ObjectIdentifier(connection)) }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// The TLS context of `configuration.tls` (nil for plain TCP); files that cannot be used are
    /// a setup error, not retried.
    private func makeTLSContext() throws(SpoolClientError) -> TLSContext? {
        guard let options = configuration.tls else { return nil }
        let settings = TLSSettings(
            certificateFile: options.certificateFile ?? "", keyFile: options.keyFile ?? "",
            caCertificateFile: options.caCertificateFile, authClients: "yes", protocols: "", ciphers: "", ciphersuites: "")
        do {
            return try TLSContext(settings, role: .client)
        } catch {
            throw .invalidArgument("TLS: \(error)")
        }
    }

    /// Connects and handshakes, retrying transient failures by the reconnect policy.
    private func openConnection() async throws(SpoolClientError) -> RESPConnection {
        let policy = configuration.reconnect
        var failures = 0
        while true {
            do throws(SpoolClientError) {
                let connection = try await RESPConnection.connect(
                    host: configuration.host, port: configuration.port, timeout: configuration.connectTimeout,
                    tls: try makeTLSContext())
                do throws(SpoolClientError) {
                    try await handshake(connection)
                } catch {
                    connection.close()
                    throw error
                }
                return connection
            } catch {
                failures += 1
                guard error.isTransient, failures < policy.attemptsMax else {
                    if case .connectionLost(let reason) = error {
                        throw .connectFailed(endpoint: configuration.endpoint, reason: reason)
                    }
                    throw error
                }
                if Task.isCancelled || isClosed { throw .cancelled }
                do {
                    try await Task.sleep(for: policy.delay(afterFailures: failures))
                } catch {
                    throw .cancelled
                }
            }
        }
    }

    /// HELLO 3 or AUTH, and the client name, pipelined in one write.
    private func handshake(_ connection: RESPConnection) async throws(SpoolClientError) {
        var commands: [RESPCommand] = []
        if configuration.protocolVersion == .resp3 {
            var hello = RESPCommand("HELLO", "3")
            if let password = configuration.password {
                hello.append("AUTH")
                hello.append(configuration.username ?? "default")
                hello.append(password)
            }
            if let name = configuration.clientName {
                hello.append("SETNAME")
                hello.append(name)
            }
            commands.append(hello)
        } else {
            if let password = configuration.password {
                var auth = RESPCommand("AUTH")
                if let username = configuration.username { auth.append(username) }
                auth.append(password)
                commands.append(auth)
            }
            if let name = configuration.clientName {
                commands.append(RESPCommand("CLIENT", "SETNAME", name))
            }
        }
        guard !commands.isEmpty else { return }
        let replies = try await connection.pipeline(commands)
        for reply in replies {
            guard case .error(let message) = reply else { continue }
            let error = ServerError(message: message)
            if ["WRONGPASS", "NOAUTH", "NOPERM"].contains(error.code) || message.hasPrefix("ERR AUTH")
                || message.hasPrefix("ERR invalid password")
            {
                throw .authenticationFailed(message)
            }
            throw .server(error)
        }
    }
}
