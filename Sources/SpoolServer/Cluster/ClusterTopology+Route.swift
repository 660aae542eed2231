extension ClusterTopology {
    /// Where a command with these keys runs: here, MOVED to the shard's leader, or refused.
    ///
    /// The rules are Redis's `getNodeByQuery` for stable slots (Spool does not migrate slots, so
    /// there is no ASK or TRYAGAIN):
    /// - no keys: run here;
    /// - the first key's slot decides the shard; a later key in another slot is CROSSSLOT;
    /// - this node leads the shard: run here;
    /// - otherwise MOVED to the leader — for reads too, unless the connection sent READONLY, so
    ///   that redis-py's RedisCluster and redis-cli -c see exactly what Redis would show them;
    /// - a read on a READONLY connection runs here when this node is an online replica of the
    ///   shard. Redis allows this on the master's replicas; every Spool member replicates every
    ///   shard, and a replica only applies committed entries, so such reads see committed data
    ///   (possibly a little behind the leader, as on a Redis replica). This holds even while the
    ///   shard has no leader: committed data stays committed, and reads need no leader.
    /// - the shard has no leader and this node may not serve: CLUSTERDOWN, decided at the first
    ///   key as Redis decides it (before the other keys are hashed).
    ///
    /// - Parameters:
    ///   - keys: the command's keys, in order (any byte collections: arrays, request views).
    ///   - isWrite: the command changes data (Redis's `write` flag; a transaction that contains
    ///     a write counts as a write).
    ///   - connectionIsReadOnly: the connection sent READONLY and not READWRITE since.
    func route(
        keys: some Sequence<some Collection<UInt8>>, isWrite: Bool, connectionIsReadOnly: Bool
    ) -> ClusterRoute {
        var iterator = keys.makeIterator()
        guard let firstKey = iterator.next() else { return .noKeys }
        let slot = HashSlot.slot(forKey: firstKey)
        let shardIndex = shard(ofSlot: slot)
        let runsHere: Bool
        switch localRole(inShard: shardIndex) {
        case .leader: runsHere = true
        case .servingReplica: runsHere = !isWrite && connectionIsReadOnly
        case .notServing: runsHere = false
        }
        let leader = shards[shardIndex].leader
        if leader == nil && !runsHere { return .clusterDown }
        while let key = iterator.next() {
            if HashSlot.slot(forKey: key) != slot { return .crossSlot }
        }
        if runsHere { return .local(shard: shardIndex, slot: slot) }
        guard let leader else { preconditionFailure("a shard without a leader was answered above") }
        return .moved(slot: slot, address: leader.node.clientAddress)
    }
}
