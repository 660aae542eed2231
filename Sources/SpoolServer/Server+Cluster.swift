import SpoolCluster
import SpoolCore
import SpoolProtocol
import SpoolReplication
import SpoolStorage
import SpoolTLS
import Synchronization

/// What the cluster side of a node shares between threads: the bus to its peers, the etcd
/// coordinator, and the way back into the storage engine and the loop. The storage engine's
/// deliveries pass through `deliver` (flush and storage threads), frames from peers through
/// `received` (the bus thread), new views through `viewChanged` (the coordinator's tasks).
final class ClusterLink: Sendable {
    let settings: ClusterReplicator.Settings
    let transport: PeerTransport
    let coordinator: ClusterCoordinator
    let wakeup: LoopWakeup
    private let engine = EngineSlot()
    /// When each peer was last heard (any frame, pings included; monotonic nanoseconds).
    private let heard: PeerLiveness
    /// The shards this node led in the last view that came from a reachable etcd.
    private let ledWhileReachable = Mutex<[Int: UInt64]>([:])  // Guarded by itself.
    /// The shards whose log has a gap here, or this node is a learner of: no campaigns for them.
    /// Every shard until the storage thread first says (it may not know yet what it lost).
    private let catchingUp: Mutex<Set<Int>>  // Guarded by itself.

    /// The storage engine, set once it exists (it is created after the link, which its deliveries
    /// go through).
    final class PeerLiveness: Sendable {
        private let lastHeard = Mutex<[Int: UInt64]>([:])  // Guarded by itself.
        func note(_ node: Int) {
            let now = monotonicNanoseconds()
            lastHeard.withLock { $0[node] = now }
        }
        func heard(node: Int, within nanoseconds: UInt64) -> Bool {
            let now = monotonicNanoseconds()
            return lastHeard.withLock { $0[node].map { now &- $0 <= nanoseconds } ?? false }
        }
    }

    final class EngineSlot: Sendable {
        private let engine = Mutex<StorageEngine<Executor>?>(nil)  // Guarded by itself.
        func set(_ value: StorageEngine<Executor>) { engine.withLock { $0 = value } }
        var current: StorageEngine<Executor>? { engine.withLock { $0 } }
    }

    /// The cluster's configuration as this node last heard it, for the bus threads (hellos) and
    /// the coordinator's (campaign checks). Version 0: the seed list, until etcd's is read.
    final class Membership: Sendable {
        private let config: Mutex<MemberConfig>  // Guarded by itself.
        init(_ initial: MemberConfig) { config = Mutex(initial) }
        var current: MemberConfig { config.withLock { $0 } }
        /// Installs `next` if it is newer; returns the one it replaced, nil if it did not.
        func replace(with next: MemberConfig) -> MemberConfig? {
            config.withLock { current in
                guard next.version > current.version, next != current else { return nil }
                defer { current = next }
                return current
            }
        }
    }

    let membership: Membership

    init(config: ServerConfig, members: [ClusterMember], myIndex: Int, wakeup: LoopWakeup) throws {
        let cluster = config.clusterName
        let me = members[myIndex]
        var configuration = ClusterConfiguration(
            endpoints: config.clusterEtcdEndpoints.split(separator: ",").map { String($0) }, clusterName: cluster,
            nodeID: me.name, clientAddress: "\(me.host):\(me.port)", busAddress: "\(me.host):\(me.busPort)", version: spoolVersion,
            leaseTTLSeconds: Int64(config.clusterLeaseTTL), shardCount: config.clusterShards, memberNodeIDs: members.map(\.name),
            memberAddresses: members.map { ("\($0.host):\($0.port)", "\($0.host):\($0.busPort)") }, nodeIndex: myIndex)
        // TLS clients are sent to the TLS ports of the nodes that registered one.
        if config.tlsPort > 0 { configuration.tlsAddress = "\(me.host):\(config.tlsPort)" }
        // The seed list as version 0: what this node goes by until it reads etcd's configuration.
        var seed = configuration.seedConfig
        seed.version = 0
        settings = ClusterReplicator.Settings(
            cluster: cluster, myIndex: myIndex, seedMembers: seed, shardCount: config.clusterShards,
            quorumTimeoutNanoseconds: UInt64(config.clusterQuorumTimeout) * 1_000_000, gapThreshold: UInt64(config.clusterGapThreshold),
            backfillBytesPerSecond: UInt64(config.clusterBackfillRate) * 1_000_000)
        self.wakeup = wakeup
        catchingUp = Mutex(Set(0..<config.clusterShards))
        let membership = Membership(seed)
        self.membership = membership
        var hello: [UInt8] = []
        ReplicationWire.encodeHello(cluster: cluster, node: myIndex, into: &hello)
        let engineBox = engine
        let liveness = PeerLiveness()
        heard = liveness
        var busTLS: PeerTransport.BusTLS?
        if config.tlsCluster {
            do {
                // Node to node, certificates are always checked both ways, whatever
                // tls-auth-clients says about clients.
                var settings = config.tlsSettings
                settings.authClients = "yes"
                var clientSettings = settings
                if !config.tlsClientCertFile.isEmpty {
                    clientSettings.certificateFile = config.tlsClientCertFile
                    clientSettings.keyFile = config.tlsClientKeyFile
                }
                busTLS = PeerTransport.BusTLS(
                    server: try TLSContext(settings, role: .server), client: try TLSContext(clientSettings, role: .client))
            } catch {
                throw ServerStartError("tls-cluster: \(error)")
            }
        }
        transport = PeerTransport(
            hello: hello, frameBytesMax: ReplicationWire.frameBytesMax, tls: busTLS,
            acceptHello: { frame in
                guard case .hello(let name, let node)? = try? frame.withUnsafeBytes({ try ReplicationWire.decode($0) }) else { return false }
                // Members only: a node not added yet, or removed, is not heard.
                return name == cluster && node != myIndex && membership.current.member(at: node) != nil
            },
            onFrames: { frames in ClusterLink.received(frames, engine: engineBox, liveness: liveness) })
        coordinator = try ClusterCoordinator(configuration: configuration)
        _ = try transport.listen(host: me.host, port: me.busPort)
        for (index, member) in members.enumerated() where index != myIndex {
            transport.setPeer(index, host: member.host, port: member.busPort)
        }
    }

    /// A configuration from etcd newer than the one in use: peers added and removed on the bus,
    /// and the storage thread told (before the leaders of the same view).
    private func membersChanged(_ next: MemberConfig) {
        guard let previous = membership.replace(with: next) else { return }
        logEvent("cluster: configuration \(next.version): members \(next.members.map { "\($0.name)#\($0.index)" }.joined(separator: ", "))")
        for member in next.members where member.index != settings.myIndex {
            guard let bus = ClusterTopology.Node.hostAndPort(member.bus) else { continue }
            transport.setPeer(member.index, host: bus.host, port: bus.port)
        }
        for member in previous.members where next.member(at: member.index) == nil { transport.removePeer(member.index) }
        submit([
            ({ executor throws(WiredTigerError) in
                try executor.cluster?.membersChanged(next)
                return .nothing
            }, { _ in .nothing }, 1)
        ])
    }

    func attach(_ engine: StorageEngine<Executor>) {
        self.engine.set(engine)
    }

    private func submit(_ jobs: [(job: StorageEngine<Executor>.Job, onFailure: StorageEngine<Executor>.Failure, commands: Int)]) {
        engine.current?.submit(contentsOf: jobs)
    }

    /// The engine's deliveries: cluster work is done here, replies go to the loop.
    func deliver(_ outcomes: [ServerOutcome]) {
        var forLoop: [ServerOutcome] = []
        forLoop.reserveCapacity(outcomes.count)
        var jobs: [(job: StorageEngine<Executor>.Job, onFailure: StorageEngine<Executor>.Failure, commands: Int)] = []
        for outcome in outcomes {
            guard outcome.kind == .cluster, let action = outcome.action else {
                forLoop.append(outcome)
                continue
            }
            switch action {
            case .send(let frames):
                var byPeer: [Int: [UInt8]] = [:]
                for frame in frames { byPeer[frame.peer, default: []].append(contentsOf: frame.bytes) }
                for (peer, bytes) in byPeer { transport.send(to: peer, bytes) }
            case .synced(let shard, let seq, let truncations):
                jobs.append(
                    ({ executor throws(WiredTigerError) in
                        try executor.cluster?.synced(shard: shard, seq: seq, truncations: truncations)
                        return .nothing
                    }, { _ in .nothing }, 1))
            case .reelect(let shard, let epoch):
                coordinator.resignAndRecampaign(shard: shard, epoch: epoch)
            case .resign(let shard, let epoch, let bump):
                if bump {
                    coordinator.bumpAndRecampaign(shard: shard, epoch: epoch, floor: epoch) { _ in }
                } else {
                    coordinator.resign(shard: shard, epoch: epoch) { _ in }
                }
            case .view:
                forLoop.append(outcome)
            case .catchingUp(let gaps, let behind):
                catchingUp.withLock { $0 = gaps.union(behind) }
                forLoop.append(outcome)
            case .approve(let shard, let epoch, let approval):
                coordinator.approve(shard: shard, epoch: epoch, approval)
            }
        }
        if !jobs.isEmpty { submit(jobs) }
        if !forLoop.isEmpty { wakeup.post(forLoop) }
    }

    /// Frames from peers, as one hand-over to the storage thread.
    private static func received(_ frames: [[UInt8]], engine: EngineSlot, liveness: PeerLiveness) {
        var jobs: [(job: StorageEngine<Executor>.Job, onFailure: StorageEngine<Executor>.Failure, commands: Int)] = []
        for frame in frames {
            let decoded = try? frame.withUnsafeBytes({ try ReplicationWire.decode($0) })
            if case .hello(_, let node)? = decoded { liveness.note(node) }
            guard case .message(let shard, let envelope)? = decoded else { continue }
            liveness.note(envelope.from)
            jobs.append(
                ({ executor throws(WiredTigerError) in
                    try executor.cluster?.receive(shard: shard, envelope)
                    return .nothing
                }, { _ in .nothing }, 1))
        }
        guard !jobs.isEmpty else { return }
        engine.current?.submit(contentsOf: jobs)
    }

    /// Records in etcd that this node holds data, and tells the storage thread whether the record
    /// was there already (a node with no state then lost it, and is a learner until it caught up).
    func registerHistory() {
        coordinator.registerHistory { [engine] existed in
            engine.current?.submit(
                { executor throws(WiredTigerError) in
                    try executor.cluster?.formerLifeKnown(existed)
                    return .nothing
                }, onFailure: { _ in .nothing })
        }
    }

    /// A new view from etcd: the storage thread learns the leaders, the loop the topology.
    func viewChanged(_ view: ClusterView) {
        if let next = view.members { membersChanged(next) }
        let config = membership.current
        var leaders: [Int: ClusterReplicator.Elected] = [:]
        // While etcd does not answer (or the lease lapsed for want of an answer) this node keeps
        // leading what it led: if etcd is down no one else can be elected, and if only this node
        // is cut off from it, the newer leader's epoch fences this one (its followers refuse it)
        // and a leader cut off from its followers steps down by itself. Safety never rests on the
        // lease; only failover waits for etcd. Otherwise it leads what its current lease holds.
        let healthy = view.etcdReachable && view.leaseValid
        let mine = healthy ? view.leadership : ledWhileReachable.withLock { $0 }
        if healthy { ledWhileReachable.withLock { $0 = mine } }
        for (shard, epoch) in mine where view.leaders[shard] == nil {
            leaders[shard] = ClusterReplicator.Elected(node: settings.myIndex, epoch: epoch)
        }
        for (shard, leader) in view.leaders {
            guard let index = config.member(named: leader.nodeID)?.index ?? (leader.nodeID == coordinator.configuration.nodeID ? settings.myIndex : nil)
            else { continue }
            // This node leads only under its current, valid lease (`leadership`): a key left from
            // a lease it lost dies with that lease.
            if index == settings.myIndex && mine[shard] != leader.epoch { continue }
            leaders[shard] = ClusterReplicator.Elected(node: index, epoch: leader.epoch, configVersion: leader.configVersion, members: leader.members)
        }
        let chosen = leaders
        let proposal = view.etcdReachable ? view.proposal : nil
        submit([
            ({ executor throws(WiredTigerError) in
                try executor.cluster?.leadersChanged(chosen, fromEtcd: healthy, revision: UInt64(max(0, view.revision)))
                executor.cluster?.proposalChanged(proposal)
                return .nothing
            }, { _ in .nothing }, 1)
        ])
        wakeup.post([.cluster(.view(view))])
    }

    /// Whether this node hears a majority of the members (itself included) now: it campaigns only
    /// then, so a node cut off from its peers but not from etcd does not win a shard it cannot
    /// serve, again and again (Raft's pre-vote, in effect).
    func hearsMajority() -> Bool {
        let others = membership.current.indices.filter { $0 != settings.myIndex }
        let heardCount = others.filter { heard.heard(node: $0, within: settings.quorumTimeoutNanoseconds) }.count
        return heardCount + 1 >= (others.count + 1) / 2 + 1
    }

    /// Whether this node may campaign for `shard`: it hears a majority, its log of the shard has
    /// no gap (REPLICATION.md 5.5: a node with a gap never leads) and it is no learner of it.
    func mayCampaign(_ shard: Int) -> Bool {
        hearsMajority() && !catchingUp.withLock { $0.contains(shard) }
    }

    /// Whether this node heard member `name` over the bus within the quorum timeout.
    func hears(_ name: String) -> Bool {
        guard let index = membership.current.member(named: name)?.index else { return false }
        return index == settings.myIndex || heard.heard(node: index, within: settings.quorumTimeoutNanoseconds)
    }

    func stop() {
        let stopped = Handoff<Void>()
        coordinator.stop { stopped.put(()) }
        stopped.wait()
        transport.shutdown()
    }
}

/// A value one thread hands to another that waits for it (a callback's result, on a thread
/// outside Swift concurrency).
final class Handoff<Value: Sendable>: Sendable {
    private let value = Mutex<Value?>(nil)  // Guarded by itself; `condition` signals a change.
    private let condition = ConditionLock()

    func put(_ newValue: Value) {
        condition.locked {
            value.withLock { $0 = newValue }
            condition.signal()
        }
    }

    func wait() -> Value {
        condition.locked {
            while true {
                if let ready = value.withLock({ $0 }) { return ready }
                condition.waitLocked()
            }
        }
    }
}

extension Server {
    /// The topology a cluster node starts with: its members from the configuration, no leaders yet.
    static func initialTopology(config: ServerConfig, members: [ClusterMember]) -> ClusterTopology {
        let nodes = members.map { ClusterTopology.Node(name: $0.name, host: $0.host, clientPort: $0.port, busPort: $0.busPort) }
        let shards = (0..<config.clusterShards).map { _ in
            ClusterTopology.Shard(leader: nil, replicas: nodes.map { ClusterTopology.Replica(node: $0, health: .online) })
        }
        return ClusterTopology(myName: config.clusterNodeID, nodes: nodes, shards: shards)
    }

    /// Loop thread: a new view from etcd becomes the topology commands are routed by. This
    /// node's own copy of a shard whose log has a gap here (`localGaps`) is `loading`: reads of it
    /// go to the leader (MOVED) until the gap is filled.
    func apply(_ view: ClusterView) {
        guard var topology else { return }
        lastClusterView = view
        if let members = view.members { topology = Self.topology(topology, withMembers: members) }
        for shard in 0..<topology.shardCount {
            // A shard between leaders keeps its last one in the slot map, as Redis keeps a failed
            // master's slots: a client that caches the map (redis-py) then retries there and
            // re-reads it, instead of finding the slots uncovered for good.
            guard let current = view.leaders[shard] else { continue }
            let leaderName = current.nodeID
            let leader = topology.nodes.first { $0.name == leaderName }
            let replicas = topology.nodes.filter { $0.name != leaderName && (view.members?.member(named: $0.name) != nil || view.members == nil) }.map {
                ClusterTopology.Replica(node: $0, health: view.nodes[$0.name] != nil || $0.name == topology.myName ? .online : .failed)
            }
            topology.setShard(
                ClusterTopology.Shard(leader: leader.map { ClusterTopology.Leader(node: $0, epoch: current.epoch) }, replicas: replicas),
                at: shard)
        }
        topology.setLocalCopies(loading: localGaps)
        self.topology = topology
        tlsTopology = topology.withClientAddresses(view.nodes.compactMapValues(\.tlsAddress))
    }

    /// The topology as `connection` must see it: TLS clients are sent to TLS ports.
    func topology(for connection: Connection) -> ClusterTopology? {
        connection.tls != nil ? (tlsTopology ?? topology) : topology
    }

    /// `topology` over the members of `config` (this node kept, as a node holding no slots, while
    /// it is not one): every shard keeps its leader if it is still a member.
    static func topology(_ topology: ClusterTopology, withMembers config: MemberConfig) -> ClusterTopology {
        var nodes = config.members.compactMap { ClusterTopology.Node(name: $0.name, clientAddress: $0.addr, busAddress: $0.bus) }
        if !nodes.contains(where: { $0.name == topology.myName }) { nodes.append(topology.me) }
        guard nodes != topology.nodes else { return topology }
        let shards = topology.shards.map { shard in
            let leader = shard.leader.flatMap { leader in
                nodes.first { $0.name == leader.node.name }.map { ClusterTopology.Leader(node: $0, epoch: leader.epoch) }
            }
            let replicas = nodes.filter { $0.name != leader?.node.name && config.member(named: $0.name) != nil }.map { node in
                ClusterTopology.Replica(
                    node: node, health: shard.replicas.first { $0.node.name == node.name }?.health ?? .online)
            }
            return ClusterTopology.Shard(leader: leader, replicas: replicas)
        }
        return ClusterTopology(myName: topology.myName, nodes: nodes, shards: shards)
    }

    /// The keys a command names, for routing: where its key spec puts them, as the ACL check
    /// finds them (`CommandSpec.keyPositions`; XREAD's and XREADGROUP's STREAMS is searched for
    /// from where Redis's key spec starts, so a group or consumer named "streams" is not taken
    /// for the keyword).
    static func routingKeys(_ spec: CommandSpec, _ args: RequestArguments) -> [RequestArgument] {
        let (first, step, count) = spec.keyPositions(in: args)
        return (0..<count).map { args[first + $0 * step] }
    }

    /// Commands a cluster refuses: they work across databases or across every shard at once.
    static let clusterRefused: [String: String] = [
        "swapdb": "ERR SWAPDB is not allowed in cluster mode",
        "move": "ERR MOVE is not allowed in cluster mode",
        "flushall": "ERR FLUSHALL is not supported in cluster mode: delete the streams with DEL",
        "flushdb": "ERR FLUSHDB is not supported in cluster mode: delete the streams with DEL",
    ]

    enum ClusterDecision {
        /// Run as on a single node (reads this node may serve).
        case local
        /// Append to the shard's replicated log; answered once committed.
        case propose(shard: Int)
        case refuse(String)
    }

    /// Where a storage command runs in cluster mode.
    func clusterDecision(_ spec: CommandSpec, _ args: RequestArguments, _ connection: Connection, topology: ClusterTopology) -> ClusterDecision {
        if let refusal = Self.clusterRefused[spec.name] { return .refuse(refusal) }
        let isWrite = spec.flags.contains("write")
        let keys = Self.routingKeys(spec, args)
        let route = topology.route(keys: keys, isWrite: isWrite, connectionIsReadOnly: connection.isReadOnly)
        switch route {
        case .noKeys: return .local
        case .crossSlot, .clusterDown, .moved: return .refuse(route.errorText!)
        case .local(let shard, _):
            // A read after this connection's writes that have not committed yet goes through the
            // log too, so it sees them (as on a single node).
            if isWrite || (!connection.proposalSlots.isEmpty && topology.localRole(inShard: shard) == .leader) {
                return .propose(shard: shard)
            }
            return .local
        }
    }

    /// Adds a command for `shard` to the connection's open proposal (one record for consecutive
    /// commands of one shard, as a group is on a single node), or starts one. A blocking read is
    /// proposed alone, at once. Returns the reply slot.
    @discardableResult
    func propose(shard: Int, _ item: ReplicatedRecord.Item, blocking: Bool, _ connection: Connection, _ group: inout CommandGroup?) -> UInt64 {
        submit(&group)
        if !blocking, var open = connection.openProposal, open.shard == shard, open.version == connection.version,
            open.items.count < config.transactionCommandsMax
        {
            open.items.append(item)
            connection.openProposal = open
            return open.slot
        }
        flushProposal(connection)
        let slot = connection.reserveSlot()
        connection.proposalSlots.insert(slot)
        connection.openProposal = Connection.OpenProposal(shard: shard, slot: slot, version: connection.version, items: [item])
        if blocking { flushProposal(connection) }
        return slot
    }

    /// Sends the connection's open proposal to the storage thread.
    func flushProposal(_ connection: Connection) {
        guard let open = connection.openProposal else { return }
        connection.openProposal = nil
        let body = ReplicatedRecord.encodeBody(version: open.version, isTransaction: false, items: open.items)
        submitProposal(shard: open.shard, body: body, slot: open.slot, replyCount: open.items.count, connection)
    }

    /// Sends one record's commands to the storage thread to be proposed to its shard's log.
    func submitProposal(shard: Int, body: [UInt8], slot: UInt64, replyCount: Int, _ connection: Connection) {
        let reply = PendingReply(connection: connection.id, slot: slot, version: connection.version, replyCount: replyCount)
        let failure = Executor.failure(connection: connection.id, slot: slot, version: connection.version, replies: replyCount)
        pendingJobs.append(
            ({ (executor: Executor) throws(WiredTigerError) -> ServerOutcome in
                guard let cluster = executor.cluster else { return failure(.shuttingDown) }
                return try cluster.propose(shard: shard, body: body, reply: reply)
            }, failure, replyCount))
    }

    /// CLUSTER MEET ip port [bus-port] and CLUSTER FORGET node-id|name: one membership change
    /// (the node registered at ip:port added, or the member removed), answered +OK once etcd
    /// holds the new configuration, or with why not. It waits for every shard's leader to agree
    /// (at most 10 s): a removal is refused while a remaining member does not hold a shard's
    /// committed log.
    func changeMembers(_ args: [[UInt8]], _ connection: Connection, _ group: inout CommandGroup?) {
        guard let topology, let link = clusterLink else { return reply(connection, &group) { $0.error(ClusterError.clusterSupportDisabled) } }
        let change: MembershipChange
        switch ClusterSubcommand.decode(args) {
        case .failure(let error): return reply(connection, &group) { $0.error(error.text) }
        case .success(.meet(let host, let port)):
            let address = "\(host):\(port)"
            // The node registered there that can be added. A removed member's registration lives
            // on until its lease runs out: it never shadows its successor, and while it is all
            // there is, the address counts as one where no node is registered yet.
            let config = lastClusterView?.members
            let there = (lastClusterView?.nodes ?? [:]).filter { $0.value.address == address }.sorted { $0.key < $1.key }
            let retired = there.filter { _, node in node.index.map { config?.retired.contains($0) ?? false } ?? false }.map(\.key)
            let candidates = there.filter { !retired.contains($0.key) }
            guard let name = (candidates.first { config?.member(named: $0.key) == nil } ?? candidates.first)?.key else {
                let detail =
                    retired.isEmpty
                    ? "no node of this cluster is registered there: start it first"
                    : "only a removed member (\(retired.joined(separator: ", "))) is registered there until its lease runs out: start the new node"
                return reply(connection, &group) { $0.error("ERR Invalid node address specified: \(address) (\(detail))") }
            }
            change = .add(name: name)
        case .success(.forget(let node)):
            guard let name = topology.nodes.first(where: { $0.id == node || $0.name == node })?.name else {
                return reply(connection, &group) { $0.error("ERR Unknown node \(node)") }
            }
            change = .remove(name: name)
        case .success: preconditionFailure("dispatch sends only MEET and FORGET here")
        }
        flushProposal(connection)
        submit(&group)
        let slot = connection.reserveSlot()
        let id = connection.id
        let version = connection.version
        let wakeup = link.wakeup
        logEvent("cluster: membership change requested: \(change)")
        link.coordinator.changeMembers(change) { result in
            var out = RESPWriter(version: version)
            switch result {
            case .success(let config):
                logEvent("cluster: membership change made: \(change) (configuration \(config.version))")
                out.simpleString("OK")
            case .failure(let error):
                logEvent("cluster: membership change not made: \(error)")
                out.error(error.description)
            }
            wakeup.post([ServerOutcome(kind: .reply, connection: id, slot: slot, bytes: out.bytes)])
        }
    }

    /// CLUSTER …, on a cluster node or not.
    func clusterCommand(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        guard let topology = topology(for: connection) else { return out.error(ClusterError.clusterSupportDisabled) }
        switch ClusterSubcommand.decode(args) {
        case .failure(let error): out.error(error.text)
        case .success(let subcommand):
            switch subcommand {
            case .help: ClusterTopology.writeHelp(into: &out)
            case .info: topology.writeInfo(into: &out)
            case .myID: topology.writeMyID(into: &out)
            case .nodes: topology.writeNodes(into: &out)
            case .slots: topology.writeSlots(into: &out)
            case .shards: topology.writeShards(into: &out)
            case .keySlot(let key): ClusterTopology.writeKeySlot(ofKey: key, into: &out)
            // Counting a slot's keys would walk the whole catalog: Spool answers as a node that
            // holds none of them, as a Redis replica may (redis-cli uses these only to migrate).
            case .countKeysInSlot: ClusterTopology.writeKeyCount(0, into: &out)
            case .getKeysInSlot: ClusterTopology.writeKeys([[UInt8]](), into: &out)
            // (Outside a transaction they go to `changeMembers`.)
            case .meet, .forget: out.error("ERR CLUSTER MEET and FORGET wait for the cluster's leaders and cannot run in a transaction")
            }
        }
    }
}
