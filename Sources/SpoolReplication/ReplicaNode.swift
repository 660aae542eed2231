/// The replication core of one shard on one node, as a pure state machine: messages and local
/// events in, messages and the commit point out, no I/O, no clocks. A seeded simulator drives it in
/// the tests (loss, duplication, reordering, crashes that drop what was not synced, leaders of stale
/// epochs) over an in-memory log; the server drives the same code with real sockets, a WiredTiger
/// log and etcd.
///
/// The protocol (ARCHITECTURE.md, "Replication"): a coordinator outside the model (etcd) hands out
/// epochs, each higher than any before. A node that is given epoch `e` collects the log tails of a
/// majority that promised `e` (`beginEpoch` → `epochState`; a promise is durable before it is
/// sent), fetches what it lacks from the most advanced one — highest (last epoch, last seq) —
/// appends an epoch mark, and replicates. Followers accept an append only if the entry before it
/// matches by chained checksum, and acknowledge only what they have synced. An entry is committed
/// once it and an entry of the leader's own epoch at or after it are synced on a majority (Raft's
/// rule: entries of older epochs are committed only indirectly). Clients hear of a write when it
/// commits.
///
/// A follower far behind (new, wiped, or back from a long outage) joins at the leader's commit
/// point at once (`installGap`): its tail becomes that committed entry, it acknowledges what follows
/// like any follower, and it fills the entries it skipped (the gap) from any peer, oldest first
/// (`backfill`), checked against the chain. Entries are handed on for applying only in order, so a
/// node applies nothing after its gap until the gap is filled; it never leads with one open.
///
/// A node that lost its state (a new or replaced disk) is a learner until it holds everything its
/// former self may have acknowledged: it acknowledges entries (they count towards commits: it
/// holds them) but promises no epoch and never leads, since a leader counted its former self's
/// acknowledgements, some perhaps sent just before the disk went, and a recovery that counted the
/// empty newcomer instead could miss them. It tells the leader (`learner`), which appends a join
/// mark naming its incarnation after everything it holds; once the newcomer holds its log up to
/// that mark, on disk and with no gap (or up to the mark of an epoch begun since it lost its
/// state, whose recovery it took no part in), it votes again.
public struct ReplicaNode<Log: ReplicaLog> {
    public typealias NodeID = Int
    public typealias Epoch = UInt64
    public typealias Payload = Log.Payload
    public typealias Entry = ReplicatedEntry<Payload>

    public let id: NodeID
    /// The members of the configuration this node last heard of (the coordinator's); a leader uses
    /// the one it was elected with (`LeaderState.members`) until its epoch ends.
    public private(set) var members: [NodeID]
    public var clusterSize: Int { (leader?.members ?? members).count }
    public var majority: Int { clusterSize / 2 + 1 }
    /// Entries one `replicate`, `fetchReply` or `backfillReply` carries at most.
    public let entriesPerMessageMax: Int
    /// A follower this many committed entries behind joins with a gap instead of being sent them
    /// (0: never).
    public let gapThreshold: UInt64

    // Durable state.
    public private(set) var log: Log
    /// The highest epoch this node promised or accepted; it refuses anything lower. The driver
    /// writes it with the log before it sends anything this call returns (it is the promise).
    public private(set) var maxEpochSeen: Epoch

    // Volatile state: lost in a crash.
    /// The highest seq this node knows to be committed.
    public private(set) var commitSeq: UInt64
    /// The last committed seq handed on for applying (`Output.committed`): committed and held, with
    /// every entry before it (readers see up to here).
    public private(set) var deliveredSeq: UInt64
    public private(set) var leader: LeaderState?
    /// The leader this node last accepted entries from, and its epoch: synced entries are
    /// acknowledged to it.
    public private(set) var following: (leader: NodeID, epoch: Epoch)?
    /// Durable: set while this node is a learner (its state was lost).
    public private(set) var learner: Learner?
    /// A learner's progress: what it has looked through for its mark, where the mark is, and the
    /// epoch whose leader it last told it is one.
    private var learnerScannedThrough: UInt64 = 0
    private var learnerMarkSeq: UInt64?
    private var learnerAnnouncedIn: Epoch?

    /// `commitSeq` is a seq known to be committed (the server's applied point), 0 if none.
    public init(
        id: NodeID, clusterSize: Int, log: Log, maxEpochSeen: Epoch = 0, commitSeq: UInt64 = 0, entriesPerMessageMax: Int = 1_000,
        gapThreshold: UInt64 = 0, learner: Learner? = nil
    ) {
        precondition(clusterSize >= 1 && id >= 0 && id < clusterSize)
        self.init(
            id: id, members: Array(0..<clusterSize), log: log, maxEpochSeen: maxEpochSeen, commitSeq: commitSeq,
            entriesPerMessageMax: entriesPerMessageMax, gapThreshold: gapThreshold, learner: learner)
    }

    /// `members`: the configuration's node ids (this node need not be one: a node being added
    /// learns it is a member with `reconfigure`).
    public init(
        id: NodeID, members: [NodeID], log: Log, maxEpochSeen: Epoch = 0, commitSeq: UInt64 = 0, entriesPerMessageMax: Int = 1_000,
        gapThreshold: UInt64 = 0, learner: Learner? = nil
    ) {
        precondition(!members.isEmpty && Set(members).count == members.count && id >= 0)
        precondition(commitSeq <= log.heldThrough, "a committed seq beyond what the log holds")
        precondition(entriesPerMessageMax >= 1)
        self.id = id
        self.members = members.sorted()
        self.log = log
        self.maxEpochSeen = maxEpochSeen
        self.commitSeq = commitSeq
        self.deliveredSeq = commitSeq
        self.entriesPerMessageMax = entriesPerMessageMax
        self.gapThreshold = gapThreshold
        self.learner = learner
    }

    /// This node lost its state (a new or wiped disk): a learner from now on, as `Learner` says.
    /// `since` is the epoch floor it took from the coordinator.
    public mutating func becomeLearner(incarnation: UInt64, since: Epoch) {
        guard leader == nil else { return }
        learner = Learner(incarnation: incarnation, since: since)
        learnerScannedThrough = 0
        learnerMarkSeq = nil
        learnerAnnouncedIn = nil
    }

    /// Whether this node lacks entries below its tail (and so may not lead).
    public var hasGap: Bool { log.gap != nil }

    public var isServing: Bool { leader?.isServing ?? false }
    public var isLeading: Bool { leader != nil }

    // MARK: Events

    /// Refuses every epoch below `epoch` from now on, as if it had been promised: a node that lost
    /// its promises (a new or wiped data directory) takes the current leaders' epochs from the
    /// coordinator before it answers anyone, so a deposed leader it once refused cannot win it
    /// over now.
    public mutating func raiseEpochFloor(to epoch: Epoch) {
        guard epoch > maxEpochSeen, leader == nil else { return }
        maxEpochSeen = epoch
        if let following, following.epoch < epoch { self.following = nil }
    }

    /// The coordinator made this node leader of `epoch` (higher than any it handed out before).
    /// Returns nothing if the epoch is not above every epoch this node has seen (the caller then
    /// asks the coordinator for a newer one).
    /// A node with a gap refuses too (it must not campaign), and so does one that is not a member.
    /// `members`: the configuration the coordinator elected it under (the last one it heard of if
    /// nil); promises and commits count majorities of it for the whole epoch.
    public mutating func becomeLeader(epoch: Epoch, members elected: [NodeID]? = nil) throws(Log.Failure) -> [Envelope<Payload>] {
        if let elected { members = elected.sorted() }
        guard epoch > maxEpochSeen, log.gap == nil, learner == nil, members.contains(id) else { return [] }
        maxEpochSeen = epoch
        log.markSynced(through: log.tail.seq)  // the promise is written with everything before it
        var state = LeaderState(epoch: epoch, members: members)
        state.tails[id] = log.tail
        leader = state
        following = nil
        var out: [Envelope<Payload>] = []
        for peer in peers { out.append(Envelope(from: id, to: peer, message: .beginEpoch(epoch: epoch))) }
        out += try finishRecoveryIfReady()
        return out
    }

    /// A client write at this node: appended (not yet synced) if it is a serving leader. The caller
    /// sends `try replicatePending()` once it has proposed what it had. nil when it cannot take writes.
    public mutating func propose(_ payload: Payload) throws(Log.Failure) -> UInt64? {
        guard let state = leader, state.isServing else { return nil }
        try append(payload: payload, epoch: state.epoch, kind: .data)
        return log.tail.seq
    }

    /// Entries proposed since the last call, to every follower (pipelined: sent without waiting
    /// for acknowledgements).
    public mutating func replicatePending() throws(Log.Failure) -> [Envelope<Payload>] {
        guard isServing else { return [] }
        var out: [Envelope<Payload>] = []
        for peer in peers { if let envelope = try replicate(to: peer, pipelined: true, force: false) { out.append(envelope) } }
        return out
    }

    /// The simulator's write: propose and send.
    public mutating func write(payload: Payload) throws(Log.Failure) -> (seq: UInt64, out: [Envelope<Payload>])? {
        guard let seq = try propose(payload) else { return nil }
        return (seq, try replicatePending())
    }

    /// The disk synced everything appended up to `seq`: acknowledgements go out, and a leader may
    /// commit.
    public mutating func sync(through seq: UInt64) throws(Log.Failure) -> Output<Payload> {
        guard seq > log.syncedSeq else { return Output() }
        log.markSynced(through: seq)
        if leader != nil { return try advanceCommit() }
        try checkLearner()
        guard let following else { return Output() }
        let synced = log.syncedSeq
        return Output(messages: [
            Envelope(
                from: id, to: following.leader,
                message: .replicateAck(epoch: following.epoch, syncedSeq: synced, sum: try log.sum(at: synced)))
        ])
    }

    public mutating func sync() throws(Log.Failure) -> Output<Payload> { try sync(through: log.tail.seq) }

    /// A serving leader's periodic message: followers learn the commit point and answer with what
    /// they have synced. A follower that made no progress since the last heartbeat (a message was
    /// lost, it restarted, it is paused) gets only a probe at the first entry it has not
    /// acknowledged: its answer (an acknowledgement or a nack) makes the leader send it entries
    /// again, one message per answer, so a follower that does not answer is not flooded.
    public mutating func heartbeat() throws(Log.Failure) -> [Envelope<Payload>] {
        guard var state = leader, state.isServing else { return [] }
        var out: [Envelope<Payload>] = []
        for peer in peers {
            if !state.progressed.contains(peer) {
                state.sent[peer] = nil
                let prev = min(state.next[peer] ?? 1, log.tail.seq + 1) - 1
                out.append(
                    Envelope(
                        from: id, to: peer,
                        message: .replicate(epoch: state.epoch, prevSeq: prev, prevSum: try log.sum(at: prev), entries: [], commitSeq: commitSeq)))
                continue
            }
            leader = state
            if let envelope = try replicate(to: peer, pipelined: true, force: true) { out.append(envelope) }
            state = leader!
        }
        state.progressed = []
        leader = state
        return out
    }

    /// The coordinator's configuration changed (one member added or removed). A leader keeps the
    /// one it was elected with until its epoch ends; the coordinator lets a configuration change
    /// only once every shard's leader has committed an entry under the current one, and the next
    /// epoch (a campaign under the new one) starts at once. One member at a time, any majority of
    /// the old configuration meets any majority of the new: a leader of the old one cannot commit
    /// past a promise the new one collected.
    public mutating func reconfigure(members new: [NodeID]) {
        precondition(!new.isEmpty && Set(new).count == new.count)
        members = new.sorted()
    }

    /// Whether every node of `nodes` holds this leader's whole committed log, as far as it knows
    /// (itself, or a follower that acknowledged the commit point): a member may be removed only
    /// while every remaining one does. A node behind (a gap it is filling, or records it has not
    /// been sent yet, after a new disk) would otherwise leave committed entries on fewer nodes
    /// than the smaller configuration's majorities need (REPLICATION.md 5.5, stronger than the
    /// gap-only rule: a new disk caught up by records is behind without a gap).
    public func holdsCommittedLog(_ nodes: [NodeID]) -> Bool {
        guard let state = leader, state.isServing else { return false }
        return nodes.allSatisfy { $0 == id || (state.matched[$0] ?? 0) >= commitSeq }
    }

    /// A leader that lost its lease (or sees a higher epoch, or no majority) stops serving.
    public mutating func stepDown() {
        leader = nil
    }

    // MARK: Messages

    public mutating func receive(_ envelope: Envelope<Payload>) throws(Log.Failure) -> Output<Payload> {
        var output = try handle(envelope)
        if let learner {
            try checkLearner()
            if self.learner != nil, let following, learnerAnnouncedIn != following.epoch {
                learnerAnnouncedIn = following.epoch
                output.messages.append(
                    Envelope(from: id, to: following.leader, message: .learner(epoch: following.epoch, incarnation: learner.incarnation)))
            }
        }
        return output
    }

    /// A learner whose log holds its mark, on disk and with nothing missing before it, votes again.
    private mutating func checkLearner() throws(Log.Failure) {
        guard let learner else { return }
        if learnerScannedThrough > log.heldThrough {
            // (Truncated: a divergent suffix went, perhaps with what was seen of it.)
            learnerScannedThrough = log.heldThrough
            if let mark = learnerMarkSeq, mark > log.heldThrough { learnerMarkSeq = nil }
        }
        if let mark = learnerMarkSeq, !(learner.isMarked(by: try log.entry(at: mark))) {
            // (A divergent suffix was replaced, and the mark with it, even though the log grew back
            // past it: look again from there.)
            learnerMarkSeq = nil
            learnerScannedThrough = mark - 1
        }
        while learnerMarkSeq == nil && learnerScannedThrough < log.heldThrough {
            let batch = try log.entries(from: learnerScannedThrough + 1, limit: 1_024)
            guard !batch.isEmpty else { break }
            for entry in batch {
                learnerScannedThrough = entry.seq
                if learner.isMarked(by: entry) {
                    learnerMarkSeq = entry.seq
                    break
                }
            }
        }
        if let mark = learnerMarkSeq, log.syncedSeq >= mark, log.heldThrough >= mark {
            self.learner = nil
            learnerMarkSeq = nil
        }
    }

    private mutating func handle(_ envelope: Envelope<Payload>) throws(Log.Failure) -> Output<Payload> {
        switch envelope.message {
        case .beginEpoch(let epoch) where learner != nil:
            // A learner promises nothing; it only refuses older epochs from now on.
            if epoch > maxEpochSeen {
                maxEpochSeen = epoch
                following = nil
            }
            return Output()

        case .beginEpoch(let epoch):
            guard epoch > maxEpochSeen || (epoch == maxEpochSeen && leader == nil && following?.epoch != epoch) else {
                return reply(to: envelope.from, .reject(epoch: epoch, maxEpochSeen: maxEpochSeen))
            }
            maxEpochSeen = epoch
            leader = nil
            following = nil
            log.markSynced(through: log.tail.seq)  // promise and log written together, before the reply
            return reply(to: envelope.from, .epochState(epoch: epoch, tail: log.tail))

        case .epochState(let epoch, let tail):
            guard var state = leader, state.epoch == epoch, !state.isServing, state.members.contains(envelope.from) else { return Output() }
            state.tails[envelope.from] = tail
            leader = state
            return Output(messages: try finishRecoveryIfReady())

        case .fetch(let epoch, let from):
            // Only for the leader this node promised: its log cannot change under the fetch.
            guard epoch == maxEpochSeen, leader == nil, following == nil else {
                return reply(to: envelope.from, .reject(epoch: epoch, maxEpochSeen: maxEpochSeen))
            }
            var start = max(1, min(from, log.tail.seq + 1))
            if let gap = log.gap, gap.contains(start) { start = gap.end.seq + 1 }  // what this node holds after it
            return reply(
                to: envelope.from,
                .fetchReply(
                    epoch: epoch, prevSeq: start - 1, prevSum: try log.sum(at: start - 1),
                    entries: try log.entries(from: start, limit: entriesPerMessageMax)))

        case .fetchReply(let epoch, let prevSeq, let prevSum, let entries):
            return Output(messages: try adoptFetched(from: envelope.from, epoch: epoch, prevSeq: prevSeq, prevSum: prevSum, entries: entries))

        case .replicate(let epoch, let prevSeq, let prevSum, let entries, let leaderCommit):
            if let refusal = follow(envelope.from, epoch) { return refusal }
            if let gap = log.gap, prevSeq < gap.end.seq {
                // From before the point this node joined at (sent before the leader heard of it):
                // its acknowledgement of the gap moves the leader on.
                guard log.syncedSeq >= gap.end.seq else { return Output() }
                return reply(to: envelope.from, .replicateAck(epoch: epoch, syncedSeq: log.syncedSeq, sum: try log.sum(at: log.syncedSeq)))
            }
            guard prevSeq <= log.tail.seq else {
                return reply(to: envelope.from, .replicateNack(epoch: epoch, hint: log.tail.seq))
            }
            guard try log.sum(at: prevSeq) == prevSum else {
                // Diverged before `prevSeq`: everything up to the commit point matches any leader
                // (committed entries are in every later leader's log), so the leader goes back there
                // at once rather than one entry per round trip.
                return reply(to: envelope.from, .replicateNack(epoch: epoch, hint: min(commitSeq, prevSeq &- 1)))
            }
            let seq = try merge(entries, after: prevSeq)
            // What is known to match the leader's log: everything up to `seq`.
            var out = Output<Payload>()
            commitSeq = max(commitSeq, min(leaderCommit, seq))
            out.committed = deliverable()
            if log.syncedSeq >= prevSeq {
                // Already synced up to here (a duplicate or an empty heartbeat): say so again.
                let synced = min(log.syncedSeq, seq)
                out.messages.append(
                    Envelope(from: id, to: envelope.from, message: .replicateAck(epoch: epoch, syncedSeq: synced, sum: try log.sum(at: synced))))
            }
            return out

        case .replicateAck(let epoch, let syncedSeq, let ackSum):
            guard var state = leader, state.epoch == epoch, state.isServing, state.members.contains(envelope.from) else { return Output() }
            // Counted only if the follower's prefix is this leader's (same chained sum).
            guard syncedSeq <= log.tail.seq, try log.sum(at: syncedSeq) == ackSum else { return Output() }
            if syncedSeq > (state.matched[envelope.from] ?? 0) {
                state.matched[envelope.from] = syncedSeq
                state.progressed.insert(envelope.from)
            }
            state.next[envelope.from] = max(state.next[envelope.from] ?? 1, syncedSeq + 1)
            leader = state
            var out = try advanceCommit()
            if let more = try replicate(to: envelope.from, pipelined: true, force: false) { out.messages.append(more) }
            return out

        case .replicateNack(let epoch, let hint):
            guard var state = leader, state.epoch == epoch, state.isServing, state.members.contains(envelope.from) else { return Output() }
            if gapThreshold > 0, hint < commitSeq, commitSeq - hint > gapThreshold, !state.gapRefused.contains(envelope.from) {
                // Far behind: it joins at the commit point and fills the rest itself; what follows
                // goes from there once it acknowledges (nothing sent before is still on its way).
                let end = try log.entry(at: commitSeq)
                state.next[envelope.from] = commitSeq + 1
                state.sent[envelope.from] = nil
                leader = state
                return reply(
                    to: envelope.from,
                    .installGap(
                        epoch: epoch, probeSeq: hint, probeSum: try log.sum(at: hint), end: end.position,
                        commitSeq: commitSeq))
            }
            state.next[envelope.from] = min(state.next[envelope.from] ?? 1, hint + 1)
            state.sent[envelope.from] = nil
            leader = state
            return Output(messages: try replicate(to: envelope.from, pipelined: false, force: true).map { [$0] } ?? [])

        case .reject(_, let newer):
            guard let state = leader, newer > state.epoch else { return Output() }
            // Someone promised a higher epoch: this leader's term is over.
            maxEpochSeen = max(maxEpochSeen, newer)
            leader = nil
            return Output()

        case .installGap(let epoch, let probeSeq, let probeSum, let end, let leaderCommit):
            if let refusal = follow(envelope.from, epoch) { return refusal }
            // Only right past a log that is all the leader's (so nothing this node holds is given
            // up: the probe is at its tail and matches), and once: otherwise the leader sends
            // entries, which find where the logs part.
            guard log.gap == nil, end.seq > log.tail.seq, end.seq <= leaderCommit, probeSeq == log.tail.seq,
                try log.sum(at: probeSeq) == probeSum
            else { return reply(to: envelope.from, .gapRefused(epoch: epoch)) }
            try log.openGap(through: end)
            commitSeq = max(commitSeq, end.seq)
            return Output()  // acknowledged once synced (`sync`)

        case .gapRefused(let epoch):
            guard var state = leader, state.epoch == epoch, state.isServing else { return Output() }
            state.gapRefused.insert(envelope.from)
            leader = state
            return Output(messages: try replicate(to: envelope.from, pipelined: false, force: true).map { [$0] } ?? [])

        case .backfill(let from):
            // Committed entries are the same on every node: anyone who holds them answers.
            let upTo = min(commitSeq, log.heldThrough)
            guard from >= 1, from <= upTo else { return reply(to: envelope.from, .backfillReply(prevSeq: from &- 1, entries: [])) }
            let entries = try log.entries(from: from, limit: min(entriesPerMessageMax, Int(upTo - from + 1)))
            return reply(to: envelope.from, .backfillReply(prevSeq: from - 1, entries: entries))

        case .learner(let epoch, let incarnation):
            guard var state = leader, state.epoch == epoch, state.isServing, state.members.contains(envelope.from),
                !state.joinMarked.contains(incarnation)
            else { return Output() }
            state.joinMarked.insert(incarnation)
            leader = state
            try append(payload: Payload(incarnation: incarnation), epoch: epoch, kind: .joinMark)
            return Output(messages: try replicatePending())

        case .backfillReply(let prevSeq, let entries):
            guard let gap = log.gap, prevSeq == gap.next - 1 else { return Output() }
            var previous = try log.sum(at: prevSeq)
            for entry in entries {
                guard let open = log.gap, entry.seq == open.next, entry.isIntact(previousSum: previous) else { break }
                if entry.seq == open.end.seq, entry.sum != open.end.sum || entry.epoch != open.end.epoch { break }
                try log.fill(entry)
                previous = entry.sum
            }
            return Output(committed: deliverable())
        }
    }

    /// A leader's message of `epoch`: this node follows it, or (an older epoch) refuses it.
    private mutating func follow(_ node: NodeID, _ epoch: Epoch) -> Output<Payload>? {
        guard epoch >= maxEpochSeen else { return reply(to: node, .reject(epoch: epoch, maxEpochSeen: maxEpochSeen)) }
        if epoch > maxEpochSeen || leader != nil {
            // A newer leader's entries: whatever this node led is over.
            maxEpochSeen = epoch
            leader = nil
        }
        following = (node, epoch)
        return nil
    }

    /// The request for the next entries of this node's gap, to `peer` (the driver paces them: one
    /// outstanding, throttled against live traffic). nil without a gap.
    public func backfillRequest(to peer: NodeID) -> Envelope<Payload>? {
        guard let gap = log.gap, peer != id else { return nil }
        return Envelope(from: id, to: peer, message: .backfill(from: gap.next))
    }

    /// The committed entries not yet handed on that this node now holds in order.
    private mutating func deliverable() -> Range<UInt64>? {
        let upTo = min(commitSeq, log.heldThrough)
        guard upTo > deliveredSeq else { return nil }
        defer { deliveredSeq = upTo }
        return (deliveredSeq + 1)..<(upTo + 1)
    }

    // MARK: Leader

    /// The other members of the configuration this node leads under.
    private var peers: [NodeID] { (leader?.members ?? members).filter { $0 != id } }

    private mutating func finishRecoveryIfReady() throws(Log.Failure) -> [Envelope<Payload>] {
        guard var state = leader, !state.isServing, state.fetchingFrom == nil, state.tails.count >= majority else { return [] }
        // The most advanced log of a majority that promised this epoch holds every committed entry.
        let (bestNode, bestTail) = state.tails.max { a, b in b.value.isAhead(of: a.value) || (a.value == b.value && a.key > b.key) }!
        if bestTail.isAhead(of: log.tail) {
            // Fetch what this node lacks, from the first entry not known to be committed (committed
            // entries are the same on every node).
            state.fetchingFrom = bestNode
            state.fetchTarget = bestTail
            state.fetchedFromStart = false
            leader = state
            let from = min(commitSeq, log.tail.seq) + 1
            return [Envelope(from: id, to: bestNode, message: .fetch(epoch: state.epoch, from: from))]
        }
        return try startServing()
    }

    private mutating func adoptFetched(from node: NodeID, epoch: Epoch, prevSeq: UInt64, prevSum: UInt64, entries: [Entry]) throws(Log.Failure) -> [Envelope<Payload>] {
        guard var state = leader, state.epoch == epoch, !state.isServing, state.fetchingFrom == node,
            let target = state.fetchTarget
        else { return [] }
        // Asked from the start and still not where this node's log agrees: the node skipped
        // entries (a gap) this one needs.
        var skipped = false
        if state.fetchedFromStart && prevSeq > 0 { skipped = try log.sum(at: min(prevSeq, log.tail.seq)) != prevSum }
        guard prevSeq <= log.tail.seq, !(entries.isEmpty && prevSeq < target.seq), !skipped else {
            // The node has a gap where this one needs entries, or no longer holds what it promised
            // (its data directory was replaced since): it cannot help; another may.
            state.fetchingFrom = nil
            state.tails[node] = nil
            leader = state
            return try finishRecoveryIfReady()
        }
        guard try log.sum(at: prevSeq) == prevSum else {
            // Not where this node's log agrees with it: from the start.
            state.fetchedFromStart = true
            leader = state
            return [Envelope(from: id, to: node, message: .fetch(epoch: epoch, from: 1))]
        }
        let seq = try merge(entries, after: prevSeq)
        if seq >= target.seq {
            guard try log.sum(at: target.seq) == target.sum else {
                // The node's log changed since it promised (it cannot, unless it restarted): ask
                // again.
                state.fetchingFrom = nil
                state.tails[node] = nil
                leader = state
                return try finishRecoveryIfReady()
            }
            try log.truncate(after: target.seq)
            state.fetchingFrom = nil
            state.tails[id] = log.tail
            leader = state
            return try startServing()
        }
        return [Envelope(from: id, to: node, message: .fetch(epoch: epoch, from: seq + 1))]
    }

    /// Takes `entries` (the sender's, from `prevSeq` + 1 on; the entry at `prevSeq` matches) into
    /// this node's log: entries it holds already are kept, a divergent suffix (an older epoch's
    /// unsynced or uncommitted tail) is replaced, an entry that fails its checksum ends the merge.
    /// Returns the last seq now known to match the sender's log.
    private mutating func merge(_ entries: [Entry], after prevSeq: UInt64) throws(Log.Failure) -> UInt64 {
        var seq = prevSeq
        if let last = entries.last, last.seq == prevSeq + UInt64(entries.count), last.seq <= log.tail.seq,
            try log.sum(at: last.seq) == last.sum
        {
            // Entries this node holds already (a resend): the chained sum of the last one vouches
            // for every one before it.
            return last.seq
        }
        for entry in entries {
            guard entry.seq == seq + 1, entry.isIntact(previousSum: try log.sum(at: seq)) else { break }
            seq += 1
            if seq <= log.tail.seq {
                if try log.sum(at: seq) == entry.sum { continue }
                try log.truncate(after: seq - 1)
            }
            try log.append(entry)
        }
        return seq
    }

    private mutating func startServing() throws(Log.Failure) -> [Envelope<Payload>] {
        var state = leader!
        try append(payload: .empty, epoch: state.epoch, kind: .epochMark)
        state.isServing = true
        state.markSeq = log.tail.seq
        state.next = [:]
        state.matched = [:]
        state.sent = [:]
        // Followers most likely hold everything before the mark; a nack rewinds where they do not.
        for peer in peers { state.next[peer] = log.tail.seq }
        leader = state
        var out: [Envelope<Payload>] = []
        for peer in peers { if let envelope = try replicate(to: peer, pipelined: false, force: true) { out.append(envelope) } }
        return out
    }

    private mutating func append(payload: Payload, epoch: Epoch, kind: Entry.Kind) throws(Log.Failure) {
        let seq = log.tail.seq + 1
        try log.append(Entry(seq: seq, epoch: epoch, payload: payload, kind: kind, previousSum: log.tail.sum))
    }

    /// Entries for `peer` from the first it has not acknowledged, or (`pipelined`) from the first
    /// not yet sent to it, at most `entriesPerMessageMax`. nil when there is nothing to send and
    /// `force` (a commit point or heartbeat to carry) is off.
    private mutating func replicate(to peer: NodeID, pipelined: Bool, force: Bool) throws(Log.Failure) -> Envelope<Payload>? {
        var state = leader!
        var next = min(state.next[peer] ?? 1, log.tail.seq + 1)
        if pipelined, let sent = state.sent[peer], sent + 1 > next { next = min(sent + 1, log.tail.seq + 1) }
        let entries = try log.entries(from: next, limit: entriesPerMessageMax)
        if entries.isEmpty && !force { return nil }
        if let last = entries.last { state.sent[peer] = last.seq }
        leader = state
        let prev = next - 1
        return Envelope(
            from: id, to: peer,
            message: .replicate(epoch: state.epoch, prevSeq: prev, prevSum: try log.sum(at: prev), entries: entries, commitSeq: commitSeq))
    }

    /// Commits what a majority has synced, if it is at or after this leader's epoch mark.
    private mutating func advanceCommit() throws(Log.Failure) -> Output<Payload> {
        guard let state = leader, state.isServing else { return Output() }
        var synced = [log.syncedSeq]
        for peer in peers { synced.append(state.matched[peer] ?? 0) }
        synced.sort(by: >)
        let candidate = synced[majority - 1]
        guard candidate > commitSeq, candidate >= state.markSeq else { return Output() }
        commitSeq = candidate
        // Followers learn the commit point with the next message (sent now, so readers on them move).
        var out = Output<Payload>(committed: deliverable())
        for peer in peers { if let envelope = try replicate(to: peer, pipelined: true, force: true) { out.messages.append(envelope) } }
        return out
    }

    private func reply(to peer: NodeID, _ message: Message<Payload>) -> Output<Payload> {
        Output(messages: [Envelope(from: id, to: peer, message: message)])
    }
}

extension ReplicaNode where Log: CrashableReplicaLog {
    /// A crash: unsynced entries and every volatile thing are gone; the promise stays.
    public mutating func crash() {
        log.dropUnsynced()
        commitSeq = 0
        deliveredSeq = 0
        leader = nil
        following = nil
        learnerScannedThrough = 0
        learnerMarkSeq = nil
        learnerAnnouncedIn = nil
    }
}

/// A node that lost its state: `incarnation` names this life of it (random), `since` is the epoch
/// floor it took when it started again.
public struct Learner: Sendable, Equatable {
    public let incarnation: UInt64
    public let since: UInt64

    public init(incarnation: UInt64, since: UInt64) {
        self.incarnation = incarnation
        self.since = since
    }

    /// Whether holding everything up to `entry` makes this learner a voter: the join mark for its
    /// incarnation, or the mark of an epoch begun since it lost its state.
    func isMarked<Payload>(by entry: ReplicatedEntry<Payload>) -> Bool {
        (entry.kind == .joinMark && entry.payload.incarnation == incarnation) || (entry.kind == .epochMark && entry.epoch > since)
    }
}

public struct LeaderState: Sendable {
    public let epoch: UInt64
    /// The configuration this epoch counts majorities of.
    public let members: [Int]
    public internal(set) var isServing = false
    /// Recovery: the log tails of the nodes that promised this epoch, and the node whose log this
    /// one is fetching (the most advanced of them) up to its tail.
    var tails: [Int: LogTail] = [:]
    var fetchingFrom: Int?
    var fetchTarget: LogTail?
    var fetchedFromStart = false
    /// Serving: this epoch's mark; the next seq to send each follower, what each has synced of
    /// this log, the last seq sent to each (pipelining), and who acknowledged something new since
    /// the last heartbeat.
    public internal(set) var markSeq: UInt64 = 0
    var next: [Int: UInt64] = [:]
    public internal(set) var matched: [Int: UInt64] = [:]
    var sent: [Int: UInt64] = [:]
    var progressed: Set<Int> = []
    /// Followers that refused to join with a gap in this epoch: they are sent entries.
    var gapRefused: Set<Int> = []
    /// Learners' incarnations a join mark was appended for in this epoch.
    var joinMarked: Set<UInt64> = []

    init(epoch: UInt64, members: [Int]) {
        self.epoch = epoch
        self.members = members
    }
}

public enum Message<Payload: ReplicaPayload>: Sendable {
    case beginEpoch(epoch: UInt64)
    case epochState(epoch: UInt64, tail: LogTail)
    case fetch(epoch: UInt64, from: UInt64)
    case fetchReply(epoch: UInt64, prevSeq: UInt64, prevSum: UInt64, entries: [ReplicatedEntry<Payload>])
    case replicate(epoch: UInt64, prevSeq: UInt64, prevSum: UInt64, entries: [ReplicatedEntry<Payload>], commitSeq: UInt64)
    case replicateAck(epoch: UInt64, syncedSeq: UInt64, sum: UInt64)
    case replicateNack(epoch: UInt64, hint: UInt64)
    case reject(epoch: UInt64, maxEpochSeen: UInt64)
    /// Leader → a follower far behind whose log ends at `probeSeq` with `probeSum`: join at `end`,
    /// a committed entry, leaving a gap before it.
    case installGap(epoch: UInt64, probeSeq: UInt64, probeSum: UInt64, end: LogTail, commitSeq: UInt64)
    case gapRefused(epoch: UInt64)
    /// A node with a gap → any peer: committed entries from `from` on.
    case backfill(from: UInt64)
    case backfillReply(prevSeq: UInt64, entries: [ReplicatedEntry<Payload>])
    /// A learner → the leader it follows: append a join mark for `incarnation`.
    case learner(epoch: UInt64, incarnation: UInt64)
}

public struct Envelope<Payload: ReplicaPayload>: Sendable {
    public let from: Int
    public let to: Int
    public let message: Message<Payload>

    public init(from: Int, to: Int, message: Message<Payload>) {
        self.from = from
        self.to = to
        self.message = message
    }
}

public struct Output<Payload: ReplicaPayload>: Sendable {
    public var messages: [Envelope<Payload>] = []
    /// Seqs that became committed with this event (apply them in order).
    public var committed: Range<UInt64>?

    public init(messages: [Envelope<Payload>] = [], committed: Range<UInt64>? = nil) {
        self.messages = messages
        self.committed = committed
    }
}

extension ReplicaNode: Sendable where Log: Sendable {}
