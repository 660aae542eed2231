import Testing
import SpoolProtocol
@testable import SpoolServer

/// The replicator's real code on real stores, three nodes in one process (`ClusterHarness`):
/// writes commit on a majority and are answered once applied; every node derives the same
/// streams and groups; a failover loses nothing acknowledged; an isolated leader never
/// acknowledges and its uncommitted records are dropped.
@Suite(.serialized) struct ClusterReplicationTests {
    /// Every node's entries of `stream`, as (id, first value).
    static func entries(_ cluster: ClusterHarness, _ node: Int, _ stream: String) -> [String] {
        cluster.read(node, ["XRANGE", stream, "-", "+"])?.elements.compactMap { $0.elements.first?.text } ?? []
    }

    static func acknowledgedIDs(_ cluster: ClusterHarness, _ slots: [UInt64]) -> [String] {
        slots.compactMap { cluster.reply($0)?.text }.filter { !$0.hasPrefix("CLUSTERDOWN") && !$0.hasPrefix("TRYAGAIN") }
    }

    @Test func writesCommitOnAMajorityAndEveryNodeHoldsThem() throws {
        let cluster = try ClusterHarness()
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (0, 10), 1: (1, 11)])
        #expect(cluster.pump(until: { cluster.isServing(0, shard: 0) && cluster.isServing(1, shard: 1) }))
        let slots = (0..<200).map { cluster.propose($0 % 2 == 0 ? 0 : 1, shard: $0 % 2, ["XADD", "s\($0 % 2)", "*", "n", "\($0)"]) }
        #expect(cluster.pump(until: { slots.allSatisfy { cluster.reply($0) != nil } }))
        let acked = Self.acknowledgedIDs(cluster, slots)
        #expect(acked.count == 200)
        for (leader, stream) in [(0, "s0"), (1, "s1")] {
            // The leader answered after applying; followers apply once they hear the commit point.
            let expected = Self.entries(cluster, leader, stream)
            #expect(expected.count == 100)
            #expect(cluster.pump(until: { (0..<3).allSatisfy { Self.entries(cluster, $0, stream) == expected } }))
        }
        // Ids are those the clients were given, strictly increasing.
        let s0 = Self.entries(cluster, 2, "s0")
        #expect(Set(s0).isSubset(of: Set(acked)))
        #expect(s0 == s0.sorted { EntryOrder.less($0, $1) })
    }

    @Test func consumerGroupsAreTheSameOnEveryNode() throws {
        let cluster = try ClusterHarness()
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (2, 5), 1: (2, 6)])
        #expect(cluster.pump(until: { cluster.isServing(2, shard: 0) }))
        var slots: [UInt64] = []
        for n in 0..<20 { slots.append(cluster.propose(2, shard: 0, ["XADD", "jobs", "*", "n", "\(n)"])) }
        slots.append(cluster.propose(2, shard: 0, ["XGROUP", "CREATE", "jobs", "g", "0"]))
        slots.append(cluster.propose(2, shard: 0, ["XREADGROUP", "GROUP", "g", "alice", "COUNT", "7", "STREAMS", "jobs", ">"]))
        slots.append(cluster.propose(2, shard: 0, ["XREADGROUP", "GROUP", "g", "bob", "COUNT", "5", "STREAMS", "jobs", ">"]))
        #expect(cluster.pump(until: { slots.allSatisfy { cluster.reply($0) != nil } }))
        let delivered = cluster.reply(slots[21])?.elements.first?.elements.last?.elements.compactMap { $0.elements.first?.text } ?? []
        #expect(delivered.count == 7)
        let ack = cluster.propose(2, shard: 0, ["XACK", "jobs", "g"] + Array(delivered.prefix(4)))
        #expect(cluster.pump(until: { cluster.reply(ack) != nil }))
        #expect(cluster.reply(ack) == .integer(4))
        let expected = cluster.read(2, ["XPENDING", "jobs", "g", "-", "+", "100"])
        #expect(expected?.elements.count == 8)
        #expect(cluster.pump(until: { (0..<2).allSatisfy { cluster.read($0, ["XPENDING", "jobs", "g", "-", "+", "100"])?.stripIdle == expected?.stripIdle } }))
        #expect(cluster.read(0, ["XINFO", "GROUPS", "jobs"]) == cluster.read(2, ["XINFO", "GROUPS", "jobs"]))
    }

    @Test func producersAreDeduplicatedAndAnEarlySeqIsRefusedOnEveryReplica() throws {
        let cluster = try ClusterHarness()
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (1, 3)])
        #expect(cluster.pump(until: { cluster.isServing(1, shard: 0) }))
        let early = cluster.propose(1, shard: 0, ["XADD", "pay", "PRODUCER", "p1", "SEQ", "2", "*", "n", "2"])
        let first = cluster.propose(1, shard: 0, ["XADD", "pay", "PRODUCER", "p1", "SEQ", "1", "*", "n", "1"])
        let retry = cluster.propose(1, shard: 0, ["XADD", "pay", "PRODUCER", "p1", "SEQ", "1", "*", "n", "1"])
        #expect(cluster.pump(until: { [early, first, retry].allSatisfy { cluster.reply($0) != nil } }))
        #expect(cluster.reply(early)?.text?.hasPrefix("SEQGAP") == true)
        let id = cluster.reply(first)?.text
        #expect(id != nil && cluster.reply(retry)?.text == id, "a resent SEQ gets the first append's id")
        #expect(cluster.pump(until: { (0..<3).allSatisfy { Self.entries(cluster, $0, "pay") == [id!] } }))
    }

    @Test func aFailoverLosesNothingAcknowledged() throws {
        let cluster = try ClusterHarness()
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (0, 1)])
        #expect(cluster.pump(until: { cluster.isServing(0, shard: 0) }))
        let before = (0..<50).map { cluster.propose(0, shard: 0, ["XADD", "orders", "*", "n", "\($0)"]) }
        #expect(cluster.pump(until: { before.allSatisfy { cluster.reply($0) != nil } }))
        // Writes in flight when the leader dies: acknowledged or not, never half.
        let inFlight = (50..<80).map { cluster.propose(0, shard: 0, ["XADD", "orders", "*", "n", "\($0)"]) }
        cluster.pump()
        cluster.stop(0)
        cluster.setLeaders([0: (1, 2)])
        #expect(cluster.pump(until: { cluster.isServing(1, shard: 0) }))
        let after = (80..<100).map { cluster.propose(1, shard: 0, ["XADD", "orders", "*", "n", "\($0)"]) }
        #expect(cluster.pump(until: { after.allSatisfy { cluster.reply($0) != nil } }))
        try cluster.start(0)
        cluster.setLeaders([0: (1, 2)])
        let acked = Self.acknowledgedIDs(cluster, before + inFlight + after)
        #expect(acked.count >= 70)
        let leader = Self.entries(cluster, 1, "orders")
        #expect(Set(acked).isSubset(of: Set(leader)), "an acknowledged entry is missing after the failover")
        #expect(Set(leader).count == leader.count)
        let caughtUp = cluster.pump(until: { (0..<3).allSatisfy { Self.entries(cluster, $0, "orders") == leader } })
        let states = (0..<3).map { node in cluster.onStorage(node) { $0.cluster?.infoText() ?? "" } ?? "" }
        #expect(caughtUp, "the restarted node did not catch up: \(states)")
    }

    /// A node whose data directory was replaced has forgotten the epochs it promised: until etcd
    /// tells it the current leaders' epochs it answers nobody, and from then on it refuses lower
    /// ones, so a deposed leader it once refused cannot commit with it (REPLICATION.md F8 + F3).
    @Test func aWipedNodeTakesItsEpochFloorFromEtcdBeforeAnsweringADeposedLeader() throws {
        let cluster = try ClusterHarness()
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (0, 1)])
        #expect(cluster.pump(until: { cluster.isServing(0, shard: 0) }))
        let first = cluster.propose(0, shard: 0, ["XADD", "log", "*", "n", "epoch-1"])
        #expect(cluster.pump(until: { cluster.reply(first) != nil }))
        // Node 0 is cut off and never hears that node 1 now leads in epoch 2 with node 2.
        cluster.cut.withLock { $0 = [[0, 1], [1, 0], [0, 2], [2, 0]] }
        cluster.setLeaders([0: (1, 2)], nodes: [1, 2])
        #expect(cluster.pump(until: { cluster.isServing(1, shard: 0) }))
        let second = cluster.propose(1, shard: 0, ["XADD", "log", "*", "n", "epoch-2"])
        #expect(cluster.pump(until: { cluster.reply(second) != nil }))
        #expect(Self.acknowledgedIDs(cluster, [second]).count == 1)
        // Node 2's disk is replaced; node 1 is cut off; the deposed node 0 reaches node 2.
        cluster.wipe(2)
        try cluster.start(2)
        cluster.cut.withLock { $0 = [[1, 0], [0, 1], [1, 2], [2, 1]] }
        let beforeFloor = cluster.propose(0, shard: 0, ["XADD", "log", "*", "n", "deposed-before-floor"])
        _ = cluster.pump(until: { false }, seconds: 0.5)
        #expect(cluster.reply(beforeFloor) == nil, "a node with no state answered before learning the epoch floor")
        cluster.setLeaders([0: (1, 2)], nodes: [2])
        let afterFloor = cluster.propose(0, shard: 0, ["XADD", "log", "*", "n", "deposed-after-floor"])
        _ = cluster.pump(until: { false }, seconds: 1)
        #expect(Self.acknowledgedIDs(cluster, [beforeFloor, afterFloor]).isEmpty, "the deposed leader committed with the wiped node")
        let state = cluster.onStorage(2) { $0.cluster?.infoText() ?? "" } ?? ""
        #expect(state.contains("max_epoch_seen=2"), "\(state)")
        // It held data before (etcd's history record says so): a learner, no votes, until it holds
        // what its former self may have acknowledged. Node 1, the leader, reaches it again and
        // appends a join mark for it; once node 2 holds that, it votes again.
        #expect(state.contains("learner=1"), "\(state)")
        cluster.cut.withLock { $0 = [[0, 1], [1, 0], [0, 2], [2, 0]] }
        func shard0(_ node: Int) -> String {
            (cluster.onStorage(node) { $0.cluster?.infoText() ?? "" } ?? "").split(separator: "\r\n").first { $0.hasPrefix("spool_cluster_shard0:") }
                .map(String.init) ?? "learner (no answer)"
        }
        #expect(cluster.pump(until: { !shard0(2).contains("learner") }), "\(shard0(2))")
        #expect(Self.entries(cluster, 2, "log") == Self.entries(cluster, 1, "log"))
    }

    @Test func anIsolatedLeaderNeverAcknowledgesAndItsTailIsDropped() throws {
        let cluster = try ClusterHarness(quorumTimeoutMilliseconds: 400)
        defer { cluster.shutdown() }
        cluster.setLeaders([0: (0, 1)])
        #expect(cluster.pump(until: { cluster.isServing(0, shard: 0) }))
        let first = cluster.propose(0, shard: 0, ["XADD", "log", "*", "n", "committed"])
        #expect(cluster.pump(until: { cluster.reply(first) != nil }))
        // Cut node 0 off from both followers.
        cluster.cut.withLock { $0 = [[0, 1], [1, 0], [0, 2], [2, 0]] }
        let isolated = (0..<10).map { cluster.propose(0, shard: 0, ["XADD", "log", "*", "n", "isolated-\($0)"]) }
        // It steps down once it has not heard from a majority for the quorum timeout: the writes
        // fail, none is acknowledged.
        #expect(cluster.pump(until: { isolated.allSatisfy { cluster.reply($0) != nil } }))
        #expect(Self.acknowledgedIDs(cluster, isolated).isEmpty)
        #expect(cluster.resigned.withLock { $0.contains { $0.node == 0 && $0.shard == 0 } })
        cluster.setLeaders([0: (1, 2)])
        #expect(cluster.pump(until: { cluster.isServing(1, shard: 0) }))
        let second = cluster.propose(1, shard: 0, ["XADD", "log", "*", "n", "after"])
        #expect(cluster.pump(until: { cluster.reply(second) != nil }))
        cluster.cut.withLock { $0 = [] }
        let expected = Self.entries(cluster, 1, "log")
        #expect(expected.count == 2)
        #expect(cluster.pump(until: { Self.entries(cluster, 0, "log") == expected }), "the old leader kept its uncommitted records")
    }
}

/// Entry ids compared as (ms, seq).
enum EntryOrder {
    static func less(_ a: String, _ b: String) -> Bool {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let split = id.split(separator: "-")
            return (UInt64(split[0]) ?? 0, UInt64(split.count > 1 ? split[1] : "0") ?? 0)
        }
        return parts(a) < parts(b)
    }
}

extension RESPValue {
    /// XPENDING's extended form without the idle times (they differ by when each node applied).
    var stripIdle: [[String]] {
        elements.map { row in
            row.elements.enumerated().compactMap { index, value in
                index == 2 ? nil : (value.text ?? (value.integerValue.map(String.init) ?? ""))
            }
        }
    }
}
