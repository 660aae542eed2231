/// Which leaderless shards this node campaigns for, and when. No I/O, no clock: the caller
/// passes how long each shard has been leaderless.
///
/// Leadership is spread by the fixed member list: shard `s` is preferred by member
/// `s % members.count`. A node campaigns at once for the shards it prefers. For another
/// member's shard it waits `nonPreferredDelay` (so that member, if alive, wins its own), except
/// when that member is known to have left (it was registered and its node key is gone): then
/// nobody else will take the shard, and waiting would only lengthen the failover.
/// A node that is not a member never campaigns (REPLICATION.md 5.2: only members hold the data).
struct CampaignPolicy: Sendable, Equatable {
    let nodeID: String
    let memberNodeIDs: [String]
    let nonPreferredDelay: Duration

    init(nodeID: String, memberNodeIDs: [String], nonPreferredDelay: Duration) {
        precondition(!memberNodeIDs.isEmpty && nonPreferredDelay >= .zero)
        self.nodeID = nodeID
        self.memberNodeIDs = memberNodeIDs
        self.nonPreferredDelay = nonPreferredDelay
    }

    var isMember: Bool { memberNodeIDs.contains(nodeID) }

    func preferredMember(of shard: Int) -> String {
        memberNodeIDs[shard % memberNodeIDs.count]
    }

    /// The shards to campaign for now, preferred ones first, each list in shard order.
    /// `leaderlessFor` holds every shard without a leader key and how long it has had none;
    /// `registered` the node ids with a node key, `seen` those ever seen with one, `unheard` the
    /// members this node does not hear over the cluster bus now: a preferred member that is
    /// registered but unheard (cut off from its peers, still reaching etcd) cannot serve the
    /// shard, so nobody waits for it.
    func shardsDue(leaderlessFor: [Int: Duration], registered: Set<String>, seen: Set<String>, unheard: Set<String> = []) -> [Int] {
        guard isMember else { return [] }
        var preferred: [Int] = []
        var others: [Int] = []
        for (shard, leaderless) in leaderlessFor {
            let owner = preferredMember(of: shard)
            if owner == nodeID {
                preferred.append(shard)
            } else if (seen.contains(owner) && !registered.contains(owner)) || unheard.contains(owner) || leaderless >= nonPreferredDelay {
                others.append(shard)
            }
        }
        return preferred.sorted() + others.sorted()
    }
}
