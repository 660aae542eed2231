import SpoolCore
import SpoolProtocol

/// The keyspace commands, decoded on the loop thread like the stream commands: their syntax,
/// cursor and database-index errors are answered there. What needs the store (a stream that
/// exists, producers waiting on it, the database a MULTI selected) stays with the storage thread.
extension Command {
    enum Keys: Sendable {
        /// DEL or UNLINK key …
        case delete(keys: [[UInt8]])
        case exists(keys: [[UInt8]])
        case type(key: [UInt8])
        case keys(pattern: [UInt8])
        case scan(Scan)
        case dbsize
        /// FLUSHDB or FLUSHALL [ASYNC|SYNC]
        case flush(everyDatabase: Bool)
        case swapdb(first: Int, second: Int)
        case move(key: [UInt8], target: Int)
        /// MEMORY USAGE key [SAMPLES count] (nil key: MEMORY HELP).
        case memoryUsage(key: [UInt8]?)

        var name: CommandName {
            switch self {
            case .delete: return .del
            case .exists: return .exists
            case .type: return .type
            case .keys: return .keys
            case .scan: return .scan
            case .dbsize: return .dbsize
            case .flush(let everyDatabase): return everyDatabase ? .flushall : .flushdb
            case .swapdb: return .swapdb
            case .move: return .move
            case .memoryUsage: return .memory
            }
        }
    }

    /// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], checked.
    struct Scan: Sendable {
        /// The stream number to go on from.
        let cursor: UInt64
        let pattern: [UInt8]?
        let count: Int
        /// TYPE named something other than stream: the page is empty whatever it holds.
        let onlyOtherTypes: Bool
    }

    /// Decodes a keyspace command whose name and arity the command table checked. `databases`: how
    /// many the server has (SWAPDB, MOVE).
    static func decodeKeys(_ name: CommandName, _ args: [[UInt8]], databases: Int) -> Result<Command, CommandErrorText> {
        func keys(_ keys: Keys) -> Result<Command, CommandErrorText> { .success(.keys(keys)) }
        switch name {
        case .del, .unlink: return keys(.delete(keys: Array(args[1...])))
        case .exists: return keys(.exists(keys: Array(args[1...])))
        case .type: return keys(.type(key: args[1]))
        case .keys: return keys(.keys(pattern: args[1]))
        case .dbsize: return keys(.dbsize)
        case .flushdb, .flushall:
            if args.count > 2 || (args.count == 2 && !args[1].isKeyword("ASYNC") && !args[1].isKeyword("SYNC")) {
                return .failure(CommandError.syntax)
            }
            return keys(.flush(everyDatabase: name == .flushall))
        case .scan: return decodeScan(args).map { .keys(.scan($0)) }
        case .swapdb:
            switch (
                databaseIndex(args[1], notInteger: "ERR invalid first DB index", databases: databases),
                databaseIndex(args[2], notInteger: "ERR invalid second DB index", databases: databases)
            ) {
            case (.failure(let error), _), (_, .failure(let error)): return .failure(error)
            case (.success(let first), .success(let second)): return keys(.swapdb(first: first, second: second))
            }
        case .move:
            return databaseIndex(args[2], notInteger: CommandError.notInteger, databases: databases)
                .map { .keys(.move(key: args[1], target: $0)) }
        case .memory:
            // (The command table let only USAGE and HELP through.)
            guard args[1].isKeyword("USAGE") else { return keys(.memoryUsage(key: nil)) }
            // SAMPLES is checked as Redis checks it, then not needed: a stream's size is exact.
            var index = 3
            while index < args.count {
                guard args[index].isKeyword("SAMPLES"), index + 1 < args.count else { return .failure(CommandError.syntax) }
                guard let samples = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard samples >= 0 else { return .failure(CommandError.syntax) }
                index += 2
            }
            return keys(.memoryUsage(key: args[2]))
        default: preconditionFailure("\(name) is not decoded here")
        }
    }

    /// A database index argument of SWAPDB or MOVE.
    private static func databaseIndex(_ text: [UInt8], notInteger: String, databases: Int) -> Result<Int, CommandErrorText> {
        guard let index = text.asInt64 else { return .failure(notInteger) }
        guard index >= 0 && index < Int64(databases) else { return .failure("ERR DB index is out of range") }
        return .success(Int(index))
    }

    private static func decodeScan(_ args: [[UInt8]]) -> Result<Scan, CommandErrorText> {
        guard args.count % 2 == 0 else { return .failure(CommandError.syntax) }
        guard let cursor = args[1].asInt64, cursor >= 0 else { return .failure("ERR invalid cursor") }
        var pattern: [UInt8]?
        var count = 10
        var onlyOtherTypes = false
        var index = 2
        while index + 1 < args.count {
            if args[index].isKeyword("MATCH") {
                pattern = args[index + 1]
            } else if args[index].isKeyword("COUNT") {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard value >= 1 else { return .failure(CommandError.syntax) }
                count = Int(min(value, 1 << 20))
            } else if args[index].isKeyword("TYPE") {
                onlyOtherTypes = !args[index + 1].isKeyword("STREAM")
            } else {
                return .failure(CommandError.syntax)
            }
            index += 2
        }
        return .success(Scan(cursor: UInt64(cursor), pattern: pattern, count: count, onlyOtherTypes: onlyOtherTypes))
    }
}
