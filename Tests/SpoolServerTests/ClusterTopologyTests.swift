import Testing
@testable import SpoolServer

/// A three-node, three-shard cluster the cluster tests share:
/// - shard 0 (slots 0-5460) led by a, epoch 5; b and c online;
/// - shard 1 (slots 5461-10921) led by b, epoch 7; a online, c still loading;
/// - shard 2 (slots 10922-16383) without a leader; a and b online, c failed.
enum ClusterFixture {
    static let a = ClusterTopology.Node(name: "spool-a", host: "10.0.0.1", clientPort: 7001)
    static let b = ClusterTopology.Node(name: "spool-b", host: "10.0.0.2", clientPort: 7002)
    static let c = ClusterTopology.Node(
        name: "spool-c", host: "10.0.0.3", clientPort: 7003, busPort: 17333, hostname: "c.spool.test")

    static let shards: [ClusterTopology.Shard] = [
        .init(
            leader: .init(node: a, epoch: 5, replicationOffset: 100),
            replicas: [.init(node: b, health: .online, replicationOffset: 90), .init(node: c, health: .online, replicationOffset: 80)]),
        .init(
            leader: .init(node: b, epoch: 7, replicationOffset: 200),
            replicas: [.init(node: a, health: .online, replicationOffset: 200), .init(node: c, health: .loading)]),
        .init(
            leader: nil,
            replicas: [
                .init(node: a, health: .online, replicationOffset: 300), .init(node: b, health: .online, replicationOffset: 300),
                .init(node: c, health: .failed, replicationOffset: 10),
            ]),
    ]

    static func topology(me: String = "spool-a") -> ClusterTopology {
        ClusterTopology(myName: me, nodes: [a, b, c], shards: shards)
    }

    /// Keys whose slots (checked against redis-server) fall in each shard of the fixture.
    static let keyInShard0 = "bar"  // slot 5061
    static let keyInShard1 = "user:info{1}"  // slot 9842
    static let keyInShard2 = "foo"  // slot 12182
}

@Suite struct ClusterTopologyTests {
    @Test(arguments: [1, 2, 3, 5, 7, 16, 100, 1000, 8192, 16383, 16384])
    func shardsPartitionTheSlotsIntoContiguousNearlyEqualRanges(shardCount: Int) {
        var next = 0
        var sizes = Set<Int>()
        for shard in 0..<shardCount {
            let range = ClusterTopology.slotRange(ofShard: shard, shardCount: shardCount)
            #expect(range.lowerBound == next)
            #expect(range.lowerBound == shard * 16384 / shardCount)
            #expect(range.upperBound == (shard + 1) * 16384 / shardCount)
            #expect(!range.isEmpty)
            sizes.insert(range.count)
            next = range.upperBound
        }
        #expect(next == HashSlot.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
    }

    /// `shard(ofSlot:)` is the inverse of `slotRange(ofShard:)`, for every slot.
    @Test(arguments: [1, 3, 16, 1000, 16384])
    func everySlotBelongsToTheShardWhoseRangeHoldsIt(shardCount: Int) {
        for shard in 0..<shardCount {
            for slot in ClusterTopology.slotRange(ofShard: shard, shardCount: shardCount) {
                #expect(ClusterTopology.shard(ofSlot: slot, shardCount: shardCount) == shard)
            }
        }
    }

    @Test func foldingOfOneThreeSixteenAndAllShards() {
        #expect(ClusterTopology.slotRange(ofShard: 0, shardCount: 1) == 0..<16384)
        #expect((0..<3).map { ClusterTopology.slotRange(ofShard: $0, shardCount: 3) } == [0..<5461, 5461..<10922, 10922..<16384])
        #expect(ClusterTopology.slotRange(ofShard: 0, shardCount: 16) == 0..<1024)
        #expect(ClusterTopology.slotRange(ofShard: 15, shardCount: 16) == 15360..<16384)
        #expect(ClusterTopology.shard(ofSlot: 1023, shardCount: 16) == 0)
        #expect(ClusterTopology.shard(ofSlot: 1024, shardCount: 16) == 1)
        #expect(ClusterTopology.shard(ofSlot: 16383, shardCount: 16) == 15)
        #expect(ClusterTopology.shard(ofSlot: 5460, shardCount: 3) == 0)
        #expect(ClusterTopology.shard(ofSlot: 5461, shardCount: 3) == 1)
        #expect(ClusterTopology.shard(ofSlot: 10922, shardCount: 3) == 2)
        #expect(ClusterTopology.slotRange(ofShard: 12345, shardCount: 16384) == 12345..<12346)
        #expect(ClusterTopology.shard(ofSlot: 12345, shardCount: 16384) == 12345)
        let topology = ClusterFixture.topology()
        #expect(topology.shardCount == 3)
        #expect(topology.shard(ofSlot: HashSlot.slot(forKey: Array(ClusterFixture.keyInShard0.utf8))) == 0)
        #expect(topology.shard(ofSlot: HashSlot.slot(forKey: Array(ClusterFixture.keyInShard1.utf8))) == 1)
        #expect(topology.shard(ofSlot: HashSlot.slot(forKey: Array(ClusterFixture.keyInShard2.utf8))) == 2)
    }

    /// FIPS 180 test vectors: the node id is the SHA-1 of the node's name.
    @Test func sha1MatchesPublishedVectors() {
        #expect(SHA1.hexDigest(of: [UInt8]()) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(of: Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hexDigest(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(
            SHA1.hexDigest(of: Array("The quick brown fox jumps over the lazy dog".utf8))
                == "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12")
        // 55, 56 and 64 bytes: the padding boundaries.
        for length in [55, 56, 63, 64, 65] {
            #expect(SHA1.digest(of: [UInt8](repeating: 0x61, count: length)).count == 20)
        }
        #expect(
            SHA1.hexDigest(of: [UInt8](repeating: 0x61, count: 64))
                == "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }

    /// Redis accepts a node id only if it is 40 characters of a-z and 0-9 (`verifyClusterNodeId`).
    @Test func nodeIDIsFortyLowerCaseHexDigitsDerivedFromTheName() {
        let node = ClusterTopology.Node(name: "spool-1", host: "127.0.0.1", clientPort: 6379)
        #expect(node.id.utf8.count == 40)
        #expect(node.id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        #expect(node.id == SHA1.hexDigest(of: Array("spool-1".utf8)))
        #expect(node.id == ClusterTopology.Node(name: "spool-1", host: "10.9.9.9", clientPort: 1).id)
        #expect(node.id != ClusterTopology.Node(name: "spool-2", host: "127.0.0.1", clientPort: 6379).id)
        #expect(node.busPort == 16379)
        #expect(node.clientAddress == "127.0.0.1:6379")
        #expect(ClusterTopology.Node(name: "n", host: "::1", clientPort: 60000).busPort == 0)
    }

    @Test func nodeParsesTheCoordinatorsHostPortAddresses() {
        let node = ClusterTopology.Node(name: "n1", clientAddress: "10.1.2.3:6379", busAddress: "10.1.2.3:16400")
        #expect(node?.host == "10.1.2.3")
        #expect(node?.clientPort == 6379)
        #expect(node?.busPort == 16400)
        #expect(node?.id == ClusterTopology.Node.id(forName: "n1"))
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "[::1]:7000")?.clientAddress == "::1:7000")
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "::1:7000")?.host == "::1")
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "spool-1.internal:7000")?.busPort == 17000)
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "10.1.2.3") == nil)
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "10.1.2.3:70000") == nil)
        #expect(ClusterTopology.Node(name: "n1", clientAddress: ":6379") == nil)
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "a b:6379") == nil)
        #expect(ClusterTopology.Node(name: "n1", clientAddress: "10.1.2.3:6379", busAddress: "nope") == nil)
    }

    @Test func localRoleFollowsLeadershipAndReplicaHealth() {
        let a = ClusterFixture.topology(me: "spool-a")
        #expect(a.myID == ClusterFixture.a.id)
        #expect(a.me == ClusterFixture.a)
        #expect((0..<3).map(a.localRole(inShard:)) == [.leader, .servingReplica, .servingReplica])
        let c = ClusterFixture.topology(me: "spool-c")
        #expect((0..<3).map(c.localRole(inShard:)) == [.servingReplica, .notServing, .notServing])
        #expect(a.currentEpoch == 7)
        #expect(a.node(named: "spool-b") == ClusterFixture.b)
        #expect(a.node(named: "spool-z") == nil)
    }

    @Test func settingAShardUpdatesTheLocalRole() {
        var topology = ClusterFixture.topology(me: "spool-c")
        #expect(topology.localRole(inShard: 2) == .notServing)
        topology.setShard(
            .init(
                leader: .init(node: ClusterFixture.c, epoch: 9),
                replicas: [.init(node: ClusterFixture.a, health: .online), .init(node: ClusterFixture.b, health: .online)]),
            at: 2)
        #expect(topology.localRole(inShard: 2) == .leader)
        #expect(topology.shards[2].leader?.epoch == 9)
        #expect(topology.currentEpoch == 9)
        topology.setShard(.init(leader: nil, replicas: []), at: 2)
        #expect(topology.localRole(inShard: 2) == .notServing)
    }

    /// A shard whose log has a gap on this node: its copy is loading, so READONLY reads of it go
    /// to the leader (MOVED) until the gap is filled; other shards are served here.
    @Test func aLocalCopyWithAGapSendsReadsToTheLeader() {
        var topology = ClusterFixture.topology(me: "spool-a")
        let key = Array(ClusterFixture.keyInShard1.utf8)
        #expect(topology.route(keys: [key], isWrite: false, connectionIsReadOnly: true) == .local(shard: 1, slot: 9842))
        topology.setLocalCopies(loading: [1])
        #expect(topology.localRole(inShard: 1) == .notServing)
        #expect(topology.shards[1].replicas.first { $0.node == ClusterFixture.a }?.health == .loading)
        #expect(topology.route(keys: [key], isWrite: false, connectionIsReadOnly: true) == .moved(slot: 9842, address: "10.0.0.2:7002"))
        #expect(topology.localRole(inShard: 0) == .leader, "a shard this node leads is not a copy")
        #expect(topology.localRole(inShard: 2) == .servingReplica)
        topology.setLocalCopies(loading: [])
        #expect(topology.localRole(inShard: 1) == .servingReplica)
    }

    @Test func healthIsSpelledAsRedisWritesIt() {
        #expect(ClusterTopology.Health.online.wireName == "online")
        #expect(ClusterTopology.Health.failed.wireName == "fail")
        #expect(ClusterTopology.Health.loading.wireName == "loading")
    }
}
