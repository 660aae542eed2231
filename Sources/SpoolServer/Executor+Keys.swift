import SpoolCore
import SpoolProtocol
import SpoolStorage

extension Executor {
    func del(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 2 else { return out.error(CommandError.arity(args[0].asString)) }
        var deleted: Int64 = 0
        for key in args[1...] {
            if let stream = try store.streamForWriting(key) {
                try store.dropStream(stream)
                streamChanged(key)
                deleted += 1
            }
        }
        out.integer(deleted)
    }

    func exists(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 2 else { return out.error(CommandError.arity("exists")) }
        var found: Int64 = 0
        for key in args[1...] where try store.streamForReading(key) != nil { found += 1 }
        out.integer(found)
    }

    func type(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count == 2 else { return out.error(CommandError.arity("type")) }
        out.simpleString(try store.streamForReading(args[1]) == nil ? "none" : "stream")
    }

    func keys(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count == 2 else { return out.error(CommandError.arity("keys")) }
        let names = try store.streamNames().filter { GlobPattern.matches(args[1], $0) }
        out.arrayHeader(names.count)
        for name in names { out.bulk(name) }
    }

    /// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. Streams are walked in the order of their
    /// numbers, which only grow; the cursor is the number to go on from, so a full iteration returns
    /// every stream that existed throughout it exactly once, as Redis guarantees, and each call
    /// costs its COUNT, however many streams there are.
    func scan(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 2, args.count % 2 == 0 else {
            return out.error(args.count < 2 ? CommandError.arity("scan") : CommandError.syntax)
        }
        guard let cursor = args[1].asInt64, cursor >= 0 else { return out.error("ERR invalid cursor") }
        var pattern: [UInt8]?
        var count = 10
        var typeFilter: [UInt8]?
        var index = 2
        while index + 1 < args.count {
            if args[index].isKeyword("MATCH") {
                pattern = args[index + 1]
            } else if args[index].isKeyword("COUNT") {
                guard let value = args[index + 1].asInt64 else { return out.error(CommandError.notInteger) }
                guard value >= 1 else { return out.error(CommandError.syntax) }
                count = Int(min(value, 1 << 20))
            } else if args[index].isKeyword("TYPE") {
                typeFilter = args[index + 1].map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
            } else {
                return out.error(CommandError.syntax)
            }
            index += 2
        }
        let (names, next) = try store.scanStreams(from: UInt64(cursor), count: count)
        var page = names
        if let pattern { page = page.filter { GlobPattern.matches(pattern, $0) } }
        if let typeFilter, typeFilter != Array("stream".utf8) { page = [] }
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
    func flush(_ args: [[UInt8]], _ out: inout RESPWriter, everyDatabase: Bool, inTransaction: Bool) throws(WiredTigerError) {
        if args.count > 2 || (args.count == 2 && !args[1].isKeyword("ASYNC") && !args[1].isKeyword("SYNC")) {
            return out.error(CommandError.syntax)
        }
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

    /// A database index argument of SWAPDB or MOVE; nil (with the error written) when it is none.
    private func databaseIndex(_ text: [UInt8], notInteger: String, _ out: inout RESPWriter) -> Int? {
        guard let index = text.asInt64 else {
            out.error(notInteger)
            return nil
        }
        guard index >= 0 && index < Int64(limits.databases) else {
            out.error("ERR DB index is out of range")
            return nil
        }
        return Int(index)
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
    func swapdb(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let first = databaseIndex(args[1], notInteger: "ERR invalid first DB index", &out),
            let second = databaseIndex(args[2], notInteger: "ERR invalid second DB index", &out)
        else { return }
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
    func move(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let target = databaseIndex(args[2], notInteger: CommandError.notInteger, &out) else { return }
        guard target != store.database else { return out.error("ERR source and destination objects are the same") }
        guard let stream = try store.streamForWriting(args[1]) else { return out.integer(0) }
        guard !hasWaitingAppends(in: [store.database], stream: args[1]) else {
            return out.error("ERR producer appends are waiting on this stream; try again once they commit")
        }
        streamChanged(args[1])
        let moved = try store.moveStream(stream, to: target)
        if moved {
            // Readers blocked on that name in the target database look again too.
            let selected = store.database
            store.database = target
            streamChanged(args[1])
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
        // "\r\n" is one Character in Swift.
        while text.hasSuffix("\r\n\r\n") { text.removeLast() }
        if out.version == .resp3 { out.verbatim(text) } else { out.bulk(text) }
    }
}
