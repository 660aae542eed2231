import Testing
import SpoolProtocol
@testable import SpoolServer

/// The CLUSTER replies in RESP2 and RESP3, decoded with the client's reply decoder and checked
/// field by field; the simplest shapes also byte for byte against what redis-server 7.0.15 sent
/// for the same cluster (a master and its replica, ids substituted).
@Suite struct ClusterRepliesTests {
    static let versions: [RESPVersion] = [.resp2, .resp3]

    // MARK: - CLUSTER SHARDS

    @Test(arguments: versions)
    func shardsListEveryShardWithItsSlotsLeaderAndReplicas(version: RESPVersion) {
        let topology = ClusterFixture.topology()
        guard case .array(let shards)? = clusterReply(version, topology.writeShards) else {
            Issue.record("CLUSTER SHARDS is an array")
            return
        }
        #expect(shards.count == 3)
        let expectedSlots: [[Int64]] = [[0, 5460], [5461, 10921], []]
        let expectedNodes: [[[(String, RESPValue)]]] = [
            [
                shardNode(ClusterFixture.a, role: "master", offset: 100, health: "online"),
                shardNode(ClusterFixture.b, role: "replica", offset: 90, health: "online"),
                shardNode(ClusterFixture.c, role: "replica", offset: 80, health: "online"),
            ],
            [
                shardNode(ClusterFixture.b, role: "master", offset: 200, health: "online"),
                shardNode(ClusterFixture.a, role: "replica", offset: 200, health: "online"),
                shardNode(ClusterFixture.c, role: "replica", offset: 0, health: "loading"),
            ],
            [
                shardNode(ClusterFixture.a, role: "replica", offset: 300, health: "online"),
                shardNode(ClusterFixture.b, role: "replica", offset: 300, health: "online"),
                shardNode(ClusterFixture.c, role: "replica", offset: 10, health: "fail"),
            ],
        ]
        for (index, shard) in shards.enumerated() {
            let entry = clusterFields(shard, version)
            #expect(entry.map(\.key) == ["slots", "nodes"])
            guard entry.count == 2 else { continue }
            #expect(entry[0].value == .array(expectedSlots[index].map { .integer($0) }))
            guard case .array(let nodes) = entry[1].value else {
                Issue.record("nodes is an array")
                continue
            }
            #expect(nodes.count == expectedNodes[index].count)
            for (node, expected) in zip(nodes, expectedNodes[index]) {
                let actual = clusterFields(node, version)
                #expect(actual.map(\.key) == expected.map(\.0))
                #expect(actual.map(\.value) == expected.map(\.1))
            }
        }
    }

    private func shardNode(_ node: ClusterTopology.Node, role: String, offset: Int64, health: String) -> [(String, RESPValue)] {
        var fields: [(String, RESPValue)] = [
            ("id", .bulkString(node.id)), ("port", .integer(Int64(node.clientPort))),
            ("ip", .bulkString(node.host)), ("endpoint", .bulkString(node.host)),
        ]
        if let hostname = node.hostname { fields.append(("hostname", .bulkString(hostname))) }
        fields += [("role", .bulkString(role)), ("replication-offset", .integer(offset)), ("health", .bulkString(health))]
        return fields
    }

    /// The bytes redis-server 7.0.15 sent for CLUSTER SHARDS on a one-master, one-replica cluster.
    @Test func shardsMatchRedisByteForByte() {
        let (topology, masterID, replicaID) = redisPair()
        let node = { (id: String, port: Int, role: String, map: String) in
            "\(map)\r\n$2\r\nid\r\n$40\r\n\(id)\r\n$4\r\nport\r\n:\(port)\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$\(role.utf8.count)\r\n\(role)\r\n$18\r\nreplication-offset\r\n:14\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
        }
        let resp2 =
            "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n"
            + node(masterID, 17101, "master", "*14") + node(replicaID, 17102, "replica", "*14")
        let resp3 =
            "*1\r\n%2\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*2\r\n"
            + node(masterID, 17101, "master", "%7") + node(replicaID, 17102, "replica", "%7")
        #expect(clusterWritten(.resp2, topology.writeShards) == resp2)
        #expect(clusterWritten(.resp3, topology.writeShards) == resp3)
    }

    // MARK: - CLUSTER SLOTS

    @Test(arguments: versions)
    func slotsListLedShardsWithLeaderFirstAndOnlineReplicasOnly(version: RESPVersion) {
        let topology = ClusterFixture.topology()
        let expected: RESPValue = .array([
            .array([
                .integer(0), .integer(5460), slotsNode(ClusterFixture.a, version), slotsNode(ClusterFixture.b, version),
                slotsNode(ClusterFixture.c, version),
            ]),
            // c is still loading in shard 1; shard 2 has no leader, so its slots are left out.
            .array([.integer(5461), .integer(10921), slotsNode(ClusterFixture.b, version), slotsNode(ClusterFixture.a, version)]),
        ])
        #expect(clusterReply(version, topology.writeSlots) == expected)
    }

    private func slotsNode(_ node: ClusterTopology.Node, _ version: RESPVersion) -> RESPValue {
        var metadata: [RESPValue.Pair] = []
        if let hostname = node.hostname { metadata.append(.init(.bulkString("hostname"), .bulkString(hostname))) }
        let map: RESPValue =
            version == .resp3 ? .map(metadata) : .array(metadata.flatMap { [$0.key, $0.value] })
        return .array([.bulkString(node.host), .integer(Int64(node.clientPort)), .bulkString(node.id), map])
    }

    /// The bytes redis-server 7.0.15 sent for CLUSTER SLOTS: the fourth element of each node is an
    /// empty map, `*0` in RESP2 and `%0` in RESP3.
    @Test func slotsMatchRedisByteForByte() {
        let (topology, masterID, replicaID) = redisPair()
        for (version, emptyMap) in [(RESPVersion.resp2, "*0"), (.resp3, "%0")] {
            let expected =
                "*1\r\n*4\r\n:0\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:17101\r\n$40\r\n\(masterID)\r\n\(emptyMap)\r\n"
                + "*4\r\n$9\r\n127.0.0.1\r\n:17102\r\n$40\r\n\(replicaID)\r\n\(emptyMap)\r\n"
            #expect(clusterWritten(version, topology.writeSlots) == expected)
        }
    }

    /// Redis writes one entry per run of slots with the same master; shards with the same leader
    /// and the same listed replicas merge, others do not.
    @Test func adjacentShardsOfOneLeaderMergeIntoOneSlotsEntry() {
        let a = ClusterFixture.a
        let b = ClusterFixture.b
        func shard(_ leader: ClusterTopology.Node, _ replica: ClusterTopology.Node, _ health: ClusterTopology.Health = .online)
            -> ClusterTopology.Shard
        {
            .init(leader: .init(node: leader, epoch: 1), replicas: [.init(node: replica, health: health)])
        }
        let merged = ClusterTopology(myName: "spool-a", nodes: [a, b], shards: [shard(a, b), shard(a, b), shard(b, a), shard(a, b)])
        #expect(
            merged.slotsEntries.map { [$0.first, $0.last] } == [[0, 8191], [8192, 12287], [12288, 16383]])
        let split = ClusterTopology(myName: "spool-a", nodes: [a, b], shards: [shard(a, b), shard(a, b, .failed), shard(a, b)])
        #expect(split.slotsEntries.map { [$0.first, $0.last] } == [[0, 5460], [5461, 10921], [10922, 16383]])
        #expect(split.slotsEntries.map(\.replicas) == [[b], [], [b]])
        let leaderless = ClusterTopology(
            myName: "spool-a", nodes: [a, b], shards: [.init(leader: nil, replicas: [.init(node: a, health: .online)])])
        #expect(clusterWritten(.resp2, leaderless.writeSlots) == "*0\r\n")
    }

    // MARK: - CLUSTER NODES

    @Test func nodesShowLeadersAsMastersWithTheirSlotsAndOthersAsReplicas() {
        let a = ClusterFixture.a.id
        let b = ClusterFixture.b.id
        let c = ClusterFixture.c.id
        #expect(
            ClusterFixture.topology(me: "spool-a").nodesText == """
                \(a) 10.0.0.1:7001@17001 myself,master - 0 0 5 connected 0-5460
                \(b) 10.0.0.2:7002@17002 master - 0 0 7 connected 5461-10921
                \(c) 10.0.0.3:7003@17333,c.spool.test slave \(a) 0 0 5 connected

                """)
        #expect(
            ClusterFixture.topology(me: "spool-c").nodesText == """
                \(a) 10.0.0.1:7001@17001 master - 0 0 5 connected 0-5460
                \(b) 10.0.0.2:7002@17002 master - 0 0 7 connected 5461-10921
                \(c) 10.0.0.3:7003@17333,c.spool.test myself,slave \(a) 0 0 5 connected

                """)
    }

    @Test(arguments: versions)
    func nodesAreVerbatimTextInRESP3AndABulkStringInRESP2(version: RESPVersion) {
        let topology = ClusterFixture.topology()
        let text = Array(topology.nodesText.utf8)
        let expected: RESPValue = version == .resp3 ? .verbatim(format: "txt", text: text) : .bulkString(text)
        #expect(clusterReply(version, topology.writeNodes) == expected)
    }

    /// What redis-server 7.0.15 wrote on the replica of a one-master cluster, but for the pong
    /// time, which Spool does not measure.
    @Test func nodesMatchRedisOnAReplica() {
        let (topology, masterID, replicaID) = redisPair(me: "replica-node")
        #expect(
            topology.nodesText
                == "\(masterID) 127.0.0.1:17101@27101 master - 0 0 0 connected 0-16383\n"
                + "\(replicaID) 127.0.0.1:17102@27102 myself,slave \(masterID) 0 0 0 connected\n")
    }

    @Test func nodesMergeAdjacentSlotRangesWriteSingleSlotsAloneAndFlagFailedNodes() {
        let a = ClusterFixture.a
        let b = ClusterFixture.b
        let c = ClusterFixture.c
        var shards: [ClusterTopology.Shard] = []
        for slot in 0..<HashSlot.count {
            let leader = [0, 1, 2, 5].contains(slot) ? a : b
            let replica = leader == a ? b : a
            shards.append(
                .init(
                    leader: .init(node: leader, epoch: UInt64(slot % 3)),
                    replicas: [.init(node: replica, health: .online), .init(node: c, health: .failed)]))
        }
        let topology = ClusterTopology(myName: "spool-b", nodes: [a, b, c], shards: shards)
        let lines = topology.nodesText.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0] == "\(a.id) 10.0.0.1:7001@17001 master - 0 0 2 connected 0-2 5")
        #expect(lines[1] == "\(b.id) 10.0.0.2:7002@17002 myself,master - 0 0 2 connected 3-4 6-16383")
        #expect(lines[2] == "\(c.id) 10.0.0.3:7003@17333,c.spool.test slave,fail \(a.id) 0 0 2 disconnected")

        // This node is never flagged failed; without any leader every node is a master without slots.
        let noLeaders = ClusterTopology(
            myName: "spool-c", nodes: [a, c],
            shards: [.init(leader: nil, replicas: [.init(node: a, health: .failed), .init(node: c, health: .failed)])])
        #expect(
            noLeaders.nodesText
                == "\(a.id) 10.0.0.1:7001@17001 master,fail - 0 0 0 disconnected\n"
                + "\(c.id) 10.0.0.3:7003@17333,c.spool.test myself,master - 0 0 0 connected\n")
    }

    // MARK: - CLUSTER INFO

    @Test func infoCountsSlotsOfShardsWithLeadersInRedisFieldOrder() {
        let topology = ClusterFixture.topology(me: "spool-a")
        #expect(
            topology.infoText() == """
                cluster_state:fail\r
                cluster_slots_assigned:10922\r
                cluster_slots_ok:10922\r
                cluster_slots_pfail:0\r
                cluster_slots_fail:0\r
                cluster_known_nodes:3\r
                cluster_size:2\r
                cluster_current_epoch:7\r
                cluster_my_epoch:5\r
                cluster_stats_messages_sent:0\r
                cluster_stats_messages_received:0\r
                total_cluster_links_buffer_limit_exceeded:0\r
                cluster_slot_migration_active_tasks:0\r
                cluster_slot_migration_active_trim_running:0\r
                cluster_slot_migration_active_trim_current_job_keys:0\r
                cluster_slot_migration_active_trim_current_job_trimmed:0\r
                cluster_slot_migration_stats_active_trim_started:0\r
                cluster_slot_migration_stats_active_trim_completed:0\r
                cluster_slot_migration_stats_active_trim_cancelled:0\r

                """)
        #expect(info(ClusterFixture.topology(me: "spool-b"))["cluster_my_epoch"] == "7")
        // c leads nothing: it shows the epoch of the leader CLUSTER NODES names as its master.
        #expect(info(ClusterFixture.topology(me: "spool-c"))["cluster_my_epoch"] == "5")
        #expect(info(topology, sent: 12, received: 34)["cluster_stats_messages_sent"] == "12")
        #expect(info(topology, sent: 12, received: 34)["cluster_stats_messages_received"] == "34")
    }

    @Test func infoIsOKOnceEveryShardHasALeader() {
        var topology = ClusterFixture.topology()
        topology.setShard(
            .init(leader: .init(node: ClusterFixture.a, epoch: 9), replicas: [.init(node: ClusterFixture.b, health: .online)]),
            at: 2)
        let fields = info(topology)
        #expect(fields["cluster_state"] == "ok")
        #expect(fields["cluster_slots_assigned"] == "16384")
        #expect(fields["cluster_slots_ok"] == "16384")
        #expect(fields["cluster_size"] == "2")
        #expect(fields["cluster_current_epoch"] == "9")
        #expect(fields["cluster_my_epoch"] == "9")
        // The fields redis-server 7.0.15 printed for a one-master cluster, seen from the replica.
        let redis = info(redisPair(me: "replica-node").topology)
        #expect(redis["cluster_state"] == "ok")
        #expect(redis["cluster_slots_assigned"] == "16384")
        #expect(redis["cluster_known_nodes"] == "2")
        #expect(redis["cluster_size"] == "1")
        #expect(redis["cluster_my_epoch"] == "0")
    }

    @Test(arguments: versions)
    func infoIsVerbatimTextInRESP3AndABulkStringInRESP2(version: RESPVersion) {
        let topology = ClusterFixture.topology()
        let text = Array(topology.infoText(messagesSent: 1, messagesReceived: 2).utf8)
        let expected: RESPValue = version == .resp3 ? .verbatim(format: "txt", text: text) : .bulkString(text)
        #expect(clusterReply(version) { topology.writeInfo(into: &$0, messagesSent: 1, messagesReceived: 2) } == expected)
    }

    private func info(_ topology: ClusterTopology, sent: Int64 = 0, received: Int64 = 0) -> [String: String] {
        var fields: [String: String] = [:]
        let text = topology.infoText(messagesSent: sent, messagesReceived: received)
        #expect(text.hasSuffix("\r\n"))
        for line in text.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            #expect(parts.count == 2)
            fields[String(parts[0])] = String(parts[1])
        }
        return fields
    }

    // MARK: - MYID, KEYSLOT, COUNTKEYSINSLOT, GETKEYSINSLOT, HELP, errors

    @Test(arguments: versions)
    func smallRepliesAreTheSameInBothProtocols(version: RESPVersion) {
        let topology = ClusterFixture.topology()
        #expect(clusterReply(version, topology.writeMyID) == .bulkString(ClusterFixture.a.id))
        #expect(clusterWritten(version) { ClusterTopology.writeKeySlot(ofKey: Array("somekey".utf8), into: &$0) } == ":11058\r\n")
        #expect(clusterWritten(version) { ClusterTopology.writeKeyCount(42, into: &$0) } == ":42\r\n")
        let buffer = Array("xx{t}ayy{t}b".utf8)
        let keys = [buffer[2..<6], buffer[8..<12]]
        #expect(
            clusterWritten(version) { ClusterTopology.writeKeys(keys, into: &$0) } == "*2\r\n$4\r\n{t}a\r\n$4\r\n{t}b\r\n")
        #expect(clusterWritten(version) { ClusterTopology.writeKeys([[UInt8]](), into: &$0) } == "*0\r\n")
    }

    @Test(arguments: versions)
    func helpListsTheAnsweredSubcommandsInRedisWords(version: RESPVersion) {
        guard case .array(let lines)? = clusterReply(version, ClusterTopology.writeHelp) else {
            Issue.record("CLUSTER HELP is an array")
            return
        }
        let texts = lines.map { line -> String in
            guard case .simpleString(let text) = line else {
                Issue.record("every help line is a simple string")
                return ""
            }
            return text
        }
        #expect(texts.count == ClusterTopology.helpLines.count + 3)
        #expect(texts.first == "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        #expect(Array(texts.suffix(2)) == ["HELP", "    Print this help."])
        #expect(texts.contains("KEYSLOT <key>"))
        #expect(texts.contains("SHARDS"))
    }

    @Test func errorRepliesAreRedisBytes() {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        #expect(text(ClusterError.replyBytes(ClusterError.moved(slot: 3999, address: "127.0.0.1:6381")))
            == "-MOVED 3999 127.0.0.1:6381\r\n")
        #expect(text(ClusterError.replyBytes(ClusterError.crossSlot)) == "-CROSSSLOT Keys in request don't hash to the same slot\r\n")
        #expect(text(ClusterError.replyBytes(ClusterError.hashSlotNotServed)) == "-CLUSTERDOWN Hash slot not served\r\n")
        #expect(text(ClusterError.replyBytes(ClusterError.clusterDown)) == "-CLUSTERDOWN The cluster is down\r\n")
        #expect(ClusterError.clusterSupportDisabled == "ERR This instance has cluster support disabled")
    }

    // MARK: - Helpers

    /// A one-master, one-replica cluster on 127.0.0.1:17101 and :17102, as the redis-server the
    /// expected bytes came from (replication offsets 14).
    private func redisPair(me: String = "master-node") -> (topology: ClusterTopology, masterID: String, replicaID: String) {
        let master = ClusterTopology.Node(name: "master-node", host: "127.0.0.1", clientPort: 17101)
        let replica = ClusterTopology.Node(name: "replica-node", host: "127.0.0.1", clientPort: 17102)
        let topology = ClusterTopology(
            myName: me, nodes: [master, replica],
            shards: [
                .init(
                    leader: .init(node: master, epoch: 0, replicationOffset: 14),
                    replicas: [.init(node: replica, health: .online, replicationOffset: 14)])
            ])
        return (topology, master.id, replica.id)
    }
}

/// Writes a reply and decodes it as a client would, checking that it is exactly one reply.
func clusterReply(
    _ version: RESPVersion, sourceLocation: SourceLocation = #_sourceLocation, _ write: (inout RESPWriter) -> Void
) -> RESPValue? {
    var writer = RESPWriter(version: version)
    write(&writer)
    var decoder = RESPReplyDecoder()
    decoder.append(writer.bytes)
    let value = try? decoder.next()
    #expect(decoder.bufferedByteCount == 0, "one reply and nothing after it", sourceLocation: sourceLocation)
    return value ?? nil
}

func clusterWritten(_ version: RESPVersion, _ write: (inout RESPWriter) -> Void) -> String {
    var writer = RESPWriter(version: version)
    write(&writer)
    return String(decoding: writer.bytes, as: UTF8.self)
}

/// A map's fields in wire order: RESP3 must send a map, RESP2 the flat array Redis sends instead.
func clusterFields(
    _ value: RESPValue, _ version: RESPVersion, sourceLocation: SourceLocation = #_sourceLocation
) -> [(key: String, value: RESPValue)] {
    func name(_ key: RESPValue) -> String {
        guard case .bulkString(let bytes) = key else {
            Issue.record("a field name is a bulk string, not \(key)", sourceLocation: sourceLocation)
            return ""
        }
        return String(decoding: bytes, as: UTF8.self)
    }
    switch (version, value) {
    case (.resp3, .map(let pairs)):
        return pairs.map { (name($0.key), $0.value) }
    case (.resp2, .array(let flat)) where flat.count % 2 == 0:
        return stride(from: 0, to: flat.count, by: 2).map { (name(flat[$0]), flat[$0 + 1]) }
    default:
        Issue.record("expected a \(version == .resp3 ? "map" : "flat array"), got \(value)", sourceLocation: sourceLocation)
        return []
    }
}
