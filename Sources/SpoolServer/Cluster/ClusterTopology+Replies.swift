import SpoolProtocol

/// The CLUSTER replies, shaped exactly as Redis 8's (`clusterCommand` and its helpers in Redis's
/// cluster.c and cluster_legacy.c), in RESP2 and RESP3: cluster clients parse them positionally
/// (redis-py builds its slot map from CLUSTER SLOTS, redis-cli --cluster reads CLUSTER NODES),
/// so an extra field or another order breaks them.
///
/// Where Spool's model differs from Redis's — every member holds every shard, so a node leads
/// some shards and replicates the others — each reply says how it maps.
extension ClusterTopology {
    // MARK: - CLUSTER SHARDS

    /// CLUSTER SHARDS: one entry per shard, a map of `slots` (flat start/end pairs, inclusive)
    /// and `nodes` (the leader, role `master`, then the replicas, role `replica`). Each node is a
    /// map of `id`, `port`, `ip`, `endpoint`, `hostname` (only when announced), `role`,
    /// `replication-offset`, `health`, in that order (`addNodeDetailsToShardReply`).
    ///
    /// A shard without a leader lists no slots, as Redis does for a shard whose master it cannot
    /// find. Redis groups nodes by replication (one entry per master); Spool lists one entry per
    /// shard, so a node leading two shards appears as master in both.
    func writeShards(into out: inout RESPWriter) {
        out.arrayHeader(shardCount)
        for (index, shard) in shards.enumerated() {
            out.mapHeader(2)
            out.bulk("slots")
            if shard.leader != nil {
                let range = slotRange(ofShard: index)
                out.arrayHeader(2)
                out.integer(Int64(range.lowerBound))
                out.integer(Int64(range.upperBound - 1))
            } else {
                out.arrayHeader(0)
            }
            out.bulk("nodes")
            out.arrayHeader((shard.leader == nil ? 0 : 1) + shard.replicas.count)
            if let leader = shard.leader {
                writeShardNode(
                    leader.node, role: "master", replicationOffset: leader.replicationOffset,
                    health: .online, into: &out)
            }
            for replica in shard.replicas {
                writeShardNode(
                    replica.node, role: "replica", replicationOffset: replica.replicationOffset,
                    health: replica.health, into: &out)
            }
        }
    }

    private func writeShardNode(
        _ node: Node, role: String, replicationOffset: Int64, health: Health, into out: inout RESPWriter
    ) {
        // Redis leaves `port` out when it is 0 (a TLS-only node) and `hostname` when none is set.
        let hasPort = node.clientPort != 0
        out.mapHeader(6 + (hasPort ? 1 : 0) + (node.hostname == nil ? 0 : 1))
        out.bulk("id")
        out.bulk(node.id)
        if hasPort {
            out.bulk("port")
            out.integer(Int64(node.clientPort))
        }
        out.bulk("ip")
        out.bulk(node.host)
        out.bulk("endpoint")
        out.bulk(node.host)
        if let hostname = node.hostname {
            out.bulk("hostname")
            out.bulk(hostname)
        }
        out.bulk("role")
        out.bulk(role)
        out.bulk("replication-offset")
        out.integer(replicationOffset)
        out.bulk("health")
        out.bulk(health.wireName)
    }

    // MARK: - CLUSTER SLOTS

    /// One CLUSTER SLOTS entry: a run of slots, its leader, and the replicas listed for it.
    struct SlotsEntry: Equatable {
        var first: Int
        var last: Int
        var leader: Node
        var replicas: [Node]
    }

    /// CLUSTER SLOTS' entries: shards with a leader, in slot order, adjacent shards with the same
    /// leader and the same listed replicas merged into one run, as Redis merges adjacent slots
    /// of one master (`clusterCommandSlots`). Shards without a leader are left out, as Redis
    /// leaves out slots no node serves. Only online replicas are listed (`isReplicaAvailable`).
    var slotsEntries: [SlotsEntry] {
        var entries: [SlotsEntry] = []
        for (index, shard) in shards.enumerated() {
            guard let leader = shard.leader else { continue }
            let range = slotRange(ofShard: index)
            let listed = shard.replicas.filter { $0.health == .online }.map(\.node)
            if let last = entries.last, last.last + 1 == range.lowerBound, last.leader == leader.node,
                last.replicas == listed
            {
                entries[entries.count - 1].last = range.upperBound - 1
            } else {
                entries.append(
                    SlotsEntry(first: range.lowerBound, last: range.upperBound - 1, leader: leader.node, replicas: listed))
            }
        }
        return entries
    }

    /// CLUSTER SLOTS: `[[start, end, leader, replica, …], …]`, each node
    /// `[endpoint, port, id, {metadata}]`. The fourth element (Redis 7+) is a map of the
    /// networking details that are not the preferred endpoint: empty (`%0` in RESP3, `*0` in
    /// RESP2) unless the node announces a hostname, then `{hostname: …}`. redis-py reads the
    /// endpoint and port of the third element of every entry to build its slot map.
    func writeSlots(into out: inout RESPWriter) {
        let entries = slotsEntries
        out.arrayHeader(entries.count)
        for entry in entries {
            out.arrayHeader(3 + entry.replicas.count)
            out.integer(Int64(entry.first))
            out.integer(Int64(entry.last))
            writeSlotsNode(entry.leader, into: &out)
            for replica in entry.replicas { writeSlotsNode(replica, into: &out) }
        }
    }

    private func writeSlotsNode(_ node: Node, into out: inout RESPWriter) {
        out.arrayHeader(4)
        out.bulk(node.host)
        out.integer(Int64(node.clientPort))
        out.bulk(node.id)
        if let hostname = node.hostname {
            out.mapHeader(1)
            out.bulk("hostname")
            out.bulk(hostname)
        } else {
            out.mapHeader(0)
        }
    }

    // MARK: - CLUSTER NODES

    /// CLUSTER NODES: a verbatim string (`txt`) in RESP3, a bulk string in RESP2, as Redis sends
    /// it.
    func writeNodes(into out: inout RESPWriter) {
        out.verbatim(nodesText, format: "txt")
    }

    /// CLUSTER NODES' text: one line per member, each ending in LF (the last too):
    /// `<id> <ip>:<port>@<bus-port>[,<hostname>] <flags> <master> <ping-sent> <pong-recv>
    /// <config-epoch> <link-state> <slot> …`.
    ///
    /// Spool's members hold every shard, but this format gives each node one role, so:
    /// - a node that leads shards is `master`, master `-`, listing the slots of the shards it
    ///   leads (adjacent ranges merged, a single slot written alone), its config epoch the
    ///   highest epoch it was elected in;
    /// - a node that leads none is `slave` of the leader of the first shard it replicates that
    ///   has one, with that leader's config epoch (as Redis shows a replica), no slots;
    /// - a node that leads none while no shard has a leader is a `master` without slots.
    /// `myself` marks this node. A node that leads nothing and is `failed` in every shard it
    /// replicates gets `fail` and `disconnected`; this node never does. Ping and pong times are
    /// 0: Spool has no cluster bus to time.
    var nodesText: String {
        var text = ""
        for node in nodes {
            text += nodeLine(node)
            text += "\n"
        }
        return text
    }

    private func nodeLine(_ node: Node) -> String {
        let led = shards.indices.filter { shards[$0].leader?.node.name == node.name }
        let role: String
        let masterID: String
        let epoch: UInt64
        var slots = ""
        if !led.isEmpty {
            role = "master"
            masterID = "-"
            epoch = configEpoch(of: node)
            for range in mergedSlotRanges(ofShards: led) {
                slots += range.count == 1 ? " \(range.lowerBound)" : " \(range.lowerBound)-\(range.upperBound - 1)"
            }
        } else if let master = replicatedLeader(of: node) {
            role = "slave"
            masterID = master.id
            epoch = configEpoch(of: master)
        } else {
            role = "master"
            masterID = "-"
            epoch = 0
        }
        let failed = node.name != myName && led.isEmpty && isFailedEverywhere(node)
        var flags = node.name == myName ? "myself," + role : role
        if failed { flags += ",fail" }
        var address = "\(node.clientAddress)@\(node.busPort)"
        if let hostname = node.hostname { address += ",\(hostname)" }
        let link = failed ? "disconnected" : "connected"
        return "\(node.id) \(address) \(flags) \(masterID) 0 0 \(epoch) \(link)\(slots)"
    }

    /// The slots of `shardIndices` (ascending) as ranges, adjacent ones merged, as Redis writes a
    /// node's slots (`clusterGenNodesSlotsInfo`).
    private func mergedSlotRanges(ofShards shardIndices: [Int]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for index in shardIndices {
            let range = slotRange(ofShard: index)
            if let last = ranges.last, last.upperBound == range.lowerBound {
                ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
            } else {
                ranges.append(range)
            }
        }
        return ranges
    }

    /// The leader of the first shard `node` replicates that has one.
    private func replicatedLeader(of node: Node) -> Node? {
        shards.first { shard in
            shard.leader != nil && shard.replicas.contains { $0.node.name == node.name }
        }?.leader?.node
    }

    /// A node's config epoch as CLUSTER NODES shows it: the highest epoch it was elected in,
    /// 0 if it leads nothing.
    private func configEpoch(of node: Node) -> UInt64 {
        shards.reduce(0) { highest, shard in
            guard let leader = shard.leader, leader.node.name == node.name else { return highest }
            return max(highest, leader.epoch)
        }
    }

    private func isFailedEverywhere(_ node: Node) -> Bool {
        var appears = false
        for shard in shards {
            for replica in shard.replicas where replica.node.name == node.name {
                if replica.health != .failed { return false }
                appears = true
            }
        }
        return appears
    }

    /// This node's config epoch as CLUSTER INFO's `cluster_my_epoch` shows it: its own if it leads
    /// shards, else that of the leader CLUSTER NODES names as its master (Redis shows a replica
    /// its master's), else 0.
    var myConfigEpoch: UInt64 {
        if shards.contains(where: { $0.leader?.node.name == myName }) { return configEpoch(of: me) }
        return replicatedLeader(of: me).map(configEpoch(of:)) ?? 0
    }

    // MARK: - CLUSTER INFO

    /// CLUSTER INFO: a verbatim string (`txt`) in RESP3, a bulk string in RESP2, as Redis sends
    /// it.
    func writeInfo(into out: inout RESPWriter, messagesSent: Int64 = 0, messagesReceived: Int64 = 0) {
        out.verbatim(infoText(messagesSent: messagesSent, messagesReceived: messagesReceived), format: "txt")
    }

    /// CLUSTER INFO's text, Redis 8's fields in Redis 8's order (`genClusterInfoString`), each line
    /// ending in CRLF:
    /// - `cluster_state`: `ok` when every shard has a leader, else `fail` (Redis: fail when a slot
    ///   is unbound, with the default `cluster-require-full-coverage yes`). Routing still serves
    ///   the shards that have leaders, as Redis does with full coverage off.
    /// - `cluster_slots_assigned`, `cluster_slots_ok`: slots of shards with a leader; no leader is
    ///   ever flagged failing, so `cluster_slots_pfail` and `cluster_slots_fail` are 0.
    /// - `cluster_known_nodes`: members; `cluster_size`: distinct leaders (Redis: masters serving
    ///   at least one slot).
    /// - `cluster_current_epoch`: the highest leader epoch; `cluster_my_epoch`: `myConfigEpoch`.
    /// - the message totals (Redis adds a per-type line only for types with a non-zero count;
    ///   Spool has no cluster bus, so it prints the totals the caller passes);
    /// - `total_cluster_links_buffer_limit_exceeded` and Redis 8.4's atomic slot migration
    ///   counters, all 0: Spool migrates no slots.
    func infoText(messagesSent: Int64 = 0, messagesReceived: Int64 = 0) -> String {
        var slotsAssigned = 0
        var leaders = Set<String>()
        for (index, shard) in shards.enumerated() {
            guard let leader = shard.leader else { continue }
            slotsAssigned += slotRange(ofShard: index).count
            leaders.insert(leader.node.name)
        }
        let lines = [
            "cluster_state:\(slotsAssigned == HashSlot.count ? "ok" : "fail")",
            "cluster_slots_assigned:\(slotsAssigned)",
            "cluster_slots_ok:\(slotsAssigned)",
            "cluster_slots_pfail:0",
            "cluster_slots_fail:0",
            "cluster_known_nodes:\(nodes.count)",
            "cluster_size:\(leaders.count)",
            "cluster_current_epoch:\(currentEpoch)",
            "cluster_my_epoch:\(myConfigEpoch)",
            "cluster_stats_messages_sent:\(messagesSent)",
            "cluster_stats_messages_received:\(messagesReceived)",
            "total_cluster_links_buffer_limit_exceeded:0",
            "cluster_slot_migration_active_tasks:0",
            "cluster_slot_migration_active_trim_running:0",
            "cluster_slot_migration_active_trim_current_job_keys:0",
            "cluster_slot_migration_active_trim_current_job_trimmed:0",
            "cluster_slot_migration_stats_active_trim_started:0",
            "cluster_slot_migration_stats_active_trim_completed:0",
            "cluster_slot_migration_stats_active_trim_cancelled:0",
        ]
        return lines.map { $0 + "\r\n" }.joined()
    }

    // MARK: - CLUSTER MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, HELP

    /// CLUSTER MYID: this node's id as a bulk string.
    func writeMyID(into out: inout RESPWriter) {
        out.bulk(myID)
    }

    /// CLUSTER KEYSLOT key: the slot as an integer.
    static func writeKeySlot(ofKey key: some Collection<UInt8>, into out: inout RESPWriter) {
        out.integer(Int64(HashSlot.slot(forKey: key)))
    }

    /// CLUSTER COUNTKEYSINSLOT slot: the count the caller found, as an integer. Every member holds
    /// every shard, so every node counts its own keys (Redis answers 0 on a node that does not
    /// serve the slot).
    static func writeKeyCount(_ count: Int, into out: inout RESPWriter) {
        precondition(count >= 0, "a key count is not negative")
        out.integer(Int64(count))
    }

    /// CLUSTER GETKEYSINSLOT slot count: the keys the caller found — at most `count`, all in the
    /// slot — as an array of bulk strings.
    static func writeKeys(_ keys: some Collection<some Collection<UInt8>>, into out: inout RESPWriter) {
        out.arrayHeader(keys.count)
        for key in keys {
            let written: Void? = key.withContiguousStorageIfAvailable { out.bulk(UnsafeRawBufferPointer($0)) }
            if written == nil { out.bulk(Array(key)) }
        }
    }

    /// CLUSTER HELP: Redis 8's layout (`addExtendedReplyHelp`): a title, then Redis's own lines
    /// for the subcommands Spool answers, in Redis's order, then HELP, each a simple string.
    static func writeHelp(into out: inout RESPWriter) {
        out.arrayHeader(helpLines.count + 3)
        out.simpleString("CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        for line in helpLines { out.simpleString(line) }
        out.simpleString("HELP")
        out.simpleString("    Print this help.")
    }

    /// Redis 8's help text (`clusterCommandHelp`) for the subcommands `ClusterSubcommand` decodes; MEET and
    /// FORGET say what they do in Spool.
    static let helpLines = [
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "FORGET <node-id>",
        "    Remove a member (its id or name) from the cluster, one member at a time.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "MEET <ip> <port> [<bus-port>]",
        "    Add the node registered at <ip>:<port> to the cluster's members, one member at a time.",
        "MYID",
        "    Return the node id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
    ]
}
