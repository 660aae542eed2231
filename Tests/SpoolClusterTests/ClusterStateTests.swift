import Testing

@testable import SpoolCluster

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The coordinator's I/O-free parts: the key layout, the mirror's ordering rule, the campaign
/// policy, and the gateway's JSON mapping.
@Suite struct ClusterStateTests {
    let keyspace = ClusterKeyspace(clusterName: "c1")

    @Test func keyspaceClassifiesOnlyItsOwnNodeAndLeaderKeys() {
        #expect(keyspace.nodeKey("a") == "/spool/v1/c1/nodes/a")
        #expect(keyspace.leaderKey(shard: 3) == "/spool/v1/c1/shards/3/leader")
        #expect(keyspace.classify("/spool/v1/c1/nodes/a") == .node("a"))
        #expect(keyspace.classify("/spool/v1/c1/shards/3/leader") == .leader(shard: 3))
        #expect(keyspace.classify("/spool/v1/c1/shards/3/config") == .other)
        #expect(keyspace.classify("/spool/v1/c1/shards/03/leader") == .other)
        #expect(keyspace.classify("/spool/v1/c1/shards/-1/leader") == .other)
        #expect(keyspace.classify("/spool/v1/c1/nodes/") == .other)
        #expect(keyspace.classify("/spool/v1/c1/nodes/a/b") == .other)
        #expect(keyspace.classify("/spool/v1/c2/nodes/a") == .other)
        #expect(keyspace.classify(keyspace.bumpKey) == .other)
    }

    func leaderKeyValue(shard: Int, node: String, createRevision: Int64, modRevision: Int64? = nil, lease: Int64 = 7)
        -> EtcdKeyValue
    {
        EtcdKeyValue(
            key: keyspace.leaderKey(shard: shard),
            value: ClusterKeyspace.encode(LeaderRecord(node: node, addr: "\(node):1", bus: "\(node):2")),
            createRevision: createRevision, modRevision: modRevision ?? createRevision, version: 1, lease: lease)
    }

    func leaderDeleted(shard: Int, at revision: Int64) -> WatchEvent {
        WatchEvent(
            kind: .delete,
            keyValue: EtcdKeyValue(
                key: keyspace.leaderKey(shard: shard), value: [], createRevision: 0, modRevision: revision, version: 0,
                lease: 0))
    }

    func leaderPut(shard: Int, node: String, at revision: Int64) -> WatchEvent {
        WatchEvent(kind: .put, keyValue: leaderKeyValue(shard: shard, node: node, createRevision: revision))
    }

    @Test func mirrorLoadsARangeAndAppliesWatchEvents() {
        var mirror = ClusterMirror(keyspace: keyspace, shardCount: 4)
        let node = EtcdKeyValue(
            key: keyspace.nodeKey("a"), value: ClusterKeyspace.encode(NodeRecord(addr: "a:1", bus: "a:2", version: "v")),
            createRevision: 2, modRevision: 2, version: 1, lease: 7)
        mirror.load(EtcdRangeResult(revision: 10, keyValues: [node, leaderKeyValue(shard: 1, node: "a", createRevision: 5)]))
        #expect(mirror.nodes == ["a": ClusterView.Node(address: "a:1", busAddress: "a:2", version: "v")])
        #expect(mirror.leaders[1] == ClusterView.Leader(nodeID: "a", address: "a:1", busAddress: "a:2", epoch: 5, leaseID: 7))
        #expect(mirror.revision == 10)

        // An event at or below the loaded revision is already in the range.
        var changed = mirror.apply(leaderDeleted(shard: 1, at: 9))
        #expect(!changed)
        #expect(mirror.leaders[1] != nil)

        changed = mirror.apply(leaderDeleted(shard: 1, at: 11))
        #expect(changed)
        #expect(mirror.leaders[1] == nil)
        changed = mirror.apply(leaderPut(shard: 2, node: "b", at: 12))
        #expect(changed)
        #expect(mirror.leaders[2]?.epoch == 12)
        #expect(mirror.revision == 12)
        // Shards outside the configured count are not shown.
        changed = mirror.apply(leaderPut(shard: 9, node: "b", at: 13))
        #expect(!changed)
        #expect(mirror.leaders[9] == nil)
    }

    @Test func mirrorNeverGoesBackInTimeForAKey() {
        var mirror = ClusterMirror(keyspace: keyspace, shardCount: 1)
        mirror.load(EtcdRangeResult(revision: 4, keyValues: []))
        // A campaign's answer (revision 8) arrives before the watch delivers older history.
        var changed = mirror.put(leaderKeyValue(shard: 0, node: "a", createRevision: 8), observedAt: 8)
        #expect(changed)
        changed = mirror.apply(leaderPut(shard: 0, node: "z", at: 6))
        #expect(!changed)
        changed = mirror.apply(leaderDeleted(shard: 0, at: 7))
        #expect(!changed)
        #expect(mirror.leaders[0]?.nodeID == "a")
        // The watch's copy of the same put changes nothing.
        changed = mirror.apply(leaderPut(shard: 0, node: "a", at: 8))
        #expect(!changed)
        changed = mirror.delete(keyspace.leaderKey(shard: 0), observedAt: 9)
        #expect(changed)
        #expect(mirror.leaders[0] == nil)
    }

    @Test func mirrorKeepsAnUndecodableLeaderSoNobodyCampaignsAgainstIt() {
        var mirror = ClusterMirror(keyspace: keyspace, shardCount: 1)
        let garbage = EtcdKeyValue(
            key: keyspace.leaderKey(shard: 0), value: Array("not json".utf8), createRevision: 3, modRevision: 3,
            version: 1, lease: 0)
        mirror.load(EtcdRangeResult(revision: 3, keyValues: [garbage]))
        #expect(mirror.leaders[0] == ClusterView.Leader(nodeID: "", address: "", busAddress: "", epoch: 3, leaseID: 0))
    }

    @Test func policyCampaignsAtOnceForPreferredShardsAndLaterForOthers() {
        let policy = CampaignPolicy(nodeID: "b", memberNodeIDs: ["a", "b", "c"], nonPreferredDelay: .seconds(4))
        let all: [Int: Duration] = [0: .seconds(1), 1: .zero, 2: .seconds(1), 4: .zero, 5: .seconds(5)]
        // b prefers 1 and 4; 5 has waited long enough; 0 and 2 have not, and a and c are alive.
        #expect(policy.shardsDue(leaderlessFor: all, registered: ["a", "b", "c"], seen: ["a", "b", "c"]) == [1, 4, 5])
        // a left (seen, now gone): its shard 0 is taken at once. c never registered: wait.
        #expect(policy.shardsDue(leaderlessFor: all, registered: ["b"], seen: ["a", "b"]) == [1, 4, 0, 5])
        // c is registered but cut off from b (unheard on the bus): its shard 2 is taken at once.
        #expect(
            policy.shardsDue(leaderlessFor: all, registered: ["a", "b", "c"], seen: ["a", "b", "c"], unheard: ["c"]) == [1, 4, 2, 5])
    }

    @Test func policyNeverCampaignsForANonMember() {
        let policy = CampaignPolicy(nodeID: "x", memberNodeIDs: ["a", "b"], nonPreferredDelay: .zero)
        #expect(policy.shardsDue(leaderlessFor: [0: .seconds(9)], registered: [], seen: []).isEmpty)
    }

    @Test func viewLeadershipCountsOnlyKeysUnderTheCurrentValidLease() {
        var view = ClusterView(
            nodeID: "a",
            leaders: [
                0: .init(nodeID: "a", address: "", busAddress: "", epoch: 5, leaseID: 1),
                1: .init(nodeID: "a", address: "", busAddress: "", epoch: 9, leaseID: 2),
                2: .init(nodeID: "b", address: "", busAddress: "", epoch: 7, leaseID: 3),
            ], leaseID: 2, leaseValid: true)
        #expect(view.leadership == [1: 9])
        #expect(view.shards(ledBy: "a") == [0, 1])
        view.leaseValid = false
        #expect(view.leadership.isEmpty)
    }

    @Test func int64sDecodeFromStringsOrNumbersAndEncodeAsStrings() throws {
        struct Holder: Codable { var n: WireInt64 }
        let decoder = JSONDecoder()
        #expect(try decoder.decode(Holder.self, from: Data(#"{"n":"7587862066386196741"}"#.utf8)).n.value == 7587862066386196741)
        #expect(try decoder.decode(Holder.self, from: Data(#"{"n":-3}"#.utf8)).n.value == -3)
        #expect(throws: DecodingError.self) { try decoder.decode(Holder.self, from: Data(#"{"n":"x"}"#.utf8)) }
        let encoded = String(decoding: try JSONEncoder().encode(Holder(n: WireInt64(42))), as: UTF8.self)
        #expect(encoded == #"{"n":"42"}"#)
    }

    @Test func prefixRangeEndIncrementsTheLastByteBelow0xff() {
        #expect(WireBase64.rangeEnd(forPrefix: Array("/a/".utf8)) == Array("/a0".utf8))
        #expect(WireBase64.rangeEnd(forPrefix: [0x61, 0xff, 0xff]) == [0x62])
        #expect(WireBase64.rangeEnd(forPrefix: [0xff]) == [0])
        #expect(WireBase64.rangeEnd(forPrefix: []) == [0])
    }

    @Test func compareAndRequestEncodeToTheGatewaysShapes() throws {
        let compare = WireCompare(.isAbsent("/k"))
        let text = String(decoding: try JSONEncoder().encode(compare), as: UTF8.self)
        #expect(text.contains(#""target":"CREATE""#))
        #expect(text.contains(#""result":"EQUAL""#))
        #expect(text.contains(#""create_revision":"0""#))
        #expect(text.contains(#""key":"L2s=""#))
        let put = String(decoding: try JSONEncoder().encode(WireRequestOp(.put(key: "/k", value: [1], lease: 0))), as: UTF8.self)
        #expect(put.contains(#""request_put""#) && !put.contains("lease"))
    }

    @Test func configurationRejectsUnusableSettings() {
        var configuration = ClusterConfiguration(
            endpoints: ["http://127.0.0.1:2379"], clusterName: "c", nodeID: "a", clientAddress: "h:1", busAddress: "h:2",
            shardCount: 4, memberNodeIDs: ["a", "b"])
        #expect(throws: Never.self) { try configuration.validate() }
        configuration.leaseMargin = .seconds(2)
        #expect(throws: ClusterConfiguration.Invalid.self) { try configuration.validate() }
        configuration.leaseMargin = .milliseconds(500)
        configuration.nodeID = "a/b"
        #expect(throws: ClusterConfiguration.Invalid.self) { try configuration.validate() }
        configuration.nodeID = "a"
        configuration.memberNodeIDs = ["a", "a"]
        #expect(throws: ClusterConfiguration.Invalid.self) { try configuration.validate() }
    }
}
