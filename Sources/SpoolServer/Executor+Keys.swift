import SpoolCore
import SpoolProtocol
import SpoolStorage

extension Executor {
    func del(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 2 else { return out.error(CommandError.arity(args[0].asString)) }
        var deleted: Int64 = 0
        for key in args[1...] {
            if let stream = store.streamForWriting(key) {
                try store.dropStream(stream)
                streamChanged(key)
                deleted += 1
            }
        }
        out.integer(deleted)
    }

    func exists(_ args: [[UInt8]], _ out: inout RESPWriter) {
        guard args.count >= 2 else { return out.error(CommandError.arity("exists")) }
        out.integer(Int64(args[1...].filter { store.streamForReading($0) != nil }.count))
    }

    func type(_ args: [[UInt8]], _ out: inout RESPWriter) {
        guard args.count == 2 else { return out.error(CommandError.arity("type")) }
        out.simpleString(store.streamForReading(args[1]) == nil ? "none" : "stream")
    }

    func keys(_ args: [[UInt8]], _ out: inout RESPWriter) {
        guard args.count == 2 else { return out.error(CommandError.arity("keys")) }
        let names = store.streamNames.filter { GlobPattern.matches(args[1], $0) }.sorted { $0.lexicographicallyPrecedes($1) }
        out.arrayHeader(names.count)
        for name in names { out.bulk(name) }
    }

    /// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. Keys are walked in name order; the
    /// cursor is the index of the next one, so a full iteration returns every stream that existed
    /// throughout it, as Redis guarantees.
    func scan(_ args: [[UInt8]], _ out: inout RESPWriter) {
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
        let names = store.streamNames.sorted { $0.lexicographicallyPrecedes($1) }
        let start = Int(min(cursor, Int64(names.count)))
        let end = min(names.count, start + count)
        var page = Array(names[start..<end])
        if let pattern { page = page.filter { GlobPattern.matches(pattern, $0) } }
        if let typeFilter, typeFilter != Array("stream".utf8) { page = [] }
        out.arrayHeader(2)
        out.bulk(String(end >= names.count ? 0 : end))
        out.arrayHeader(page.count)
        for name in page { out.bulk(name) }
    }

    func flush(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        if args.count > 2 || (args.count == 2 && !args[1].isKeyword("ASYNC") && !args[1].isKeyword("SYNC")) {
            return out.error(CommandError.syntax)
        }
        for name in store.streamNames {
            if let stream = store.streamForWriting(name) {
                try store.dropStream(stream)
                streamChanged(name)
            }
        }
        store.noteDurableDependency()
        out.simpleString("OK")
    }

    /// INFO: the loop thread built its sections; keyspace (the catalog's) and producers follow.
    func info(_ args: [[UInt8]], _ out: inout RESPWriter, loopSections: String) {
        var text = loopSections
        let sections = InfoSections(args)
        if sections.wants("keyspace") {
            text += "# Keyspace\r\n"
            if store.streamCount > 0 { text += "db0:keys=\(store.streamCount),expires=0,avg_ttl=0,subexpiry=0\r\n" }
            text += "\r\n"
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
