import SpoolCore
import SpoolProtocol

/// Where a consumer group starts reading.
public enum GroupStart: Sendable, Hashable {
    /// Only entries added after the group is created ("$").
    case newEntries
    /// Every entry in the stream ("0").
    case beginning
    /// Entries after this id.
    case after(EntryID)

    var argument: String {
        switch self {
        case .newEntries: return "$"
        case .beginning: return "0"
        case .after(let id): return id.description
        }
    }
}

/// Spool's per-group delivery limits (XGROUP CREATE … MAXDELIVERIES n DEADLETTER stream).
public struct DeadLetterPolicy: Sendable, Hashable {
    /// After this many deliveries without an ack, an entry leaves the pending list…
    public var maxDeliveries: Int
    /// …and is appended to this stream (if given).
    public var deadLetterStream: String?

    public init(maxDeliveries: Int, deadLetterStream: String? = nil) {
        self.maxDeliveries = maxDeliveries
        self.deadLetterStream = deadLetterStream
    }
}

extension SpoolClient {
    /// XGROUP CREATE. Returns false when `ifNotExists` and the group already exists (BUSYGROUP).
    @discardableResult
    public func createGroup(
        _ group: String, on stream: String, startingAt start: GroupStart = .newEntries, makeStream: Bool = false,
        entriesRead: Int? = nil, deadLetter: DeadLetterPolicy? = nil, ifNotExists: Bool = false
    ) async throws(SpoolClientError) -> Bool {
        var command = RESPCommand("XGROUP", "CREATE", stream, group, start.argument)
        if makeStream { command.append("MKSTREAM") }
        if let entriesRead {
            command.append("ENTRIESREAD")
            command.append(entriesRead)
        }
        if let deadLetter {
            command.append("MAXDELIVERIES")
            command.append(deadLetter.maxDeliveries)
            if let stream = deadLetter.deadLetterStream {
                command.append("DEADLETTER")
                command.append(stream)
            }
        }
        let reply = try await executeReturningErrors(command)
        if case .error(let message) = reply {
            let error = ServerError(message: message)
            if ifNotExists && error.code == "BUSYGROUP" { return false }
            throw .server(error)
        }
        return true
    }

    /// XGROUP DESTROY; false if there was no such group.
    @discardableResult
    public func destroyGroup(_ group: String, on stream: String) async throws(SpoolClientError) -> Bool {
        try await execute(RESPCommand("XGROUP", "DESTROY", stream, group)).integer == 1
    }

    /// XGROUP SETID: moves the group's last-delivered id (resets or skips its position).
    public func setGroupPosition(
        _ group: String, on stream: String, to start: GroupStart, entriesRead: Int? = nil
    ) async throws(SpoolClientError) {
        var command = RESPCommand("XGROUP", "SETID", stream, group, start.argument)
        if let entriesRead {
            command.append("ENTRIESREAD")
            command.append(entriesRead)
        }
        try await execute(command)
    }

    /// XGROUP CREATECONSUMER; false if it existed.
    @discardableResult
    public func createConsumer(_ consumer: String, group: String, on stream: String) async throws(SpoolClientError) -> Bool {
        try await execute(RESPCommand("XGROUP", "CREATECONSUMER", stream, group, consumer)).integer == 1
    }

    /// XGROUP DELCONSUMER; returns how many entries it had pending (now pending for nobody).
    @discardableResult
    public func deleteConsumer(_ consumer: String, group: String, on stream: String) async throws(SpoolClientError) -> Int {
        Int(try await execute(RESPCommand("XGROUP", "DELCONSUMER", stream, group, consumer)).integer ?? 0)
    }

    /// XINFO GROUPS.
    public func groups(on stream: String) async throws(SpoolClientError) -> [GroupInfo] {
        let reply = try await execute(RESPCommand("XINFO", "GROUPS", stream), isRead: true)
        guard let items = reply.elements else { throw .unexpectedReply(command: "XINFO GROUPS", reply: reply.summary) }
        var groups: [GroupInfo] = []
        for item in items { groups.append(try GroupInfo(item)) }
        return groups
    }

    /// XINFO CONSUMERS.
    public func consumers(of group: String, on stream: String) async throws(SpoolClientError) -> [ConsumerInfo] {
        let reply = try await execute(RESPCommand("XINFO", "CONSUMERS", stream, group), isRead: true)
        guard let items = reply.elements else { throw .unexpectedReply(command: "XINFO CONSUMERS", reply: reply.summary) }
        var consumers: [ConsumerInfo] = []
        for item in items { consumers.append(try ConsumerInfo(item)) }
        return consumers
    }

    /// XPENDING key group: how many, the id range, and per consumer.
    public func pendingSummary(group: String, on stream: String) async throws(SpoolClientError) -> PendingSummary {
        try PendingSummary(try await execute(RESPCommand("XPENDING", stream, group), isRead: true))
    }

    /// XPENDING key group [IDLE ms] start end count [consumer]: the entries themselves.
    public func pending(
        group: String, on stream: String, from start: StreamPosition = .start, to end: StreamPosition = .end,
        count: Int = 100, consumer: String? = nil, minimumIdle: Duration? = nil
    ) async throws(SpoolClientError) -> [PendingEntry] {
        var command = RESPCommand("XPENDING", stream, group)
        if let minimumIdle {
            command.append("IDLE")
            command.append(minimumIdle.milliseconds)
        }
        command.append(start.startArgument)
        command.append(end.endArgument)
        command.append(count)
        if let consumer { command.append(consumer) }
        let reply = try await execute(command, isRead: true)
        guard let items = reply.elements else { throw .unexpectedReply(command: "XPENDING", reply: reply.summary) }
        var entries: [PendingEntry] = []
        for item in items { entries.append(try PendingEntry(item)) }
        return entries
    }

    /// XACK: returns how many of the ids were pending.
    @discardableResult
    public func acknowledge(_ ids: [EntryID], group: String, on stream: String) async throws(SpoolClientError) -> Int {
        guard !ids.isEmpty else { return 0 }
        var command = RESPCommand("XACK", stream, group)
        for id in ids { command.append(id) }
        return Int(try await execute(command).integer ?? 0)
    }

    /// XNACK: gives pending entries back to the group. `mode` says what the delivery counted for
    /// (Redis 8.8: SILENT does not count it, FAIL does, FATAL makes it the last; a group with a
    /// dead-letter policy dead-letters an entry whose next delivery would pass it). With
    /// `redeliverAfter` (Spool's DELAY, the default: at once) the next `XREADGROUP >` after it
    /// delivers them again; with nil only claims do, as in Redis. Returns how many were given back.
    @discardableResult
    public func negativeAcknowledge(
        _ ids: [EntryID], group: String, on stream: String, mode: NackMode = .fail,
        redeliverAfter delay: Duration? = .zero
    ) async throws(SpoolClientError) -> Int {
        guard !ids.isEmpty else { return 0 }
        var command = RESPCommand("XNACK", stream, group, mode.rawValue, "IDS")
        command.append(ids.count)
        for id in ids { command.append(id) }
        if let delay {
            command.append("DELAY")
            command.append(delay.milliseconds)
        }
        return Int(try await execute(command).integer ?? 0)
    }

    /// XCLAIM: takes entries idle for at least `minimumIdle` over for `consumer`; returns the
    /// entries it took.
    public func claim(
        _ ids: [EntryID], group: String, on stream: String, for consumer: String, minimumIdle: Duration
    ) async throws(SpoolClientError) -> [Entry] {
        guard !ids.isEmpty else { return [] }
        var command = RESPCommand("XCLAIM", stream, group, consumer)
        command.append(minimumIdle.milliseconds)
        for id in ids { command.append(id) }
        let reply = try await execute(command)
        guard let entries = reply.entries else { throw .unexpectedReply(command: "XCLAIM", reply: reply.summary) }
        return entries.filter { !$0.fields.isEmpty }
    }

    /// XAUTOCLAIM: scans the pending list from `start` and takes up to `count` entries idle for
    /// at least `minimumIdle` over for `consumer`.
    public func autoClaim(
        group: String, on stream: String, for consumer: String, minimumIdle: Duration, start: EntryID = .zero,
        count: Int = 100
    ) async throws(SpoolClientError) -> AutoClaimResult {
        var command = RESPCommand("XAUTOCLAIM", stream, group, consumer)
        command.append(minimumIdle.milliseconds)
        command.append(start)
        command.append("COUNT")
        command.append(count)
        let reply = try await execute(command)
        guard let parts = reply.elements, parts.count >= 2, let next = parts[0].entryID, let entries = parts[1].entries
        else { throw .unexpectedReply(command: "XAUTOCLAIM", reply: reply.summary) }
        let deleted = parts.count > 2 ? (parts[2].elements ?? []).compactMap(\.entryID) : []
        return AutoClaimResult(nextStart: next, entries: entries.filter { !$0.fields.isEmpty }, deletedIDs: deleted)
    }

    /// One XREADGROUP without blocking, on the shared connection: `">"` for new entries, or an
    /// id to re-read this consumer's own pending entries after it.
    public func readGroup(
        _ group: String, on stream: String, as consumer: String, after id: String = ">", count: Int = 100,
        noAck: Bool = false
    ) async throws(SpoolClientError) -> [Entry] {
        var command = RESPCommand("XREADGROUP", "GROUP", group, consumer, "COUNT", String(count))
        if noAck { command.append("NOACK") }
        command.append("STREAMS")
        command.append(stream)
        command.append(id)
        let reply = try await execute(command)
        guard let streams = reply.streamEntries else { throw .unexpectedReply(command: "XREADGROUP", reply: reply.summary) }
        return streams.first?.entries ?? []
    }

    /// A consumer in `group` reading `stream` as an AsyncSequence of messages; see
    /// `GroupConsumer`.
    public func consumer(
        group: String, on stream: String, name: String, options: ConsumerOptions = ConsumerOptions()
    ) -> GroupConsumer {
        GroupConsumer(client: self, stream: stream, group: group, name: name, options: options)
    }
}

extension Duration {
    /// Whole milliseconds, rounded down, never negative.
    var milliseconds: Int {
        let (seconds, attoseconds) = components
        return max(0, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
