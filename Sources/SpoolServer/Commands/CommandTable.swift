import SpoolCore
import Synchronization

/// Every command Spool knows: where it runs, its arity (Redis convention: negative means "at
/// least"), flags and key positions as COMMAND reports them. A class: every command line looks
/// one up, and handing out a reference costs one retain where a copy of the fields cost eight.
final class CommandSpec: Sendable {
    enum Runs: Sendable {
        /// On the loop thread: connection state, configuration. Queued in a transaction, at EXEC.
        case loop
        /// On the storage thread, grouped with neighbouring storage commands.
        case storage
    }
    /// Redis's full name: `xadd`, or `client|setname` for a subcommand.
    let name: String
    /// Counts the whole command line, the container's name included for a subcommand.
    let arity: Int
    let runs: Runs
    let flags: [String]
    let firstKey: Int
    let lastKey: Int
    let step: Int
    let summary: String
    /// A container command (CLIENT, COMMAND, CONFIG, XINFO) is looked up with its first argument,
    /// and each subcommand has its own arity and keys, as in Redis 7.
    let subcommands: [CommandSpec]

    init(
        name: String, arity: Int, runs: Runs, flags: [String], firstKey: Int, lastKey: Int, step: Int,
        summary: String, subcommands: [CommandSpec] = []
    ) {
        self.name = name
        self.arity = arity
        self.runs = runs
        self.flags = flags
        self.firstKey = firstKey
        self.lastKey = lastKey
        self.step = step
        self.summary = summary
        self.subcommands = subcommands
        lowercaseName = Array(name.utf8)
        id = Self.nextID.add(1, ordering: .relaxed).oldValue
        isNoAuth = flags.contains("no_auth")
        isSubcommand = name.contains("|")
        hasDeadLetterKey = name == "xgroup|setpolicy"
        if name == "xread" || name == "xreadgroup" {
            keyLayout = .streams(searchFrom: name == "xread" ? 1 : 4)
        } else if firstKey > 0 {
            keyLayout = .range(first: firstKey, last: lastKey, step: max(1, step))
        } else {
            keyLayout = .none
        }
        let acl = CommandTable.aclMetadata(name: name, flags: flags)
        categories = acl.categories
        keyAccess = acl.keyAccess
        storageName = runs == .storage ? CommandName(rawValue: name) : nil
        precondition(runs == .loop || storageName != nil || name.contains("|"), "storage command \(name) has a CommandName")
    }

    /// A dense number (0, 1, …) for ACL bit sets: every spec, subcommands included, has its own.
    let id: Int
    private static let nextID = Atomic<Int>(0)
    /// AUTH, HELLO, QUIT: run before logging in, and never refused by ACL rules.
    let isNoAuth: Bool
    /// `client|setname`, not `client`.
    let isSubcommand: Bool
    /// Where its keys are, for ACL checks (`CommandKeys`).
    let keyLayout: KeyLayout
    /// XGROUP SETPOLICY: DEADLETTER names a stream it will write to.
    let hasDeadLetterKey: Bool

    enum KeyLayout: Sendable {
        case none
        /// Arguments `first`, `first + step`, … up to `last` (negative: from the end).
        case range(first: Int, last: Int, step: Int)
        /// XREAD, XREADGROUP: the first half of what follows STREAMS.
        case streams(searchFrom: Int)
    }
    /// Its ACL categories: Redis's, and those its flags imply.
    let categories: ACLCategories
    /// What ACL key patterns must grant for each key it names (Redis's key-spec flags).
    let keyAccess: ACLKeyAccess

    /// A storage command's name, for the storage thread to switch on.
    let storageName: CommandName?

    /// `name`'s bytes (names are declared in lower case), for lookups.
    let lowercaseName: [UInt8]

    func acceptsArgumentCount(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }

    /// The subcommand `word` names (any case), if this is a container that has it.
    func subcommand(_ word: some Collection<UInt8>) -> CommandSpec? {
        subcommands.first { spec in
            let declared = spec.name.utf8.split(separator: UInt8(ascii: "|")).last!
            return CommandTable.equalsIgnoringCase(word, lowercase: declared)
        }
    }
}

enum CommandTable {
    static let all: [CommandSpec] = [
        .init(name: "ping", arity: -1, runs: .loop, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the server's liveliness response."),
        .init(name: "echo", arity: 2, runs: .loop, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the given string."),
        .init(name: "hello", arity: -1, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Handshakes with the server: protocol version, authentication, client name."),
        .init(name: "auth", arity: -2, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Authenticates the connection."),
        .init(
            name: "client", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Connection commands: SETNAME, GETNAME, ID, INFO, LIST, SETINFO, UNBLOCK.",
            subcommands: [
                subcommand("client|getname", 2, flags: connectionFlags, "Returns the name of the connection."),
                subcommand("client|help", 2, flags: ["loading", "stale"], "Shows the CLIENT subcommands."),
                subcommand("client|id", 2, flags: connectionFlags, "Returns the id of the connection."),
                subcommand("client|info", 2, flags: connectionFlags, "Describes the connection."),
                subcommand("client|list", -2, flags: ["admin"] + connectionFlags, "Describes every connection."),
                subcommand("client|no-evict", 3, flags: ["admin"] + connectionFlags, "Accepted for compatibility."),
                subcommand("client|no-touch", 3, flags: connectionFlags, "Accepted for compatibility."),
                subcommand("client|setinfo", 4, flags: connectionFlags, "Records the client library's name or version."),
                subcommand("client|setname", 3, flags: connectionFlags, "Names the connection."),
                subcommand("client|unblock", -3, flags: ["admin"] + connectionFlags, "Unblocks a client blocked in XREAD or XREADGROUP."),
            ]),
        .init(name: "cluster", arity: -2, runs: .loop, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Cluster mode: the slot map (SHARDS, SLOTS, NODES), this node (MYID, INFO) and key slots (KEYSLOT)."),
        .init(name: "readonly", arity: 1, runs: .loop, flags: ["loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Cluster mode: lets the connection read committed data of shards this node replicates."),
        .init(name: "readwrite", arity: 1, runs: .loop, flags: ["loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Cluster mode: ends READONLY."),
        .init(name: "asking", arity: 1, runs: .loop, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Cluster mode: accepted (Spool does not migrate slots)."),
        .init(name: "select", arity: 2, runs: .loop, flags: ["loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Selects the database (0 to databases - 1) the connection's commands work in."),
        .init(
            name: "acl", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Users and their rights: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, DRYRUN, GENPASS, SAVE, LOAD.",
            subcommands: [
                subcommand("acl|cat", -2, flags: ["noscript", "loading", "stale"], "Lists the ACL categories, or the commands in one."),
                subcommand("acl|deluser", -3, flags: aclAdminFlags, "Deletes users; their connections are closed."),
                subcommand("acl|dryrun", -4, flags: aclAdminFlags, "Tells whether a user could run a command, without running it."),
                subcommand("acl|genpass", -2, flags: ["noscript", "loading", "stale"], "Returns a random password (256 bits by default)."),
                subcommand("acl|getuser", 3, flags: aclAdminFlags, "Returns a user's rules."),
                subcommand("acl|help", 2, flags: ["loading", "stale"], "Shows the ACL subcommands."),
                subcommand("acl|list", 2, flags: aclAdminFlags, "Returns every user's rules in ACL file format."),
                subcommand("acl|load", 2, flags: aclAdminFlags, "Replaces the users with those of the ACL file."),
                subcommand("acl|log", -2, flags: aclAdminFlags, "Returns recent denied commands and failed logins, or clears them."),
                subcommand("acl|save", 2, flags: aclAdminFlags, "Writes the users to the ACL file."),
                subcommand("acl|setuser", -3, flags: aclAdminFlags, "Creates or changes a user."),
                subcommand("acl|users", 2, flags: aclAdminFlags, "Returns the user names."),
                subcommand("acl|whoami", 2, flags: ["noscript", "loading", "stale"], "Returns the connection's user name."),
            ]),
        .init(
            name: "slowlog", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "The latest slow commands: GET, LEN, RESET.",
            subcommands: [
                subcommand("slowlog|get", -2, flags: ["admin", "loading", "stale"], "Returns the latest slow commands."),
                subcommand("slowlog|help", 2, flags: ["loading", "stale"], "Shows the SLOWLOG subcommands."),
                subcommand("slowlog|len", 2, flags: ["admin", "loading", "stale"], "Returns how many slow commands are kept."),
                subcommand("slowlog|reset", 2, flags: ["admin", "loading", "stale"], "Forgets the slow commands."),
            ]),
        .init(
            name: "latency", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Latency events (slow commands, slow fsyncs): LATEST, HISTORY, RESET, GRAPH, DOCTOR.",
            subcommands: [
                subcommand("latency|doctor", 2, flags: configFlags, "Describes the latency events seen."),
                subcommand("latency|graph", 3, flags: configFlags, "Draws an event's latest samples."),
                subcommand("latency|help", 2, flags: ["loading", "stale"], "Shows the LATENCY subcommands."),
                subcommand("latency|histogram", -2, flags: configFlags, "Not supported: no per-command histograms are kept."),
                subcommand("latency|history", 3, flags: configFlags, "Returns an event's latest samples."),
                subcommand("latency|latest", 2, flags: configFlags, "Returns each event's latest and largest sample."),
                subcommand("latency|reset", -2, flags: configFlags, "Forgets events."),
            ]),
        .init(name: "quit", arity: -1, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Closes the connection."),
        .init(
            name: "command", arity: -1, runs: .loop, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0,
            summary: "Returns information about commands.",
            subcommands: [
                subcommand("command|count", 2, flags: ["loading", "stale"], "Returns the number of commands."),
                subcommand("command|docs", -2, flags: ["loading", "stale"], "Returns documentation of commands."),
                subcommand("command|getkeys", -4, flags: ["loading", "stale"], "Extracts the key names from a command line."),
                subcommand("command|help", 2, flags: ["loading", "stale"], "Shows the COMMAND subcommands."),
                subcommand("command|info", -2, flags: ["loading", "stale"], "Returns information about commands."),
                subcommand("command|list", -2, flags: ["loading", "stale"], "Returns the command names."),
            ]),
        .init(name: "info", arity: -1, runs: .storage, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns information and statistics about the server."),
        .init(
            name: "config", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "CONFIG GET, SET and RESETSTAT.",
            subcommands: [
                subcommand("config|get", -3, flags: configFlags, "Returns configuration values."),
                subcommand("config|help", 2, flags: ["loading", "stale"], "Shows the CONFIG subcommands."),
                subcommand("config|resetstat", 2, flags: configFlags, "Resets the INFO statistics."),
                subcommand("config|rewrite", 2, flags: configFlags, "Not supported: edit the config file."),
                subcommand("config|set", -4, flags: configFlags, "Sets configuration values."),
            ]),
        .init(name: "shutdown", arity: -1, runs: .loop, flags: ["admin", "noscript", "loading", "stale", "no_multi"], firstKey: 0, lastKey: 0, step: 0, summary: "Finishes in-flight writes, checkpoints and stops the server."),
        .init(name: "multi", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Starts a transaction."),
        .init(name: "exec", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale", "skip_slowlog"], firstKey: 0, lastKey: 0, step: 0, summary: "Runs the queued commands as one atomic, durable transaction."),
        .init(name: "discard", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Discards a transaction."),
        .init(name: "watch", arity: -2, runs: .loop, flags: ["noscript", "loading", "stale", "fast"], firstKey: 1, lastKey: -1, step: 1, summary: "Accepted for compatibility; Spool transactions are atomic without it."),
        .init(name: "unwatch", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Accepted for compatibility."),
        .init(name: "dbsize", arity: 1, runs: .storage, flags: ["readonly", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the number of streams."),
        .init(name: "del", arity: -2, runs: .storage, flags: ["write"], firstKey: 1, lastKey: -1, step: 1, summary: "Deletes streams."),
        .init(name: "unlink", arity: -2, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: -1, step: 1, summary: "Deletes streams."),
        .init(name: "exists", arity: -2, runs: .storage, flags: ["readonly", "fast"], firstKey: 1, lastKey: -1, step: 1, summary: "Counts the given keys that exist."),
        .init(name: "type", arity: 2, runs: .storage, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns the type of a key."),
        .init(name: "keys", arity: 2, runs: .storage, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the stream names matching a pattern."),
        .init(name: "scan", arity: -2, runs: .storage, flags: ["readonly"], firstKey: 0, lastKey: 0, step: 0, summary: "Iterates over stream names."),
        .init(name: "swapdb", arity: 3, runs: .storage, flags: ["write", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Swaps the streams of two databases."),
        .init(name: "move", arity: 3, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Moves a stream to another database."),
        .init(name: "flushdb", arity: -1, runs: .storage, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, summary: "Deletes every stream of the selected database."),
        .init(
            name: "memory", arity: -2, runs: .storage, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Reports the size of a stream.",
            subcommands: [
                subcommand("memory|help", 2, .storage, flags: ["loading", "stale"], "Shows the MEMORY subcommands."),
                subcommand("memory|usage", -3, .storage, flags: ["readonly"], key: 2, "Returns the size in bytes of a stream's entries."),
            ]),
        .init(name: "flushall", arity: -1, runs: .storage, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, summary: "Deletes every stream of every database."),
        .init(name: "xadd", arity: -5, runs: .storage, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Appends an entry; replies once it is on disk."),
        .init(name: "xrange", arity: -4, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns entries in an id range."),
        .init(name: "xrevrange", arity: -4, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns entries in an id range, newest first."),
        .init(name: "xlen", arity: 2, runs: .storage, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns the number of entries."),
        .init(name: "xread", arity: -4, runs: .storage, flags: ["readonly", "blocking", "movablekeys"], firstKey: 0, lastKey: 0, step: 0, summary: "Reads entries after ids from streams, optionally blocking."),
        .init(name: "xdel", arity: -3, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Deletes entries."),
        .init(name: "xdelex", arity: -5, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Deletes entries, and what the consumer groups hold of them as KEEPREF, DELREF or ACKED says."),
        .init(name: "xackdel", arity: -6, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Acknowledges entries for a group and deletes them as KEEPREF, DELREF or ACKED says."),
        .init(name: "xtrim", arity: -4, runs: .storage, flags: ["write"], firstKey: 1, lastKey: 1, step: 1, summary: "Trims a stream by length or minimum id."),
        .init(name: "xcfgset", arity: -2, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Sets a stream's idempotent-append settings (IDMP-DURATION, IDMP-MAXSIZE)."),
        .init(name: "xproducers", arity: -2, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns the producers of a stream: epoch, last SEQ and id, waiting appends."),
        .init(name: "xsetid", arity: -3, runs: .storage, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Sets a stream's last id and counters."),
        .init(name: "xreadgroup", arity: -7, runs: .storage, flags: ["write", "blocking", "movablekeys"], firstKey: 0, lastKey: 0, step: 0, summary: "Reads entries through a consumer group, optionally blocking; the pending list is written durably."),
        .init(name: "xack", arity: -4, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Acknowledges pending entries; replies once that is on disk."),
        .init(name: "xnack", arity: -7, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Gives pending entries back: unowned and claimable at once (SILENT, FAIL or FATAL), or redelivered after a DELAY."),
        .init(name: "xpending", arity: -3, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns a consumer group's pending entries."),
        .init(name: "xclaim", arity: -6, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Changes the owner of pending entries."),
        .init(name: "xautoclaim", arity: -6, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Claims pending entries idle for long enough, scanning from an id."),
        .init(
            name: "xgroup", arity: -2, runs: .storage, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Manages consumer groups.",
            subcommands: [
                subcommand("xgroup|create", -5, .storage, flags: ["write", "denyoom"], key: 2, "Creates a consumer group."),
                subcommand("xgroup|createconsumer", 5, .storage, flags: ["write", "denyoom"], key: 2, "Creates a consumer in a group."),
                subcommand("xgroup|delconsumer", 5, .storage, flags: ["write"], key: 2, "Deletes a consumer and its pending entries."),
                subcommand("xgroup|destroy", 4, .storage, flags: ["write"], key: 2, "Destroys a consumer group."),
                subcommand("xgroup|help", 2, .storage, flags: ["loading", "stale"], "Shows the XGROUP subcommands."),
                subcommand("xgroup|setid", -5, .storage, flags: ["write"], key: 2, "Sets a group's last delivered id."),
                subcommand("xgroup|setpolicy", -5, .storage, flags: ["write"], key: 2, "Sets a group's maximum deliveries and dead-letter stream."),
            ]),
        .init(
            name: "xbackfill", arity: -2, runs: .storage, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Copies a stream's history in below its entries (Spool; spool mirror uses it).",
            subcommands: [
                subcommand("xbackfill|add", -6, .storage, flags: ["write", "denyoom"], key: 2, "Copies in one entry of the history, oldest first."),
                subcommand("xbackfill|begin", 4, .storage, flags: ["write", "denyoom"], key: 2, "Opens a backfill of history up to an id."),
                subcommand("xbackfill|end", 3, .storage, flags: ["write"], key: 2, "Ends a backfill: the history is complete."),
                subcommand("xbackfill|help", 2, .storage, flags: ["loading", "stale"], "Shows the XBACKFILL subcommands."),
                subcommand("xbackfill|status", 3, .storage, flags: ["readonly"], key: 2, "Shows a backfill in progress."),
            ]),
        .init(
            name: "xinfo", arity: -2, runs: .storage, flags: [], firstKey: 0, lastKey: 0, step: 0,
            summary: "Returns information about a stream.",
            subcommands: [
                subcommand("xinfo|consumers", 4, .storage, flags: ["readonly"], key: 2, "Returns the consumers of a group."),
                subcommand("xinfo|groups", -3, .storage, flags: ["readonly"], key: 2, "Returns the consumer groups of a stream."),
                subcommand("xinfo|help", 2, .storage, flags: ["loading", "stale"], "Shows the XINFO subcommands."),
                subcommand("xinfo|stream", -3, .storage, flags: ["readonly"], key: 2, "Returns information about a stream."),
            ]),
    ]

    /// Every spec, containers and subcommands, indexed by `id`.
    static let everySpec: [CommandSpec] = {
        let specs = all.flatMap { [$0] + $0.subcommands }.sorted { $0.id < $1.id }
        precondition(specs.indices.elementsEqual(specs.map(\.id)), "command ids are dense")
        return specs
    }()
    static var specCount: Int { everySpec.count }

    private static let connectionFlags = ["noscript", "loading", "stale"]
    private static let aclAdminFlags = ["admin", "noscript", "loading", "stale"]
    private static let configFlags = ["admin", "noscript", "loading", "stale"]

    /// A subcommand's spec: at most one key, at `key`.
    private static func subcommand(
        _ name: String, _ arity: Int, _ runs: CommandSpec.Runs = .loop, flags: [String], key: Int = 0,
        _ summary: String
    ) -> CommandSpec {
        CommandSpec(
            name: name, arity: arity, runs: runs, flags: flags, firstKey: key, lastKey: key, step: key > 0 ? 1 : 0,
            summary: summary)
    }

    /// Specs bucketed by name length, the hot commands first in theirs: lookups compare bytes
    /// case-insensitively without building a String.
    private static let byLength: [[CommandSpec]] = {
        var buckets = Array(repeating: [CommandSpec](), count: 17)
        for spec in all { buckets[spec.lowercaseName.count].append(spec) }
        let hot: Set<String> = ["xadd", "xread", "xack", "xreadgroup"]
        for i in buckets.indices { buckets[i] = buckets[i].filter { hot.contains($0.name) } + buckets[i].filter { !hot.contains($0.name) } }
        return buckets
    }()

    /// What a command line names, as Redis's lookupCommand and commandCheckExistence decide it:
    /// `top` is the command its first word names, `command` the subcommand its second word names
    /// when `top` is a container (or `top` itself when it is not, or nothing follows).
    static func resolve(_ args: some ByteStrings) -> Result<(top: CommandSpec, command: CommandSpec), CommandErrorText> {
        guard let top = lookup(args[0]) else { return .failure(CommandErrorText(CommandError.unknownCommand(args))) }
        guard !top.subcommands.isEmpty, args.count > 1 else { return .success((top, top)) }
        guard let command = top.subcommand(args[1]) else {
            return .failure(CommandErrorText(CommandError.unknownSubcommand(args)))
        }
        return .success((top, command))
    }

    /// A command by its full name, `xadd` or `client|setname` (COMMAND INFO, COMMAND DOCS).
    static func lookup(fullName: [UInt8]) -> CommandSpec? {
        let parts = fullName.split(separator: UInt8(ascii: "|"), maxSplits: 1, omittingEmptySubsequences: false)
        guard let top = lookup(Array(parts[0])) else { return nil }
        guard parts.count == 2 else { return top }
        return top.subcommand(Array(parts[1]))
    }

    /// ASCII case-insensitive comparison of `word` with a lower-case name.
    static func equalsIgnoringCase(_ word: some Collection<UInt8>, lowercase name: some Collection<UInt8>) -> Bool {
        guard word.count == name.count else { return false }
        for (byte, expected) in zip(word, name) {
            let lowered = byte >= 65 && byte <= 90 ? byte + 32 : byte
            if lowered != expected { return false }
        }
        return true
    }

    /// The command a first word names, in any case.
    static func lookup(_ name: some Collection<UInt8>) -> CommandSpec? {
        guard name.count < byLength.count else { return nil }
        return byLength[name.count].first { equalsIgnoringCase(name, lowercase: $0.lowercaseName) }
    }
}
