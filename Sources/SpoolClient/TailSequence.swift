import SpoolCore
import SpoolProtocol

/// New entries of a stream as they become durable: XREAD BLOCK on a connection of its own.
/// Ends (returns nil) when the iterating task is cancelled; throws when the client is closed or
/// the server cannot be reached within the reconnect policy.
public struct TailSequence: AsyncSequence, Sendable {
    public typealias Element = Entry
    public typealias Failure = SpoolClientError

    let client: SpoolClient
    let stream: String
    let start: StreamPosition
    let batchSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: TailReader(client: client, stream: stream, start: start, batchSize: batchSize))
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = Entry
        public typealias Failure = SpoolClientError

        let reader: TailReader

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> Entry? {
            try await reader.next(isolation: actor)
        }

        public mutating func next() async throws(SpoolClientError) -> Entry? {
            try await reader.next(isolation: nil)
        }
    }
}

/// The state of one tail; owned by its iterator, which one task drives.
public final class TailReader {
    private let client: SpoolClient
    private let stream: String
    private let batchSize: Int
    private var start: StreamPosition
    /// The XREAD id: entries after it are next. Nil until `start` is resolved.
    private var lastID: EntryID?
    private var connection: BlockingConnection
    private var buffer: [Entry] = []
    private var index = 0

    init(client: SpoolClient, stream: String, start: StreamPosition, batchSize: Int) {
        self.client = client
        self.stream = stream
        self.start = start
        self.batchSize = batchSize
        connection = BlockingConnection(client: client)
        switch start {
        case .start: lastID = .zero
        case .id(let id): lastID = id.predecessor ?? .zero
        case .after(let id): lastID = id
        case .time(let ms): lastID = EntryID(milliseconds: ms, sequence: 0).predecessor ?? .zero
        case .end: lastID = nil
        }
    }

    func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> Entry? {
        while index == buffer.count {
            if Task.isCancelled {
                connection.retire()
                return nil
            }
            let after: EntryID
            if let lastID {
                after = lastID
            } else {
                // "$" would lose entries added while a broken connection is re-made; resolving it
                // to the current last id once makes every later read exact.
                after = try await client.lastEntryID(stream) ?? .zero
                lastID = after
            }
            let command = RESPCommand(
                "XREAD", "COUNT", String(batchSize), "BLOCK", "0", "STREAMS", stream, after.description)
            guard let reply = try await connection.request(command, isolation: actor) else { return nil }
            if case .error(let message) = reply { throw .server(ServerError(message: message)) }
            guard let streams = reply.streamEntries else {
                throw .unexpectedReply(command: "XREAD", reply: reply.summary)
            }
            buffer = streams.first?.entries ?? []
            index = 0
            if let last = buffer.last { lastID = last.id }
        }
        defer { index += 1 }
        return buffer[index]
    }
}

/// A dedicated connection for blocking reads: made on first use, re-made after it breaks,
/// closed when the task waiting on it is cancelled or when its owner goes away.
final class BlockingConnection {
    private let client: SpoolClient
    private var connection: RESPConnection?
    /// How many connections have been made; a change tells the owner a reconnect happened.
    private(set) var generation = 0

    init(client: SpoolClient) {
        self.client = client
    }

    deinit { retire() }

    func retire() {
        if let connection { client.retire(connection) }
        connection = nil
    }

    /// Sends `command` and waits for its reply. Returns nil if the task was cancelled meanwhile
    /// (the connection is closed to stop the blocked read). A broken connection is re-made and
    /// the command sent again: only use this for reads.
    func request(_ command: RESPCommand, isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> RESPValue? {
        while true {
            if Task.isCancelled {
                retire()
                return nil
            }
            let current: RESPConnection
            if let connection, connection.isOpen {
                current = connection
            } else {
                retire()
                current = try await client.makeDedicatedConnection()
                connection = current
                generation += 1
            }
            let result: Result<RESPValue, SpoolClientError> = await withTaskCancellationHandler {
                do throws(SpoolClientError) {
                    return .success(try await current.request(command))
                } catch {
                    return .failure(error)
                }
            } onCancel: {
                current.close()
            }
            switch result {
            case .success(let reply):
                return reply
            case .failure(let error):
                if Task.isCancelled {
                    retire()
                    return nil
                }
                if client.isClosed { throw .closed }
                guard error.isTransient else { throw error }
                // Broken: loop to make a new connection (with the reconnect policy's backoff).
                retire()
            }
        }
    }
}
