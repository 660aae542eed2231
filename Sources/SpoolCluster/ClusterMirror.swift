/// The cluster's nodes and shard leaders as last read from etcd: loaded by a range, then kept
/// up to date from watch events and from the answers to this node's own transactions. No I/O.
///
/// Updates reach it by two paths (the watch, and a campaign's or resign's own answer, applied at
/// once so the node does not wait for the watch to learn it won), so they can arrive out of
/// order. Each key remembers the revision its current state was observed at, and an update
/// applies only if it is newer: a key's state never goes back in time.
struct ClusterMirror: Sendable {
    let keyspace: ClusterKeyspace
    let shardCount: Int

    private(set) var nodes: [String: ClusterView.Node] = [:]
    private(set) var leaders: [Int: ClusterView.Leader] = [:]
    /// The highest revision loaded or applied.
    private(set) var revision: Int64 = 0
    /// Node ids seen registered since the mirror was created; with `nodes`, tells a node that
    /// left (its lease ended) from one that has not registered yet.
    private(set) var nodesSeen: Set<String> = []
    /// The configuration and the mod revision of its key (a change compares it), the change under
    /// way and its key's mod revision, and the leaders' answers.
    private(set) var members: MemberConfig?
    private(set) var membersRevision: Int64 = 0
    private(set) var proposal: MemberProposal?
    private(set) var proposalRevision: Int64 = 0
    private(set) var approvals: [Int: MemberApproval] = [:]

    /// The revision each key's state (present or deleted) was observed at.
    private var keyRevisions: [String: Int64] = [:]
    /// The revision of the last load: the state of every key not in `keyRevisions`.
    private var loadedRevision: Int64 = 0

    init(keyspace: ClusterKeyspace, shardCount: Int) {
        precondition(shardCount > 0)
        self.keyspace = keyspace
        self.shardCount = shardCount
    }

    /// Replaces everything with a range of the cluster prefix.
    mutating func load(_ range: EtcdRangeResult) {
        nodes = [:]
        leaders = [:]
        members = nil
        membersRevision = 0
        proposal = nil
        proposalRevision = 0
        approvals = [:]
        keyRevisions = [:]
        loadedRevision = range.revision
        revision = max(revision, range.revision)
        for keyValue in range.keyValues { store(keyValue) }
    }

    /// Applies one watch event. Returns whether anything changed.
    @discardableResult
    mutating func apply(_ event: WatchEvent) -> Bool {
        switch event.kind {
        case .put: put(event.keyValue, observedAt: event.keyValue.modRevision)
        case .delete: delete(event.keyValue.key, observedAt: event.keyValue.modRevision)
        }
    }

    /// `keyValue` is the key's state at `revision` (a txn's header revision). Returns whether
    /// anything changed.
    @discardableResult
    mutating func put(_ keyValue: EtcdKeyValue, observedAt revision: Int64) -> Bool {
        guard revision > lastRevision(of: keyValue.key) else { return false }
        keyRevisions[keyValue.key] = revision
        self.revision = max(self.revision, revision)
        return store(keyValue)
    }

    /// `key` was absent at `revision`. Returns whether anything changed.
    @discardableResult
    mutating func delete(_ key: String, observedAt revision: Int64) -> Bool {
        guard revision > lastRevision(of: key) else { return false }
        keyRevisions[key] = revision
        self.revision = max(self.revision, revision)
        switch keyspace.classify(key) {
        case .node(let nodeID): return nodes.removeValue(forKey: nodeID) != nil
        case .leader(let shard): return leaders.removeValue(forKey: shard) != nil
        case .members:
            // (Never deleted by Spool; a configuration deleted by hand leaves the last one known.)
            return false
        case .proposal:
            proposalRevision = 0
            defer { proposal = nil }
            return proposal != nil
        case .approval(let shard): return approvals.removeValue(forKey: shard) != nil
        case .other: return false
        }
    }

    private func lastRevision(of key: String) -> Int64 {
        keyRevisions[key] ?? loadedRevision
    }

    @discardableResult
    private mutating func store(_ keyValue: EtcdKeyValue) -> Bool {
        switch keyspace.classify(keyValue.key) {
        case .node(let nodeID):
            let record = ClusterKeyspace.decode(NodeRecord.self, from: keyValue.value)
            let node = ClusterView.Node(
                address: record?.addr ?? "", busAddress: record?.bus ?? "", version: record?.version ?? "", index: record?.index,
                tlsAddress: record?.tls)
            nodesSeen.insert(nodeID)
            if nodes[nodeID] == node { return false }
            nodes[nodeID] = node
            return true
        case .leader(let shard):
            guard shard < shardCount else { return false }
            let record = ClusterKeyspace.decode(LeaderRecord.self, from: keyValue.value)
            // create_revision is positive for an existing key; a negative one would be etcd's bug.
            let leader = ClusterView.Leader(
                nodeID: record?.node ?? "", address: record?.addr ?? "", busAddress: record?.bus ?? "",
                epoch: UInt64(clamping: keyValue.createRevision), leaseID: keyValue.lease, configVersion: record?.config,
                members: record?.members)
            if leaders[shard] == leader { return false }
            leaders[shard] = leader
            return true
        case .members:
            guard let config = ClusterKeyspace.decode(MemberConfig.self, from: keyValue.value), config.isWellFormed else { return false }
            membersRevision = keyValue.modRevision
            if members == config { return false }
            members = config
            return true
        case .proposal:
            proposalRevision = keyValue.modRevision
            let decoded = ClusterKeyspace.decode(MemberProposal.self, from: keyValue.value)
            if proposal == decoded { return false }
            proposal = decoded
            return true
        case .approval(let shard):
            let decoded = ClusterKeyspace.decode(MemberApproval.self, from: keyValue.value)
            if approvals[shard] == decoded { return false }
            approvals[shard] = decoded
            return true
        case .other:
            return false
        }
    }
}
