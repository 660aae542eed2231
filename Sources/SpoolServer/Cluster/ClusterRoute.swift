/// Where a keyed command goes in cluster mode: the value `ClusterTopology.route(keys:isWrite:
/// connectionIsReadOnly:)` decides once per command, before the command runs. An I/O-free
/// decision returning a value (like `ProducerState.decide`), so every case is tested directly.
enum ClusterRoute: Sendable, Equatable {
    /// The command names no key (PING, CLUSTER INFO): run it here, as Redis does.
    case noKeys
    /// Run it here: this node leads `shard`, or it is a read on a READONLY connection and this
    /// node is an online replica of `shard`. `slot` is the keys' common slot.
    case local(shard: Int, slot: Int)
    /// Answer `MOVED <slot> <address>`: `address` is the shard leader's `host:port`.
    case moved(slot: Int, address: String)
    /// The keys hash to different slots.
    case crossSlot
    /// The keys' shard has no leader and this node may not serve the command itself.
    case clusterDown

    /// The error reply's message for `RESPWriter.error(_:)`, nil when the command runs here.
    var errorText: String? {
        switch self {
        case .noKeys, .local: nil
        case .moved(let slot, let address): ClusterError.moved(slot: slot, address: address)
        case .crossSlot: ClusterError.crossSlot
        case .clusterDown: ClusterError.hashSlotNotServed
        }
    }

    /// The complete RESP error reply (`-MOVED 3999 10.0.0.2:6379\r\n`), nil when the command runs
    /// here.
    var errorReplyBytes: [UInt8]? {
        errorText.map(ClusterError.replyBytes)
    }
}
