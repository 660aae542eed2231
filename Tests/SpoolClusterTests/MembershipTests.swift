import Synchronization
import Testing

@testable import SpoolCluster

/// Membership in etcd: the configuration's rules (`MemberConfig.applying`), its keys in the mirror,
/// and the change protocol against a real etcd (proposal, leaders' answers, the checked write).
@Suite struct MembershipTests {
    let keyspace = ClusterKeyspace(clusterName: "c1")
    let three = MemberConfig(
        version: 4,
        members: [
            .init(name: "a", index: 0, addr: "a:1", bus: "a:2"), .init(name: "b", index: 1, addr: "b:1", bus: "b:2"),
            .init(name: "c", index: 2, addr: "c:1", bus: "c:2"),
        ], retired: [3])

    @Test func keyspaceClassifiesTheMembershipKeys() {
        #expect(keyspace.classify("/spool/v1/c1/members") == .members)
        #expect(keyspace.classify("/spool/v1/c1/proposal") == .proposal)
        #expect(keyspace.classify("/spool/v1/c1/approvals/2") == .approval(shard: 2))
        #expect(keyspace.classify("/spool/v1/c1/approvals/02") == .other)
        #expect(keyspace.classify("/spool/v1/c1/approvals/") == .other)
        #expect(keyspace.classify("/spool/v1/c1/members/x") == .other)
    }

    @Test func anAddTakesTheIndexTheNodeAnnouncesIfNoMemberEverHadIt() throws {
        let registered = [
            "d": ClusterView.Node(address: "d:1", busAddress: "d:2", version: "v", index: 4),
            "e": ClusterView.Node(address: "e:1", busAddress: "e:2", version: "v", index: 1),
            "f": ClusterView.Node(address: "f:1", busAddress: "f:2", version: "v", index: 3),
            "g": ClusterView.Node(address: "g:1", busAddress: "g:2", version: "v"),
        ]
        let added = try three.applying(.add(name: "d"), registered: registered).get()
        #expect(added.version == 5)
        #expect(added.names == ["a", "b", "c", "d"])
        #expect(added.member(named: "d") == MemberConfig.Member(name: "d", index: 4, addr: "d:1", bus: "d:2"))
        #expect(added.retired == [3])
        func failure(_ change: MembershipChange) -> String {
            guard case .failure(let error) = three.applying(change, registered: registered) else { return "made" }
            return error.description
        }
        #expect(failure(.add(name: "b")) == "ERR b is a member already")
        #expect(failure(.add(name: "x")).hasPrefix("ERR no node named x is registered"))
        #expect(failure(.add(name: "e")).hasPrefix("ERR node e has bus index 1, which member b holds"))
        #expect(failure(.add(name: "f")).hasPrefix("ERR node f has bus index 3, which a removed member held"))
        #expect(failure(.add(name: "g")).hasPrefix("ERR node g announces no bus index"))
    }

    @Test func aRemovalRetiresTheIndexAndTheLastMemberStays() throws {
        let removed = try three.applying(.remove(name: "b"), registered: [:]).get()
        #expect(removed.version == 5)
        #expect(removed.indices == [0, 2])
        #expect(removed.retired == [1, 3])
        let alone = MemberConfig(version: 1, members: [.init(name: "a", index: 0, addr: "", bus: "")])
        guard case .failure(let last) = alone.applying(.remove(name: "a"), registered: [:]) else {
            Issue.record("the last member was removed")
            return
        }
        #expect(last.description == "ERR a is the last member")
        guard case .failure(let unknown) = three.applying(.remove(name: "z"), registered: [:]) else {
            Issue.record("an unknown node was removed")
            return
        }
        #expect(unknown.description == "ERR z is not a member")
    }

    func put(_ key: String, _ value: [UInt8], at revision: Int64) -> WatchEvent {
        WatchEvent(
            kind: .put, keyValue: EtcdKeyValue(key: key, value: value, createRevision: revision, modRevision: revision, version: 1, lease: 0))
    }

    @Test func mirrorKeepsTheConfigurationItsRevisionTheProposalAndTheAnswers() {
        var mirror = ClusterMirror(keyspace: keyspace, shardCount: 2)
        do {
            let changed = mirror.apply(put(keyspace.membersKey, ClusterKeyspace.encode(three), at: 5))
            #expect(changed)
        }
        #expect(mirror.members == three)
        #expect(mirror.membersRevision == 5)
        // A configuration this version cannot use (two members on one index) is not taken.
        var broken = three
        broken.version = 5
        broken.members[1].index = 0
        do {
            let changed = mirror.apply(put(keyspace.membersKey, ClusterKeyspace.encode(broken), at: 6))
            #expect(!changed)
        }
        #expect(mirror.members == three)
        let proposal = MemberProposal(from: 4, next: try! three.applying(.remove(name: "c"), registered: [:]).get(), removing: "c")
        do {
            let changed = mirror.apply(put(keyspace.proposalKey, ClusterKeyspace.encode(proposal), at: 7))
            #expect(changed)
        }
        #expect(mirror.proposal == proposal)
        let answer = MemberApproval(version: 5, epoch: 3, ok: false, reason: "member b does not hold the shard's committed log yet")
        do {
            let changed = mirror.apply(put(keyspace.approvalKey(shard: 1), ClusterKeyspace.encode(answer), at: 8))
            #expect(changed)
        }
        #expect(mirror.approvals == [1: answer])
        do {
            let changed = mirror.apply(WatchEvent(kind: .delete, keyValue: EtcdKeyValue(key: keyspace.proposalKey, value: [], createRevision: 0, modRevision: 9, version: 0, lease: 0)))
            #expect(changed)
        }
        #expect(mirror.proposal == nil)
        // A leader key names the configuration it was elected under.
        let leader = LeaderRecord(node: "a", addr: "a:1", bus: "a:2", config: 4, members: [0, 1, 2])
        do {
            let changed = mirror.apply(put(keyspace.leaderKey(shard: 0), ClusterKeyspace.encode(leader), at: 10))
            #expect(changed)
        }
        #expect(mirror.leaders[0]?.configVersion == 4)
        #expect(mirror.leaders[0]?.members == [0, 1, 2])
    }
}

extension EtcdBacked {
    /// The change protocol against a real etcd: leaders' answers gate the write, a refusal leaves
    /// the configuration as it was, and campaigns after a change name the new configuration.
    @Suite struct MembershipChangeTests {
        @Test func aChangeIsWrittenOnceEveryShardsLeaderAgreesAndRefusedWithItsReasonOtherwise() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let seeds = ["a", "b"]
            var configurations = seeds.map { makeConfiguration(server, nodeID: $0, members: seeds, shardCount: 2, leaseTTLSeconds: 10) }
            // c lists itself after the seed members: bus index 2, and no member until added.
            configurations.append(makeConfiguration(server, nodeID: "c", members: seeds + ["c"], shardCount: 2, leaseTTLSeconds: 10))
            // What the storage thread decides: whether each proposal is safe for the shards led.
            let refuse = Refusal()
            let coordinators = try configurations.map { try ClusterCoordinator(configuration: $0) }
            // a and b first: the first node of a new cluster writes its seed list as the
            // configuration, and c (started only once it is there) is one being added later.
            func start(_ coordinator: ClusterCoordinator) {
                coordinator.start(mayCampaign: { _ in true }) { view in
                    guard let proposal = view.proposal else { return }
                    for (shard, epoch) in view.leadership where view.leaders[shard]?.configVersion == proposal.from {
                        let no = refuse.value.withLock { $0 }
                        let answer = MemberApproval(version: proposal.next.version, epoch: epoch, ok: !no, reason: no ? "not today" : "")
                        if view.approvals[shard] != answer { coordinator.approve(shard: shard, epoch: epoch, answer) }
                    }
                }
            }
            start(coordinators[0])
            start(coordinators[1])
            do {
                try await eventually("a reads the seed configuration") { coordinators[0].currentView.members?.names == ["a", "b"] }
                start(coordinators[2])
                try await exercise(coordinators, refuse: refuse)
                for coordinator in coordinators { await coordinator.stop() }
            } catch {
                for coordinator in coordinators { await coordinator.stop() }
                throw error
            }
        }

        private func exercise(_ coordinators: [ClusterCoordinator], refuse: Refusal) async throws {
            let a = coordinators[0]
            try await eventually("both shards led, the seed configuration read, c registered") {
                let view = a.currentView
                return view.leaders.count == 2 && view.members?.names == ["a", "b"] && view.nodes["c"] != nil
                    && view.leaders.values.allSatisfy { $0.members == [0, 1] }
            }
            #expect(a.currentView.leaders.values.allSatisfy { $0.nodeID != "c" }, "a node outside the configuration led")

            let refused = await change(a, .add(name: "c"), timeout: .seconds(2))
            #expect(refused?.description.hasPrefix("ERR membership change 'add c' refused: shard ") == true, "\(String(describing: refused))")
            #expect(refused?.description.contains("not today") == true)
            try await eventually("the proposal withdrawn") { a.currentView.proposal == nil }
            #expect(a.currentView.members?.version == 1)

            refuse.value.withLock { $0 = false }
            let made = await change(a, .add(name: "c"), timeout: .seconds(10))
            #expect(made == nil, "\(String(describing: made))")
            try await eventually("every node reads configuration 2") {
                coordinators.allSatisfy { $0.currentView.members?.names == ["a", "b", "c"] && $0.currentView.members?.version == 2 }
            }
            #expect(a.currentView.members?.member(named: "c")?.index == 2)
            #expect(a.currentView.proposal == nil && a.currentView.approvals.isEmpty)
            // A second change while one is under way is refused at once (the first one waits for
            // answers that say no, and is refused in the end).
            refuse.value.withLock { $0 = true }
            let busy = await withTaskGroup(of: MembershipError?.self) { group in
                group.addTask { await change(a, .remove(name: "b"), timeout: .seconds(3)) }
                group.addTask {
                    try? await Task.sleep(for: .milliseconds(300))
                    return await change(coordinators[1], .remove(name: "a"), timeout: .seconds(3))
                }
                return await group.reduce(into: [MembershipError?]()) { $0.append($1) }
            }
            #expect(busy.contains { $0?.description.hasPrefix("ERR another membership change is under way") == true }, "\(busy)")
            #expect(busy.contains { $0?.description.hasPrefix("ERR membership change 'remove b' refused") == true }, "\(busy)")
            #expect(a.currentView.members?.version == 2)
        }
    }
}

/// Whether the leaders in the test refuse every change.
private final class Refusal: Sendable {
    let value = Mutex(true)
}

/// `changeMembers` awaited: nil when made, else why not.
private func change(_ coordinator: ClusterCoordinator, _ change: MembershipChange, timeout: Duration) async -> MembershipError? {
    await withCheckedContinuation { continuation in
        coordinator.changeMembers(change, timeout: timeout) { result in
            switch result {
            case .success: continuation.resume(returning: nil)
            case .failure(let error): continuation.resume(returning: error)
            }
        }
    }
}
