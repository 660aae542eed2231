/// Every command Spool knows: where it runs, its arity (Redis convention: negative means "at
/// least"), flags and key positions as COMMAND reports them.
struct CommandSpec: Sendable {
    enum Runs: Sendable {
        /// On the loop thread: connection state, configuration.
        case loop
        /// On the storage thread, grouped with neighbouring storage commands.
        case storage
    }
    let name: String
    let arity: Int
    let runs: Runs
    let flags: [String]
    let firstKey: Int
    let lastKey: Int
    let step: Int
    let summary: String

    func acceptsArgumentCount(_ count: Int) -> Bool {
        arity >= 0 ? count == arity : count >= -arity
    }
}

enum CommandTable {
    static let all: [CommandSpec] = [
        .init(name: "ping", arity: -1, runs: .loop, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the server's liveliness response."),
        .init(name: "echo", arity: 2, runs: .loop, flags: ["fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns the given string."),
        .init(name: "hello", arity: -1, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Handshakes with the server: protocol version, authentication, client name."),
        .init(name: "auth", arity: -2, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Authenticates the connection."),
        .init(name: "client", arity: -2, runs: .loop, flags: [], firstKey: 0, lastKey: 0, step: 0, summary: "Connection commands: SETNAME, GETNAME, ID, INFO, LIST, SETINFO."),
        .init(name: "select", arity: 2, runs: .loop, flags: ["loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Selects database 0 (the only one)."),
        .init(name: "quit", arity: -1, runs: .loop, flags: ["noscript", "loading", "stale", "fast", "no_auth"], firstKey: 0, lastKey: 0, step: 0, summary: "Closes the connection."),
        .init(name: "command", arity: -1, runs: .loop, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns information about commands."),
        .init(name: "info", arity: -1, runs: .storage, flags: ["loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Returns information and statistics about the server."),
        .init(name: "config", arity: -2, runs: .loop, flags: ["admin", "noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "CONFIG GET, SET and RESETSTAT."),
        .init(name: "shutdown", arity: -1, runs: .loop, flags: ["admin", "noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Finishes in-flight writes, checkpoints and stops the server."),
        .init(name: "multi", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale", "fast"], firstKey: 0, lastKey: 0, step: 0, summary: "Starts a transaction."),
        .init(name: "exec", arity: 1, runs: .loop, flags: ["noscript", "loading", "stale"], firstKey: 0, lastKey: 0, step: 0, summary: "Runs the queued commands as one atomic, durable transaction."),
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
        .init(name: "flushdb", arity: -1, runs: .storage, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, summary: "Deletes every stream."),
        .init(name: "flushall", arity: -1, runs: .storage, flags: ["write"], firstKey: 0, lastKey: 0, step: 0, summary: "Deletes every stream."),
        .init(name: "xadd", arity: -5, runs: .storage, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Appends an entry; replies once it is on disk."),
        .init(name: "xrange", arity: -4, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns entries in an id range."),
        .init(name: "xrevrange", arity: -4, runs: .storage, flags: ["readonly"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns entries in an id range, newest first."),
        .init(name: "xlen", arity: 2, runs: .storage, flags: ["readonly", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Returns the number of entries."),
        .init(name: "xread", arity: -4, runs: .storage, flags: ["readonly", "blocking"], firstKey: 0, lastKey: 0, step: 0, summary: "Reads entries after ids from streams, optionally blocking."),
        .init(name: "xdel", arity: -3, runs: .storage, flags: ["write", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Deletes entries."),
        .init(name: "xtrim", arity: -4, runs: .storage, flags: ["write"], firstKey: 1, lastKey: 1, step: 1, summary: "Trims a stream by length or minimum id."),
        .init(name: "xsetid", arity: -3, runs: .storage, flags: ["write", "denyoom", "fast"], firstKey: 1, lastKey: 1, step: 1, summary: "Sets a stream's last id and counters."),
        .init(name: "xinfo", arity: -2, runs: .storage, flags: ["readonly"], firstKey: 2, lastKey: 2, step: 1, summary: "Returns information about a stream."),
    ]

    /// Specs bucketed by name length with their lower-case bytes: lookups compare bytes case-
    /// insensitively and allocate nothing (this runs for every command).
    private static let byLength: [[(name: [UInt8], spec: CommandSpec)]] = {
        var buckets = Array(repeating: [(name: [UInt8], spec: CommandSpec)](), count: 17)
        for spec in all { buckets[spec.name.utf8.count].append((Array(spec.name.utf8), spec)) }
        // The hot commands first.
        for i in buckets.indices { buckets[i].sort { a, _ in a.spec.name == "xadd" || a.spec.name == "xread" } }
        return buckets
    }()

    static func lookup(_ name: [UInt8]) -> CommandSpec? {
        guard name.count < byLength.count else { return nil }
        candidates: for candidate in byLength[name.count] {
            for i in 0..<name.count {
                var byte = name[i]
                if byte >= 65 && byte <= 90 { byte += 32 }
                if byte != candidate.name[i] { continue candidates }
            }
            return candidate.spec
        }
        return nil
    }
}
