import CLibUV
import SpoolCore
import SpoolProtocol
import SpoolStorage

#if canImport(Glibc)
    import Glibc
#endif

extension Server {
    /// Routes one command: loop-thread commands answer at once (behind earlier replies), storage
    /// commands join the connection's current group.
    func dispatch(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        guard let spec = CommandTable.lookup(args[0]) else {
            if connection.transaction != nil { connection.transactionHasError = true }
            return reply(connection, &group) { $0.error(CommandError.unknownCommand(args)) }
        }
        connection.lastCommand = spec.name
        guard spec.acceptsArgumentCount(args.count) else {
            if connection.transaction != nil { connection.transactionHasError = true }
            return reply(connection, &group) { $0.error(CommandError.arity(spec.name)) }
        }
        if !connection.isAuthenticated && !spec.flags.contains("no_auth") {
            return reply(connection, &group) { $0.error(CommandError.noAuth) }
        }
        if connection.transaction != nil && !["exec", "discard", "multi", "watch", "quit"].contains(spec.name) {
            guard spec.runs == .storage || spec.name == "ping" || spec.name == "echo" else {
                connection.transactionHasError = true
                return reply(connection, &group) { $0.error("ERR Command not allowed inside a transaction") }
            }
            connection.transaction!.append(args)
            return reply(connection, &group) { $0.simpleString("QUEUED") }
        }
        switch spec.name {
        case "ping":
            reply(connection, &group) { out in
                if args.count > 2 { return out.error(CommandError.arity("ping")) }
                if args.count == 2 { out.bulk(args[1]) } else { out.simpleString("PONG") }
            }
        case "echo": reply(connection, &group) { $0.bulk(args[1]) }
        case "hello": hello(args, connection, &group)
        case "auth": auth(args, connection, &group)
        case "client": client(args, connection, &group)
        case "select":
            reply(connection, &group) { out in
                guard let index = args[1].asInt64 else { return out.error(CommandError.notInteger) }
                if index == 0 { out.simpleString("OK") } else { out.error("ERR DB index is out of range") }
            }
        case "quit":
            reply(connection, &group) { $0.simpleString("OK") }
            connection.closeAfterWrite = true
        case "command": command(args, connection, &group)
        case "config": configCommand(args, connection, &group)
        case "shutdown":
            submit(&group)
            beginShutdown()
        case "multi":
            reply(connection, &group) { out in
                if connection.transaction != nil { return out.error("ERR MULTI calls can not be nested") }
                connection.transaction = []
                connection.transactionHasError = false
                out.simpleString("OK")
            }
        case "exec": exec(connection, &group)
        case "discard":
            reply(connection, &group) { out in
                guard connection.transaction != nil else { return out.error("ERR DISCARD without MULTI") }
                connection.transaction = nil
                out.simpleString("OK")
            }
        case "watch":
            reply(connection, &group) { out in
                if connection.transaction != nil { return out.error("ERR WATCH inside MULTI is not allowed") }
                out.simpleString("OK")
            }
        case "unwatch": reply(connection, &group) { $0.simpleString("OK") }
        case "info":
            appendToGroup(args, connection, &group)
            group!.infoText["body"] = infoText(sections: args.dropFirst().map { $0.asString.lowercased() })
        case "xread" where isBlockingRead(args):
            // Nothing after a blocking read runs until it is answered, as in Redis.
            appendToGroup(args, connection, &group)
            connection.blockedSlot = group!.slot
            submit(&group)
        default:
            appendToGroup(args, connection, &group)
        }
    }

    private func isBlockingRead(_ args: [[UInt8]]) -> Bool {
        for arg in args.dropFirst() {
            if arg.isKeyword("STREAMS") { return false }
            if arg.isKeyword("BLOCK") { return true }
        }
        return false
    }

    /// Answers on the loop thread. The current group is submitted first so replies stay in order.
    func reply(_ connection: Connection, _ group: inout CommandGroup?, _ body: (inout RESPWriter) -> Void) {
        submit(&group)
        var out = RESPWriter(version: connection.version)
        body(&out)
        connection.enqueueReady(out.bytes)
    }

    private func exec(_ connection: Connection, _ group: inout CommandGroup?) {
        guard let queued = connection.transaction else {
            return reply(connection, &group) { $0.error("ERR EXEC without MULTI") }
        }
        connection.transaction = nil
        if connection.transactionHasError {
            return reply(connection, &group) {
                $0.error("EXECABORT Transaction discarded because of previous errors.")
            }
        }
        submit(&group)
        if queued.isEmpty { return reply(connection, &group) { $0.arrayHeader(0) } }
        // One group, one storage transaction: all of it becomes durable together or not at all.
        var transaction = CommandGroup(
            connection: connection.id, slot: connection.reserveSlot(), version: connection.version, commands: queued)
        transaction.isTransaction = true
        if queued.contains(where: { $0[0].isKeyword("INFO") }) {
            transaction.infoText["body"] = infoText(sections: [])
        }
        var pending: CommandGroup? = transaction
        submit(&pending)
    }

    private func hello(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        reply(connection, &group) { out in
            var index = 1
            var version = connection.version
            if args.count >= 2 {
                guard let requested = args[1].asInt64 else {
                    return out.error("ERR Protocol version is not an integer or out of range")
                }
                guard requested == 2 || requested == 3 else { return out.error("NOPROTO unsupported protocol version") }
                version = requested == 3 ? .resp3 : .resp2
                index = 2
            }
            var name: [UInt8]?
            while index < args.count {
                if args[index].isKeyword("AUTH"), index + 2 < args.count {
                    guard authenticate(user: args[index + 1], password: args[index + 2]) else {
                        return out.error(CommandError.wrongPass)
                    }
                    connection.isAuthenticated = true
                    index += 3
                } else if args[index].isKeyword("SETNAME"), index + 1 < args.count {
                    guard isValidClientName(args[index + 1]) else {
                        return out.error("ERR Client names cannot contain spaces, newlines or special characters.")
                    }
                    name = args[index + 1]
                    index += 2
                } else {
                    return out.error("ERR Syntax error in HELLO option '\(args[index].asString)'")
                }
            }
            guard connection.isAuthenticated else {
                return out.error(
                    "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
                )
            }
            if let name { connection.name = name }
            connection.version = version
            out.version = version
            out.mapHeader(7)
            out.bulk("server")
            out.bulk("redis")
            out.bulk("version")
            out.bulk("7.4.0")
            out.bulk("proto")
            out.integer(version == .resp3 ? 3 : 2)
            out.bulk("id")
            out.integer(Int64(connection.id))
            out.bulk("mode")
            out.bulk("standalone")
            out.bulk("role")
            out.bulk("master")
            out.bulk("modules")
            out.arrayHeader(0)
        }
    }

    private func authenticate(user: [UInt8]?, password: [UInt8]) -> Bool {
        guard !config.requirepass.isEmpty else { return false }
        if let user, !user.isKeyword("DEFAULT") { return false }
        // Constant-time comparison: the time taken does not tell how much of the password matched.
        let expected = Array(config.requirepass.utf8)
        var difference = expected.count ^ password.count
        for i in 0..<max(expected.count, password.count) {
            let a = i < expected.count ? expected[i] : 0
            let b = i < password.count ? password[i] : 0
            difference |= Int(a ^ b)
        }
        return difference == 0
    }

    private func auth(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        reply(connection, &group) { out in
            guard args.count <= 3 else { return out.error(CommandError.syntax) }
            if config.requirepass.isEmpty && args.count == 2 {
                return out.error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
                )
            }
            let ok = authenticate(user: args.count == 3 ? args[1] : nil, password: args[args.count - 1])
            guard ok else { return out.error(CommandError.wrongPass) }
            connection.isAuthenticated = true
            out.simpleString("OK")
        }
    }

    private func isValidClientName(_ name: [UInt8]) -> Bool {
        name.allSatisfy { $0 > 32 && $0 < 127 }
    }

    private func clientInfoLine(_ connection: Connection) -> String {
        let now = monotonicNanoseconds()
        let age = (now - connection.createdAt) / 1_000_000_000
        let idle = (now - connection.lastInteraction) / 1_000_000_000
        let name = connection.name.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return "id=\(connection.id) addr=\(connection.address) laddr=\(config.bind):\(boundPort) fd=-1 name=\(name) age=\(age) idle=\(idle) flags=\(connection.transaction != nil ? "x" : (connection.blockedSlot != nil ? "b" : "N")) db=0 sub=0 psub=0 ssub=0 multi=\(connection.transaction.map { String($0.count) } ?? "-1") qbuf=\(connection.decoder.bufferedByteCount) qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=\(connection.pendingSlotCount) omem=\(connection.heldBytes) tot-mem=0 events=r cmd=\(connection.lastCommand) user=default redir=-1 resp=\(connection.version.rawValue) lib-name=\(connection.libraryName) lib-ver=\(connection.libraryVersion)"
    }

    private func client(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        reply(connection, &group) { out in
            let sub = args[1]
            if sub.isKeyword("SETNAME") && args.count == 3 {
                guard isValidClientName(args[2]) || args[2].isEmpty else {
                    return out.error("ERR Client names cannot contain spaces, newlines or special characters.")
                }
                connection.name = args[2].isEmpty ? nil : args[2]
                out.simpleString("OK")
            } else if sub.isKeyword("GETNAME") && args.count == 2 {
                if let name = connection.name { out.bulk(name) } else { out.nullBulk() }
            } else if sub.isKeyword("ID") && args.count == 2 {
                out.integer(Int64(connection.id))
            } else if sub.isKeyword("INFO") && args.count == 2 {
                out.bulk(clientInfoLine(connection) + "\n")
            } else if sub.isKeyword("LIST") {
                let lines = connections.values.sorted { $0.id < $1.id }.map { clientInfoLine($0) + "\n" }
                out.bulk(lines.joined())
            } else if sub.isKeyword("SETINFO") && args.count == 4 {
                let value = args[3].asString
                if args[2].isKeyword("LIB-NAME") {
                    connection.libraryName = value
                } else if args[2].isKeyword("LIB-VER") {
                    connection.libraryVersion = value
                } else {
                    return out.error("ERR Unrecognized option '\(args[2].asString)'")
                }
                out.simpleString("OK")
            } else if (sub.isKeyword("NO-EVICT") || sub.isKeyword("NO-TOUCH")) && args.count == 3 {
                out.simpleString("OK")
            } else {
                out.error("ERR unknown subcommand or wrong number of arguments for '\(sub.asString)'. Try CLIENT HELP.")
            }
        }
    }

    private func command(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        reply(connection, &group) { out in
            func writeInfo(_ spec: CommandSpec) {
                out.arrayHeader(10)
                out.bulk(spec.name)
                out.integer(Int64(spec.arity))
                out.setHeader(spec.flags.count)
                for flag in spec.flags { out.simpleString(flag) }
                out.integer(Int64(spec.firstKey))
                out.integer(Int64(spec.lastKey))
                out.integer(Int64(spec.step))
                out.setHeader(0)
                out.setHeader(0)
                out.arrayHeader(0)
                out.arrayHeader(0)
            }
            if args.count == 1 {
                out.arrayHeader(CommandTable.all.count)
                CommandTable.all.forEach(writeInfo)
                return
            }
            let sub = args[1]
            if sub.isKeyword("COUNT") {
                out.integer(Int64(CommandTable.all.count))
            } else if sub.isKeyword("INFO") {
                let names = args.count > 2 ? Array(args[2...]) : CommandTable.all.map { Array($0.name.utf8) }
                out.arrayHeader(names.count)
                for name in names {
                    if let spec = CommandTable.lookup(name) { writeInfo(spec) } else { out.nullArray() }
                }
            } else if sub.isKeyword("DOCS") {
                let specs = args.count > 2 ? args[2...].compactMap { CommandTable.lookup($0) } : CommandTable.all
                out.mapHeader(specs.count)
                for spec in specs {
                    out.bulk(spec.name)
                    out.mapHeader(3)
                    out.bulk("summary")
                    out.bulk(spec.summary)
                    out.bulk("since")
                    out.bulk("1.0.0")
                    out.bulk("group")
                    out.bulk(spec.name.hasPrefix("x") ? "stream" : "server")
                }
            } else if sub.isKeyword("LIST") {
                out.arrayHeader(CommandTable.all.count)
                for spec in CommandTable.all { out.bulk(spec.name) }
            } else if sub.isKeyword("GETKEYS") && args.count >= 3 {
                guard let spec = CommandTable.lookup(args[2]), spec.firstKey > 0 else {
                    return out.error("ERR The command has no key arguments")
                }
                let commandArgs = Array(args[2...])
                let last = spec.lastKey < 0 ? commandArgs.count + spec.lastKey : spec.lastKey
                let keys = stride(from: spec.firstKey, through: min(last, commandArgs.count - 1), by: max(1, spec.step)).map { commandArgs[$0] }
                out.arrayHeader(keys.count)
                for key in keys { out.bulk(key) }
            } else {
                out.error("ERR unknown subcommand '\(sub.asString)'. Try COMMAND HELP.")
            }
        }
    }

    private func configCommand(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        reply(connection, &group) { out in
            let sub = args[1]
            if sub.isKeyword("GET") {
                guard args.count >= 3 else { return out.error(CommandError.arity("config|get")) }
                var matches: [(String, String)] = []
                // Facts redis-benchmark and other tools ask about: snapshots never, log always.
                let facts = [("save", ""), ("appendonly", "yes"), ("appendfsync", "always")]
                for (name, value) in facts
                where args[2...].contains(where: { GlobPattern.matches($0, Array(name.utf8), nocase: true) }) {
                    matches.append((name, value))
                }
                for key in ServerConfig.keys {
                    if args[2...].contains(where: { GlobPattern.matches($0, Array(key.name.utf8), nocase: true) }) {
                        matches.append((key.name, config.value(of: key)))
                    }
                }
                out.mapHeader(matches.count)
                for (name, value) in matches {
                    out.bulk(name)
                    out.bulk(value)
                }
            } else if sub.isKeyword("SET") {
                guard args.count >= 4, args.count % 2 == 0 else { return out.error(CommandError.arity("config|set")) }
                var updated = config
                for pair in stride(from: 2, to: args.count, by: 2) {
                    let name = args[pair].asString
                    guard let key = ServerConfig.key(named: name) else {
                        return out.error("ERR Unknown option or number of arguments for CONFIG SET - '\(name)'")
                    }
                    guard key.isMutable else {
                        return out.error("ERR CONFIG SET failed (possibly related to argument '\(name)') - can't set immutable config")
                    }
                    if updated.apply(name, args[pair + 1].asString) != nil {
                        return out.error("ERR CONFIG SET failed (possibly related to argument '\(name)') - argument couldn't be parsed into an integer")
                    }
                }
                config = updated
                out.simpleString("OK")
            } else if sub.isKeyword("RESETSTAT") && args.count == 2 {
                totalCommands = 0
                totalConnections = 0
                rejectedConnections = 0
                protocolErrors = 0
                outputLimitDisconnections = 0
                out.simpleString("OK")
            } else if sub.isKeyword("REWRITE") {
                out.error("ERR CONFIG REWRITE is not supported; edit the config file")
            } else {
                out.error("ERR unknown subcommand '\(sub.asString)'. Try CONFIG HELP.")
            }
        }
    }

    /// The INFO sections the loop thread knows; the storage thread appends keyspace.
    func infoText(sections: [String]) -> String {
        let all = sections.isEmpty || sections.contains { ["all", "default", "everything"].contains($0) }
        func wants(_ name: String) -> Bool { all || sections.contains(name) }
        var text = ""
        let uptime = (monotonicNanoseconds() - startedAt) / 1_000_000_000
        if wants("server") {
            text += "# Server\r\nredis_version:7.4.0\r\nspool_version:\(spoolVersion)\r\nredis_mode:standalone\r\n"
            text += "os:Linux\r\narch_bits:64\r\nmultiplexing_api:libuv\r\nprocess_id:\(getpid())\r\n"
            text += "tcp_port:\(boundPort)\r\nuptime_in_seconds:\(uptime)\r\nuptime_in_days:\(uptime / 86400)\r\n\r\n"
        }
        if wants("clients") {
            let blocked = connections.values.filter { $0.blockedSlot != nil }.count
            text += "# Clients\r\nconnected_clients:\(connections.count)\r\nmaxclients:\(config.maxclients)\r\n"
            text += "blocked_clients:\(blocked)\r\n\r\n"
        }
        if wants("memory") {
            let rss = residentSetBytes()
            text += "# Memory\r\nused_memory:\(rss)\r\nused_memory_rss:\(rss)\r\nmaxmemory:0\r\n"
            text += "spool_wiredtiger_cache_size:\(config.wiredtigerCacheSize)\r\n\r\n"
        }
        if wants("persistence") {
            let stats = engine.statisticsSnapshot
            text += "# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_last_write_status:\(stats.flushFailed ? "err" : "ok")\r\n"
            text += "spool_appends:\(stats.appends)\r\nspool_commits:\(stats.commits)\r\nspool_fsyncs:\(stats.fsyncs)\r\n"
            text += "spool_entries_per_fsync:\(String(format2: stats.entriesPerFsync))\r\n"
            text += "spool_entries_per_fsync_max:\(stats.entriesPerFsyncMax)\r\n"
            text += "spool_durable_latency_p50_us:\(stats.durableLatencyMicrosecondsP50)\r\n"
            text += "spool_durable_latency_p99_us:\(stats.durableLatencyMicrosecondsP99)\r\n"
            text += "spool_durable_latency_p999_us:\(stats.durableLatencyMicrosecondsP999)\r\n"
            text += "spool_durable_latency_max_us:\(stats.durableLatencyMicrosecondsMax)\r\n"
            text += "spool_fsync_p50_us:\(stats.fsyncMicrosecondsP50)\r\nspool_fsync_p99_us:\(stats.fsyncMicrosecondsP99)\r\n"
            text += "spool_durable_generation:\(stats.durableGeneration)\r\n\r\n"
        }
        if wants("stats") {
            text += "# Stats\r\ntotal_connections_received:\(totalConnections)\r\n"
            text += "total_commands_processed:\(totalCommands)\r\nrejected_connections:\(rejectedConnections)\r\n"
            text += "total_error_replies:\(protocolErrors)\r\nclient_output_buffer_limit_disconnections:\(outputLimitDisconnections)\r\n\r\n"
        }
        return text
    }

    private func residentSetBytes() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var size = 0
        var resident = 0
        guard withUnsafeMutablePointer(to: &size, { s in withUnsafeMutablePointer(to: &resident) { r in readStatm(file, s, r) } }) else { return 0 }
        return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    private func readStatm(_ file: UnsafeMutablePointer<FILE>, _ size: UnsafeMutablePointer<Int>, _ resident: UnsafeMutablePointer<Int>) -> Bool {
        var buffer = [CChar](repeating: 0, count: 128)
        guard fgets(&buffer, 128, file) != nil else { return false }
        let fields = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).split(separator: " ")
        guard fields.count >= 2, let s = Int(fields[0]), let r = Int(fields[1]) else { return false }
        size.pointee = s
        resident.pointee = r
        return true
    }
}

extension String {
    /// Two decimals without Foundation.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
