/// The replication core of one stream on one node, as a pure state machine: messages and local
/// events in, messages and client acknowledgements out, no I/O, no clocks. A seeded simulator
/// drives it in the tests (loss, duplication, reordering, crashes that drop what was not synced,
/// leaders of stale epochs); the server will drive it with real sockets, WiredTiger and etcd.
///
/// The protocol (ARCHITECTURE.md, "Replication"): a coordinator outside the model (etcd) hands out
/// epochs, each higher than any before. A node that is given epoch `e` collects the logs of a
/// majority that promised `e` (`beginEpoch` → `epochState`; a promise is durable before it is
/// sent), adopts the most advanced one — highest (last epoch, last seq) — appends an epoch mark,
/// and replicates. Followers accept an append only if the entry before it matches by chained
/// checksum, and acknowledge only what they have synced. An entry is committed once it and an
/// entry of the leader's own epoch at or after it are synced on a majority (Raft's rule: entries of
/// older epochs are committed only indirectly). Clients hear of a write when it commits.
public struct ReplicaNode: Sendable {
    public typealias NodeID = Int
    public typealias Epoch = UInt64

    public let id: NodeID
    public let clusterSize: Int
    public var majority: Int { clusterSize / 2 + 1 }

    // Durable state: survives a crash up to `syncedCount` entries.
    public private(set) var log: [ReplicatedEntry] = []
    /// Entries of `log` that are on disk.
    public private(set) var syncedCount = 0
    /// The highest epoch this node promised or accepted; it refuses anything lower. Written
    /// synchronously (it is the promise).
    public private(set) var maxEpochSeen: Epoch = 0

    // Volatile state: lost in a crash.
    /// The highest seq this node knows to be committed (readers see up to here).
    public private(set) var commitSeq: UInt64 = 0
    public private(set) var leader: LeaderState?
    /// The leader this node last accepted entries from, and its epoch: synced entries are
    /// acknowledged to it.
    private var following: (leader: NodeID, epoch: Epoch)?

    public init(id: NodeID, clusterSize: Int) {
        precondition(clusterSize >= 1 && id >= 0 && id < clusterSize)
        self.id = id
        self.clusterSize = clusterSize
    }

    public var isServing: Bool { leader?.isServing ?? false }

    func sum(at seq: UInt64) -> UInt64 { seq == 0 ? 0 : log[Int(seq) - 1].sum }

    // MARK: Events

    /// The coordinator made this node leader of `epoch` (higher than any it handed out before).
    public mutating func becomeLeader(epoch: Epoch) -> [Envelope] {
        guard epoch > maxEpochSeen else { return [] }
        maxEpochSeen = epoch
        syncedCount = log.count  // the promise is written with everything before it
        leader = LeaderState(epoch: epoch)
        following = nil
        leader!.states[id] = log
        var out: [Envelope] = []
        for peer in 0..<clusterSize where peer != id {
            out.append(Envelope(from: id, to: peer, message: .beginEpoch(epoch: epoch)))
        }
        out += finishRecoveryIfReady()
        return out
    }

    /// A client write at this node: appended (not yet synced) if it is a serving leader; the
    /// write is acknowledged through `Output.acked` once it commits. nil when it cannot take writes.
    public mutating func write(payload: UInt64) -> (seq: UInt64, out: [Envelope])? {
        guard let state = leader, state.isServing else { return nil }
        append(payload: payload, epoch: state.epoch, kind: .data)
        let seq = UInt64(log.count)
        return (seq, broadcastReplicate(pipelined: true))
    }

    /// The disk synced everything appended so far: acknowledgements go out, and a leader may
    /// commit.
    public mutating func sync() -> Output {
        guard syncedCount < log.count else { return Output() }
        syncedCount = log.count
        if leader != nil { return advanceCommit() }
        guard let following else { return Output() }
        return Output(messages: [
            Envelope(
                from: id, to: following.leader,
                message: .replicateAck(epoch: following.epoch, syncedSeq: UInt64(syncedCount), sum: sum(at: UInt64(syncedCount))))
        ])
    }

    /// A crash: unsynced entries and every volatile thing are gone; the promise stays.
    public mutating func crash() {
        log.removeLast(log.count - syncedCount)
        commitSeq = 0
        leader = nil
        following = nil
    }

    /// A serving leader's periodic message when idle: followers learn the commit point and answer
    /// with what they have synced.
    public mutating func heartbeat() -> [Envelope] {
        guard isServing else { return [] }
        return broadcastReplicate()
    }

    /// A leader that lost its lease (or sees a higher epoch) stops serving.
    public mutating func stepDown() {
        leader = nil
    }

    // MARK: Messages

    public mutating func receive(_ envelope: Envelope) -> Output {
        switch envelope.message {
        case .beginEpoch(let epoch):
            guard epoch > maxEpochSeen || (epoch == maxEpochSeen && leader == nil && following?.epoch != epoch) else {
                return reply(to: envelope.from, .reject(epoch: epoch, maxEpochSeen: maxEpochSeen))
            }
            maxEpochSeen = epoch
            leader = nil
            following = nil
            syncedCount = log.count  // promise and log written together, before the reply
            return reply(to: envelope.from, .epochState(epoch: epoch, entries: log))

        case .epochState(let epoch, let entries):
            guard var state = leader, state.epoch == epoch, !state.isServing else { return Output() }
            state.states[envelope.from] = entries
            leader = state
            return Output(messages: finishRecoveryIfReady())

        case .replicate(let epoch, let prevSeq, let prevSum, let entries, let leaderCommit):
            guard epoch >= maxEpochSeen else {
                return reply(to: envelope.from, .reject(epoch: epoch, maxEpochSeen: maxEpochSeen))
            }
            if epoch > maxEpochSeen || leader != nil {
                // A newer leader's entries: whatever this node led is over.
                maxEpochSeen = epoch
                leader = nil
            }
            following = (envelope.from, epoch)
            guard prevSeq <= UInt64(log.count), sum(at: prevSeq) == prevSum else {
                return reply(to: envelope.from, .replicateNack(epoch: epoch, hint: min(UInt64(log.count), prevSeq &- 1)))
            }
            var seq = prevSeq
            for entry in entries {
                seq += 1
                if seq <= UInt64(log.count) {
                    if log[Int(seq) - 1].sum == entry.sum { continue }
                    // A divergent suffix (an older epoch's unsynced or uncommitted tail) goes.
                    log.removeLast(log.count - Int(seq) + 1)
                    syncedCount = min(syncedCount, log.count)
                }
                log.append(entry)
            }
            // What is known to match the leader's log: everything up to `seq`.
            commitSeq = max(commitSeq, min(leaderCommit, seq))
            var out = Output()
            if syncedCount >= Int(prevSeq) {
                // Already synced up to here (a duplicate or an empty heartbeat): say so again.
                let synced = min(UInt64(syncedCount), seq)
                out.messages.append(
                    Envelope(from: id, to: envelope.from, message: .replicateAck(epoch: epoch, syncedSeq: synced, sum: sum(at: synced))))
            }
            return out

        case .replicateAck(let epoch, let syncedSeq, let ackSum):
            guard var state = leader, state.epoch == epoch, state.isServing else { return Output() }
            // Counted only if the follower's prefix is this leader's (same chained sum).
            guard syncedSeq <= UInt64(log.count), sum(at: syncedSeq) == ackSum else { return Output() }
            state.matched[envelope.from] = max(state.matched[envelope.from] ?? 0, syncedSeq)
            state.next[envelope.from] = max(state.next[envelope.from] ?? 1, syncedSeq + 1)
            leader = state
            var out = advanceCommit()
            if state.next[envelope.from]! <= UInt64(log.count) {
                out.messages.append(replicate(to: envelope.from))
            }
            return out

        case .replicateNack(let epoch, let hint):
            guard var state = leader, state.epoch == epoch, state.isServing else { return Output() }
            state.next[envelope.from] = min(state.next[envelope.from] ?? 1, hint + 1)
            leader = state
            return Output(messages: [replicate(to: envelope.from)])

        case .reject(_, let newer):
            guard let state = leader, newer > state.epoch else { return Output() }
            // Someone promised a higher epoch: this leader's term is over.
            maxEpochSeen = max(maxEpochSeen, newer)
            leader = nil
            return Output()
        }
    }

    // MARK: Leader

    private mutating func finishRecoveryIfReady() -> [Envelope] {
        guard var state = leader, !state.isServing, state.states.count >= majority else { return [] }
        // The most advanced log of a majority that promised this epoch holds every committed entry.
        // Compared by their tails: (epoch of the last entry, its seq).
        let best = state.states.values.max { a, b in
            (a.last?.epoch ?? 0, a.count) < (b.last?.epoch ?? 0, b.count)
        }!
        adopt(best)
        state.isServing = true
        state.next = [:]
        state.matched = [:]
        state.sent = [:]
        for peer in 0..<clusterSize where peer != id { state.next[peer] = 1 }
        leader = state
        append(payload: 0, epoch: state.epoch, kind: .epochMark)
        return broadcastReplicate()
    }

    /// Takes `entries` as this node's log: the common prefix stays synced, the rest is replaced.
    private mutating func adopt(_ entries: [ReplicatedEntry]) {
        var common = 0
        while common < min(log.count, entries.count) && log[common].sum == entries[common].sum { common += 1 }
        log.removeLast(log.count - common)
        syncedCount = min(syncedCount, common)
        log.append(contentsOf: entries[common...])
    }

    private mutating func append(payload: UInt64, epoch: Epoch, kind: ReplicatedEntry.Kind) {
        let seq = UInt64(log.count) + 1
        log.append(ReplicatedEntry(seq: seq, epoch: epoch, payload: payload, kind: kind, previousSum: sum(at: seq - 1)))
    }

    /// Entries for `peer` from the first it has not acknowledged, or (`pipelined`) from the first
    /// not yet sent to it: appends go out as they come without waiting for acknowledgements, and a
    /// follower that missed some answers with a nack that rewinds to what it has.
    private mutating func replicate(to peer: NodeID, pipelined: Bool = false) -> Envelope {
        var state = leader!
        var next = min(state.next[peer] ?? 1, UInt64(log.count) + 1)
        if pipelined, let sent = state.sent[peer], sent + 1 > next { next = min(sent + 1, UInt64(log.count)) }
        state.sent[peer] = UInt64(log.count)
        leader = state
        let prev = next - 1
        return Envelope(
            from: id, to: peer,
            message: .replicate(
                epoch: state.epoch, prevSeq: prev, prevSum: sum(at: prev), entries: Array(log[Int(prev)...]),
                commitSeq: commitSeq))
    }

    private mutating func broadcastReplicate(pipelined: Bool = false) -> [Envelope] {
        var out: [Envelope] = []
        for peer in 0..<clusterSize where peer != id { out.append(replicate(to: peer, pipelined: pipelined)) }
        return out
    }

    /// Commits what a majority has synced, if it ends in an entry of this leader's epoch.
    private mutating func advanceCommit() -> Output {
        guard let state = leader, state.isServing else { return Output() }
        var candidate = UInt64(log.count)
        while candidate > commitSeq {
            let synced = (syncedCount >= Int(candidate) ? 1 : 0) + state.matched.values.filter { $0 >= candidate }.count
            if synced >= majority && log[Int(candidate) - 1].epoch == state.epoch { break }
            candidate -= 1
        }
        guard candidate > commitSeq else { return Output() }
        let acked = log[Int(commitSeq)..<Int(candidate)].filter { $0.kind == .data }.map { (seq: $0.seq, payload: $0.payload) }
        commitSeq = candidate
        // Followers learn the commit point with the next message (sent now, so readers on them move).
        return Output(messages: broadcastReplicate(), acked: acked)
    }

    private func reply(to peer: NodeID, _ message: Message) -> Output {
        Output(messages: [Envelope(from: id, to: peer, message: message)])
    }
}

/// One replicated entry. `sum` chains every entry before it: two logs with the same sum at a seq
/// hold the same entries up to it.
public struct ReplicatedEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case data, epochMark }
    public let seq: UInt64
    public let epoch: UInt64
    public let payload: UInt64
    public let kind: Kind
    public let sum: UInt64

    public init(seq: UInt64, epoch: UInt64, payload: UInt64, kind: Kind, previousSum: UInt64) {
        self.seq = seq
        self.epoch = epoch
        self.payload = payload
        self.kind = kind
        var hash = previousSum ^ 0xcbf2_9ce4_8422_2325
        for word in [seq, epoch, payload, kind == .data ? 1 : 2] {
            hash ^= word
            hash = hash &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
        }
        self.sum = hash
    }
}

public struct LeaderState: Sendable {
    public let epoch: UInt64
    public internal(set) var isServing = false
    /// Recovery: the logs of the nodes that promised this epoch.
    var states: [Int: [ReplicatedEntry]] = [:]
    /// Serving: the next seq to send each follower, and what each has synced of this log.
    var next: [Int: UInt64] = [:]
    var matched: [Int: UInt64] = [:]
    /// The last seq sent to each follower (pipelining).
    var sent: [Int: UInt64] = [:]

    init(epoch: UInt64) { self.epoch = epoch }
}

public enum Message: Sendable {
    case beginEpoch(epoch: UInt64)
    case epochState(epoch: UInt64, entries: [ReplicatedEntry])
    case replicate(epoch: UInt64, prevSeq: UInt64, prevSum: UInt64, entries: [ReplicatedEntry], commitSeq: UInt64)
    case replicateAck(epoch: UInt64, syncedSeq: UInt64, sum: UInt64)
    case replicateNack(epoch: UInt64, hint: UInt64)
    case reject(epoch: UInt64, maxEpochSeen: UInt64)
}

public struct Envelope: Sendable {
    public let from: Int
    public let to: Int
    public let message: Message
}

public struct Output: Sendable {
    public var messages: [Envelope] = []
    /// Client writes that committed: (seq, payload).
    public var acked: [(seq: UInt64, payload: UInt64)] = []

    public init(messages: [Envelope] = [], acked: [(seq: UInt64, payload: UInt64)] = []) {
        self.messages = messages
        self.acked = acked
    }
}
