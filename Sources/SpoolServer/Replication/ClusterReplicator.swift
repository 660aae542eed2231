import SpoolCluster
import SpoolCore
import SpoolProtocol
import SpoolReplication
import SpoolStorage

/// Work a storage batch hands to the cluster side of the server (`Server.deliver`), on whichever
/// thread delivers it: frames to peers, a flush that finished, a leadership to give up.
enum ClusterAction: Sendable {
    struct Frame: Sendable {
        let peer: Int
        let bytes: [UInt8]
    }
    /// Frames for peers, in order.
    case send([Frame])
    /// The flush covering the shard's log up to `seq` finished: tell the replication core (a job
    /// for the storage thread). `truncations` guards against a truncation in between.
    case synced(shard: Int, seq: UInt64, truncations: UInt64)
    /// Give up the shard's leader key in etcd (this node stepped down, or won an epoch it had
    /// already seen: then etcd's revision is bumped first).
    case resign(shard: Int, epoch: UInt64, bump: Bool)
    /// Give up the shard's leader key of `epoch` and campaign for it again at once: a new epoch
    /// under the configuration that just replaced the one `epoch` was elected under.
    case reelect(shard: Int, epoch: UInt64)
    /// A new view from etcd, for the loop thread's topology.
    case view(ClusterView)
    /// The shards whose log has a gap on this node now (it serves no reads of them), and those it
    /// is behind in otherwise: a learner of (it lost its state and does not vote yet), or, added
    /// to the cluster, not caught up with yet. It campaigns for none of them.
    case catchingUp(gaps: Set<Int>, behind: Set<Int>)
    /// This node's answer, as the shard's leader in `epoch`, to the membership change under way.
    case approve(shard: Int, epoch: UInt64, MemberApproval)
}

/// A client waiting for its write to commit.
struct PendingReply: Sendable {
    let connection: UInt64
    let slot: UInt64
    let version: RESPVersion
    let replyCount: Int
    /// XREADGROUP … BLOCK that found nothing and waits: when its BLOCK runs out (monotonic
    /// nanoseconds; nil for BLOCK 0, forever), kept across the times it is proposed again.
    var blockDeadline: UInt64?
}

/// XREADGROUP … BLOCK on a leader that found nothing: it waits here, outside the log, and is
/// proposed again (a new record) when a record appends to one of its streams, so the delivery it
/// then makes is replicated like any other.
struct ParkedRead {
    let shard: Int
    let body: [UInt8]
    var reply: PendingReply
    let keys: [StreamKey]
}

/// A cluster node's side of replication, on the storage thread: one `ReplicaNode` per shard over
/// its WiredTiger log, driven by proposals from clients, frames from peers, flush notices and the
/// coordinator's leaders; committed records are applied through the executor and their replies
/// sent. Storage thread only.
final class ClusterReplicator {
    struct Settings: Sendable {
        var cluster: String
        var myIndex: Int
        /// The configuration from the node's own seed list (version 0), until etcd's arrives.
        var seedMembers: MemberConfig
        var shardCount: Int
        var heartbeatNanoseconds: UInt64 = 50_000_000
        /// A leader that has not heard from a majority for this long steps down (Raft's CheckQuorum).
        var quorumTimeoutNanoseconds: UInt64 = 1_000_000_000
        var entriesPerMessageMax = 256
        /// Followers this many committed records behind join with a gap (`ReplicaNode`).
        var gapThreshold: UInt64 = 10_000
        /// A backfill request not answered within this goes to another peer.
        var backfillTimeoutNanoseconds: UInt64 = 1_000_000_000
        /// Bytes a second of records a gap is filled with at most (0: no limit).
        var backfillBytesPerSecond: UInt64 = 16_000_000
    }

    final class Shard {
        let index: Int
        var node: ReplicaNode<StoredReplicaLog>
        var pending: [UInt64: PendingReply] = [:]
        var appliedSeq: UInt64
        var savedState: ReplicationTable.ShardState
        /// The last time a record was stamped with: records' times never go back.
        var lastNowMilliseconds: UInt64 = 0
        /// When this node began leading, and when it last heard each peer in its epoch.
        var leadingSince: UInt64 = 0
        var lastHeard: [Int: UInt64] = [:]
        var logAppended = false
        /// Flushes this node is waiting for: (generation, the log's tail then, its truncations).
        var unsynced: [(generation: UInt64, seq: UInt64, truncations: UInt64)] = []
        /// Filling a gap: the peer asked, when (nil: no request out), and when to ask again after
        /// a peer had nothing to give.
        var backfillPeer: Int?
        var backfillSentAt: UInt64?
        var backfillRetryAt: UInt64 = 0
        /// Records (and their bytes) this node filled its gaps with since it started.
        var backfilledRecords: UInt64 = 0
        var backfilledBytes: UInt64 = 0
        /// The configuration version the epoch this node leads was elected under (nil: unknown),
        /// and its last answer to a membership change.
        var electedConfig: Int?
        var approvalSent: MemberApproval?
        /// The last epoch this node won under a configuration that had changed, and gave up.
        var outdatedEpoch: UInt64?

        init(index: Int, node: ReplicaNode<StoredReplicaLog>, state: ReplicationTable.ShardState) {
            self.index = index
            self.node = node
            self.appliedSeq = state.appliedSeq
            self.savedState = state
        }
    }

    /// A shard's leader as etcd names it: its bus index, its epoch, and the configuration it was
    /// elected under (nil: a record that does not say; the current one is used).
    struct Elected: Sendable {
        var node: Int
        var epoch: UInt64
        var configVersion: Int?
        var members: [Int]?
    }

    let settings: Settings
    /// The configuration in use (the seed list until etcd's arrives), and the membership change
    /// under way, if any.
    private(set) var config: MemberConfig
    private var proposal: MemberProposal?
    private unowned let executor: Executor
    private let table: ReplicationTable
    private(set) var shards: [Shard] = []
    /// Frames and outcomes the batch in progress produced.
    private var immediateFrames: [ClusterAction.Frame] = []
    private var durableFrames: [ClusterAction.Frame] = []
    private var replies: [DeferredOutcome<ServerOutcome>] = []
    private var actions: [ClusterAction] = []
    private var promiseChanged = false
    private var nextHeartbeat: UInt64 = 0
    private var parked: [ParkedRead] = []
    /// Records applied in the batch in progress, and whether committed ones wait for the next.
    private var appliedThisBatch = 0
    private var backlog = false
    /// The shards with a gap, and those this node is a learner of (or every shard while it awaits
    /// its floor), as the loop thread and the coordinator last heard (nil: never told).
    private var announced: (gaps: Set<Int>, behind: Set<Int>)?
    /// This node started with no state and was not a member when it first read the cluster's
    /// configuration: it is being added to a live cluster. It takes no leadership of a shard
    /// (which would begin by fetching the whole history) until it has caught up with a leader of
    /// it once. (A new cluster's nodes are all in its first configuration.)
    private var startedWithoutState = false
    private var membershipRead = false
    private var joining: Set<Int> = []
    /// No shard has any replication state here (a new or wiped data directory): the node may have
    /// promised epochs it no longer remembers, so it answers no peer until etcd, reachable, has
    /// told it the current leaders' epochs (`leadersChanged`), which become its floor.
    private(set) var awaitsEpochFloor = false
    /// Whether etcd's record says this node held data before (`ClusterLink.registerHistory`); nil
    /// until it answered. With no state here, it decides between a new node and a lost disk.
    private var formerLife: Bool?
    /// The last leaders etcd gave while the floor was awaited, and its revision then.
    private var leadersAwaitingFloor: (leaders: [Int: Elected], revision: UInt64)?
    static let appliedRecordsPerBatchMax = 256
    static let leadershipLost = "CLUSTERDOWN this node lost the shard's leadership; the write may or may not have been applied"

    init(settings: Settings, executor: Executor) throws(WiredTigerError) {
        self.settings = settings
        self.executor = executor
        config = settings.seedMembers
        table = try executor.store.openReplicationTable()
        for index in 0..<settings.shardCount { shards.append(try loadShard(index)) }
        awaitsEpochFloor = hasNoState
        startedWithoutState = awaitsEpochFloor
    }

    /// Whether no shard holds any replication state (see `awaitsEpochFloor`).
    private var hasNoState: Bool {
        shards.allSatisfy { $0.savedState == ReplicationTable.ShardState() && $0.node.log.tail.seq == 0 }
    }

    private func loadShard(_ index: Int) throws(WiredTigerError) -> Shard {
        let state = try table.shardState(index)
        let log = try StoredReplicaLog(table: table, shard: index, gap: state.gap)
        let node = ReplicaNode(
            id: settings.myIndex, members: config.indices, log: log, maxEpochSeen: state.maxEpochSeen,
            commitSeq: min(state.appliedSeq, log.heldThrough), entriesPerMessageMax: settings.entriesPerMessageMax,
            gapThreshold: settings.gapThreshold, learner: state.learner.map { Learner(incarnation: $0.incarnation, since: $0.since) })
        return Shard(index: index, node: node, state: state)
    }

    // MARK: Inputs

    /// A client's write for `shard` (the loop thread found this node leads it): appended to the
    /// shard's log and answered once it commits and is applied.
    func propose(shard index: Int, body: [UInt8], reply: PendingReply) throws(WiredTigerError) -> ServerOutcome {
        let shard = shards[index]
        guard shard.node.isServing else {
            let message =
                shard.node.isLeading
                ? "TRYAGAIN this node is taking over the shard; retry shortly" : "TRYAGAIN this node does not lead the shard (any more); retry"
            return ServerOutcome(kind: .reply, connection: reply.connection, slot: reply.slot, bytes: Self.errors(message, for: reply))
        }
        let now = max(wallClockMilliseconds(), shard.lastNowMilliseconds)
        shard.lastNowMilliseconds = now
        guard let seq = try shard.node.propose(ReplicatedRecord.encode(nowMilliseconds: now, body: body)) else {
            preconditionFailure("a serving leader takes every proposal")
        }
        shard.pending[seq] = reply
        shard.logAppended = true
        return .nothing
    }

    /// A frame from a peer.
    func receive(shard index: Int, _ envelope: Envelope<[UInt8]>) throws(WiredTigerError) {
        guard index < shards.count, config.member(at: envelope.from) != nil, envelope.from != settings.myIndex, !awaitsEpochFloor
        else { return }
        let shard = shards[index]
        try catchUpSyncs(shard)
        let message = Envelope(from: envelope.from, to: settings.myIndex, message: envelope.message)
        if let leader = shard.node.leader {
            switch message.message {
            case .epochState(let epoch, _), .replicateAck(let epoch, _, _), .replicateNack(let epoch, _), .fetchReply(let epoch, _, _, _),
                .gapRefused(let epoch):
                if epoch == leader.epoch { shard.lastHeard[message.from] = monotonicNanoseconds() }
            default: break
            }
        }
        if case .backfillReply(_, let entries) = message.message, message.from == shard.backfillPeer {
            shard.backfillSentAt = nil
            if entries.isEmpty {
                // Nothing to give (behind, or a gap of its own): another peer, a little later.
                shard.backfillPeer = nextPeer(after: message.from)
                shard.backfillRetryAt = monotonicNanoseconds() + 100_000_000
            }
        }
        let gapBefore = shard.node.log.gap
        let wasLearner = shard.node.learner != nil
        let wasLeading = shard.node.leader?.epoch
        let wasServing = shard.node.isServing
        let before = shard.node.log.tail
        let output = try shard.node.receive(message)
        if shard.node.log.tail != before { shard.logAppended = true }
        if let gapBefore, case .backfillReply(_, let entries) = message.message {
            let filledTo = shard.node.log.gap?.next ?? gapBefore.end.seq + 1
            var bytes: UInt64 = 0
            for entry in entries where entry.seq >= gapBefore.next && entry.seq < filledTo {
                shard.backfilledRecords += 1
                bytes += UInt64(entry.payload.count)
            }
            shard.backfilledBytes += bytes
            // Paced: the next request waits as long as these bytes take at the backfill rate.
            let rate = settings.backfillBytesPerSecond
            if rate > 0 { shard.backfillRetryAt = max(shard.backfillRetryAt, monotonicNanoseconds() + bytes * 1_000_000_000 / rate) }
        }
        if gapBefore == nil, let gap = shard.node.log.gap {
            logEvent("cluster: shard \(index): joined at the leader's commit point \(gap.end.seq) with a gap from \(gap.next); filling it from peers")
        } else if let gapBefore, shard.node.log.gap == nil {
            logEvent("cluster: shard \(index): gap filled through \(gapBefore.end.seq)")
        }
        if wasLearner, shard.node.learner == nil { logEvent("cluster: shard \(index): holds its join mark; votes again") }
        if let wasLeading, shard.node.leader?.epoch != wasLeading {
            logEvent("cluster: shard \(index): epoch \(wasLeading) superseded (a peer saw epoch \(shard.node.maxEpochSeen)); stepping down")
            failPending(shard, Self.leadershipLost)
            actions.append(.resign(shard: index, epoch: wasLeading, bump: false))
        } else if !wasServing, shard.node.isServing, let leader = shard.node.leader {
            logEvent("cluster: shard \(index): serving as leader in epoch \(leader.epoch), log at \(shard.node.log.tail.seq)")
        }
        try take(output, shard)
    }

    /// The flush covering the shard's log up to `seq` finished (the notice comes back through the
    /// engine's delivery when nothing else brought the news first).
    func synced(shard index: Int, seq: UInt64, truncations: UInt64) throws(WiredTigerError) {
        let shard = shards[index]
        try catchUpSyncs(shard)
        guard shard.node.log.truncations == truncations else { return }  // a later notice covers it
        try noteSynced(shard, through: seq)
    }

    /// A follower's acknowledgement of this flush went out with it (`batchWillCommit`); a leader
    /// may commit.
    private func noteSynced(_ shard: Shard, through seq: UInt64) throws(WiredTigerError) {
        let output = try shard.node.sync(through: seq)
        if shard.node.isLeading { try take(output, shard) }
    }

    /// Tells the core what the flushes finished since the batch began have made durable: a
    /// leader learns of its own flush from the watermark when a follower's acknowledgement comes,
    /// without waiting for the notice.
    private func catchUpSyncs(_ shard: Shard) throws(WiredTigerError) {
        let durable = executor.store.durableGeneration
        var synced: UInt64?
        while let first = shard.unsynced.first, first.generation <= durable {
            shard.unsynced.removeFirst()
            if first.truncations == shard.node.log.truncations { synced = first.seq }
        }
        if let synced { try noteSynced(shard, through: synced) }
    }

    /// The leaders etcd holds, by shard: (member index, epoch). Shards missing have none.
    /// `fromEtcd`: etcd answered and the lease is valid (else these are the last ones known).
    /// `revision`: etcd's revision with these leaders (every epoch handed out so far is at or below it).
    func leadersChanged(_ leaders: [Int: Elected], fromEtcd: Bool = true, revision: UInt64 = 0) throws(WiredTigerError) {
        if awaitsEpochFloor {
            guard fromEtcd else { return }
            leadersAwaitingFloor = (leaders, revision)
            guard let formerLife else { return }  // (etcd's history record decides what this node is)
            for shard in shards {
                // (An epoch this node won itself came after it lost its state.)
                let floor = leaders[shard.index].flatMap { $0.node != settings.myIndex ? $0.epoch : nil } ?? 0
                shard.node.raiseEpochFloor(to: floor)
                // A node that held data before and has none now (a replaced disk) is a learner of
                // every shard until it holds what its former self may have acknowledged; a new
                // node votes at once (a new cluster's nodes all start empty).
                if formerLife { shard.node.becomeLearner(incarnation: UInt64.random(in: 1...UInt64.max), since: max(floor, revision)) }
            }
            awaitsEpochFloor = false
            leadersAwaitingFloor = nil
            promiseChanged = true
            logEvent(
                formerLife
                    ? "cluster: this node held data before and has none now (a replaced disk): refusing epochs below etcd's current "
                        + "leaders', and a learner of every shard (no votes, never leads) until it holds what it may have acknowledged before"
                    : "cluster: a new node (no replication state): refusing epochs below etcd's current leaders'")
        }
        for shard in shards {
            let leader = leaders[shard.index]
            if let leader, leader.node == settings.myIndex {
                if let current = shard.node.leader, current.epoch >= leader.epoch { continue }
                if let gap = shard.node.log.gap {
                    // (It does not campaign with one; a campaign that raced the gap's opening.)
                    logEvent("cluster: shard \(shard.index): won epoch \(leader.epoch) with a gap from \(gap.next); giving it up")
                    actions.append(.resign(shard: shard.index, epoch: leader.epoch, bump: false))
                    continue
                }
                if let elected = leader.members, elected != config.indices {
                    // Won under a configuration that has changed since: a new epoch under the new one.
                    guard shard.outdatedEpoch != leader.epoch else { continue }  // (given up already)
                    logEvent("cluster: shard \(shard.index): won epoch \(leader.epoch) under configuration \(leader.configVersion ?? 0), now \(config.version); giving it up")
                    giveUpOutdated(shard, epoch: leader.epoch)
                    continue
                }
                let messages = try shard.node.becomeLeader(epoch: leader.epoch, members: leader.members ?? config.indices)
                shard.electedConfig = leader.configVersion
                guard shard.node.isLeading else {
                    logEvent("cluster: shard \(shard.index): won epoch \(leader.epoch) but has seen \(shard.node.maxEpochSeen); asking etcd for a higher one")
                    // An epoch this node already saw (etcd restored from an old backup): bump
                    // etcd's revision and campaign again (REPLICATION.md 5.2, floor check).
                    actions.append(.resign(shard: shard.index, epoch: leader.epoch, bump: true))
                    continue
                }
                shard.leadingSince = monotonicNanoseconds()
                shard.lastHeard = [:]
                promiseChanged = true
                route(messages, shard: shard.index)
                logEvent("cluster: shard \(shard.index): leading in epoch \(leader.epoch); collecting a majority's tails")
                if shard.node.isServing { shard.logAppended = true }
            } else if let current = shard.node.leader {
                let successor = leader.map { "node \($0.node) leads epoch \($0.epoch)" } ?? "no leader"
                logEvent("cluster: shard \(shard.index): etcd says \(successor); giving up epoch \(current.epoch)")
                shard.node.stepDown()
                failPending(shard, Self.leadershipLost)
                if leader == nil { actions.append(.resign(shard: shard.index, epoch: current.epoch, bump: false)) }
            }
        }
    }

    /// A newer configuration from etcd: every shard's log counts its majorities, and hears its
    /// peers, by it; a leader elected under the old one gives its epoch up, so the next is elected
    /// under the new one (REPLICATION.md 5.5: one member at a time, each change only once every
    /// shard's leader committed under the last).
    func membersChanged(_ next: MemberConfig) throws(WiredTigerError) {
        guard next.version > config.version else { return }
        config = next
        if !membershipRead {
            membershipRead = true
            if startedWithoutState && next.member(at: settings.myIndex) == nil {
                joining = Set(shards.map(\.index))
                logEvent("cluster: joining a live cluster (not a member yet): leads no shard before it has caught up with its leader")
            }
        }
        for shard in shards {
            shard.node.reconfigure(members: next.indices)
            guard let leader = shard.node.leader, leader.members != next.indices else { continue }
            logEvent("cluster: shard \(shard.index): configuration \(next.version) replaces the one epoch \(leader.epoch) was elected under; stepping down for a new election")
            shard.node.stepDown()
            failPending(shard, Self.leadershipLost)
            giveUpOutdated(shard, epoch: leader.epoch)
        }
    }

    /// Gives up `epoch` of `shard`, won under a configuration since replaced. A member campaigns
    /// again at once, whoever the new configuration prefers for the shard (a node just added may
    /// not lead before it caught up, and the others would wait for it); a removed node only resigns.
    private func giveUpOutdated(_ shard: Shard, epoch: UInt64) {
        shard.outdatedEpoch = epoch
        actions.append(
            config.member(at: settings.myIndex) != nil
                ? .reelect(shard: shard.index, epoch: epoch) : .resign(shard: shard.index, epoch: epoch, bump: false))
    }

    /// The membership change under way (nil: none). Each shard this node leads answers it at its
    /// next heartbeat (`answerProposal`).
    func proposalChanged(_ next: MemberProposal?) {
        guard next != proposal else { return }
        proposal = next
        for shard in shards { shard.approvalSent = nil }
    }

    /// The answer of every shard this node serves to the change under way: yes once its epoch,
    /// elected under the configuration the change starts from, has committed its mark, and for a
    /// removal while every remaining member holds the committed log (`holdsCommittedLog`); no,
    /// with the reason, otherwise. Sent again only when it changes.
    private func answerProposal() {
        guard let proposal else { return }
        for shard in shards {
            guard let leader = shard.node.leader, leader.isServing, shard.electedConfig == proposal.from else { continue }
            var answer = MemberApproval(version: proposal.next.version, epoch: leader.epoch, ok: true)
            if shard.node.commitSeq < leader.markSeq {
                answer.ok = false
                answer.reason = "its leader \(config.member(at: settings.myIndex)?.name ?? "?") has not committed in its epoch yet"
            } else if proposal.removing != nil, !shard.node.holdsCommittedLog(proposal.next.indices) {
                let behind = proposal.next.members.filter { member in !shard.node.holdsCommittedLog([member.index]) }.map(\.name)
                answer.ok = false
                answer.reason = "member \(behind.joined(separator: ", ")) does not hold the shard's committed log yet (a removal would leave committed entries on too few members)"
            }
            guard answer != shard.approvalSent else { continue }
            shard.approvalSent = answer
            actions.append(.approve(shard: shard.index, epoch: leader.epoch, answer))
        }
    }

    /// etcd's history record answered: `existed` when this node held data before.
    func formerLifeKnown(_ existed: Bool) throws(WiredTigerError) {
        formerLife = existed
        if awaitsEpochFloor, let waiting = leadersAwaitingFloor {
            try leadersChanged(waiting.leaders, fromEtcd: true, revision: waiting.revision)
        }
    }

    // MARK: Batches

    var nextDeadlineNanoseconds: UInt64? {
        if backlog { return 0 }  // more committed records to apply: another batch at once
        var earliest = shards.contains { $0.node.isLeading } ? nextHeartbeat : nil
        for shard in shards where shard.node.hasGap {
            let due = shard.backfillSentAt.map { $0 + settings.backfillTimeoutNanoseconds } ?? shard.backfillRetryAt
            earliest = min(earliest ?? due, due)
        }
        for read in parked {
            if let due = read.reply.blockDeadline { earliest = min(earliest ?? due, due) }
        }
        return earliest
    }

    var hasParkedReads: Bool { !parked.isEmpty }

    /// The connection closed: its parked read goes (a read proposed already still applies; its
    /// reply goes nowhere).
    func forget(connection: UInt64) {
        parked.removeAll { $0.reply.connection == connection }
    }

    /// Heartbeats and the leader's checks, the shards' applied seqs and promises, and everything
    /// to send: called once per batch, before it commits.
    func batchWillCommit(nowNanoseconds now: UInt64) throws(WiredTigerError) -> [DeferredOutcome<ServerOutcome>] {
        if now >= nextHeartbeat {
            nextHeartbeat = now + settings.heartbeatNanoseconds
            for shard in shards where shard.node.isLeading {
                try checkQuorum(shard, now: now)
                if shard.node.isServing { route(try shard.node.heartbeat(), shard: shard.index) }
            }
            answerProposal()
        }
        if backlog {
            backlog = false
            for shard in shards where shard.appliedSeq < shard.node.deliveredSeq { try apply(shard, through: shard.node.deliveredSeq) }
        }
        requestBackfill(now: now)
        appliedThisBatch = 0
        try wakeParkedReads(now: now)
        var out: [DeferredOutcome<ServerOutcome>] = []
        let store = executor.store
        for shard in shards {
            if shard.node.isServing, shard.logAppended { route(try shard.node.replicatePending(), shard: shard.index) }
            let state = ReplicationTable.ShardState(
                maxEpochSeen: shard.node.maxEpochSeen, appliedSeq: shard.appliedSeq, gap: shard.node.log.storedGap,
                learner: shard.node.learner.map { ($0.incarnation, $0.since) })
            if state != shard.savedState {
                // A promise must be synced before it is answered, and so must a gap's opening (it
                // is acknowledged); the applied seq and a gap's progress go with the derived
                // writes they count (the log applies the rest again after a crash).
                let promised =
                    state.maxEpochSeen != shard.savedState.maxEpochSeen || state.gap?.endSeq != shard.savedState.gap?.endSeq
                    || (state.learner != nil && shard.savedState.learner == nil)
                if promised { promiseChanged = true }
                store.writesAreDerived = !promised
                defer { store.writesAreDerived = false }
                try table.writeShardState(shard.index, state)
                shard.savedState = state
            }
            if shard.logAppended {
                shard.logAppended = false
                let tail = shard.node.log.tail
                shard.unsynced.append((store.currentGeneration, tail.seq, shard.node.log.truncations))
                if !shard.node.isLeading, let following = shard.node.following {
                    // The follower's acknowledgement, sent by whoever finishes this batch's flush:
                    // straight after the fsync, without a trip back to this thread.
                    var ack: [UInt8] = []
                    ReplicationWire.encode(
                        shard: shard.index,
                        Envelope(from: settings.myIndex, to: following.leader, message: .replicateAck(epoch: following.epoch, syncedSeq: tail.seq, sum: tail.sum)),
                        into: &ack)
                    out.append(
                        DeferredOutcome(
                            outcome: .cluster(.send([ClusterAction.Frame(peer: following.leader, bytes: ack)])), minimumTag: store.currentGeneration,
                            fail: { _ in .nothing }))
                }
                // The flush's news comes back as a job only when something waits on it that no
                // later message would bring: a leader's own writes (its followers may have acked
                // first). Anything else learns it from the watermark with the next message.
                if shard.node.isLeading {
                    out.append(
                        DeferredOutcome(
                            outcome: .cluster(.synced(shard: shard.index, seq: tail.seq, truncations: shard.node.log.truncations)),
                            minimumTag: store.currentGeneration, fail: { _ in .nothing }))
                }
            }
        }
        let durableTag = store.batchNeedsSync ? store.currentGeneration : 0
        if !immediateFrames.isEmpty {
            // Entries go to followers once committed here, before their own fsync (they are
            // committed only when a majority synced them) unless this batch wrote a promise.
            out.append(
                DeferredOutcome(
                    outcome: .cluster(.send(immediateFrames)), minimumTag: promiseChanged ? durableTag : 0,
                    afterCommitOnly: !promiseChanged, fail: { _ in .nothing }))
            immediateFrames = []
        }
        if !durableFrames.isEmpty {
            out.append(DeferredOutcome(outcome: .cluster(.send(durableFrames)), minimumTag: durableTag, fail: { _ in .nothing }))
            durableFrames = []
        }
        for shard in shards where joining.contains(shard.index) {
            let node = shard.node
            if node.following != nil, !node.hasGap, node.commitSeq > 0, node.log.tail.seq >= node.commitSeq {
                joining.remove(shard.index)
                logEvent("cluster: shard \(shard.index): caught up with its leader since joining the cluster; may lead it from now on")
            }
        }
        let gaps = Set(shards.filter { $0.node.hasGap }.map(\.index))
        let learners = awaitsEpochFloor ? Set(shards.map(\.index)) : Set(shards.filter { $0.node.learner != nil }.map(\.index))
        let behind = learners.union(joining)
        if announced?.gaps != gaps || announced?.behind != behind {
            announced = (gaps, behind)
            actions.append(.catchingUp(gaps: gaps, behind: behind))
        }
        for action in actions { out.append(DeferredOutcome(outcome: .cluster(action), minimumTag: 0, afterCommitOnly: true, fail: { _ in .nothing })) }
        actions = []
        promiseChanged = false
        out += replies
        replies = []
        return out
    }

    /// The batch rolled back: what is in memory may be ahead of the disk. Every shard is read
    /// again, leaderships are given up, waiting writes fail.
    func batchDidRollBack(_ error: StorageError) -> [ServerOutcome] {
        logEvent("cluster: a storage batch rolled back (\(error)); giving up leaderships and reloading every shard")
        var failed: [ServerOutcome] = []
        for shard in shards {
            for (_, reply) in shard.pending {
                failed.append(Executor.failure(connection: reply.connection, slot: reply.slot, version: reply.version, replies: reply.replyCount)(error))
            }
            if let leader = shard.node.leader { failed.append(.cluster(.resign(shard: shard.index, epoch: leader.epoch, bump: false))) }
        }
        for read in parked {
            failed.append(Executor.failure(connection: read.reply.connection, slot: read.reply.slot, version: read.reply.version, replies: 1)(error))
        }
        parked = []
        backlog = false
        announced = nil
        appliedThisBatch = 0
        immediateFrames = []
        durableFrames = []
        replies = []
        actions = []
        do {
            shards = try (0..<settings.shardCount).map { index throws(WiredTigerError) in try loadShard(index) }
            if hasNoState { awaitsEpochFloor = true }  // the floor's own batch may be what rolled back
        } catch {
            // The store has failed for good (the engine refuses every batch from now on).
        }
        return failed
    }

    /// INFO's view of every shard on this node: its role and epoch, the log's tail, what is
    /// synced, committed and applied, and writes waiting to commit.
    /// Each shard's role, epoch and log positions, for /metrics.
    func shardMetrics() -> [MetricsSnapshot.Shard] {
        shards.map { shard in
            let node = shard.node
            let role = node.isServing ? "leader" : node.isLeading ? "recovering" : node.following != nil ? "follower" : "idle"
            return MetricsSnapshot.Shard(
                index: shard.index, role: role, epoch: UInt64(node.leader?.epoch ?? node.following?.epoch ?? 0),
                committed: UInt64(node.commitSeq), applied: UInt64(shard.appliedSeq), tail: UInt64(node.log.tail.seq))
        }
    }

    func infoText() -> String {
        var text = "# Shards\r\nspool_cluster_node_index:\(settings.myIndex)\r\nspool_cluster_shards:\(shards.count)\r\n"
        text += "spool_cluster_configuration:\(config.version)\r\nspool_cluster_members:\(config.names.joined(separator: ","))\r\n"
        text += "spool_cluster_shards_led:\(shards.filter { $0.node.isServing }.count)\r\n"
        for shard in shards {
            let node = shard.node
            let role = node.isServing ? "leader" : node.isLeading ? "recovering" : node.following != nil ? "follower" : "idle"
            let epoch = node.leader?.epoch ?? node.following?.epoch ?? 0
            text += "spool_cluster_shard\(shard.index):role=\(role),epoch=\(epoch),max_epoch_seen=\(node.maxEpochSeen)"
            text += ",tail=\(node.log.tail.seq),synced=\(node.log.syncedSeq),committed=\(node.commitSeq),applied=\(shard.appliedSeq)"
            text += ",pending=\(shard.pending.count)"
            if let gap = node.log.gap { text += ",gap=\(gap.next)-\(gap.end.seq)" }
            if node.learner != nil { text += ",learner=1" }
            if joining.contains(shard.index) { text += ",joining=1" }
            if shard.backfilledRecords > 0 { text += ",backfilled=\(shard.backfilledRecords),backfilled_bytes=\(shard.backfilledBytes)" }
            text += "\r\n"
        }
        return text + "\r\n"
    }

    // MARK: Internals

    /// Parked reads whose streams got entries are proposed again; those whose BLOCK ran out get
    /// the null reply XREADGROUP gives then.
    private func wakeParkedReads(now: UInt64) throws(WiredTigerError) {
        guard !parked.isEmpty else { return }
        let appended = executor.appendedStreams
        var waiting: [ParkedRead] = []
        for read in parked {
            if read.keys.contains(where: { appended.contains($0) }) {
                let outcome = try propose(shard: read.shard, body: read.body, reply: read.reply)
                if outcome.kind == .reply { answer(read.reply, outcome.bytes) }
            } else if let deadline = read.reply.blockDeadline, now >= deadline {
                var out = RESPWriter(version: read.reply.version)
                out.nullArray()
                answer(read.reply, out.bytes)
            } else {
                waiting.append(read)
            }
        }
        parked = waiting
    }

    /// Whether an applied record was an XREADGROUP … BLOCK that found nothing, for a client of
    /// this node: then it parks instead of answering.
    private func parkIfBlockedRead(_ shard: Shard, _ group: CommandGroup, _ record: ReplicatedRecord, reply: [UInt8], pending: PendingReply) -> Bool {
        guard !record.isTransaction, group.commands.count == 1, case .xreadgroup(let read) = group.commands[0],
            let block = read.block, shard.node.isServing
        else { return false }
        var empty = RESPWriter(version: record.version)
        empty.nullArray()
        guard reply == empty.bytes else { return false }
        var waiting = pending
        if waiting.blockDeadline == nil && block > 0 {
            waiting.blockDeadline = monotonicNanoseconds() + UInt64(block) * 1_000_000
        }
        parked.append(
            ParkedRead(
                shard: shard.index, body: ReplicatedRecord.encodeBody(version: record.version, isTransaction: false, items: record.items),
                reply: waiting, keys: read.keys.map { StreamKey(database: 0, name: $0) }))
        return true
    }

    /// Each shard with a gap asks one peer at a time for its next committed records: the leader
    /// it follows first, another when a peer has nothing to give or does not answer. A request
    /// goes out after the batch's flush, so backfill runs at most one message per flush, behind
    /// live traffic.
    private func requestBackfill(now: UInt64) {
        for shard in shards where shard.node.hasGap {
            if let sent = shard.backfillSentAt {
                guard now >= sent + settings.backfillTimeoutNanoseconds else { continue }
                shard.backfillPeer = nextPeer(after: shard.backfillPeer ?? settings.myIndex)
            } else if now < shard.backfillRetryAt {
                continue
            }
            let peer = shard.backfillPeer ?? shard.node.following?.leader ?? nextPeer(after: settings.myIndex)
            guard let request = shard.node.backfillRequest(to: peer) else { continue }
            shard.backfillPeer = peer
            shard.backfillSentAt = now
            route([request], shard: shard.index)
        }
        for shard in shards where !shard.node.hasGap { shard.backfillPeer = nil }
    }

    /// The member after `node` in index order, other than this node (this node when it is alone).
    private func nextPeer(after node: Int) -> Int {
        let others = config.indices.filter { $0 != settings.myIndex }
        return others.first { $0 > node } ?? others.first ?? settings.myIndex
    }

    private func checkQuorum(_ shard: Shard, now: UInt64) throws(WiredTigerError) {
        guard let leader = shard.node.leader, now - shard.leadingSince > settings.quorumTimeoutNanoseconds else { return }
        let heard = shard.lastHeard.values.filter { now - $0 <= settings.quorumTimeoutNanoseconds }.count
        guard heard + 1 < shard.node.majority || !leader.isServing else { return }
        // Cut off from a majority (or unable to finish taking over): someone else should lead.
        logEvent(
            "cluster: shard \(shard.index): stepping down from epoch \(leader.epoch): "
                + (leader.isServing ? "heard \(heard) of \(shard.node.clusterSize - 1) peers" : "could not take over")
                + " within \(settings.quorumTimeoutNanoseconds / 1_000_000) ms")
        shard.node.stepDown()
        failPending(shard, "CLUSTERDOWN this node lost contact with a majority of the shard; the write may or may not have been applied")
        actions.append(.resign(shard: shard.index, epoch: leader.epoch, bump: false))
    }

    private func take(_ output: Output<[UInt8]>, _ shard: Shard) throws(WiredTigerError) {
        route(output.messages, shard: shard.index)
        if let committed = output.committed { try apply(shard, through: committed.upperBound - 1) }
    }

    private func route(_ messages: [Envelope<[UInt8]>], shard: Int) {
        for envelope in messages {
            var bytes: [UInt8] = []
            ReplicationWire.encode(shard: shard, envelope, into: &bytes)
            let frame = ClusterAction.Frame(peer: envelope.to, bytes: bytes)
            if case .replicate = envelope.message { immediateFrames.append(frame) } else { durableFrames.append(frame) }
        }
    }

    /// Applies the shard's committed records up to `seq` through the executor, in order, and
    /// answers the clients that wrote them.
    /// At most `appliedRecordsPerBatchMax` records a batch: a node catching up applies the rest in
    /// the batches after (`batchWillCommit`), so reads and replication traffic queued behind it
    /// wait for one batch's worth, not for the whole backlog.
    private func apply(_ shard: Shard, through seq: UInt64) throws(WiredTigerError) {
        var budget = Self.appliedRecordsPerBatchMax - appliedThisBatch
        while shard.appliedSeq < seq {
            guard budget > 0 else {
                backlog = true
                return
            }
            budget -= 1
            appliedThisBatch += 1
            let next = shard.appliedSeq + 1
            let entry = try shard.node.log.entry(at: next)
            let pending = shard.pending.removeValue(forKey: next)
            if entry.kind == .data {
                guard let record = ReplicatedRecord.decode(entry.payload) else {
                    throw WiredTigerError.corrupt("shard \(shard.index) record \(next) does not decode")
                }
                let applied = group(record, pending)
                let replyBytes = try executor.apply(applied, nowMilliseconds: record.nowMilliseconds)
                shard.lastNowMilliseconds = max(shard.lastNowMilliseconds, record.nowMilliseconds)
                if let pending, !parkIfBlockedRead(shard, applied, record, reply: replyBytes, pending: pending) {
                    answer(pending, replyBytes)
                }
            }
            shard.appliedSeq = next
        }
    }

    private func group(_ record: ReplicatedRecord, _ pending: PendingReply?) -> CommandGroup {
        var commands: [Command] = []
        commands.reserveCapacity(record.items.count)
        for item in record.items {
            switch item {
            case .answered(let bytes):
                var out = RESPWriter(version: record.version)
                out.append(encoded: bytes)
                commands.append(.answered(out))
            case .request(let args):
                var out = RESPWriter(version: record.version)
                switch CommandTable.resolve(args) {
                case .failure(let error): out.error(error.text)
                case .success(let found):
                    if let name = found.top.storageName {
                        switch Command.decode(name, args, databases: executor.limits.databases) {
                        case .success(let command):
                            commands.append(command)
                            continue
                        case .failure(let error): out.error(error.text)
                        }
                    } else {
                        out.error("ERR '\(found.top.name)' cannot be replicated")
                    }
                }
                commands.append(.answered(out))
            }
        }
        return CommandGroup(
            connection: pending?.connection ?? 0, slot: pending?.slot ?? 0, version: record.version, database: 0, commands: commands,
            isTransaction: record.isTransaction)
    }

    private func failPending(_ shard: Shard, _ message: String) {
        let waiting = parked.filter { $0.shard == shard.index }.map(\.reply)
        parked.removeAll { $0.shard == shard.index }
        for reply in Array(shard.pending.values) + waiting { answer(reply, Self.errors(message, for: reply)) }
        shard.pending = [:]
    }

    /// Answers a waiting client once the batch commits: what it waited for is decided (durable on
    /// a majority, or failed) whatever this batch's own flush. Should the batch roll back, the
    /// client gets the storage error instead.
    private func answer(_ reply: PendingReply, _ bytes: [UInt8]) {
        replies.append(
            DeferredOutcome(
                outcome: ServerOutcome(kind: .reply, connection: reply.connection, slot: reply.slot, bytes: bytes), minimumTag: 0,
                afterCommitOnly: true,
                fail: Executor.failure(connection: reply.connection, slot: reply.slot, version: reply.version, replies: reply.replyCount)))
    }

    /// `message` once for each reply the client waits for.
    private static func errors(_ message: String, for reply: PendingReply) -> [UInt8] {
        var out = RESPWriter(version: reply.version)
        for _ in 0..<reply.replyCount { out.error(message) }
        return out.bytes
    }
}
