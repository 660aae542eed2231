import SpoolCore
import SpoolProtocol

/// The commands that run on the storage thread, by name. The command table resolves a request's
/// name to one of these once, on the loop thread; nothing looks a name up again.
enum CommandName: String, Sendable {
    case info, dbsize, del, unlink, exists, type, keys, scan, swapdb, move, flushdb, flushall, memory
    case xadd, xrange, xrevrange, xlen, xread, xdel, xdelex, xackdel, xtrim, xcfgset, xproducers, xsetid
    case xreadgroup, xack, xnack, xpending, xclaim, xautoclaim, xgroup, xinfo, xbackfill

    /// Commands a conditional transaction may run before its savepoint: they change nothing.
    var changesNothing: Bool {
        switch self {
        case .xrange, .xrevrange, .xlen, .xread, .xinfo, .exists, .type, .keys, .scan, .dbsize, .info, .xproducers, .memory:
            return true
        default:
            return false
        }
    }
}

/// One storage command, decoded on the loop thread: `decode` parses and checks the options of
/// the commands every producer and consumer sends (XADD, XREAD, XREADGROUP, XACK, XRANGE, XLEN,
/// XTRIM, XDEL, XDELEX, XACKDEL, XPENDING, XCLAIM, XAUTOCLAIM), of the keyspace commands
/// (Command+Keys.swift) and of the administration commands (Command+Admin.swift), so their syntax
/// and option errors are answered there and the storage thread only executes. Where Redis checks
/// the stream or group before the options (XACK, XCLAIM, XNACK, XCFGSET, parts of XGROUP and
/// XINFO), the option error rides in the value and is answered after that check.
enum Command: Sendable {
    case xadd(XAdd)
    case xtrim(key: [UInt8], Executor.TrimSpec)
    case xrange(XRange)
    case xlen(key: [UInt8])
    case xread(XRead)
    case xreadgroup(XReadGroup)
    /// XACK key group id …: ids that do not all parse are an error reported only when the stream
    /// and group exist (with neither, XACK answers 0 whatever the ids, as in Redis).
    case xack(key: [UInt8], group: [UInt8], ids: [EntryID]?)
    /// XDEL key id …: every id parsed (a bad one is an error whether or not the stream exists,
    /// as in Redis).
    case xdel(key: [UInt8], ids: [EntryID])
    /// XDELEX key [policy] IDS n id … and XACKDEL key group [policy] IDS n id …
    case xdelex(ReferencedDelete)
    case xackdel(ReferencedDelete)
    /// INFO with the sections the loop thread wrote; the storage thread adds its own.
    case info(sections: InfoSections, loopText: String)
    /// DEL, UNLINK, EXISTS, TYPE, KEYS, SCAN, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, MOVE, MEMORY (Command+Keys.swift).
    case keys(Keys)
    /// XPENDING, XCLAIM, XAUTOCLAIM (Command+Claims.swift).
    case xpending(XPending)
    case xclaim(XClaim)
    case xautoclaim(XAutoClaim)
    /// XSETID, XCFGSET, XPRODUCERS, XNACK, XGROUP, XINFO (Command+Admin.swift).
    case admin(Admin)
    /// In a transaction: a command answered on the loop thread at EXEC (a loop command such as
    /// CLIENT or CONFIG, or one whose options were wrong); its reply goes in at its place.
    case answered(RESPWriter)

    /// XADD key [options] id field value …, checked: an id, and fields in pairs.
    struct XAdd: Sendable {
        /// The request as it came: the key and fields are views into its one buffer.
        let args: RequestArguments
        let options: Executor.AddOrTrimArguments
        let key: [UInt8]
        var fields: Slice<RequestArguments> { args[(options.idIndex + 1)...] }
    }

    /// XRANGE / XREVRANGE with both bounds inclusive (an exclusive bound already stepped).
    struct XRange: Sendable {
        let key: [UInt8]
        let start: EntryID
        let end: EntryID
        /// COUNT (the last one given), below 0 taken as 0; `Int.max` without one.
        let count: Int
        let reverse: Bool
    }

    /// XDELEX's and XACKDEL's arguments (Redis 8.2). A missing stream (or group) answers -1 per
    /// id before the ids are checked, so ids that do not all parse are nil here and an error
    /// only once the stream is found.
    struct ReferencedDelete: Sendable {
        let key: [UInt8]
        /// XACKDEL's group.
        let group: [UInt8]?
        let policy: Executor.ReferencePolicy
        let ids: [EntryID]?
        let count: Int
    }

    /// Where XREAD starts in one stream.
    enum ReadStart: Sendable {
        case after(EntryID)
        /// `$`: after the stream's last id when the read runs.
        case lastID
        /// `+` (Redis 7.4): the stream's last entry.
        case lastEntry
    }

    struct XRead: Sendable {
        /// COUNT as given; the executor applies its default and limit.
        let count: Int64?
        /// BLOCK milliseconds (0: for ever).
        let block: Int64?
        let keys: [[UInt8]]
        let starts: [ReadStart]
    }

    /// Where XREADGROUP starts in one stream. An id that does not parse is reported when the read
    /// reaches it, after the check that the stream and group exist, in Redis's order.
    enum GroupReadStart: Sendable {
        /// `>`: entries never delivered to the group.
        case new
        /// The consumer's pending entries after this id.
        case history(EntryID)
        case invalid(String)
    }

    struct XReadGroup: Sendable {
        let request: GroupReadRequest
        let count: Int64?
        let block: Int64?
        let keys: [[UInt8]]
        let starts: [GroupReadStart]
    }

    /// Whether the command may block its connection (XREAD or XREADGROUP with BLOCK): nothing the
    /// connection sends after it runs until it is answered, as in Redis.
    var mayBlock: Bool {
        switch self {
        case .xread(let read): return read.block != nil
        case .xreadgroup(let read): return read.block != nil
        default: return false
        }
    }

    var name: CommandName? {
        switch self {
        case .xadd: return .xadd
        case .xtrim: return .xtrim
        case .xrange(let range): return range.reverse ? .xrevrange : .xrange
        case .xlen: return .xlen
        case .xread: return .xread
        case .xreadgroup: return .xreadgroup
        case .xack: return .xack
        case .xdel: return .xdel
        case .xdelex: return .xdelex
        case .xackdel: return .xackdel
        case .info: return .info
        case .keys(let keys): return keys.name
        case .xpending: return .xpending
        case .xclaim: return .xclaim
        case .xautoclaim: return .xautoclaim
        case .admin(let admin): return admin.name
        case .answered: return nil
        }
    }

    /// XADD with PRODUCER, IFLAST or IFVERSION: a transaction that holds one is all or nothing.
    var isConditionalAppend: Bool {
        if case .xadd(let add) = self { return add.options.append.isUsed }
        return false
    }

    /// Decodes a storage command whose name and arity the command table checked. XADD keeps its
    /// request's buffer (its fields stay views into it); the others take their arguments apart.
    static func decode(_ name: CommandName, _ request: RequestArguments, databases: Int) -> Result<Command, CommandErrorText> {
        lazy var args = request.arrays
        switch name {
        case .xadd: return decodeXAdd(request)
        case .xtrim:
            return Executor.parseAddOrTrim(args, isXADD: false).map { .xtrim(key: args[1], $0.trim!) }
        case .xrange, .xrevrange: return decodeXRange(args, reverse: name == .xrevrange)
        case .xlen: return .success(.xlen(key: args[1]))
        case .xread: return decodeXRead(args)
        case .xreadgroup: return decodeXReadGroup(args)
        case .xack: return .success(.xack(key: args[1], group: args[2], ids: parseIDs(args[3...])))
        case .xdel:
            guard let ids = parseIDs(args[2...]) else { return .failure(CommandError.invalidStreamID) }
            return .success(.xdel(key: args[1], ids: ids))
        case .xdelex: return decodeReferencedDelete(args, group: nil, from: 2).map { .xdelex($0) }
        case .xackdel: return decodeReferencedDelete(args, group: args[2], from: 3).map { .xackdel($0) }
        case .info: return .success(.info(sections: InfoSections(args), loopText: ""))
        case .xpending: return decodeXPending(args)
        case .xclaim: return .success(decodeXClaim(args))
        case .xautoclaim: return decodeXAutoClaim(args)
        case .del, .unlink, .exists, .type, .keys, .scan, .dbsize, .flushdb, .flushall, .swapdb, .move, .memory:
            return decodeKeys(name, args, databases: databases)
        case .xsetid, .xcfgset, .xproducers, .xnack, .xgroup, .xinfo, .xbackfill:
            return decodeAdmin(name, args)
        }
    }

    private static func decodeXAdd(_ args: RequestArguments) -> Result<Command, CommandErrorText> {
        let options: Executor.AddOrTrimArguments
        switch Executor.parseAddOrTrim(args, isXADD: true) {
        case .success(let parsed): options = parsed
        case .failure(let error): return .failure(error)
        }
        let fieldCount = args.count - options.idIndex - 1
        guard let requested = options.id, fieldCount > 0, fieldCount % 2 == 0 else {
            return .failure(CommandError.arity("xadd"))
        }
        if case .explicit(let explicit) = requested, explicit == .zero { return .failure(CommandError.xaddZeroID) }
        return .success(.xadd(XAdd(args: args, options: options, key: args[1].bytes)))
    }

    /// XRANGE key start end [COUNT n], XREVRANGE key end start [COUNT n]. COUNT may repeat (the
    /// last wins).
    private static func decodeXRange(_ args: [[UInt8]], reverse: Bool) -> Result<Command, CommandErrorText> {
        let start: EntryID
        let end: EntryID
        switch (parseRangeBound(args[reverse ? 3 : 2], isStart: true), parseRangeBound(args[reverse ? 2 : 3], isStart: false)) {
        case (.failure(let error), _), (_, .failure(let error)): return .failure(error)
        case (.success(let s), .success(let e)):
            start = s
            end = e
        }
        var count = Int.max
        var index = 4
        while index < args.count {
            guard args[index].isKeyword("COUNT"), index + 1 < args.count else { return .failure(CommandError.syntax) }
            guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
            count = Int(max(0, value))
            index += 2
        }
        return .success(.xrange(XRange(key: args[1], start: start, end: end, count: count, reverse: reverse)))
    }

    /// Parses an XRANGE bound: `-`, `+`, an id, or `(id` for an exclusive bound.
    static func parseRangeBound(_ text: [UInt8], isStart: Bool) -> Result<EntryID, CommandErrorText> {
        if text == [UInt8(ascii: "-")] { return .success(.min) }
        if text == [UInt8(ascii: "+")] { return .success(.max) }
        var body = text[...]
        let exclusive = body.first == UInt8(ascii: "(")
        if exclusive { body = body.dropFirst() }
        guard let id = EntryID(parsing: body, missingSequence: isStart ? .zero : .max) else {
            return .failure(CommandErrorText(CommandError.invalidStreamID))
        }
        guard exclusive else { return .success(id) }
        if isStart {
            guard let next = id.successor else { return .failure(CommandErrorText("ERR invalid start ID for the interval")) }
            return .success(next)
        }
        guard let previous = id.predecessor else { return .failure(CommandErrorText("ERR invalid end ID for the interval")) }
        return .success(previous)
    }

    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …
    private static func decodeXRead(_ args: [[UInt8]]) -> Result<Command, CommandErrorText> {
        var index = 1
        var count: Int64?
        var block: Int64?
        var streamsAt: Int?
        while index < args.count {
            let word = args[index]
            if word.isKeyword("COUNT"), index + 1 < args.count {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                count = value
                index += 2
            } else if word.isKeyword("BLOCK"), index + 1 < args.count {
                switch parseTimeout(args[index + 1]) {
                case .success(let value): block = value
                case .failure(let error): return .failure(error)
                }
                index += 2
            } else if word.isKeyword("STREAMS"), index + 1 < args.count {
                streamsAt = index + 1
                break
            } else if word.isKeyword("GROUP"), index + 2 < args.count {
                return .failure("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")
            } else if word.isKeyword("NOACK") {
                return .failure("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")
            } else if word.isKeyword("CLAIM") {
                return .failure("ERR The CLAIM option is only supported by XREADGROUP. You called XREAD instead.")
            } else {
                return .failure(CommandError.syntax)
            }
        }
        guard let streamsAt else { return .failure(CommandError.syntax) }
        let remaining = args.count - streamsAt
        guard remaining % 2 == 0 else { return .failure(CommandError.xreadUnbalanced) }
        let half = remaining / 2
        var starts: [ReadStart] = []
        starts.reserveCapacity(half)
        for text in args[(streamsAt + half)...] {
            if text == [UInt8(ascii: "$")] {
                starts.append(.lastID)
            } else if text == [UInt8(ascii: "+")] {
                starts.append(.lastEntry)
            } else if text == [UInt8(ascii: ">")] {
                return .failure(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
            } else {
                guard let id = EntryID(parsing: text, missingSequence: .zero) else {
                    return .failure(CommandError.invalidStreamID)
                }
                starts.append(.after(id))
            }
        }
        return .success(
            .xread(XRead(count: count, block: block, keys: Array(args[streamsAt..<(streamsAt + half)]), starts: starts)))
    }

    /// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] [CLAIM min-idle] STREAMS key … id …
    private static func decodeXReadGroup(_ args: [[UInt8]]) -> Result<Command, CommandErrorText> {
        var index = 1
        var count: Int64?
        var block: Int64?
        var streamsAt: Int?
        var groupName: [UInt8]?
        var consumerName: [UInt8]?
        var noAck = false
        var claimMinIdle: Int64?
        while index < args.count {
            let word = args[index]
            let more = args.count - index - 1
            if word.isKeyword("BLOCK") && more > 0 {
                switch parseTimeout(args[index + 1]) {
                case .success(let value): block = value
                case .failure(let error): return .failure(error)
                }
                index += 2
            } else if word.isKeyword("COUNT") && more > 0 {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                count = value
                index += 2
            } else if word.isKeyword("STREAMS") && more > 0 {
                streamsAt = index + 1
                if more % 2 != 0 {
                    return .failure(
                        "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified.")
                }
                break
            } else if word.isKeyword("GROUP") && more >= 2 {
                groupName = args[index + 1]
                consumerName = args[index + 2]
                index += 3
            } else if word.isKeyword("NOACK") {
                noAck = true
                index += 1
            } else if word.isKeyword("CLAIM") && more > 0 {
                guard let value = args[index + 1].asInt64 else {
                    return .failure("ERR min-idle-time is not an integer or out of range")
                }
                guard value >= 0 else { return .failure("ERR min-idle-time must be a positive integer") }
                claimMinIdle = value
                index += 2
            } else {
                return .failure(CommandError.syntax)
            }
        }
        guard let streamsAt else { return .failure(CommandError.syntax) }
        guard let groupName, let consumerName else { return .failure("ERR Missing GROUP option for XREADGROUP") }
        guard consumerName.count <= Executor.groupNameMaxLength else { return .failure(Executor.nameTooLong("consumer")) }
        let half = (args.count - streamsAt) / 2
        var starts: [GroupReadStart] = []
        starts.reserveCapacity(half)
        for text in args[(streamsAt + half)...] {
            if text == [UInt8(ascii: "$")] || text == [UInt8(ascii: "+")] {
                let symbol = text == [UInt8(ascii: "$")] ? "$" : "+"
                starts.append(
                    .invalid(
                        "ERR The \(symbol) ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The \(symbol) ID would just return an empty result set."
                    ))
            } else if text == [UInt8(ascii: ">")] {
                starts.append(.new)
            } else if let id = EntryID(parsing: text, missingSequence: .zero) {
                starts.append(.history(id))
            } else {
                starts.append(.invalid(CommandError.invalidStreamID))
            }
        }
        let request = GroupReadRequest(group: groupName, consumer: consumerName, noAck: noAck, claimMinIdle: claimMinIdle)
        return .success(
            .xreadgroup(
                XReadGroup(
                    request: request, count: count, block: block, keys: Array(args[streamsAt..<(streamsAt + half)]),
                    starts: starts)))
    }

    /// `[KEEPREF | DELREF | ACKED] IDS numids id …` from `start`, as Redis's
    /// streamParseAckDelArgsOrReply parses it.
    private static func decodeReferencedDelete(_ args: [[UInt8]], group: [UInt8]?, from start: Int)
        -> Result<ReferencedDelete, CommandErrorText>
    {
        var policy: Executor.ReferencePolicy?
        var texts: ArraySlice<[UInt8]>?
        var index = start
        while index < args.count {
            let word = args[index]
            if policy == nil, let named = Executor.ReferencePolicy(word) {
                policy = named
                index += 1
            } else if word.isKeyword("IDS") && index + 1 < args.count {
                guard let count = args[index + 1].asInt64, count >= 1 else {
                    return .failure(CommandErrorText("ERR Number of IDs must be a positive integer"))
                }
                guard count <= Int64(args.count - index - 2) else {
                    return .failure(CommandErrorText("ERR The `numids` parameter must match the number of arguments"))
                }
                texts = args[(index + 2)..<(index + 2 + Int(count))]
                index += 2 + Int(count)
            } else {
                return .failure(CommandErrorText(CommandError.syntax))
            }
        }
        guard let texts else { return .failure(CommandErrorText("ERR IDS option is required")) }
        return .success(
            ReferencedDelete(key: args[1], group: group, policy: policy ?? .keep, ids: parseIDs(texts), count: texts.count))
    }

    /// Ids as XACK, XCLAIM and XNACK take them (a missing sequence is 0); nil if one does not parse.
    static func parseIDs(_ texts: ArraySlice<[UInt8]>) -> [EntryID]? {
        var ids: [EntryID] = []
        ids.reserveCapacity(texts.count)
        for text in texts {
            guard let id = EntryID(parsing: text, missingSequence: .zero) else { return nil }
            ids.append(id)
        }
        return ids
    }

    /// BLOCK's milliseconds: an integer, not negative.
    private static func parseTimeout(_ text: [UInt8]) -> Result<Int64, CommandErrorText> {
        guard let value = text.asInt64 else { return .failure(CommandErrorText("ERR timeout is not an integer or out of range")) }
        guard value >= 0 else { return .failure(CommandErrorText("ERR timeout is negative")) }
        return .success(value)
    }
}
