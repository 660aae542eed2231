import SpoolCore
import SpoolProtocol

/// How a `GroupConsumer` reads.
public struct ConsumerOptions: Sendable {
    /// Entries asked for per XREADGROUP.
    public var batchSize: Int
    /// First deliver again what this consumer already had pending (from a previous run, or lost
    /// in a broken connection), then new entries.
    public var recoverPending: Bool
    /// Take over entries that other consumers have left unacknowledged this long (XAUTOCLAIM),
    /// checked every `claimInterval`. Nil: never claim.
    public var claimIdle: Duration?
    public var claimInterval: Duration
    /// NOACK: entries are not tracked in the pending list (at-most-once).
    public var noAck: Bool
    /// Create the group (at `GroupStart`, making the stream too) if it does not exist.
    public var createGroup: GroupStart?
    /// End the sequence after this many messages, never reading more than that from the group
    /// (a read takes entries into the consumer's pending list whether or not they are used).
    public var messagesMax: Int?

    public init(
        batchSize: Int = 100, recoverPending: Bool = true, claimIdle: Duration? = nil,
        claimInterval: Duration = .seconds(1), noAck: Bool = false, createGroup: GroupStart? = nil,
        messagesMax: Int? = nil
    ) {
        precondition(batchSize > 0, "batchSize must be positive")
        precondition(messagesMax.map { $0 > 0 } ?? true, "messagesMax must be positive")
        self.messagesMax = messagesMax
        self.batchSize = batchSize
        self.recoverPending = recoverPending
        self.claimIdle = claimIdle
        self.claimInterval = claimInterval
        self.noAck = noAck
        self.createGroup = createGroup
    }
}

/// One entry delivered to a group consumer. Acknowledge it when it has been processed, or give
/// it back with `negativeAcknowledge` to have it delivered again.
public struct GroupMessage: Sendable {
    public let stream: String
    public let group: String
    public let consumer: String
    public let entry: Entry
    /// Delivered before: from this consumer's pending list or claimed from another consumer.
    public let isRedelivery: Bool
    let client: SpoolClient

    public var id: EntryID { entry.id }
    public subscript(field name: String) -> String? { entry[field: name] }

    /// XACK; false if the entry was no longer pending (already acknowledged, or claimed away).
    @discardableResult
    public func acknowledge() async throws(SpoolClientError) -> Bool {
        try await client.acknowledge([entry.id], group: group, on: stream) == 1
    }

    /// XNACK: back to the group, delivered again after `delay` (Spool's DELAY); `mode` as in
    /// `SpoolClient.negativeAcknowledge`.
    @discardableResult
    public func negativeAcknowledge(mode: NackMode = .fail, delay: Duration = .zero) async throws(SpoolClientError) -> Bool {
        try await client.negativeAcknowledge([entry.id], group: group, on: stream, mode: mode, redeliverAfter: delay) == 1
    }
}

/// A member of a consumer group as an AsyncSequence: XREADGROUP BLOCK on a connection of its
/// own. It first re-delivers the consumer's own pending entries (if `recoverPending`), then new
/// ones; with `claimIdle` it also takes over entries other consumers left unacknowledged.
/// Delivery is at least once: acknowledge each message when done with it.
///
/// The sequence ends when the iterating task is cancelled. A broken connection is re-made with
/// the client's backoff, after which the consumer's pending entries are recovered again (an
/// XREADGROUP whose reply was lost left its entries pending for this consumer).
public struct GroupConsumer: AsyncSequence, Sendable {
    public typealias Element = GroupMessage
    public typealias Failure = SpoolClientError

    let client: SpoolClient
    public let stream: String
    public let group: String
    public let name: String
    public let options: ConsumerOptions

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: GroupReader(consumer: self))
    }

    public struct Iterator: AsyncIteratorProtocol {
        public typealias Element = GroupMessage
        public typealias Failure = SpoolClientError

        let reader: GroupReader

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> GroupMessage? {
            try await reader.next(isolation: actor)
        }

        public mutating func next() async throws(SpoolClientError) -> GroupMessage? {
            try await reader.next(isolation: nil)
        }
    }
}

/// The state of one group consumer; owned by its iterator, which one task drives.
public final class GroupReader {
    private let consumer: GroupConsumer
    private let connection: BlockingConnection
    /// Re-reading own pending entries after this id; nil once caught up.
    private var recoveringAfter: EntryID?
    private var claimCursor = EntryID.zero
    private var nextClaimAt: ContinuousClock.Instant
    private var groupChecked = false
    private var connectionGeneration = 0
    private var buffer: [GroupMessage] = []
    private var index = 0
    /// Messages handed out so far.
    private var delivered = 0

    init(consumer: GroupConsumer) {
        self.consumer = consumer
        connection = BlockingConnection(client: consumer.client)
        recoveringAfter = consumer.options.recoverPending && !consumer.options.noAck ? .zero : nil
        nextClaimAt = .now
    }

    func next(isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> GroupMessage? {
        let options = consumer.options
        if let limit = options.messagesMax, delivered >= limit {
            connection.retire()
            return nil
        }
        while index == buffer.count {
            if Task.isCancelled {
                connection.retire()
                return nil
            }
            if !groupChecked, let start = options.createGroup {
                try await consumer.client.createGroup(
                    consumer.group, on: consumer.stream, startingAt: start, makeStream: true, ifNotExists: true)
                groupChecked = true
            }
            let entries: [Entry]
            let redelivered: Bool
            if let after = recoveringAfter {
                guard let read = try await read(after: after.description, block: nil, isolation: actor) else { return nil }
                if read.isEmpty {
                    recoveringAfter = nil
                    continue
                }
                recoveringAfter = read[read.count - 1].id
                // Pending ids whose entries were deleted come back without fields: skip them.
                entries = read.filter { !$0.fields.isEmpty }
                redelivered = true
            } else if let idle = options.claimIdle, ContinuousClock.now >= nextClaimAt {
                let result = try await consumer.client.autoClaim(
                    group: consumer.group, on: consumer.stream, for: consumer.name, minimumIdle: idle,
                    start: claimCursor, count: batchCount)
                claimCursor = result.nextStart
                if claimCursor == .zero { nextClaimAt = .now + options.claimInterval }
                entries = result.entries
                redelivered = true
            } else {
                // With claiming on, block only until the next claim is due.
                let block = options.claimIdle == nil ? 0 : max(1, options.claimInterval.milliseconds)
                guard let read = try await read(after: ">", block: block, isolation: actor) else { return nil }
                entries = read
                redelivered = false
            }
            buffer = entries.map {
                GroupMessage(
                    stream: consumer.stream, group: consumer.group, consumer: consumer.name, entry: $0,
                    isRedelivery: redelivered, client: consumer.client)
            }
            index = 0
        }
        defer {
            index += 1
            delivered += 1
        }
        return buffer[index]
    }

    /// Entries to ask for: a batch, or fewer if `messagesMax` is near.
    private var batchCount: Int {
        guard let limit = consumer.options.messagesMax else { return consumer.options.batchSize }
        return max(1, min(consumer.options.batchSize, limit - delivered))
    }

    /// One XREADGROUP; nil when cancelled. After a reconnect, recovery starts over.
    private func read(after id: String, block: Int?, isolation actor: isolated (any Actor)?) async throws(SpoolClientError) -> [Entry]? {
        var command = RESPCommand("XREADGROUP", "GROUP", consumer.group, consumer.name)
        command.append("COUNT")
        command.append(batchCount)
        if let block {
            command.append("BLOCK")
            command.append(block)
        }
        if consumer.options.noAck { command.append("NOACK") }
        command.append("STREAMS")
        command.append(consumer.stream)
        command.append(id)
        guard let reply = try await connection.request(command, isolation: actor) else { return nil }
        if connection.generation != connectionGeneration {
            connectionGeneration = connection.generation
            if connectionGeneration > 1 && consumer.options.recoverPending && !consumer.options.noAck {
                recoveringAfter = .zero
            }
        }
        if case .error(let message) = reply { throw .server(ServerError(message: message)) }
        guard let streams = reply.streamEntries else {
            throw .unexpectedReply(command: "XREADGROUP", reply: reply.summary)
        }
        return streams.first?.entries ?? []
    }
}
