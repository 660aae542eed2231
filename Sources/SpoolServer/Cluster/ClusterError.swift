import SpoolProtocol

/// Cluster-mode error replies with Redis's exact wording (`clusterRedirectClient` and
/// `clusterCommand` in Redis's cluster.c). Cluster clients act on the first word — redis-py and
/// redis-cli -c follow MOVED by parsing its slot and `host:port`, and treat CLUSTERDOWN and
/// CROSSSLOT as their own exception types — so every byte here is part of the protocol.
///
/// Each text is a message for `RESPWriter.error(_:)`: the code first, no leading `-`, no CRLF.
/// `replyBytes(_:)` gives the whole RESP error line.
enum ClusterError {
    /// The slot lives on another node: the client retries there and refreshes its slot map.
    /// Redis writes `-MOVED <slot> <endpoint>:<port>`, the endpoint unbracketed even for IPv6.
    static func moved(slot: Int, address: String) -> String {
        "MOVED \(slot) \(address)"
    }

    /// A command whose keys hash to more than one slot.
    static let crossSlot = "CROSSSLOT Keys in request don't hash to the same slot"

    /// No node serves the key's slot (Redis's `CLUSTER_REDIR_DOWN_UNBOUND`); in Spool, the
    /// slot's shard has no elected leader.
    static let hashSlotNotServed = "CLUSTERDOWN Hash slot not served"

    /// The whole cluster is down (Redis's `CLUSTER_REDIR_DOWN_STATE`), for a caller that knows
    /// it is cut off from the coordinator.
    static let clusterDown = "CLUSTERDOWN The cluster is down"

    /// Any CLUSTER command, READONLY, READWRITE or ASKING on a server not in cluster mode.
    static let clusterSupportDisabled = "ERR This instance has cluster support disabled"

    /// CLUSTER COUNTKEYSINSLOT with a slot outside 0..<16384.
    static let invalidSlot = "ERR Invalid slot"

    /// CLUSTER GETKEYSINSLOT with a slot outside 0..<16384 or a negative count.
    static let invalidSlotOrNumberOfKeys = "ERR Invalid slot or number of keys"

    /// The complete RESP error reply for `message`: `-`, the message, CRLF (the same in RESP2 and
    /// RESP3).
    static func replyBytes(_ message: String) -> [UInt8] {
        var writer = RESPWriter(version: .resp2)
        writer.error(message)
        return writer.bytes
    }
}
