import SpoolCore
import SpoolProtocol
import SpoolStorage

extension Executor {
    /// A keyspace command, its arguments checked on the loop thread (Command+Keys.swift).
    func execute(_ command: Command.Keys, _ out: inout RESPWriter, inTransaction: Bool) throws(WiredTigerError) {
        switch command {
        case .delete(let keys): try delete(keys, &out)
        case .exists(let keys):
            var found: Int64 = 0
            for key in keys where try store.streamForReading(key) != nil { found += 1 }
            out.integer(found)
        case .type(let key): out.simpleString(try store.streamForReading(key) == nil ? "none" : "stream")
        case .keys(let pattern):
            let names = try store.streamNames().filter { GlobPattern.matches(pattern, $0) }
            out.arrayHeader(names.count)
            for name in names { out.bulk(name) }
        case .scan(let request): try scan(request, &out)
        case .dbsize: out.integer(Int64(store.streamCount))
        case .flush(let everyDatabase): try flush(everyDatabase: everyDatabase, inTransaction: inTransaction, &out)
        case .swapdb(let first, let second): try swapdb(first, second, &out)
        case .move(let key, let target): try move(key, to: target, &out)
        case .memoryUsage(let key):
            guard let key else { return CommandHelp.write([Array("MEMORY".utf8)], Self.memoryHelp, into: &out) }
            guard let stream = try store.streamForReading(key) else { return out.nullBulk() }
            out.integer(Int64(clamping: stream.record.bytes))
        }
    }

    static let memoryHelp = [
        "USAGE <key> [SAMPLES <count>]",
        "    Return the size in bytes of the stream <key>: each entry's id, fields and values as",
        "    stored, before compression (exact: SAMPLES is accepted and not needed).",
    ]

    private func delete(_ keys: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        var deleted: Int64 = 0
        for key in keys {
            if let stream = try store.streamForWriting(key) {
                try store.dropStream(stream)
                streamChanged(key)
                deleted += 1
            }
        }
        out.integer(deleted)
    }

    /// SCAN. Streams are walked in the order of their numbers, which only grow; the cursor is the
    /// number to go on from, so a full iteration returns every stream that existed throughout it
    /// exactly once, as Redis guarantees, and each call costs its COUNT, however many streams
    /// there are.
    private func scan(_ request: Command.Scan, _ out: inout RESPWriter) throws(WiredTigerError) {
        let (names, next) = try store.scanStreams(from: request.cursor, count: request.count)
        var page = names
        if let pattern = request.pattern { page = page.filter { GlobPattern.matches(pattern, $0) } }
        if request.onlyOtherTypes { page = [] }
        out.arrayHeader(2)
        out.bulk(String(next))
        out.arrayHeader(page.count)
        for name in page { out.bulk(name) }
    }

    /// Streams a FLUSHDB/FLUSHALL drops per WiredTiger transaction: one transaction for a million
    /// drops outgrows the cache and is rolled back.
    static let flushStreamsPerTransaction = 1_000

    /// FLUSHDB: the selected database's streams; FLUSHALL: every database's. Outside MULTI the
    /// drops are committed every `flushStreamsPerTransaction` streams (the reply still waits for
    /// the one fsync that covers them all); a crash before that fsync can leave some streams.
    private func flush(everyDatabase: Bool, inTransaction: Bool, _ out: inout RESPWriter) throws(WiredTigerError) {
        let selected = store.database
        let databases = everyDatabase ? store.streamCountsByDatabase.map(\.database) : [selected]
        var dropped = 0
        for database in databases {
            store.database = database
            for name in try store.streamNames() {
                if let stream = try store.streamForWriting(name) {
                    try store.dropStream(stream)
                    streamChanged(name)
                    dropped += 1
                    if !inTransaction && dropped % Self.flushStreamsPerTransaction == 0 { try store.commitSoFar() }
                }
            }
        }
        store.database = selected
        store.noteDurableDependency()
        out.simpleString("OK")
    }

    /// Whether a producer has appends waiting on one of these databases' streams (MOVE and SWAPDB
    /// refuse then: the waiting appends name their stream by database).
    private func hasWaitingAppends(in databases: [Int], stream: [UInt8]? = nil) -> Bool {
        producerQueues.queues.keys.contains { key in
            databases.contains(key.database) && (stream == nil || key.stream == stream!)
        }
    }

    /// SWAPDB index index: the two databases' streams trade places; readers blocked on them are
    /// woken to look again, as Redis does.
    private func swapdb(_ first: Int, _ second: Int, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard !hasWaitingAppends(in: [first, second]) else {
            return out.error("ERR producer appends are waiting in these databases; try again once they commit")
        }
        // Readers blocked in either database look again (only their own keys, not every stream).
        for waiter in waiters where waiter.database == first || waiter.database == second {
            for key in waiter.keys { appendedStreams.insert(StreamKey(database: waiter.database, name: key)) }
        }
        try store.swapDatabases(first, second)
        store.noteDurableDependency()
        out.simpleString("OK")
    }

    /// MOVE key db: 1 when the stream moved, 0 when it does not exist here or the target has one of
    /// that name.
    private func move(_ key: [UInt8], to target: Int, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard target != store.database else { return out.error("ERR source and destination objects are the same") }
        guard let stream = try store.streamForWriting(key) else { return out.integer(0) }
        guard !hasWaitingAppends(in: [store.database], stream: key) else {
            return out.error("ERR producer appends are waiting on this stream; try again once they commit")
        }
        streamChanged(key)
        let moved = try store.moveStream(stream, to: target)
        if moved {
            // Readers blocked on that name in the target database look again too.
            let selected = store.database
            store.database = target
            streamChanged(key)
            store.database = selected
        }
        out.integer(moved ? 1 : 0)
    }

    /// INFO: the loop thread built its sections; keyspace (the catalog's), streams and producers
    /// follow.
    func info(_ sections: InfoSections, _ out: inout RESPWriter, loopText: String) {
        var text = loopText
        if sections.wants("keyspace") {
            text += "# Keyspace\r\n"
            for (database, count) in store.streamCountsByDatabase {
                text += "db\(database):keys=\(count),expires=0,avg_ttl=0,subexpiry=0\r\n"
            }
            text += "\r\n"
        }
        if sections.wants("streams", spoolOnly: true) {
            // Streams held in memory (stream-cache-max), and how often the catalog was read for one.
            text += "# Streams\r\nspool_streams_cached:\(store.cachedStreamCount)\r\n"
            text += "spool_stream_cache_max:\(store.streamCacheMax)\r\n"
            text += "spool_stream_loads:\(store.streamLoads)\r\nspool_stream_evictions:\(store.streamEvictions)\r\n\r\n"
        }
        if sections.wants("producers", spoolOnly: true) {
            let queues = producerQueues
            let counters = queues.counters
            text += "# Producers\r\nspool_producer_groups_set_aside:\(counters.setAside)\r\n"
            text += "spool_producer_set_aside_carried:\(counters.carried)\r\n"
            text += "spool_producer_set_aside_outwaited:\(counters.outwaited)\r\n"
            text += "spool_producer_appends_parked:\(counters.parked)\r\n"
            text += "spool_producer_appends_waiting:\(queues.parkedCount)\r\n\r\n"
        }
        if let cluster, sections.wants("shards", spoolOnly: true) || sections.wants("cluster") {
            text += cluster.infoText()
        }
        // "\r\n" is one Character in Swift.
        while text.hasSuffix("\r\n\r\n") { text.removeLast() }
        if out.version == .resp3 { out.verbatim(text) } else { out.bulk(text) }
    }
}
