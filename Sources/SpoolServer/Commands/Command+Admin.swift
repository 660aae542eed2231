import SpoolCore
import SpoolProtocol
import SpoolStorage

/// The administration and inspection commands, decoded on the loop thread. Redis checks some of
/// them against the stream before their options (XCFGSET, XNACK, most of XGROUP and XINFO): their
/// option errors ride in the value as a `Result` and the storage thread answers them after the
/// stream or group is found, in Redis's order, as XCLAIM's are.
extension Command {
    enum Admin: Sendable {
        case xsetid(XSetID)
        case xcfgset(key: [UInt8], settings: Result<IdempotencySettings, CommandErrorText>)
        case xproducers(key: [UInt8], producer: [UInt8]?)
        case xnack(key: [UInt8], group: [UInt8], options: Result<Nack, CommandErrorText>)
        case xgroup(XGroup)
        case xinfo(XInfo)
        case xbackfill(XBackfill)

        var name: CommandName {
            switch self {
            case .xsetid: return .xsetid
            case .xcfgset: return .xcfgset
            case .xproducers: return .xproducers
            case .xnack: return .xnack
            case .xgroup: return .xgroup
            case .xinfo: return .xinfo
            case .xbackfill: return .xbackfill
            }
        }
    }

    /// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
    struct XSetID: Sendable {
        let key: [UInt8]
        let id: EntryID
        let entriesAdded: UInt64?
        let maxDeleted: EntryID?
    }

    /// XBACKFILL BEGIN key through-id | ADD key id field value … | END key | STATUS key | HELP
    struct XBackfill: Sendable {
        let key: [UInt8]
        let action: Action

        enum Action: Sendable {
            case begin(through: EntryID)
            case add(id: EntryID, fields: [[UInt8]])
            case end
            case status
            case help
        }
    }

    /// XCFGSET's IDMP-DURATION (seconds) and IDMP-MAXSIZE (entries); at least one is given.
    struct IdempotencySettings: Sendable {
        let durationSeconds: Int64?
        let maxSize: Int64?
    }

    /// XNACK's mode and options.
    struct Nack: Sendable {
        let mode: Executor.NackMode
        let ids: [EntryID]
        let retryCount: UInt64?
        let force: Bool
        let delay: Int64?
    }

    /// XGROUP: the subcommand with its options checked, in Redis's order: options first (here),
    /// then the key, the group, and what `deferred` holds.
    struct XGroup: Sendable {
        let key: [UInt8]
        let group: [UInt8]
        let action: Action

        enum Action: Sendable {
            case help
            /// `start`: `$` or an id; an id that does not parse is reported after the group checks.
            case create(start: Result<GroupStart, CommandErrorText>, makeStream: Bool, entriesRead: Int64, policy: Executor.GroupPolicy)
            case setID(start: Result<GroupStart, CommandErrorText>, entriesRead: Int64)
            case destroy
            case createConsumer(name: [UInt8])
            case deleteConsumer(name: [UInt8])
            case setPolicy(Executor.GroupPolicy)

            /// CREATE … MKSTREAM: a missing stream is created instead of refused.
            var makesStream: Bool {
                if case .create(_, let makeStream, _, _) = self { return makeStream }
                return false
            }

            /// Every subcommand but CREATE and DESTROY refuses a missing group (NOGROUP).
            var needsGroup: Bool {
                switch self {
                case .create, .destroy, .help: return false
                case .setID, .createConsumer, .deleteConsumer, .setPolicy: return true
                }
            }
        }
    }

    /// Where XGROUP CREATE or SETID puts a group.
    enum GroupStart: Sendable {
        /// `$`: the stream's last id.
        case last
        case id(EntryID)
    }

    /// XINFO STREAM | GROUPS | CONSUMERS | HELP.
    enum XInfo: Sendable {
        case help
        /// `extended`: GROUPS key EXTENDED; an arity error is reported once the stream is found.
        case groups(key: [UInt8], extended: Result<Bool, CommandErrorText>)
        case consumers(key: [UInt8], group: [UInt8])
        case stream(key: [UInt8], detail: Result<StreamDetail, CommandErrorText>)

        /// The stream every form but HELP names.
        var key: [UInt8]? {
            switch self {
            case .help: return nil
            case .groups(let key, _), .consumers(let key, _), .stream(let key, _): return key
            }
        }
    }

    /// XINFO STREAM's form: the summary, or FULL with its COUNT as given (nil when none).
    enum StreamDetail: Sendable {
        case summary
        case full(count: Int64?)
    }

    /// Decodes an administration command whose name and arity the command table checked.
    static func decodeAdmin(_ name: CommandName, _ args: [[UInt8]]) -> Result<Command, CommandErrorText> {
        func admin(_ command: Admin) -> Result<Command, CommandErrorText> { .success(.admin(command)) }
        switch name {
        case .xsetid: return decodeXSetID(args).map { .admin(.xsetid($0)) }
        case .xcfgset: return admin(.xcfgset(key: args[1], settings: parseIdempotencySettings(args)))
        case .xproducers:
            guard args.count <= 3 else { return .failure(CommandError.arity("xproducers")) }
            return admin(.xproducers(key: args[1], producer: args.count == 3 ? args[2] : nil))
        case .xnack: return admin(.xnack(key: args[1], group: args[2], options: parseNack(args)))
        case .xgroup: return decodeXGroup(args).map { .admin(.xgroup($0)) }
        case .xinfo: return admin(.xinfo(decodeXInfo(args)))
        case .xbackfill: return decodeXBackfill(args).map { .admin(.xbackfill($0)) }
        default: preconditionFailure("\(name) is not decoded here")
        }
    }

    private static func decodeXBackfill(_ args: [[UInt8]]) -> Result<XBackfill, CommandErrorText> {
        let sub = args[1]
        if sub.isKeyword("HELP") { return .success(XBackfill(key: [], action: .help)) }
        let key = args[2]
        if sub.isKeyword("BEGIN") {
            guard let through = EntryID(parsing: args[3], missingSequence: .max) else { return .failure(CommandError.invalidStreamID) }
            guard through != .zero else { return .failure("ERR the backfill's end must be above 0-0") }
            return .success(XBackfill(key: key, action: .begin(through: through)))
        }
        if sub.isKeyword("ADD") {
            guard args.count % 2 == 0 else { return .failure(CommandError.arity("xbackfill|add")) }
            guard let id = EntryID(parsing: args[3], missingSequence: .zero), id != .zero else {
                return .failure(CommandError.invalidStreamID)
            }
            return .success(XBackfill(key: key, action: .add(id: id, fields: Array(args[4...]))))
        }
        if sub.isKeyword("END") { return .success(XBackfill(key: key, action: .end)) }
        return .success(XBackfill(key: key, action: .status))
    }

    private static func decodeXSetID(_ args: [[UInt8]]) -> Result<XSetID, CommandErrorText> {
        guard let id = EntryID(parsing: args[2], missingSequence: .zero) else { return .failure(CommandError.invalidStreamID) }
        var entriesAdded: UInt64?
        var maxDeleted: EntryID?
        var index = 3
        while index < args.count {
            let hasValue = index + 1 < args.count
            if args[index].isKeyword("ENTRIESADDED") && hasValue {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard value >= 0 else { return .failure("ERR entries_added must be positive") }
                entriesAdded = UInt64(value)
            } else if args[index].isKeyword("MAXDELETEDID") && hasValue {
                guard let value = EntryID(parsing: args[index + 1], missingSequence: .zero) else {
                    return .failure(CommandError.invalidStreamID)
                }
                if id < value {
                    return .failure("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                }
                maxDeleted = value
            } else {
                return .failure(CommandError.syntax)
            }
            index += 2
        }
        return .success(XSetID(key: args[1], id: id, entriesAdded: entriesAdded, maxDeleted: maxDeleted))
    }

    private static func parseIdempotencySettings(_ args: [[UInt8]]) -> Result<IdempotencySettings, CommandErrorText> {
        var duration: Int64?
        var maxSize: Int64?
        var index = 2
        while index < args.count {
            guard index + 1 < args.count else { return .failure(CommandError.syntax) }
            let word = args[index]
            if word.isKeyword("IDMP-DURATION") {
                guard duration == nil else { return .failure("ERR IDMP-DURATION specified multiple times") }
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard (1...86_400).contains(value) else { return .failure("ERR IDMP-DURATION must be between 1 and 86400 seconds") }
                duration = value
            } else if word.isKeyword("IDMP-MAXSIZE") {
                guard maxSize == nil else { return .failure("ERR IDMP-MAXSIZE specified multiple times") }
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard (1...10_000).contains(value) else { return .failure("ERR IDMP-MAXSIZE must be between 1 and 10000 entries") }
                maxSize = value
            } else {
                return .failure(CommandError.syntax)
            }
            index += 2
        }
        guard duration != nil || maxSize != nil else { return .failure("ERR At least one parameter must be specified") }
        return .success(IdempotencySettings(durationSeconds: duration, maxSize: maxSize))
    }

    /// XNACK key group SILENT|FAIL|FATAL IDS numids id… [RETRYCOUNT n] [FORCE] [DELAY ms]
    private static func parseNack(_ args: [[UInt8]]) -> Result<Nack, CommandErrorText> {
        let mode: Executor.NackMode
        switch true {
        case args[3].isKeyword("SILENT"): mode = .silent
        case args[3].isKeyword("FAIL"): mode = .fail
        case args[3].isKeyword("FATAL"): mode = .fatal
        default: return .failure("ERR mode must be SILENT, FAIL, or FATAL")
        }
        var idArguments: ArraySlice<[UInt8]>?
        var retryCount: UInt64?
        var force = false
        var delay: Int64?
        var index = 4
        while index < args.count {
            let word = args[index]
            let hasValue = index + 1 < args.count
            if word.isKeyword("IDS") && hasValue {
                guard let count = args[index + 1].asInt64, count >= 1, count <= Int64(Int32.max) else {
                    return .failure("ERR numids must be a positive integer")
                }
                guard Int(count) <= args.count - index - 2 else { return .failure("ERR number of IDs doesn't match numids") }
                idArguments = args[(index + 2)..<(index + 2 + Int(count))]
                index += 2 + Int(count)
            } else if word.isKeyword("FORCE") {
                force = true
                index += 1
            } else if word.isKeyword("RETRYCOUNT") && hasValue {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard value >= 0 else { return .failure("ERR Invalid RETRYCOUNT value, must be >= 0") }
                retryCount = UInt64(value)
                index += 2
            } else if word.isKeyword("DELAY") && hasValue {
                guard let value = args[index + 1].asInt64, value >= 0 else {
                    return .failure("ERR DELAY must be an integer >= 0 (milliseconds)")
                }
                delay = value
                index += 2
            } else {
                return .failure("ERR Unrecognized XNACK option '\(word.asString)'")
            }
        }
        guard let idArguments else { return .failure("ERR syntax error, expected IDS keyword") }
        guard let ids = parseIDs(idArguments) else { return .failure(CommandError.invalidStreamID) }
        return .success(Nack(mode: mode, ids: ids, retryCount: retryCount, force: force, delay: delay))
    }

    private static func decodeXGroup(_ args: [[UInt8]]) -> Result<XGroup, CommandErrorText> {
        let sub = args[1]
        if sub.isKeyword("HELP") { return .success(XGroup(key: [], group: [], action: .help)) }
        let key = args[2]
        let group = args[3]
        let isCreate = sub.isKeyword("CREATE")
        let isSetID = sub.isKeyword("SETID")
        let isPolicy = sub.isKeyword("SETPOLICY")
        var makeStream = false
        var entriesRead = ConsumerGroup.unknownEntriesRead
        var policy = Executor.GroupPolicy()
        var index = isPolicy ? 4 : 5
        while index < args.count {
            let word = args[index]
            let hasValue = index + 1 < args.count
            if isCreate && word.isKeyword("MKSTREAM") {
                makeStream = true
                index += 1
            } else if (isCreate || isSetID) && word.isKeyword("ENTRIESREAD") && hasValue {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard value >= 0 || value == ConsumerGroup.unknownEntriesRead else {
                    return .failure("ERR value for ENTRIESREAD must be positive or -1")
                }
                entriesRead = value
                index += 2
            } else if (isCreate || isPolicy) && word.isKeyword("MAXDELIVERIES") && hasValue {
                guard let value = args[index + 1].asInt64, value >= 0 else {
                    return .failure("ERR MAXDELIVERIES must be an integer >= 0")
                }
                policy.maxDeliveries = UInt64(value)
                index += 2
            } else if (isCreate || isPolicy) && word.isKeyword("DEADLETTER") && hasValue {
                let target = args[index + 1]
                guard !target.isEmpty, target != key else {
                    return .failure("ERR DEADLETTER must name a stream other than the group's own")
                }
                policy.deadLetter = target
                index += 2
            } else {
                return .failure(CommandError.subcommandSyntax(args))
            }
        }
        if isCreate && (args.count < 5 || args.count > 8 + 4) { return .failure(CommandError.subcommandSyntax(args)) }
        let action: XGroup.Action
        if isCreate {
            let start: Result<GroupStart, CommandErrorText> =
                args[4] == [UInt8(ascii: "$")]
                ? .success(.last)
                : EntryID(parsing: args[4], missingSequence: .zero).map { .success(.id($0)) }
                    ?? .failure(CommandError.invalidStreamID)
            action = .create(start: start, makeStream: makeStream, entriesRead: entriesRead, policy: policy)
        } else if isSetID {
            let start: Result<GroupStart, CommandErrorText>
            if args.count != 5 && args.count != 7 {
                start = .failure(CommandError.subcommandSyntax(args))
            } else if args[4] == [UInt8(ascii: "$")] {
                start = .success(.last)
            } else if let id = parseIDOrBound(args[4]) {
                start = .success(.id(id))
            } else {
                start = .failure(CommandError.invalidStreamID)
            }
            action = .setID(start: start, entriesRead: entriesRead)
        } else if sub.isKeyword("DESTROY") {
            action = .destroy
        } else if sub.isKeyword("CREATECONSUMER") {
            action = .createConsumer(name: args[4])
        } else if sub.isKeyword("DELCONSUMER") {
            action = .deleteConsumer(name: args[4])
        } else if isPolicy {
            action = .setPolicy(policy)
        } else {
            return .failure(CommandError.subcommandSyntax(args))
        }
        return .success(XGroup(key: key, group: group, action: action))
    }

    /// An id where `-` and `+` are allowed (Redis's non-strict parse).
    static func parseIDOrBound(_ text: [UInt8]) -> EntryID? {
        if text == [UInt8(ascii: "-")] { return .min }
        if text == [UInt8(ascii: "+")] { return .max }
        return EntryID(parsing: text, missingSequence: .zero)
    }

    private static func decodeXInfo(_ args: [[UInt8]]) -> XInfo {
        let sub = args[1]
        if sub.isKeyword("HELP") { return .help }
        let key = args[2]
        if sub.isKeyword("GROUPS") {
            guard args.count == 3 || (args.count == 4 && args[3].isKeyword("EXTENDED")) else {
                return .groups(key: key, extended: .failure(CommandError.arity("xinfo|groups")))
            }
            return .groups(key: key, extended: .success(args.count == 4))
        }
        if sub.isKeyword("CONSUMERS") { return .consumers(key: key, group: args[3]) }
        // STREAM key [FULL [COUNT n]]
        let options = args.count - 3
        guard options > 0 else { return .stream(key: key, detail: .success(.summary)) }
        guard options == 1 || options == 3, args[3].isKeyword("FULL") else {
            return .stream(key: key, detail: .failure(CommandError.subcommandSyntax(args)))
        }
        guard options == 3 else { return .stream(key: key, detail: .success(.full(count: nil))) }
        guard args[4].isKeyword("COUNT") else {
            return .stream(key: key, detail: .failure(CommandError.subcommandSyntax(args)))
        }
        guard let value = args[5].asInt64 else {
            return .stream(key: key, detail: .failure(CommandError.notInteger))
        }
        return .stream(key: key, detail: .success(.full(count: value)))
    }
}
