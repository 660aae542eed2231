extension ClusterTopology {
    /// One member of the cluster. Every member holds every shard: it leads some (or none) and
    /// replicates the others.
    struct Node: Sendable, Equatable {
        /// The configured name, unique in the cluster ("spool-1"). The id is derived from it.
        let name: String
        /// 40 lower-case hexadecimal digits, as Redis's node ids (`CLUSTER_NAMELEN`): the SHA-1 of
        /// the name's UTF-8 bytes (`id(forName:)`). Derived, not random as in Redis, so that every
        /// member computes every other member's id from the shared member list, and a node keeps
        /// its id across restarts without a nodes.conf.
        let id: String
        /// The address clients connect to, an IP address or a DNS name. Spool announces one
        /// address per node, so it is both what Redis calls the node's `ip` and its preferred
        /// endpoint: CLUSTER SLOTS and MOVED name it, and redis-py connects to it.
        let host: String
        /// The RESP port clients connect to.
        let clientPort: Int
        /// The node-to-node port CLUSTER NODES shows after `@`. Clients parse it but never connect
        /// to it; it defaults to Redis's convention, client port + 10000.
        let busPort: Int
        /// An announced DNS name (Redis's `cluster-announce-hostname`), shown beside the address
        /// where Redis shows it; nil when there is none.
        let hostname: String?

        init(name: String, host: String, clientPort: Int, busPort: Int? = nil, hostname: String? = nil) {
            precondition(!name.isEmpty, "a cluster node has a name")
            precondition(Self.isSingleWord(host) && !host.isEmpty, "a node's host is one word: \(host)")
            precondition((0...65535).contains(clientPort), "a client port fits in 16 bits: \(clientPort)")
            let bus = busPort ?? (clientPort + 10000 <= 65535 ? clientPort + 10000 : 0)
            precondition((0...65535).contains(bus), "a bus port fits in 16 bits: \(bus)")
            if let hostname {
                precondition(Self.isSingleWord(hostname) && !hostname.contains(","), "a hostname is one word: \(hostname)")
            }
            self.name = name
            self.id = Self.id(forName: name)
            self.host = host
            self.clientPort = clientPort
            self.busPort = bus
            self.hostname = hostname?.isEmpty == true ? nil : hostname
        }

        /// A node from `host:port` addresses, the form the coordinator's view carries them in
        /// (an IPv6 host may be bracketed: `[::1]:6379`). Nil if an address has no port, a port
        /// outside 0...65535, or a host with a space or line break.
        init?(name: String, clientAddress: String, busAddress: String? = nil, hostname: String? = nil) {
            guard let client = Self.hostAndPort(clientAddress) else { return nil }
            var busPort: Int?
            if let busAddress {
                guard let bus = Self.hostAndPort(busAddress) else { return nil }
                busPort = bus.port
            }
            self.init(name: name, host: client.host, clientPort: client.port, busPort: busPort, hostname: hostname)
        }

        /// `host:port`, as MOVED and CLUSTER NODES write it (an IPv6 address is not bracketed;
        /// Redis does not bracket it either).
        var clientAddress: String { "\(host):\(clientPort)" }

        /// Splits `host:port` at the last colon, so an unbracketed IPv6 address keeps its colons.
        static func hostAndPort(_ address: String) -> (host: String, port: Int)? {
            guard let colon = address.lastIndex(of: ":"),
                let port = Int(address[address.index(after: colon)...]), (0...65535).contains(port)
            else { return nil }
            var host = address[..<colon]
            if host.hasPrefix("["), host.hasSuffix("]"), host.count >= 2 {
                host = host.dropFirst().dropLast()
            }
            guard !host.isEmpty, isSingleWord(String(host)) else { return nil }
            return (String(host), port)
        }

        /// The node id for a configured name: the hexadecimal SHA-1 of its UTF-8 bytes.
        static func id(forName name: String) -> String {
            SHA1.hexDigest(of: Array(name.utf8))
        }

        /// CLUSTER NODES separates fields with spaces and lines with LF, so an address with either
        /// would corrupt every client's parse of the whole reply.
        private static func isSingleWord(_ text: String) -> Bool {
            !text.utf8.contains { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") }
        }
    }

    /// The elected leader of a shard: the only member that accepts its writes.
    struct Leader: Sendable, Equatable {
        var node: Node
        /// The epoch it was elected in. Shown where Redis shows a master's config epoch.
        var epoch: UInt64
        /// The leader's log position, shown as CLUSTER SHARDS' `replication-offset`.
        var replicationOffset: Int64

        init(node: Node, epoch: UInt64, replicationOffset: Int64 = 0) {
            self.node = node
            self.epoch = epoch
            self.replicationOffset = replicationOffset
        }
    }

    /// A member replicating a shard it does not lead.
    struct Replica: Sendable, Equatable {
        var node: Node
        /// Whether the member is known alive and caught up. Only `online` replicas are listed in
        /// CLUSTER SLOTS and serve READONLY reads, as Redis lists only replicas that are neither
        /// failing nor still in their first sync.
        var health: Health
        /// The replica's log position, shown as CLUSTER SHARDS' `replication-offset`.
        var replicationOffset: Int64

        init(node: Node, health: Health, replicationOffset: Int64 = 0) {
            self.node = node
            self.health = health
            self.replicationOffset = replicationOffset
        }
    }

    /// CLUSTER SHARDS' `health` of a node.
    enum Health: Sendable, Equatable {
        /// Alive and caught up: may serve reads.
        case online
        /// Known unreachable.
        case failed
        /// Alive but still catching up (Redis: a replica whose offset is still 0).
        case loading

        /// The word Redis writes. Redis's documentation says `failed`, but its code
        /// (`addNodeDetailsToShardReply`) writes `fail`, and clients see the code.
        var wireName: String {
            switch self {
            case .online: "online"
            case .failed: "fail"
            case .loading: "loading"
            }
        }
    }

    /// One shard: a contiguous range of slots (`ClusterTopology.slotRange(ofShard:)`), its leader
    /// if one is elected, and the other members.
    struct Shard: Sendable, Equatable {
        /// nil while no leader is elected: writes to the shard's slots get CLUSTERDOWN and
        /// CLUSTER SLOTS leaves its slots out, as Redis does for slots no node serves.
        var leader: Leader?
        /// The members other than the leader, in the order replies list them.
        var replicas: [Replica]

        init(leader: Leader?, replicas: [Replica]) {
            self.leader = leader
            self.replicas = replicas
        }
    }
}


extension ClusterTopology {
    /// The same topology as a TLS client must see it: every node that registered a TLS address
    /// (`tls-port`) shown at that address, in CLUSTER SLOTS, SHARDS and NODES and in MOVED, as
    /// Redis shows TLS ports to TLS clients. Nodes without one keep their plain address.
    func withClientAddresses(_ addresses: [String: String]) -> ClusterTopology {
        func moved(_ node: Node) -> Node {
            guard let address = addresses[node.name], let target = Node.hostAndPort(address) else { return node }
            return Node(name: node.name, host: target.host, clientPort: target.port, busPort: node.busPort, hostname: node.hostname)
        }
        guard !addresses.isEmpty else { return self }
        let shards = shards.map { shard in
            Shard(
                leader: shard.leader.map { Leader(node: moved($0.node), epoch: $0.epoch, replicationOffset: $0.replicationOffset) },
                replicas: shard.replicas.map { Replica(node: moved($0.node), health: $0.health, replicationOffset: $0.replicationOffset) })
        }
        return ClusterTopology(myName: myName, nodes: nodes.map(moved), shards: shards)
    }
}
