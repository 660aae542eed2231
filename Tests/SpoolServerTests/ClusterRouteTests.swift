import Testing
import SpoolProtocol
@testable import SpoolServer

/// Routing decisions on the three-shard fixture (shard 0 led by a, shard 1 by b, shard 2 without a
/// leader; c loading in shard 1 and failed in shard 2), as Redis's getNodeByQuery would decide.
@Suite struct ClusterRouteTests {
    private func keys(_ texts: String...) -> [[UInt8]] {
        texts.map { Array($0.utf8) }
    }

    private func slot(_ key: String) -> Int {
        HashSlot.slot(forKey: Array(key.utf8))
    }

    private let a = ClusterFixture.topology(me: "spool-a")
    private let c = ClusterFixture.topology(me: "spool-c")

    @Test func commandWithoutKeysRunsAnywhere() {
        for isWrite in [false, true] {
            #expect(a.route(keys: [[UInt8]](), isWrite: isWrite, connectionIsReadOnly: false) == .noKeys)
            #expect(c.route(keys: [[UInt8]](), isWrite: isWrite, connectionIsReadOnly: true) == .noKeys)
        }
    }

    @Test func leaderServesReadsAndWritesOfItsShard() {
        let key = ClusterFixture.keyInShard0
        for isWrite in [false, true] {
            for readOnly in [false, true] {
                #expect(
                    a.route(keys: keys(key), isWrite: isWrite, connectionIsReadOnly: readOnly)
                        == .local(shard: 0, slot: slot(key)))
            }
        }
    }

    /// Without READONLY a read goes to the leader, as Redis sends reads to the master.
    @Test func nonLeaderMovesWritesAndPlainReadsToTheLeader() {
        let key = ClusterFixture.keyInShard1
        let moved = ClusterRoute.moved(slot: slot(key), address: "10.0.0.2:7002")
        #expect(a.route(keys: keys(key), isWrite: true, connectionIsReadOnly: false) == moved)
        #expect(a.route(keys: keys(key), isWrite: false, connectionIsReadOnly: false) == moved)
        #expect(a.route(keys: keys(key), isWrite: true, connectionIsReadOnly: true) == moved)
        #expect(moved.errorText == "MOVED 9842 10.0.0.2:7002")
        #expect(moved.errorReplyBytes == Array("-MOVED 9842 10.0.0.2:7002\r\n".utf8))
    }

    @Test func readOnlyConnectionReadsFromAnOnlineReplica() {
        let key = ClusterFixture.keyInShard1
        #expect(a.route(keys: keys(key), isWrite: false, connectionIsReadOnly: true) == .local(shard: 1, slot: slot(key)))
        #expect(a.route(keys: keys(key), isWrite: false, connectionIsReadOnly: true).errorText == nil)
        // c is still loading shard 1: it redirects even READONLY reads.
        #expect(
            c.route(keys: keys(key), isWrite: false, connectionIsReadOnly: true)
                == .moved(slot: slot(key), address: "10.0.0.2:7002"))
        // c is an online replica of shard 0.
        let key0 = ClusterFixture.keyInShard0
        #expect(c.route(keys: keys(key0), isWrite: false, connectionIsReadOnly: true) == .local(shard: 0, slot: slot(key0)))
        #expect(
            c.route(keys: keys(key0), isWrite: true, connectionIsReadOnly: true)
                == .moved(slot: slot(key0), address: "10.0.0.1:7001"))
    }

    @Test func shardWithoutLeaderIsDownExceptForReadOnlyReadsOnAnOnlineReplica() {
        let key = ClusterFixture.keyInShard2
        #expect(a.route(keys: keys(key), isWrite: true, connectionIsReadOnly: false) == .clusterDown)
        #expect(a.route(keys: keys(key), isWrite: true, connectionIsReadOnly: true) == .clusterDown)
        #expect(a.route(keys: keys(key), isWrite: false, connectionIsReadOnly: false) == .clusterDown)
        #expect(a.route(keys: keys(key), isWrite: false, connectionIsReadOnly: true) == .local(shard: 2, slot: slot(key)))
        // c failed in shard 2.
        #expect(c.route(keys: keys(key), isWrite: false, connectionIsReadOnly: true) == .clusterDown)
        #expect(ClusterRoute.clusterDown.errorText == "CLUSTERDOWN Hash slot not served")
        #expect(ClusterRoute.clusterDown.errorReplyBytes == Array("-CLUSTERDOWN Hash slot not served\r\n".utf8))
    }

    @Test func keysInDifferentSlotsAreCrossSlotAndHashTagsKeepThemTogether() {
        #expect(a.route(keys: keys("bar", "{foo}bar"), isWrite: true, connectionIsReadOnly: false) == .crossSlot)
        #expect(a.route(keys: keys("bar", "{bar}x"), isWrite: true, connectionIsReadOnly: false) == .local(shard: 0, slot: 5061))
        // Different slots of the same shard are still CROSSSLOT: Redis checks slots, not nodes.
        #expect(slot("bar") != slot("a{b}c") && a.shard(ofSlot: slot("bar")) == a.shard(ofSlot: slot("a{b}c")))
        #expect(a.route(keys: keys("bar", "a{b}c"), isWrite: false, connectionIsReadOnly: false) == .crossSlot)
        #expect(
            a.route(keys: keys("{user1000}.following", "{user1000}.followers", "user1000"), isWrite: true, connectionIsReadOnly: false)
                == .local(shard: 0, slot: 3443))
        #expect(
            a.route(keys: keys("bar", "foo{bar}{zap}", "bar"), isWrite: true, connectionIsReadOnly: false)
                == .local(shard: 0, slot: 5061))
        #expect(ClusterRoute.crossSlot.errorText == "CROSSSLOT Keys in request don't hash to the same slot")
        // A cross-slot command whose keys all belong to another leader's shard is still CROSSSLOT.
        #expect(a.route(keys: keys("user:info{1}", "foo{}{bar}"), isWrite: true, connectionIsReadOnly: false) == .crossSlot)
    }

    /// Redis looks up the first key's node before it hashes the other keys, so an unserved first
    /// slot is CLUSTERDOWN even when the keys also cross slots; a served one is CROSSSLOT.
    @Test func firstKeyDecidesBetweenClusterDownAndCrossSlot() {
        #expect(
            a.route(keys: keys(ClusterFixture.keyInShard2, ClusterFixture.keyInShard0), isWrite: true, connectionIsReadOnly: false)
                == .clusterDown)
        #expect(
            a.route(keys: keys(ClusterFixture.keyInShard0, ClusterFixture.keyInShard2), isWrite: true, connectionIsReadOnly: false)
                == .crossSlot)
        #expect(
            a.route(keys: keys(ClusterFixture.keyInShard1, ClusterFixture.keyInShard0), isWrite: true, connectionIsReadOnly: false)
                == .crossSlot)
    }

    /// Keys usually arrive as views into the request's buffer.
    @Test func routesKeysThatAreViewsIntoARequest() {
        let request = Array("MGET {user1000}.following {user1000}.followers".utf8)
        let views = [request[5..<25], request[26..<46]]
        #expect(String(decoding: views[1], as: UTF8.self) == "{user1000}.followers")
        #expect(a.route(keys: views, isWrite: false, connectionIsReadOnly: false) == .local(shard: 0, slot: 3443))
        let lazy = views.lazy.map { $0 }
        #expect(c.route(keys: lazy, isWrite: true, connectionIsReadOnly: false) == .moved(slot: 3443, address: "10.0.0.1:7001"))
    }

    @Test(arguments: [1, 16, 16384])
    func everyKeyOfALedShardRunsOnItsLeader(shardCount: Int) {
        let a = ClusterFixture.a
        let b = ClusterFixture.b
        var shards: [ClusterTopology.Shard] = []
        for index in 0..<shardCount {
            let leader = index % 2 == 0 ? a : b
            shards.append(
                .init(leader: .init(node: leader, epoch: 1), replicas: [.init(node: leader == a ? b : a, health: .online)]))
        }
        let topology = ClusterTopology(myName: "spool-a", nodes: [a, b], shards: shards)
        for key in ["somekey", "foo", "bar", "{user1000}.following", "123456789", "8HMdi"] {
            let keySlot = slot(key)
            let shard = ClusterTopology.shard(ofSlot: keySlot, shardCount: shardCount)
            let expected: ClusterRoute =
                shard % 2 == 0 ? .local(shard: shard, slot: keySlot) : .moved(slot: keySlot, address: "10.0.0.2:7002")
            #expect(topology.route(keys: keys(key), isWrite: true, connectionIsReadOnly: false) == expected)
        }
    }
}
