import Testing
@testable import SpoolReplication

/// SplitMix64: the simulator's only source of choices, so a seed replays a run exactly.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
}

/// A cluster of `ReplicaNode`s under a seeded nemesis: messages delivered in any order, dropped and
/// duplicated; nodes crashed (losing what they had not synced) and restarted; new leaders given
/// fresh epochs while old ones still believe they lead; with gaps on, nodes wiped (a new disk: they
/// join with a gap and backfill it). A checker records every acknowledged write and fails a run on
/// any lost, changed or disagreeing committed entry, and on entries handed on for applying out of
/// order or from a gap.
typealias SimulatedNode = ReplicaNode<InMemoryReplicaLog<UInt64>>

struct Simulation {
    var nodes: [SimulatedNode]
    var alive: [Bool]
    var network: [Envelope<UInt64>] = []
    var random: SeededRandom
    var nextEpoch: UInt64 = 1
    var nextPayload: UInt64 = 1
    /// Every acknowledged write: seq → payload.
    var acknowledged: [UInt64: UInt64] = [:]
    var violations: [String] = []
    var writesAcked = 0
    /// A broken follower for the checker's own test: it acknowledges every entry it is sent at
    /// once, before it has synced (or even received) it.
    let forgedAcks: Bool

    /// Followers this many committed entries behind join with a gap (0: never; no wipes then).
    let gapThreshold: UInt64
    /// The last seq each node handed on for applying.
    var delivered: [UInt64]
    var wipes = 0
    var gapsOpened = 0

    /// The coordinator's configuration: members among the node slots.
    var config: [Int]
    /// Membership changes: off, one member at a time (the rule), or two at once (to show the
    /// checker catches what the rule prevents).
    enum Reconfiguration { case off, oneAtATime, twoAtOnce }
    let reconfiguration: Reconfiguration
    /// The leader the coordinator elected last, and its epoch.
    var latestLeader: (node: Int, epoch: UInt64)?
    var configChanges = 0
    /// Events, when tracing a seed being investigated (set `tracing`, run it, print `trace`).
    var tracing = false
    var trace: [String] = []
    mutating func note(_ line: String) { if tracing { trace.append("step \(steps): \(line)") } }
    var removalsRefused = 0

    /// `slots` nodes exist; the first `size` are the initial members.
    init(
        seed: UInt64, size: Int = 3, slots: Int? = nil, forgedAcks: Bool = false, gapThreshold: UInt64 = 0,
        reconfiguration: Reconfiguration = .off
    ) {
        random = SeededRandom(seed: seed)
        let slots = slots ?? size
        config = Array(0..<size)
        nodes = (0..<slots).map { [config] in
            SimulatedNode(id: $0, members: config, log: InMemoryReplicaLog(), entriesPerMessageMax: 4, gapThreshold: gapThreshold)
        }
        alive = Array(repeating: true, count: slots)
        delivered = Array(repeating: 0, count: slots)
        self.forgedAcks = forgedAcks
        self.gapThreshold = gapThreshold
        self.reconfiguration = reconfiguration
    }

    /// A node's data directory is replaced by an empty one. It takes the current epoch from the
    /// coordinator as its floor before it answers anyone, and is a learner until it holds what its
    /// former self may have acknowledged (as the server does).
    mutating func wipe(_ node: Int) {
        nodes[node] = SimulatedNode(
            id: node, members: config, log: InMemoryReplicaLog(), entriesPerMessageMax: 4, gapThreshold: gapThreshold,
            learner: Learner(incarnation: random.next(), since: nextEpoch - 1))
        nodes[node].raiseEpochFloor(to: nextEpoch - 1)
        delivered[node] = 0
        wipes += 1
        note("wipe \(node)")
    }

    /// A wipe is one failure: allowed only while every other member holds every acknowledged
    /// write, so the cluster can always lose one more node's unsynced tail and keep them (a node
    /// outside the configuration does not count: no leader reads its log).
    /// No other node may be a learner still (that would be a second failure at once).
    func mayWipe(_ node: Int) -> Bool {
        !nodes.contains { $0.id != node && $0.learner != nil } && config.allSatisfy { other in
            other == node || acknowledged.allSatisfy { seq, payload in holds(other, seq, payload) }
        }
    }

    /// Whether node `index` has the write on disk (a crash would keep it).
    func holds(_ index: Int, _ seq: UInt64, _ payload: UInt64) -> Bool {
        let log = nodes[index].log
        guard seq <= log.syncedSeq, !(log.gap?.contains(seq) ?? false) else { return false }
        return log.entry(at: seq).payload == payload
    }

    /// Takes what node `node` produced; its newly committed data entries are acknowledged
    /// writes when it leads (a leader answers the clients that wrote them).
    mutating func take(_ output: Output<UInt64>, at node: Int) {
        network += output.messages
        for envelope in output.messages {
            if case .installGap = envelope.message { gapsOpened += 1 }
        }
        if let committed = output.committed {
            // Handed on in order, once, from what the node holds.
            if committed.lowerBound != delivered[node] + 1 { violations.append("node \(node) handed on \(committed) after \(delivered[node])") }
            for seq in committed where nodes[node].log.gap?.contains(seq) ?? false {
                violations.append("node \(node) handed on seq \(seq) from its gap")
                return
            }
            delivered[node] = committed.upperBound - 1
        }
        if forgedAcks {
            for envelope in output.messages {
                guard case .replicate(let epoch, let prevSeq, let prevSum, let entries, _) = envelope.message else { continue }
                network.append(Envelope(
                    from: envelope.to, to: envelope.from,
                    message: .replicateAck(epoch: epoch, syncedSeq: prevSeq + UInt64(entries.count), sum: entries.last?.sum ?? prevSum)))
            }
        }
        guard let committed = output.committed, nodes[node].isLeading else { return }
        for seq in committed {
            let entry = nodes[node].log.entry(at: seq)
            guard entry.kind == .data else { continue }
            writesAcked += 1
            note("ack seq \(seq) payload \(entry.payload) by \(node) epoch \(nodes[node].leader!.epoch) members \(nodes[node].leader!.members) matched \(nodes[node].leader!.matched)")
            if let earlier = acknowledged[seq], earlier != entry.payload {
                violations.append("seq \(seq) acknowledged as \(earlier) and then as \(entry.payload)")
            }
            acknowledged[seq] = entry.payload
        }
    }

    /// The coordinator hands `node` the next epoch under the current configuration (members only,
    /// as the server campaigns).
    mutating func elect(_ node: Int) {
        guard config.contains(node) else { return }
        let epoch = nextEpoch
        nextEpoch += 1
        network += nodes[node].becomeLeader(epoch: epoch, members: config)
        note("elect \(node) epoch \(epoch) config \(config) leading \(nodes[node].isLeading) tails \(nodes.map { "\($0.log.tail.seq)/\($0.log.tail.epoch)" }) alive \(alive)")
        if nodes[node].isLeading { latestLeader = (node, epoch) }
    }

    /// The coordinator's membership change: only while the leader of the latest epoch has
    /// committed an entry of its own under the current configuration; one member added (a slot
    /// not in it) or removed, a removal refused unless every remaining member holds the committed
    /// log (none has a gap or is behind); every node hears
    /// of it and a new leader is elected under it at once.
    mutating func reconfigure() {
        guard let (leader, epoch) = latestLeader, let state = nodes[leader].leader, state.epoch == epoch, state.isServing,
            nodes[leader].commitSeq >= state.markSeq
        else { return }
        var next = config
        let outside = nodes.indices.filter { !config.contains($0) }
        switch reconfiguration {
        case .off: return
        case .oneAtATime:
            if config.count <= 3 || (!outside.isEmpty && random.chance(50)) {
                guard let added = outside.randomElement(using: &random) else { return }
                next.append(added)
            } else {
                let removed = config[random.below(config.count)]
                next.removeAll { $0 == removed }
                if !nodes[leader].holdsCommittedLog(next) {
                    removalsRefused += 1
                    return
                }
            }
        case .twoAtOnce:
            // A member swapped for a node outside in one step.
            guard let added = outside.randomElement(using: &random) else { return }
            next.remove(at: random.below(next.count))
            next.append(added)
        }
        config = next.sorted()
        note("config \(config)")
        configChanges += 1
        for index in nodes.indices { nodes[index].reconfigure(members: config) }
        let candidates = config.filter { alive[$0] && !nodes[$0].hasGap && nodes[$0].learner == nil }
        if let candidate = candidates.randomElement(using: &random) { elect(candidate) }
    }

    var writesAccepted = 0
    var steps = 0

    /// One step of the nemesis and the workload. Every 25 steps the committed prefixes are checked.
    mutating func step(faults: Bool, elections: Bool = true) {
        steps += 1
        defer { if steps % 25 == 0 { check() } }
        let roll = random.below(100)
        switch roll {
        case 0..<45:
            guard !network.isEmpty else { return }
            let index = random.below(network.count)
            let envelope = faults && random.chance(5) ? network[index] : network.remove(at: index)
            if faults && random.chance(5) { return }  // lost
            guard alive[envelope.to] else { return }
            take(nodes[envelope.to].receive(envelope), at: envelope.to)
        case 45..<65:
            let node = random.below(nodes.count)
            guard alive[node], let (_, messages) = nodes[node].write(payload: nextPayload) else { return }
            nextPayload += 1
            writesAccepted += 1
            take(Output(messages: messages), at: node)
        case 65..<85:
            let node = random.below(nodes.count)
            if alive[node] { take(nodes[node].sync(), at: node) }
        case 85..<92:
            for node in nodes.indices where alive[node] && nodes[node].isServing {
                take(Output(messages: nodes[node].heartbeat()), at: node)
            }
        case 92..<95:
            if reconfiguration != .off && random.chance(30) {
                reconfigure()
                return
            }
            let node = random.below(nodes.count)
            if alive[node] && elections { elect(node) }
        case 95..<98:
            guard faults else { return }
            let node = random.below(nodes.count)
            if gapThreshold > 0 && random.chance(25) {
                if mayWipe(node) { wipe(node) }
            } else if alive[node] {
                nodes[node].crash()
                note("crash \(node) tail \(nodes[node].log.tail.seq)")
                delivered[node] = 0
                alive[node] = false
            }
        case 98 where gapThreshold > 0:
            let node = random.below(nodes.count)
            if alive[node], let request = nodes[node].backfillRequest(to: random.below(nodes.count)) { network.append(request) }
        default:
            let node = random.below(nodes.count)
            alive[node] = true
        }
    }

    /// Delivers everything in order, every node but `cut` syncing after each message; what goes to
    /// or from `cut` is dropped.
    mutating func drainSyncing(cut: Int? = nil) {
        for _ in 0..<100_000 where !network.isEmpty {
            let envelope = network.removeFirst()
            if envelope.to == cut || envelope.from == cut { continue }
            take(nodes[envelope.to].receive(envelope), at: envelope.to)
            for node in nodes.indices where node != cut { take(nodes[node].sync(), at: node) }
        }
    }

    /// Every node with a gap asks a peer for its next entries until no gap is left.
    mutating func backfillAll() {
        for _ in 0..<10_000 {
            guard let node = nodes.indices.first(where: { nodes[$0].hasGap }) else { return }
            guard let request = nodes[node].backfillRequest(to: (node + 1 + random.below(nodes.count - 1)) % nodes.count) else { return }
            network.append(request)
            drainQuietly()
        }
    }

    /// Delivers every message in order until none is left; a cluster that keeps talking without
    /// end is a violation (a message loop).
    mutating func drainQuietly() {
        var delivered = 0
        while !network.isEmpty {
            let envelope = network.removeFirst()
            take(nodes[envelope.to].receive(envelope), at: envelope.to)
            delivered += 1
            if delivered > 100_000 {
                violations.append("messages never stop: \(network.prefix(4).map { "\($0.from)→\($0.to) \($0.message)" })")
                network = []
                return
            }
        }
    }

    /// Every node's committed prefix holds the acknowledged entries, and any two nodes agree on
    /// what both consider committed.
    mutating func check() {
        for node in nodes {
            for seq in stride(from: UInt64(1), through: node.commitSeq, by: 1) where !(node.log.gap?.contains(seq) ?? false) {
                guard seq <= node.log.lastSeq else {
                    violations.append("node \(node.id) commits \(node.commitSeq) beyond its log of \(node.log.lastSeq)")
                    break
                }
                if let payload = acknowledged[seq], node.log.entry(at: seq).payload != payload || node.log.entry(at: seq).kind != .data {
                    violations.append("node \(node.id) committed seq \(seq) differs from the acknowledged write \(payload)")
                }
            }
        }
        for a in nodes.indices {
            for b in nodes.indices where a < b {
                let both = min(nodes[a].commitSeq, nodes[b].commitSeq)
                guard both <= min(nodes[a].log.lastSeq, nodes[b].log.lastSeq) else { continue }  // reported above
                let gapped = [a, b].contains { nodes[$0].log.gap.map { $0.contains(both) && both != $0.end.seq } ?? false }
                if gapped { continue }
                if both > 0 && nodes[a].log.sum(at: both) != nodes[b].log.sum(at: both) {
                    violations.append("nodes \(a) and \(b) disagree on their committed prefix at seq \(both)")
                }
            }
        }
    }

    /// Faults stop, every node comes back, a last leader is elected and the cluster runs until it
    /// is quiet: every acknowledged write must be in its log and committed.
    mutating func heal() {
        for node in nodes.indices { alive[node] = true }
        // The serving leader, if any, finishes replicating what it took (heartbeats resend what was
        // lost), then a new leader takes over.
        for _ in 0..<200 {
            for node in nodes.indices where nodes[node].isServing {
                take(Output(messages: nodes[node].heartbeat()), at: node)
            }
            var delivered = 0
            while !network.isEmpty && delivered < 1_000 {
                let envelope = network.removeFirst()
                take(nodes[envelope.to].receive(envelope), at: envelope.to)
                delivered += 1
            }
            for node in nodes.indices { take(nodes[node].sync(), at: node) }
            if network.isEmpty { break }
        }
        // A node with a gap does not campaign: the last leader is one without.
        backfillAll()
        let candidates = config.filter { !nodes[$0].hasGap && nodes[$0].learner == nil }
        elect(candidates.isEmpty ? config[random.below(config.count)] : candidates[random.below(candidates.count)])
        for _ in 0..<20_000 {
            if network.isEmpty {
                for node in nodes.indices { take(nodes[node].sync(), at: node) }
                if network.isEmpty { break }
            }
            let envelope = network.removeFirst()
            take(nodes[envelope.to].receive(envelope), at: envelope.to)
        }
        for node in nodes.indices { take(nodes[node].sync(), at: node) }
        drainQuietly()
        backfillAll()
        for node in nodes where node.hasGap { violations.append("node \(node.id) still has a gap after healing") }
        check()
        // (A leader of an older epoch may not have heard it is one: the newest is the leader.)
        guard let leader = nodes.filter({ $0.isServing }).max(by: { $0.leader!.epoch < $1.leader!.epoch }) else {
            violations.append("no leader after healing")
            return
        }
        for (seq, payload) in acknowledged {
            if seq > leader.commitSeq || seq > leader.log.lastSeq || leader.log.entry(at: seq).payload != payload {
                violations.append("acknowledged write \(payload) at seq \(seq) lost after healing")
            }
        }
    }
}

@Suite struct ReplicationSimulationTests {
    /// Thousands of seeded runs: loss, duplication, reordering, crashes that drop unsynced
    /// entries, and leaders of stale epochs; no acknowledged write is ever lost or changed.
    /// What seeded runs under faults added up to.
    struct Totals {
        var acked = 0
        var gaps = 0
        var wipes = 0
        var changes = 0
        var refused = 0
    }

    /// One run per seed of `make(seed)`: node 0 elected, 800 steps with faults, healed. A run that
    /// finds a violation is reported with its seed and ends the series.
    static func faultRuns(_ seeds: ClosedRange<UInt64>, _ make: (UInt64) -> Simulation) -> Totals {
        var totals = Totals()
        for seed in seeds {
            var simulation = make(seed)
            simulation.elect(0)
            for _ in 0..<800 { simulation.step(faults: true) }
            simulation.heal()
            #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations.prefix(3))")
            if !simulation.violations.isEmpty { break }
            totals.acked += simulation.writesAcked
            totals.gaps += simulation.gapsOpened
            totals.wipes += simulation.wipes
            totals.changes += simulation.configChanges
            totals.refused += simulation.removalsRefused
        }
        return totals
    }

    /// How many runs of a broken variant (`make(seed)`: node 0 elected, `steps` steps with faults,
    /// healed) the checker fails.
    static func failingRuns(_ seeds: ClosedRange<UInt64>, steps: Int, _ make: (UInt64) -> Simulation) -> Int {
        var failures = 0
        for seed in seeds {
            var simulation = make(seed)
            simulation.elect(0)
            for _ in 0..<steps { simulation.step(faults: true) }
            simulation.heal()
            if !simulation.violations.isEmpty { failures += 1 }
        }
        return failures
    }

    @Test func noAcknowledgedWriteIsLostUnderFaults() {
        let totals = Self.faultRuns(1...2_000) { Simulation(seed: $0) }
        #expect(totals.acked > 20_000, "the runs acknowledged too few writes (\(totals.acked)) to mean anything")
    }

    /// The same with gaps: followers far behind join at the commit point, nodes are wiped and
    /// rejoin, gaps are filled from any peer; nothing acknowledged is lost, nothing is applied out
    /// of order or from a gap, and every gap is filled once the cluster is quiet.
    @Test func joinersWithGapsLoseNothingUnderFaults() {
        let totals = Self.faultRuns(1...2_000) { Simulation(seed: $0, gapThreshold: 3) }
        #expect(totals.acked > 10_000, "the runs acknowledged too few writes (\(totals.acked)) to mean anything")
        #expect(totals.gaps > 300 && totals.wipes > 1_000, "too few gaps (\(totals.gaps)) or wipes (\(totals.wipes)) to mean anything")
    }

    /// Membership changes one member at a time (a fourth node slot added and members removed, a
    /// removal refused unless every remaining member holds the leader's committed log, each change
    /// only once the latest leader committed under the current configuration) with gaps, wipes
    /// and every other fault: nothing acknowledged is lost.
    @Test func membershipChangesOneAtATimeLoseNothing() {
        let totals = Self.faultRuns(1...2_000) { Simulation(seed: $0, slots: 4, gapThreshold: 3, reconfiguration: .oneAtATime) }
        #expect(totals.acked > 10_000, "the runs acknowledged too few writes (\(totals.acked)) to mean anything")
        #expect(
            totals.changes > 400 && totals.refused > 0,
            "too few membership changes (\(totals.changes)) or refused removals (\(totals.refused))")
    }

    /// The checker catches what the one-at-a-time rule prevents: swapping a member for another in
    /// one step lets an old majority and a new one miss each other, and acknowledged writes are lost.
    @Test func theCheckerCatchesTwoMembersChangedAtOnce() {
        let failures = Self.failingRuns(1...300, steps: 800) { Simulation(seed: $0, slots: 5, reconfiguration: .twoAtOnce) }
        #expect(failures > 5, "only \(failures) of 300 runs with two members changed at once failed the check")
    }

    /// A wiped follower joins at the leader's commit point and acknowledges new entries (so the
    /// leader commits with it) before a single entry of its gap is filled; it refuses to lead while
    /// the gap is open; backfilled from a peer, its log is the leader's.
    @Test func aWipedFollowerJoinsAtTheCommitPointAndBackfills() {
        var simulation = Simulation(seed: 7, gapThreshold: 10)
        simulation.elect(0)
        simulation.drainSyncing()
        for payload in UInt64(1)...200 {
            guard let (_, messages) = simulation.nodes[0].write(payload: payload) else { Issue.record("no leader"); return }
            simulation.network += messages
            if payload % 10 == 0 { simulation.drainSyncing() }
        }
        simulation.drainSyncing()
        let committed = simulation.nodes[0].commitSeq
        #expect(committed > 200 && simulation.writesAcked == 200)
        simulation.wipe(2)
        // Node 1 stops answering: the leader can commit only with the wiped node from now on.
        guard let (seq, messages) = simulation.nodes[0].write(payload: 1_000) else { Issue.record("no leader"); return }
        simulation.network += messages
        for _ in 0..<20 {
            simulation.drainSyncing(cut: 1)
            simulation.take(Output(messages: simulation.nodes[0].heartbeat()), at: 0)
        }
        simulation.drainSyncing(cut: 1)
        let joiner = simulation.nodes[2]
        #expect(joiner.log.gap?.next == 1, "the joiner did not open a gap from the start")
        #expect(joiner.log.gap?.end.seq == committed)
        #expect(simulation.nodes[0].commitSeq >= seq, "the write did not commit with the joiner")
        #expect(simulation.acknowledged[seq] == 1_000)
        #expect(joiner.deliveredSeq == 0, "the joiner handed on entries it does not hold")
        #expect(simulation.nodes[2].becomeLeader(epoch: 99).isEmpty && !simulation.nodes[2].isLeading, "a node with a gap took leadership")
        simulation.backfillAll()
        #expect(!simulation.nodes[2].hasGap)
        #expect(simulation.nodes[2].deliveredSeq == simulation.nodes[2].commitSeq)
        #expect(simulation.nodes[2].log.all == simulation.nodes[0].log.all.prefix(simulation.nodes[2].log.all.count).map { $0 })
        #expect(simulation.violations.isEmpty, "\(simulation.violations.prefix(3))")
    }

    /// Without faults or leader changes every write the leader took is acknowledged once the
    /// cluster is quiet.
    @Test func everyWriteCommitsWithoutFaults() {
        for seed in UInt64(1)...20 {
            var simulation = Simulation(seed: seed)
            simulation.elect(1)
            for _ in 0..<2_000 { simulation.step(faults: false, elections: false) }
            simulation.heal()
            #expect(simulation.violations.isEmpty, "seed \(seed): \(simulation.violations.prefix(3))")
            #expect(simulation.writesAccepted > 50)
            #expect(Set(simulation.acknowledged.values).count == simulation.writesAccepted, "seed \(seed)")
        }
    }

    /// The checker can fail: followers that acknowledge entries before syncing them let a leader
    /// commit what a crash then loses, and the simulator finds acknowledged writes lost or
    /// overwritten.
    @Test func theCheckerCatchesFollowersThatAcknowledgeBeforeSyncing() {
        let failures = Self.failingRuns(1...300, steps: 600) { Simulation(seed: $0, forgedAcks: true) }
        #expect(failures > 10, "only \(failures) of 300 runs with lying followers failed the check")
    }

    /// A stale leader (paused past its lease) cannot get a write acknowledged once a majority has
    /// promised a newer epoch.
    @Test func aStaleLeaderNeverAcknowledgesAfterANewerEpoch() {
        var simulation = Simulation(seed: 1)
        simulation.elect(0)
        simulation.drainSyncing()
        #expect(simulation.nodes[0].isServing)
        // Node 1 becomes leader of epoch 2 with node 2's promise; node 0 (paused) hears nothing.
        simulation.network += simulation.nodes[1].becomeLeader(epoch: 2)
        simulation.drainSyncing(cut: 0)
        #expect(simulation.nodes[1].isServing)
        let before = simulation.writesAcked
        guard let (_, messages) = simulation.nodes[0].write(payload: 999) else {
            Issue.record("the stale leader did not take the write")
            return
        }
        simulation.network += messages
        simulation.take(simulation.nodes[0].sync(), at: 0)
        simulation.drainSyncing()
        #expect(simulation.writesAcked == before, "a stale leader's write was acknowledged")
        #expect(!simulation.nodes[0].isServing, "the stale leader did not step down on rejection")
        #expect(simulation.violations.isEmpty)
    }
}
