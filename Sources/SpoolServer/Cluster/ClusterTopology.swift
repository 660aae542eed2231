/// What this node knows of the cluster: its members, how the 16384 Redis Cluster hash slots fold
/// onto shards, and who leads each shard. Pure data and decisions, no I/O: the coordinator
/// (elections, membership) produces it, routing (`route(keys:isWrite:connectionIsReadOnly:)`) and
/// the CLUSTER replies (`ClusterTopology+Replies.swift`) read it.
///
/// Slots fold onto `shardCount` shards in contiguous ranges: shard s owns slots
/// [s × 16384 / S, (s + 1) × 16384 / S) with integer division. Every shard owns at least one slot,
/// shard sizes differ by at most one, and a client's slot map holds one range per shard. Every
/// member holds every shard; a shard has at most one leader (elected elsewhere, with an epoch)
/// and the other members replicate it.
///
/// A `Sendable` value owned by the loop thread (loop thread only): when an election or a
/// membership change lands, the loop replaces its value (`setShard(_:at:)` or a new one), so a
/// command is routed and a CLUSTER reply rendered against one consistent view.
struct ClusterTopology: Sendable, Equatable {
    /// This node's configured name.
    let myName: String
    /// This node's id, as CLUSTER MYID answers it.
    let myID: String
    /// This node's own member entry.
    let me: Node
    /// Every member, this node included, in configuration order (CLUSTER NODES lists them so).
    let nodes: [Node]
    /// One per shard, indexed by shard number.
    private(set) var shards: [Shard]
    /// This node's role in each shard, derived from `shards` whenever they change, so that routing
    /// (once per command) compares no names.
    private var localRoles: [LocalRole]

    /// What this node may do with a shard's keys.
    enum LocalRole: Sendable, Equatable {
        /// It leads the shard: it serves reads and writes.
        case leader
        /// It replicates the shard and is online: it may serve committed reads to READONLY
        /// connections.
        case servingReplica
        /// It neither leads the shard nor is an online replica of it: it redirects.
        case notServing
    }

    /// - Parameters:
    ///   - myName: this node's name; one of `nodes`.
    ///   - nodes: every member, names unique.
    ///   - shards: one per shard, 1...16384 of them; each leader and replica is one of `nodes`,
    ///     and no node is listed twice in a shard.
    init(myName: String, nodes: [Node], shards: [Shard]) {
        precondition((1...HashSlot.count).contains(shards.count), "1...16384 shards, not \(shards.count)")
        precondition(Set(nodes.map(\.name)).count == nodes.count, "node names are unique")
        guard let me = nodes.first(where: { $0.name == myName }) else {
            preconditionFailure("this node (\(myName)) is one of the cluster's nodes")
        }
        self.myName = myName
        self.myID = me.id
        self.me = me
        self.nodes = nodes
        self.shards = shards
        self.localRoles = []
        for shard in shards { checkMembers(of: shard) }
        self.localRoles = shards.map(localRole(of:))
    }

    /// The number of shards the slots fold onto, 1...16384.
    var shardCount: Int { shards.count }

    /// Replaces one shard's leader and replicas, after an election or a health change.
    mutating func setShard(_ shard: Shard, at index: Int) {
        precondition(shards.indices.contains(index), "shard \(index) of \(shardCount)")
        checkMembers(of: shard)
        shards[index] = shard
        localRoles[index] = localRole(of: shard)
    }

    /// This node's own copy of every shard in `loading` is `loading` (its log has a gap: it joined at
    /// a commit point and is still filling what it skipped), of every other shard `online`: reads of
    /// a loading copy go to the leader.
    mutating func setLocalCopies(loading: Set<Int>) {
        for index in shards.indices {
            var shard = shards[index]
            var changed = false
            for replica in shard.replicas.indices where shard.replicas[replica].node.name == myName {
                let health: Health = loading.contains(index) ? .loading : .online
                if shard.replicas[replica].health != health {
                    shard.replicas[replica].health = health
                    changed = true
                }
            }
            if changed { setShard(shard, at: index) }
        }
    }

    /// This node's role in shard `index`.
    func localRole(inShard index: Int) -> LocalRole {
        localRoles[index]
    }

    /// The member named `name`, if there is one.
    func node(named name: String) -> Node? {
        nodes.first { $0.name == name }
    }

    /// The shard that owns `slot` (0..<16384).
    func shard(ofSlot slot: Int) -> Int {
        Self.shard(ofSlot: slot, shardCount: shardCount)
    }

    /// The slots shard `index` owns, a half-open range.
    func slotRange(ofShard index: Int) -> Range<Int> {
        Self.slotRange(ofShard: index, shardCount: shardCount)
    }

    /// The shard owning `slot` when 16384 slots fold onto `shardCount` shards: the largest s with
    /// s × 16384 / S ≤ slot, which is ((slot + 1) × S − 1) / 16384.
    static func shard(ofSlot slot: Int, shardCount: Int) -> Int {
        precondition((0..<HashSlot.count).contains(slot), "slot \(slot) is in 0..<16384")
        precondition((1...HashSlot.count).contains(shardCount), "1...16384 shards, not \(shardCount)")
        return ((slot + 1) * shardCount - 1) / HashSlot.count
    }

    /// The slots of shard `index` when 16384 slots fold onto `shardCount` shards:
    /// [index × 16384 / S, (index + 1) × 16384 / S).
    static func slotRange(ofShard index: Int, shardCount: Int) -> Range<Int> {
        precondition((1...HashSlot.count).contains(shardCount), "1...16384 shards, not \(shardCount)")
        precondition((0..<shardCount).contains(index), "shard \(index) of \(shardCount)")
        return (index * HashSlot.count / shardCount)..<((index + 1) * HashSlot.count / shardCount)
    }

    /// The highest epoch of any elected leader: CLUSTER INFO's `cluster_current_epoch`.
    var currentEpoch: UInt64 {
        shards.reduce(0) { highest, shard in max(highest, shard.leader?.epoch ?? 0) }
    }

    // MARK: - Invariants

    private func localRole(of shard: Shard) -> LocalRole {
        if shard.leader?.node.name == myName { return .leader }
        if shard.replicas.contains(where: { $0.node.name == myName && $0.health == .online }) {
            return .servingReplica
        }
        return .notServing
    }

    /// A leader or replica that is not a member, or a member listed twice, is a bug in whoever
    /// built the shard; replies and routing would name nodes no one can reach.
    private func checkMembers(of shard: Shard) {
        var seen = Set<String>()
        if let leader = shard.leader {
            precondition(nodes.contains(leader.node), "the leader \(leader.node.name) is a member")
            seen.insert(leader.node.name)
        }
        for replica in shard.replicas {
            precondition(nodes.contains(replica.node), "the replica \(replica.node.name) is a member")
            precondition(seen.insert(replica.node.name).inserted, "\(replica.node.name) is listed once per shard")
        }
    }
}
