import SpoolCore

/// The CLUSTER subcommands Spool answers, decoded once on the loop thread with Redis's errors in
/// Redis's order: the command's arity, an unknown subcommand, a subcommand's arity (Redis checks
/// these in `processCommand` from its command table, hence `cluster|keyslot` in the text), then
/// the subcommand's own arguments.
///
/// Subcommands that manage a Redis cluster's slots and failovers by hand (ADDSLOTS, FAILOVER,
/// SETSLOT, …) are unknown here: Spool's shards and leaders come from its coordinator. MEET and
/// FORGET change its members, one at a time, through etcd (`Server.changeMembers`).
enum ClusterSubcommand: Sendable, Equatable {
    case help
    case info
    case myID
    case nodes
    case slots
    case shards
    /// CLUSTER KEYSLOT key.
    case keySlot(key: [UInt8])
    /// CLUSTER COUNTKEYSINSLOT slot: the caller counts its keys in `slot` and answers with
    /// `ClusterTopology.writeKeyCount(_:into:)`.
    case countKeysInSlot(slot: Int)
    /// CLUSTER GETKEYSINSLOT slot count: the caller finds at most `countMax` of its keys in `slot`
    /// and answers with `ClusterTopology.writeKeys(_:into:)`.
    case getKeysInSlot(slot: Int, countMax: Int)
    /// CLUSTER MEET ip port [bus-port]: the node registered at ip:port becomes a member.
    case meet(host: String, port: Int)
    /// CLUSTER FORGET node-id (or name): the member stops being one.
    case forget(node: String)

    /// `args` is the whole request, `CLUSTER` first.
    static func decode<Arguments: RandomAccessCollection>(
        _ args: Arguments
    ) -> Result<ClusterSubcommand, CommandErrorText>
    where Arguments.Index == Int, Arguments.Element: ByteString {
        let start = args.startIndex
        guard args.count >= 2 else { return .failure(CommandError.arity("cluster")) }
        guard let word = Word.allCases.first(where: { args[start + 1].isKeyword($0.keyword) }) else {
            return .failure(CommandError.unknownSubcommand(args))
        }
        guard word.arity.contains(args.count) else { return .failure(CommandError.arity("cluster|\(word.keyword)")) }
        switch word {
        case .help: return .success(.help)
        case .info: return .success(.info)
        case .myID: return .success(.myID)
        case .nodes: return .success(.nodes)
        case .slots: return .success(.slots)
        case .shards: return .success(.shards)
        case .keySlot: return .success(.keySlot(key: Array(args[start + 2])))
        case .countKeysInSlot: return decodeCountKeysInSlot(slot: args[start + 2])
        case .getKeysInSlot: return decodeGetKeysInSlot(slot: args[start + 2], count: args[start + 3])
        case .meet:
            guard let port = args[start + 3].asInt64, (1...65535).contains(port) else {
                return .failure(CommandErrorText("ERR Invalid base port specified: \(String(decoding: Array(args[start + 3]), as: UTF8.self))"))
            }
            if args.count == 5 {
                guard let bus = args[start + 4].asInt64, (1...65535).contains(bus) else {
                    return .failure(CommandErrorText("ERR Invalid bus port specified: \(String(decoding: Array(args[start + 4]), as: UTF8.self))"))
                }
            }
            return .success(.meet(host: String(decoding: Array(args[start + 2]), as: UTF8.self), port: Int(port)))
        case .forget: return .success(.forget(node: String(decoding: Array(args[start + 2]), as: UTF8.self)))
        }
    }

    /// A subcommand's name and its argument count in Redis's command table (`CLUSTER` and the
    /// subcommand included).
    private enum Word: CaseIterable {
        case help, info, myID, nodes, slots, shards, keySlot, countKeysInSlot, getKeysInSlot, meet, forget

        var keyword: StaticString {
            switch self {
            case .help: "HELP"
            case .info: "INFO"
            case .myID: "MYID"
            case .nodes: "NODES"
            case .slots: "SLOTS"
            case .shards: "SHARDS"
            case .keySlot: "KEYSLOT"
            case .countKeysInSlot: "COUNTKEYSINSLOT"
            case .getKeysInSlot: "GETKEYSINSLOT"
            case .meet: "MEET"
            case .forget: "FORGET"
            }
        }

        var arity: ClosedRange<Int> {
            switch self {
            case .help, .info, .myID, .nodes, .slots, .shards: 2...2
            case .keySlot, .countKeysInSlot, .forget: 3...3
            case .getKeysInSlot: 4...4
            case .meet: 4...5
            }
        }
    }

    private static func decodeCountKeysInSlot(slot argument: some ByteString) -> Result<ClusterSubcommand, CommandErrorText> {
        guard let slot = argument.asInt64 else { return .failure(CommandError.notInteger) }
        guard (0..<Int64(HashSlot.count)).contains(slot) else { return .failure(ClusterError.invalidSlot) }
        return .success(.countKeysInSlot(slot: Int(slot)))
    }

    private static func decodeGetKeysInSlot(
        slot slotArgument: some ByteString, count countArgument: some ByteString
    ) -> Result<ClusterSubcommand, CommandErrorText> {
        guard let slot = slotArgument.asInt64, let count = countArgument.asInt64 else {
            return .failure(CommandError.notInteger)
        }
        guard (0..<Int64(HashSlot.count)).contains(slot), count >= 0 else {
            return .failure(ClusterError.invalidSlotOrNumberOfKeys)
        }
        return .success(.getKeysInSlot(slot: Int(slot), countMax: Int(count)))
    }
}
