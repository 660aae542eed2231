import SpoolCore
import SpoolProtocol

extension SpoolClient {
    /// XADD: appends one entry; returns its id once the server acknowledged it (on Spool: once it
    /// is on disk). Nil only with `noMakeStream` on a missing stream.
    @discardableResult
    public func publish(
        to stream: String, _ fields: [Field], options: PublishOptions = PublishOptions()
    ) async throws(SpoolClientError) -> EntryID? {
        guard !fields.isEmpty else { throw .invalidArgument("an entry needs at least one field") }
        let reply = try await execute(options.command(stream: Array(stream.utf8), fields: fields))
        if reply.isNull { return nil }
        guard let id = reply.entryID else { throw .unexpectedReply(command: "XADD", reply: reply.summary) }
        return id
    }

    /// XADD with text fields: `publish(to: "orders", ["item": "book"])`.
    @discardableResult
    public func publish(
        to stream: String, _ fields: KeyValuePairs<String, String>, options: PublishOptions = PublishOptions()
    ) async throws(SpoolClientError) -> EntryID? {
        try await publish(to: stream, [Field](fields), options: options)
    }

    /// XRANGE from `start` to `end`, both inclusive unless `.after`.
    public func range(
        _ stream: String, from start: StreamPosition = .start, to end: StreamPosition = .end, count: Int? = nil
    ) async throws(SpoolClientError) -> [Entry] {
        try await entries("XRANGE", stream, start.startArgument, end.endArgument, count: count)
    }

    /// XREVRANGE: newest first.
    public func reverseRange(
        _ stream: String, from end: StreamPosition = .end, to start: StreamPosition = .start, count: Int? = nil
    ) async throws(SpoolClientError) -> [Entry] {
        try await entries("XREVRANGE", stream, end.endArgument, start.startArgument, count: count)
    }

    /// XRANGE or XREVRANGE (`name`) between two bounds, with an optional COUNT.
    private func entries(
        _ name: String, _ stream: String, _ first: String, _ second: String, count: Int?
    ) async throws(SpoolClientError) -> [Entry] {
        var command = RESPCommand(name, stream, first, second)
        if let count {
            command.append("COUNT")
            command.append(count)
        }
        let reply = try await execute(command, isRead: true)
        guard let entries = reply.entries else { throw .unexpectedReply(command: name, reply: reply.summary) }
        return entries
    }

    /// The id of the newest entry, nil for an empty or missing stream.
    public func lastEntryID(_ stream: String) async throws(SpoolClientError) -> EntryID? {
        try await reverseRange(stream, count: 1).first?.id
    }

    /// Every entry from `start` through `end`, fetched in batches of `batchSize` with the next
    /// batch requested while the current one is consumed. Ends at the last entry that exists
    /// when the final batch is read; use `tail` to keep following.
    public func replay(
        _ stream: String, from start: StreamPosition = .start, until end: StreamPosition = .end, batchSize: Int = 1000
    ) -> ReplaySequence {
        precondition(batchSize > 0, "batchSize must be positive")
        return ReplaySequence(client: self, stream: stream, start: start, end: end, batchSize: batchSize)
    }

    /// Follows new entries with XREAD BLOCK on a connection of its own, from `start` (`.end`:
    /// only entries added after the tail starts). Ends only when the task is cancelled or the
    /// client closed; reconnects and resumes after the last entry seen if the connection breaks.
    public func tail(_ stream: String, from start: StreamPosition = .end, batchSize: Int = 1000) -> TailSequence {
        precondition(batchSize > 0, "batchSize must be positive")
        return TailSequence(client: self, stream: stream, start: start, batchSize: batchSize)
    }

    /// XLEN.
    public func length(_ stream: String) async throws(SpoolClientError) -> Int {
        let reply = try await execute(RESPCommand("XLEN", stream), isRead: true)
        guard let n = reply.integer else { throw .unexpectedReply(command: "XLEN", reply: reply.summary) }
        return Int(n)
    }

    /// MEMORY USAGE: the stream's size in bytes (on Spool, its entries as stored before
    /// compression; on Redis, the memory it takes); nil when there is no such stream.
    public func size(_ stream: String) async throws(SpoolClientError) -> Int? {
        let reply = try await execute(RESPCommand("MEMORY", "USAGE", stream), isRead: true)
        if reply.isNull { return nil }
        guard let n = reply.integer else { throw .unexpectedReply(command: "MEMORY USAGE", reply: reply.summary) }
        return Int(n)
    }

    /// XINFO STREAM. A missing stream throws `.server` with `isNotFound`.
    public func streamInfo(_ stream: String) async throws(SpoolClientError) -> StreamInfo {
        try StreamInfo(try await execute(RESPCommand("XINFO", "STREAM", stream), isRead: true))
    }

    /// The names of every stream (SCAN … TYPE stream), sorted.
    public func streams(matching pattern: String = "*") async throws(SpoolClientError) -> [String] {
        var cursor = "0"
        var names: [String] = []
        repeat {
            let reply = try await execute(
                RESPCommand("SCAN", cursor, "MATCH", pattern, "COUNT", "1000", "TYPE", "stream"), isRead: true)
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].text, let keys = parts[1].elements else {
                throw .unexpectedReply(command: "SCAN", reply: reply.summary)
            }
            names += keys.compactMap(\.text)
            cursor = next
        } while cursor != "0"
        return Array(Set(names)).sorted()
    }

    /// XTRIM; returns how many entries were removed.
    @discardableResult
    public func trim(_ stream: String, _ trim: Trim, limit: Int? = nil) async throws(SpoolClientError) -> Int {
        var command = RESPCommand("XTRIM", stream)
        trim.append(to: &command, limit: limit)
        let reply = try await execute(command)
        guard let n = reply.integer else { throw .unexpectedReply(command: "XTRIM", reply: reply.summary) }
        return Int(n)
    }

    /// DEL; returns how many of the streams existed.
    @discardableResult
    public func delete(streams: [String]) async throws(SpoolClientError) -> Int {
        guard !streams.isEmpty else { return 0 }
        var command = RESPCommand("DEL")
        for stream in streams { command.append(stream) }
        let reply = try await execute(command)
        return Int(reply.integer ?? 0)
    }

    /// XDEL; returns how many of the ids existed.
    @discardableResult
    public func deleteEntries(_ stream: String, ids: [EntryID]) async throws(SpoolClientError) -> Int {
        guard !ids.isEmpty else { return 0 }
        var command = RESPCommand("XDEL", stream)
        for id in ids { command.append(id) }
        let reply = try await execute(command)
        return Int(reply.integer ?? 0)
    }

    /// A pipelining producer for `stream`; see `Producer`.
    public func producer(for stream: String, options: ProducerOptions = ProducerOptions()) -> Producer {
        Producer(client: self, stream: stream, options: options)
    }
}
