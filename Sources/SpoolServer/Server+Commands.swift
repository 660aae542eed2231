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
    func dispatch(_ args: RequestArguments, _ connection: Connection, _ group: inout CommandGroup?) {
        let top: CommandSpec
        let spec: CommandSpec
        switch CommandTable.resolve(args) {
        case .failure(let error):
            connection.lastCommand = "NULL"
            if connection.transaction != nil { connection.transactionHasError = true }
            return reply(connection, &group) { $0.error(error.text) }
        case .success(let found):
            (top, spec) = found
        }
        connection.lastCommand = spec.name
        guard spec.acceptsArgumentCount(args.count) else {
            if connection.transaction != nil { connection.transactionHasError = true }
            return reply(connection, &group) { $0.error(CommandError.arity(spec.name)) }
        }
        if !connection.isAuthenticated && !spec.isNoAuth && isAuthenticationRequired(connection) {
            return reply(connection, &group) { $0.error(CommandError.noAuth) }
        }
        // Checked before a command is queued too, as in Redis, and again at EXEC.
        if !connection.user.allowsEverything,
            let refusal = aclRefusal(spec, args, connection, context: connection.transaction != nil ? .multi : .toplevel)
        {
            if top.name == "exec" && connection.transaction != nil {
                connection.transaction = nil
                return reply(connection, &group) { $0.error("EXECABORT Transaction discarded because of: " + refusal) }
            }
            if connection.transaction != nil { connection.transactionHasError = true }
            return reply(connection, &group) { $0.error(refusal) }
        }
        if connection.transaction != nil && !Self.transactionControl.contains(top.name) {
            guard !spec.flags.contains("no_multi") else {
                connection.transactionHasError = true
                return reply(connection, &group) { $0.error(CommandError.notAllowedInTransaction) }
            }
            connection.transaction!.append(args)
            return reply(connection, &group) { $0.simpleString("QUEUED") }
        }
        switch top.name {
        case "quit":
            reply(connection, &group) { $0.simpleString("OK") }
            connection.closeAfterWrite = true
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
        case "cluster" where args.count >= 2 && (args[1].isKeyword("MEET") || args[1].isKeyword("FORGET")):
            changeMembers(args.arrays, connection, &group)
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
        default:
            guard let name = top.storageName else {
                guard isTimingCommands else {
                    return reply(connection, &group) { answer(top, args.arrays, connection, into: &$0) }
                }
                let started = monotonicNanoseconds()
                reply(connection, &group) { answer(top, args.arrays, connection, into: &$0) }
                return noteCommand(spec, args, microseconds: Int64((monotonicNanoseconds() - started) / 1000), connection: connection)
            }
            let command: Command
            switch decode(name, args) {
            case .success(let decoded): command = decoded
            case .failure(let error): return reply(connection, &group) { $0.error(error.text) }
            }
            if let topology = topology(for: connection) {
                switch clusterDecision(spec, args, connection, topology: topology) {
                case .local: break
                case .refuse(let message): return reply(connection, &group) { $0.error(message) }
                case .propose(let shard):
                    let slot = propose(shard: shard, .request(args), blocking: command.mayBlock, connection, &group)
                    // Nothing after a blocking read runs until it is answered, as in Redis.
                    if command.mayBlock {
                        connection.blockedSlot = slot
                        connection.blockedRequest = (spec, args)
                    }
                    return
                }
            }
            appendToGroup(command, args, connection, &group)
            if command.mayBlock {
                // Nothing after a blocking read runs until it is answered, as in Redis.
                connection.blockedSlot = group!.slot
                connection.blockedRequest = (spec, args)
                submit(&group)
            }
        }
    }

    /// Decodes a storage command; INFO gets the sections the loop thread writes.
    private func decode(_ name: CommandName, _ args: RequestArguments) -> Result<Command, CommandErrorText> {
        let decoded = Command.decode(name, args, databases: config.databases)
        if case .success(.info(let sections, _)) = decoded {
            return .success(.info(sections: sections, loopText: infoText(sections: sections)))
        }
        return decoded
    }

    /// The commands that act on a transaction instead of joining it (QUIT leaves at once).
    private static let transactionControl: Set<String> = ["exec", "discard", "multi", "watch", "quit"]

    /// Runs a loop command that replies and changes nothing but connection and server state:
    /// at once, or at EXEC for one queued in a transaction.
    private func answer(_ top: CommandSpec, _ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        switch top.name {
        case "ping":
            // More than one argument is an arity error only when PING runs, as in Redis.
            switch args.count {
            case 1: out.simpleString("PONG")
            case 2: out.bulk(args[1])
            default: out.error(CommandError.arity("ping"))
            }
        case "echo": out.bulk(args[1])
        case "acl": acl(args, connection, into: &out)
        case "slowlog": slowlog(args, into: &out)
        case "latency": latency(args, into: &out)
        case "hello": hello(args, connection, into: &out)
        case "auth": auth(args, connection, into: &out)
        case "client": client(args, connection, into: &out)
        case "select":
            guard let index = args[1].asInt64 else { return out.error(CommandError.notInteger) }
            if topology != nil && index != 0 { return out.error("ERR SELECT is not allowed in cluster mode") }
            guard index >= 0 && index < config.databases else { return out.error("ERR DB index is out of range") }
            connection.database = Int(index)
            out.simpleString("OK")
        case "command": command(args, into: &out)
        case "config": configCommand(args, connection, into: &out)
        case "unwatch": out.simpleString("OK")
        case "cluster": clusterCommand(args, connection, into: &out)
        case "readonly", "readwrite":
            guard topology != nil else { return out.error(ClusterError.clusterSupportDisabled) }
            connection.isReadOnly = top.name == "readonly"
            out.simpleString("OK")
        case "asking":
            guard topology != nil else { return out.error(ClusterError.clusterSupportDisabled) }
            out.simpleString("OK")
        default: preconditionFailure("no loop-thread handler for \(top.name)")
        }
    }

    /// Answers on the loop thread. The current group is submitted first so replies stay in order.
    func reply(_ connection: Connection, _ group: inout CommandGroup?, _ body: (inout RESPWriter) -> Void) {
        flushProposal(connection)
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
        if let topology = topology(for: connection) { return execInCluster(queued, connection, &group, topology: topology) }
        // One group, one storage transaction: all of it becomes durable together or not at all.
        var transaction = CommandGroup(
            connection: connection.id, slot: connection.reserveSlot(), version: connection.version, commands: [])
        transaction.isTransaction = true
        transaction.database = connection.database
        // Loop commands are answered here and now, and so are storage commands whose options are
        // wrong: no storage command reads the connection and server state they read or change, so
        // answering them first is the same as in turn. The one they depend on, the database a
        // SELECT chose, is recorded per command.
        var databases: [Int] = []
        transaction.commands.reserveCapacity(queued.count)
        for args in queued {
            databases.append(connection.database)
            let found = resolved(args)
            if let refusal = execRefusal(found.command, args, connection) {
                var out = RESPWriter(version: connection.version)
                out.error(refusal)
                transaction.commands.append(.answered(out))
                transaction.arguments.append(args)
                continue
            }
            transaction.commands.append(queuedCommand(args, found, connection))
            transaction.arguments.append(args)
        }
        if databases.contains(where: { $0 != transaction.database }) { transaction.commandDatabases = databases }
        var pending: CommandGroup? = transaction
        submit(&pending)
    }

    /// A queued command as EXEC runs it: a storage command decoded, or the reply of a loop command
    /// or of a storage command whose options are wrong, answered now.
    private func queuedCommand(_ args: RequestArguments, _ found: (top: CommandSpec, command: CommandSpec), _ connection: Connection) -> Command {
        var out = RESPWriter(version: connection.version)
        if let name = found.top.storageName {
            switch decode(name, args) {
            case .success(let command): return command
            case .failure(let error): out.error(error.text)
            }
        } else {
            answer(found.top, args.arrays, connection, into: &out)
        }
        return .answered(out)
    }

    private func resolved(_ args: RequestArguments) -> (top: CommandSpec, command: CommandSpec) {
        guard case .success(let found) = CommandTable.resolve(args) else { preconditionFailure("only resolved commands are queued") }
        return found
    }

    /// EXEC on a cluster node: the transaction's keys must share a slot this node leads; then the
    /// whole transaction is one record of that shard's log, all of it applied or none.
    private func execInCluster(_ queued: [RequestArguments], _ connection: Connection, _ group: inout CommandGroup?, topology: ClusterTopology) {
        var keys: [RequestArgument] = []
        var isWrite = false
        var items: [ReplicatedRecord.Item] = []
        for args in queued {
            let found = resolved(args)
            if let refusal = Self.clusterRefused[found.command.name] {
                return reply(connection, &group) { $0.error(refusal) }
            }
            keys += Self.routingKeys(found.command, args)
            isWrite = isWrite || found.command.flags.contains("write")
            if let refusal = execRefusal(found.command, args, connection) {
                var out = RESPWriter(version: connection.version)
                out.error(refusal)
                items.append(.answered(out.bytes))
            } else if case .answered(let out) = queuedCommand(args, found, connection) {
                items.append(.answered(out.bytes))
            } else {
                items.append(.request(args))
            }
        }
        let shard: Int
        let route = topology.route(keys: keys, isWrite: true, connectionIsReadOnly: false)
        switch route {
        case .noKeys:
            guard !isWrite else { return reply(connection, &group) { $0.error("ERR a transaction in cluster mode needs a key") } }
            shard = 0
            guard topology.localRole(inShard: shard) == .leader else {
                return reply(connection, &group) { $0.error(ClusterError.hashSlotNotServed) }
            }
        case .local(let found, _): shard = found
        case .crossSlot, .clusterDown, .moved: return reply(connection, &group) { $0.error(route.errorText!) }
        }
        flushProposal(connection)
        let slot = connection.reserveSlot()
        connection.proposalSlots.insert(slot)
        let body = ReplicatedRecord.encodeBody(version: connection.version, isTransaction: true, items: items)
        submitProposal(shard: shard, body: body, slot: slot, replyCount: 1, connection)
    }

    private func hello(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
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
        // Options are read first; the last AUTH pair logs in, and a failed one changes nothing.
        var credentials: (user: [UInt8], password: [UInt8])?
        while index < args.count {
            if args[index].isKeyword("AUTH"), index + 2 < args.count {
                credentials = (args[index + 1], args[index + 2])
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
        if let credentials, !logIn(connection, user: credentials.user, password: credentials.password, command: args[0]) {
            return out.error(CommandError.wrongPass)
        }
        guard connection.isAuthenticated || !isAuthenticationRequired(connection) else {
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
        out.bulk(redisCompatibleVersion)
        out.bulk("proto")
        out.integer(version == .resp3 ? 3 : 2)
        out.bulk("id")
        out.integer(Int64(connection.id))
        out.bulk("mode")
        out.bulk(topology == nil ? "standalone" : "cluster")
        out.bulk("role")
        out.bulk("master")
        out.bulk("modules")
        out.arrayHeader(0)
    }

    private func auth(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        guard args.count <= 3 else { return out.error(CommandError.syntax) }
        if accessControl.defaultUser.noPass && args.count == 2 {
            return out.error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
            )
        }
        guard logIn(connection, user: args.count == 3 ? args[1] : nil, password: args[args.count - 1], command: args[0]) else {
            return out.error(CommandError.wrongPass)
        }
        out.simpleString("OK")
    }

    private func isValidClientName(_ name: [UInt8]) -> Bool {
        name.allSatisfy { $0 > 32 && $0 < 127 }
    }

    func clientInfoLine(_ connection: Connection) -> String {
        let now = monotonicNanoseconds()
        let age = (now - connection.createdAt) / 1_000_000_000
        let idle = (now - connection.lastInteraction) / 1_000_000_000
        let name = connection.name.map { String(decoding: $0, as: UTF8.self) } ?? ""
        return "id=\(connection.id) addr=\(connection.address) laddr=\(Self.hostAndPort(config.bind, boundPort)) fd=-1 name=\(name) age=\(age) idle=\(idle) flags=\(connection.transaction != nil ? "x" : (connection.blockedSlot != nil ? "b" : "N")) db=\(connection.database) sub=0 psub=0 ssub=0 multi=\(connection.transaction.map { String($0.count) } ?? "-1") qbuf=\(connection.decoder.bufferedByteCount) qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=\(connection.pendingSlotCount) omem=\(connection.heldBytes) tot-mem=0 events=r cmd=\(connection.lastCommand) user=\(connection.user.name) redir=-1 resp=\(connection.version.rawValue) lib-name=\(connection.libraryName) lib-ver=\(connection.libraryVersion)"
    }

    /// CLIENT: the dispatcher has checked the subcommand and its arity.
    private func client(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        let sub = args[1]
        if sub.isKeyword("SETNAME") {
            guard isValidClientName(args[2]) || args[2].isEmpty else {
                return out.error("ERR Client names cannot contain spaces, newlines or special characters.")
            }
            connection.name = args[2].isEmpty ? nil : args[2]
            out.simpleString("OK")
        } else if sub.isKeyword("GETNAME") {
            if let name = connection.name { out.bulk(name) } else { out.nullBulk() }
        } else if sub.isKeyword("ID") {
            out.integer(Int64(connection.id))
        } else if sub.isKeyword("INFO") {
            out.verbatim(clientInfoLine(connection) + "\n")
        } else if sub.isKeyword("LIST") {
            clientList(args, into: &out)
        } else if sub.isKeyword("SETINFO") {
            let value = args[3].asString
            if args[2].isKeyword("LIB-NAME") {
                connection.libraryName = value
            } else if args[2].isKeyword("LIB-VER") {
                connection.libraryVersion = value
            } else {
                return out.error("ERR Unrecognized option '\(args[2].asString)'")
            }
            out.simpleString("OK")
        } else if sub.isKeyword("UNBLOCK") {
            clientUnblock(args, into: &out)
        } else if sub.isKeyword("NO-EVICT") || sub.isKeyword("NO-TOUCH") {
            // Spool neither evicts clients nor tracks key access: both modes are accepted.
            guard args[2].isKeyword("ON") || args[2].isKeyword("OFF") else { return out.error(CommandError.syntax) }
            out.simpleString("OK")
        } else {
            CommandHelp.write(args, Self.clientHelp, into: &out)
        }
    }

    private static let clientHelp = [
        "GETNAME", "    Return the name of the current connection.",
        "ID", "    Return the ID of the current connection.",
        "INFO", "    Return information about the current client connection.",
        "LIST [options ...]", "    Return information about client connections. Options:",
        "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
        "    * ID <client-id> [<client-id> ...]", "      Return clients with the given ids.",
        "SETINFO <option> <value>", "    Set client meta attr. Options are:",
        "    * LIB-NAME: the client lib name.", "    * LIB-VER: the client lib version.",
        "SETNAME <name>", "    Assign the name <name> to the current connection.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client, as if its timeout ran out (the default) or with an error.",
        "NO-EVICT (ON|OFF)", "    Accepted; Spool does not evict clients.",
        "NO-TOUCH (ON|OFF)", "    Accepted; Spool does not track key access.",
    ]

    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the connection was blocked in XREAD or XREADGROUP
    /// (its reader is answered by the storage thread, with everything it read so far durable), else 0.
    private func clientUnblock(_ args: [[UInt8]], into out: inout RESPWriter) {
        guard args.count <= 4 else { return out.error(CommandError.syntax) }
        // Redis checks the reason before the id.
        var withError = false
        if args.count == 4 {
            if args[3].isKeyword("ERROR") {
                withError = true
            } else if !args[3].isKeyword("TIMEOUT") {
                return out.error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        }
        guard let id = args[2].asInt64 else { return out.error(CommandError.notInteger) }
        guard id > 0, let target = connections[UInt64(id)], target.blockedSlot != nil, !target.isUnblocking else {
            return out.integer(0)
        }
        target.isUnblocking = true
        submit(.unblock(connection: target.id, answer: withError ? .error("UNBLOCKED client unblocked via CLIENT UNBLOCK") : .timeout))
        out.integer(1)
    }

    /// CLIENT LIST [TYPE type | ID id …]: one line per connection, in id order.
    private func clientList(_ args: [[UInt8]], into out: inout RESPWriter) {
        var listed = connections.values.sorted { $0.id < $1.id }
        if args.count == 4 && args[2].isKeyword("TYPE") {
            let type = args[3]
            guard ["normal", "master", "replica", "slave", "pubsub"].contains(where: {
                CommandTable.equalsIgnoringCase(type, lowercase: $0.utf8)
            }) else {
                return out.error("ERR Unknown client type '\(type.asString)'")
            }
            // Every Spool client is a normal one: no replication, no pub/sub.
            if !type.isKeyword("NORMAL") { listed = [] }
        } else if args.count > 3 && args[2].isKeyword("ID") {
            var wanted: [UInt64] = []
            for text in args[3...] {
                guard let id = text.asInt64 else { return out.error("ERR Invalid client ID") }
                if id > 0 { wanted.append(UInt64(id)) }
            }
            listed = wanted.compactMap { connections[$0] }
        } else if args.count != 2 {
            return out.error(CommandError.syntax)
        }
        out.verbatim(listed.map { clientInfoLine($0) + "\n" }.joined())
    }

    /// COMMAND [COUNT | INFO | DOCS | LIST | GETKEYS | HELP]: the dispatcher has checked the
    /// subcommand and its arity.
    private func command(_ args: [[UInt8]], into out: inout RESPWriter) {
        if args.count == 1 {
            out.arrayHeader(CommandTable.all.count)
            for spec in CommandTable.all { writeCommandInfo(spec, into: &out) }
            return
        }
        let sub = args[1]
        if sub.isKeyword("COUNT") {
            out.integer(Int64(CommandTable.all.count))
        } else if sub.isKeyword("INFO") {
            guard args.count > 2 else {
                out.arrayHeader(CommandTable.all.count)
                for spec in CommandTable.all { writeCommandInfo(spec, into: &out) }
                return
            }
            out.arrayHeader(args.count - 2)
            for name in args[2...] {
                if let spec = CommandTable.lookup(fullName: name) {
                    writeCommandInfo(spec, into: &out)
                } else {
                    out.nullBulk()
                }
            }
        } else if sub.isKeyword("DOCS") {
            let specs = args.count > 2 ? args[2...].compactMap { CommandTable.lookup(fullName: $0) } : CommandTable.all
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
            commandList(args, into: &out)
        } else if sub.isKeyword("GETKEYS") {
            commandGetKeys(Array(args[2...]), into: &out)
        } else {
            CommandHelp.write(args, Self.commandHelp, into: &out)
        }
    }

    private static let commandHelp = [
        "(no subcommand)", "    Return details about all commands.",
        "COUNT", "    Return the total number of commands in this server.",
        "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
        "    Return a list of all commands in this server.",
        "INFO [<command-name> ...]", "    Return details about multiple commands.",
        "    If no command names are given, details for all commands are returned.",
        "DOCS [<command-name> ...]", "    Return documentation details about multiple commands.",
        "    If no command names are given, documentation details for all commands are returned.",
        "GETKEYS <full-command>", "    Return the keys from a full command.",
    ]

    /// One command's COMMAND INFO row, its subcommands' rows nested as Redis 7 nests them.
    private func writeCommandInfo(_ spec: CommandSpec, into out: inout RESPWriter) {
        out.arrayHeader(10)
        out.bulk(spec.name)
        out.integer(Int64(spec.arity))
        out.setHeader(spec.flags.count)
        for flag in spec.flags { out.simpleString(flag) }
        out.integer(Int64(spec.firstKey))
        out.integer(Int64(spec.lastKey))
        out.integer(Int64(spec.step))
        out.setHeader(0)  // ACL categories
        out.setHeader(0)  // tips
        out.arrayHeader(0)  // key specs
        out.arrayHeader(spec.subcommands.count)
        for subcommand in spec.subcommands { writeCommandInfo(subcommand, into: &out) }
    }

    /// COMMAND LIST [FILTERBY MODULE m | ACLCAT c | PATTERN p]: full names, subcommands included.
    /// Spool has no modules and reports no ACL categories, so those filters match nothing.
    private func commandList(_ args: [[UInt8]], into out: inout RESPWriter) {
        let names = CommandTable.all.flatMap { [$0.name] + $0.subcommands.map(\.name) }
        var listed = names
        if args.count == 5 && args[2].isKeyword("FILTERBY") {
            if args[3].isKeyword("PATTERN") {
                listed = names.filter { GlobPattern.matches(args[4], Array($0.utf8), nocase: true) }
            } else if args[3].isKeyword("MODULE") || args[3].isKeyword("ACLCAT") {
                listed = []
            } else {
                return out.error(CommandError.syntax)
            }
        } else if args.count != 2 {
            return out.error(CommandError.syntax)
        }
        out.arrayHeader(listed.count)
        for name in listed { out.bulk(name) }
    }

    /// COMMAND GETKEYS command arg …: the keys of a command line, from its key positions.
    private func commandGetKeys(_ commandArgs: [[UInt8]], into out: inout RESPWriter) {
        guard case .success(let found) = CommandTable.resolve(commandArgs) else {
            return out.error("ERR Invalid command specified")
        }
        let spec = found.command
        let movable = spec.flags.contains("movablekeys")
        guard spec.firstKey > 0 || movable else { return out.error("ERR The command has no key arguments") }
        guard spec.acceptsArgumentCount(commandArgs.count) else {
            return out.error("ERR Invalid number of arguments specified for command")
        }
        let keys = Self.routingKeys(spec, RequestArguments(commandArgs)).map(\.bytes)
        if movable && keys.isEmpty { return out.error("ERR Invalid arguments specified for command") }
        out.arrayHeader(keys.count)
        for key in keys { out.bulk(key) }
    }

    /// CONFIG GET | SET | RESETSTAT | REWRITE | HELP: the dispatcher has checked the subcommand
    /// and its arity.
    private func configCommand(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        let sub = args[1]
        if sub.isKeyword("GET") {
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
            guard args.count % 2 == 0 else { return out.error(CommandError.arity("config|set")) }
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
            if updated.maxclients > config.maxclients && updated.maxclients > clientLimit {
                return out.error(
                    "ERR CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with \(clientLimit)")
            }
            if updated.streamNodeLimits != config.streamNodeLimits || updated.idempotencyDefaults != config.idempotencyDefaults
                || updated.streamCacheMax != config.streamCacheMax
            {
                submit(.setStreamSettings(updated.streamNodeLimits, updated.idempotencyDefaults, cacheMax: updated.streamCacheMax))
            }
            if let error = reloadTLS(updated) { return out.error(error) }
            if updated.requirepass != config.requirepass { accessControl.setDefaultPassword(updated.requirepass) }
            // A lower limit applies from the next entry on, as in Redis.
            accessControl.log.capacity = updated.acllogMaxLen
            config = updated
            applyMonitoringSettings()
            out.simpleString("OK")
        } else if sub.isKeyword("RESETSTAT") {
            statistics = ServerStatistics()
            out.simpleString("OK")
        } else if sub.isKeyword("REWRITE") {
            out.error("ERR CONFIG REWRITE is not supported; edit the config file")
        } else {
            CommandHelp.write(args, Self.configHelp, into: &out)
        }
    }

    private static let configHelp = [
        "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>", "    Set the configuration <directive> to <value>.",
        "RESETSTAT", "    Reset statistics reported by the INFO command.",
        "REWRITE", "    Not supported: edit the configuration file.",
    ]

    func residentSetBytes() -> Int {
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

    /// A byte count as Redis's INFO writes it for people (bytesToHuman): `812B`, `1.50K`, `19.16M`.
    init(humanBytes count: Int) {
        let units = ["K", "M", "G", "T", "P"]
        guard count >= 1024 else {
            self = "\(count)B"
            return
        }
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        self = String(format2: value) + units[unit]
    }
}
