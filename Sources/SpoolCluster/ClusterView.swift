/// What one node knows about its cluster: the registered nodes, each shard's leader and epoch,
/// and the health of its own etcd session. A value: the coordinator hands a new one to
/// `onChange` whenever any part of it changes.
public struct ClusterView: Sendable, Equatable {
    public struct Node: Sendable, Equatable {
        /// host:port for clients (RESP).
        public var address: String
        /// host:port for the replication bus.
        public var busAddress: String
        public var version: String
        /// The bus index it uses (nil: not announced).
        public var index: Int?
        /// host:port of its TLS port for clients (nil: it has none).
        public var tlsAddress: String?

        public init(address: String, busAddress: String, version: String, index: Int? = nil, tlsAddress: String? = nil) {
            self.address = address
            self.busAddress = busAddress
            self.version = version
            self.index = index
            self.tlsAddress = tlsAddress
        }
    }

    public struct Leader: Sendable, Equatable {
        /// Empty when the key's value could not be decoded: the shard has a leader, but not one
        /// this version understands.
        public var nodeID: String
        public var address: String
        public var busAddress: String
        /// The leader key's create_revision, which is the revision of the campaign that won it.
        /// Higher for every later leader of any shard of the cluster.
        public var epoch: UInt64
        /// The lease the key lives under (the leader's node lease).
        public var leaseID: Int64
        /// The configuration it was elected under: its version and member indices (nil: unknown).
        public var configVersion: Int?
        public var members: [Int]?

        public init(
            nodeID: String, address: String, busAddress: String, epoch: UInt64, leaseID: Int64, configVersion: Int? = nil,
            members: [Int]? = nil
        ) {
            self.nodeID = nodeID
            self.address = address
            self.busAddress = busAddress
            self.epoch = epoch
            self.leaseID = leaseID
            self.configVersion = configVersion
            self.members = members
        }
    }

    /// This node's id.
    public var nodeID: String
    /// Registered nodes by id (those whose lease is alive, as of `revision`).
    public var nodes: [String: Node]
    /// Leaders by shard; a shard without an entry has no leader.
    public var leaders: [Int: Leader]
    /// This node's current lease, 0 while it has none.
    public var leaseID: Int64
    /// False once keepalive has not succeeded within TTL − margin (monotonic clock). The node
    /// must then stop acting as the leader of any shard: etcd may already have deleted its keys.
    public var leaseValid: Bool
    /// Whether the last call to etcd got an answer. While false, the view is the last one known
    /// and no campaign is started.
    public var etcdReachable: Bool
    /// The etcd revision the view reflects (at least).
    public var revision: Int64
    /// The cluster's configuration (nil until read, or while etcd holds none this version can use).
    public var members: MemberConfig?
    /// A membership change under way, and the shard leaders' answers to it, by shard.
    public var proposal: MemberProposal?
    public var approvals: [Int: MemberApproval]

    public init(
        nodeID: String, nodes: [String: Node] = [:], leaders: [Int: Leader] = [:], leaseID: Int64 = 0,
        leaseValid: Bool = false, etcdReachable: Bool = false, revision: Int64 = 0, members: MemberConfig? = nil,
        proposal: MemberProposal? = nil, approvals: [Int: MemberApproval] = [:]
    ) {
        self.members = members
        self.proposal = proposal
        self.approvals = approvals
        self.nodeID = nodeID
        self.nodes = nodes
        self.leaders = leaders
        self.leaseID = leaseID
        self.leaseValid = leaseValid
        self.etcdReachable = etcdReachable
        self.revision = revision
    }

    /// The shards this node may lead now, with their epochs: the leader keys that name it and
    /// live under its current, valid lease. A key left over from an earlier lease does not count
    /// (that lease is being revoked or expiring; its keys die with it).
    public var leadership: [Int: UInt64] {
        guard leaseValid, leaseID != 0 else { return [:] }
        var shards: [Int: UInt64] = [:]
        for (shard, leader) in leaders where leader.nodeID == nodeID && leader.leaseID == leaseID {
            shards[shard] = leader.epoch
        }
        return shards
    }

    /// The shards whose leader key names `nodeID`, whatever the lease.
    public func shards(ledBy nodeID: String) -> [Int] {
        leaders.filter { $0.value.nodeID == nodeID }.keys.sorted()
    }
}
