/// How a node joins its cluster's control plane. One per node; the member list and shard count
/// must agree across the cluster.
public struct ClusterConfiguration: Sendable {
    /// etcd client URLs, e.g. `http://127.0.0.1:2379`.
    public var endpoints: [String]
    /// The `<cluster>` in `/spool/v1/<cluster>/…`; no `/`.
    public var clusterName: String
    /// This node's id, its key under `nodes/`; no `/`.
    public var nodeID: String
    /// host:port clients use (published in the node and leader keys for -MOVED redirects).
    public var clientAddress: String
    /// host:port of this node's TLS port for clients (tls-port), nil without one.
    public var tlsAddress: String?
    /// host:port of the replication bus.
    public var busAddress: String
    /// The software version, published in the node key.
    public var version: String
    /// The node lease's TTL. etcd raises it to its minimum (1 s with a 500 ms election timeout).
    /// A dead leader's shards are taken over about this long after it died.
    public var leaseTTLSeconds: Int64
    /// Number of shards (S in REPLICATION.md 5.1).
    public var shardCount: Int
    /// The seed member list, in the same order on every node: the cluster's first configuration
    /// when etcd holds none yet (then etcd's `members` key is the list, changed one member at a
    /// time). A member's position in it decides the shards it campaigns for first (see
    /// `CampaignPolicy`).
    public var memberNodeIDs: [String]
    /// Addresses of the seed members (client, bus), in the same order; empty: unknown.
    public var memberAddresses: [(addr: String, bus: String)]
    /// This node's bus index: its position in its own seed list (a node being added lists
    /// itself after every member). nil: its position in `memberNodeIDs`.
    public var nodeIndex: Int?
    /// A random delay of up to this long before each round of campaigns, so that nodes that see
    /// a shard become leaderless at the same moment do not all send their campaign at once.
    public var campaignJitter: Duration
    /// How long a shard stays leaderless before a node that does not prefer it campaigns for it
    /// (while its preferred member is registered or has never registered). nil: 2 × the TTL.
    public var nonPreferredCampaignDelay: Duration?
    /// The lease counts as lost once keepalive has not succeeded for TTL minus this margin,
    /// measured from when the last successful keepalive was sent. The margin covers the time
    /// the node needs to stop acting as leader before etcd may hand the shard to another node.
    public var leaseMargin: Duration
    /// Deadline of each etcd call.
    public var requestTimeout: Duration
    /// Limit on the writes one `bumpAndRecampaign` makes to raise the revision above a floor.
    public var bumpWritesMax: Int

    public init(
        endpoints: [String], clusterName: String, nodeID: String, clientAddress: String, busAddress: String,
        version: String = "", leaseTTLSeconds: Int64 = 2, shardCount: Int, memberNodeIDs: [String],
        memberAddresses: [(addr: String, bus: String)] = [], nodeIndex: Int? = nil,
        campaignJitter: Duration = .milliseconds(50), nonPreferredCampaignDelay: Duration? = nil,
        leaseMargin: Duration = .milliseconds(500), requestTimeout: Duration = .seconds(1),
        bumpWritesMax: Int = 100_000
    ) {
        self.endpoints = endpoints
        self.clusterName = clusterName
        self.nodeID = nodeID
        self.clientAddress = clientAddress
        self.busAddress = busAddress
        self.version = version
        self.leaseTTLSeconds = leaseTTLSeconds
        self.shardCount = shardCount
        self.memberNodeIDs = memberNodeIDs
        self.memberAddresses = memberAddresses
        self.nodeIndex = nodeIndex
        self.campaignJitter = campaignJitter
        self.nonPreferredCampaignDelay = nonPreferredCampaignDelay
        self.leaseMargin = leaseMargin
        self.requestTimeout = requestTimeout
        self.bumpWritesMax = bumpWritesMax
    }

    /// A configuration the coordinator cannot run with; `reason` says which setting and why.
    public struct Invalid: Error, CustomStringConvertible, Sendable, Equatable {
        public var reason: String
        public var description: String { "invalid cluster configuration: \(reason)" }
    }

    public func validate() throws(Invalid) {
        func check(_ condition: Bool, _ reason: @autoclosure () -> String) throws(Invalid) {
            if !condition { throw Invalid(reason: reason()) }
        }
        try check(!endpoints.isEmpty, "no etcd endpoints")
        try check(!clusterName.isEmpty && !clusterName.contains("/"), "cluster name '\(clusterName)' is empty or has a '/'")
        try check(!nodeID.isEmpty && !nodeID.contains("/"), "node id '\(nodeID)' is empty or has a '/'")
        try check(leaseTTLSeconds >= 1, "lease TTL \(leaseTTLSeconds) s is below 1 s")
        try check(
            leaseMargin >= .zero && leaseMargin < .seconds(leaseTTLSeconds),
            "lease margin \(leaseMargin) is not within the TTL of \(leaseTTLSeconds) s")
        try check(shardCount >= 1, "shard count \(shardCount) is below 1")
        try check(!memberNodeIDs.isEmpty, "no member node ids")
        try check(Set(memberNodeIDs).count == memberNodeIDs.count, "member node ids \(memberNodeIDs) repeat")
        try check(memberNodeIDs.count <= MemberConfig.indexLimit, "more than \(MemberConfig.indexLimit) members")
        try check(memberAddresses.isEmpty || memberAddresses.count == memberNodeIDs.count, "member addresses do not match the member ids")
        try check(
            (0..<MemberConfig.indexLimit).contains(effectiveNodeIndex), "node index \(effectiveNodeIndex) is not below \(MemberConfig.indexLimit)")
        try check(campaignJitter >= .zero, "negative campaign jitter")
        try check((nonPreferredCampaignDelay ?? .zero) >= .zero, "negative non-preferred campaign delay")
        try check(requestTimeout > .zero, "request timeout is not positive")
        try check(bumpWritesMax >= 1, "bumpWritesMax is below 1")
    }

    /// This node's bus index.
    public var effectiveNodeIndex: Int {
        nodeIndex ?? memberNodeIDs.firstIndex(of: nodeID) ?? memberNodeIDs.count
    }

    /// The configuration a cluster starts with: the seed list, indices by position.
    public var seedConfig: MemberConfig {
        MemberConfig(
            version: 1,
            members: memberNodeIDs.enumerated().map { index, name in
                let address = index < memberAddresses.count ? memberAddresses[index] : (addr: "", bus: "")
                return MemberConfig.Member(name: name, index: index, addr: address.addr, bus: address.bus)
            })
    }

    var effectiveNonPreferredDelay: Duration {
        nonPreferredCampaignDelay ?? .seconds(leaseTTLSeconds * 2)
    }
}
