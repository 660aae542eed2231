import SpoolCluster
import Synchronization
import Testing

extension EtcdBacked {
    /// ClusterCoordinator against a real etcd: campaigns, epochs, takeover, resign fencing,
    /// spreading, the floor-check bump, and an etcd outage.
    @Suite struct ClusterCoordinatorTests {
        @Test func exactlyOneOfTwoWinsAndTheOtherSeesTheWinnerThroughTheWatch() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let members = ["a", "b"]
            try await withCoordinators(
                // A long lease: on a loaded machine (the whole suite runs in parallel) a 2 s lease
                // can lapse between two looks, and this test is about the campaign, not leases.
                members.map { makeConfiguration(server, nodeID: $0, members: members, shardCount: 1, leaseTTLSeconds: 10) }
            ) { coordinators in
                // (Polled for up to 30 s: the first etcd test shares the cores with the whole
                // parallel suite's start.)
                try await eventually("both see the same leader of shard 0 and both nodes", timeout: .seconds(30)) {
                    let views = coordinators.map(\.currentView)
                    return views.allSatisfy { $0.leaders[0] != nil && $0.nodes.count == 2 && $0.leaseValid }
                        && views[0].leaders[0] == views[1].leaders[0]
                }
                let views = coordinators.map(\.currentView)
                let leadership = views.map(\.leadership)
                #expect(leadership.filter { $0[0] != nil }.count == 1, "exactly one leads: \(leadership)")
                let leader = try #require(views[0].leaders[0])
                #expect(leader.address == "\(leader.nodeID).test:6379")
                #expect(leader.busAddress == "\(leader.nodeID).test:7379")
                #expect(views[0].nodes["b"] == ClusterView.Node(address: "b.test:6379", busAddress: "b.test:7379", version: "test", index: 1))

                // The epoch is the leader key's create_revision, held under the winner's lease.
                try await withClient(server) { client in
                    let key = try #require(try await client.range(key: "/spool/v1/t/shards/0/leader").keyValues.first)
                    #expect(UInt64(key.createRevision) == leader.epoch)
                    let winner = try #require(views.first { $0.nodeID == leader.nodeID })
                    #expect(key.lease == winner.leaseID)
                }
            }
        }

        @Test func survivorTakesOverWithAHigherEpochWhenTheWinnerStops() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let members = ["a", "b"]
            let coordinators = try members.map {
                try ClusterCoordinator(configuration: makeConfiguration(server, nodeID: $0, members: members, shardCount: 1))
            }
            for coordinator in coordinators { coordinator.start(mayCampaign: { _ in true }, onChange: { _ in }) }
            do {
                try await eventually("someone leads shard 0 and both see it") {
                    let views = coordinators.map(\.currentView)
                    return views[0].leaders[0] != nil && views[0].leaders[0] == views[1].leaders[0]
                }
                let first = try #require(coordinators[0].currentView.leaders[0])
                let winner = try #require(coordinators.first { $0.configuration.nodeID == first.nodeID })
                let survivor = try #require(coordinators.first { $0.configuration.nodeID != first.nodeID })
                await winner.stop()  // revokes its lease: its keys go at once

                try await eventually("the survivor leads shard 0") { survivor.currentView.leadership[0] != nil }
                let second = try #require(survivor.currentView.leaders[0])
                #expect(second.nodeID == survivor.configuration.nodeID)
                #expect(second.epoch > first.epoch)
                #expect(survivor.currentView.nodes[first.nodeID] == nil)
            } catch {
                for coordinator in coordinators { await coordinator.stop() }
                throw error
            }
            for coordinator in coordinators { await coordinator.stop() }
        }

        @Test func aRevokedLeaseIsReportedLostAndReplacedWhileTheOtherNodeTakesOver() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let members = ["a", "b"]
            try await withCoordinators(
                members.map { makeConfiguration(server, nodeID: $0, members: members, shardCount: 1) }
            ) { coordinators in
                try await eventually("a leads shard 0 (its preferred shard) and b sees it") {
                    coordinators[0].currentView.leadership[0] != nil && coordinators[1].currentView.leaders[0]?.nodeID == "a"
                }
                let first = try #require(coordinators[0].currentView.leaders[0])
                let oldLease = coordinators[0].currentView.leaseID
                // etcd ends a's lease behind its back (as expiry would): keepalive finds it gone.
                let revoked = try await withClient(server) { client in try await client.revoke(leaseID: oldLease) }
                #expect(revoked)

                try await eventually("a holds a new lease and shard 0 has a newer leader") {
                    let a = coordinators[0].currentView
                    return a.leaseValid && a.leaseID != oldLease && a.leaseID != 0 && a.nodes["a"] != nil
                        && (a.leaders[0]?.epoch ?? 0) > first.epoch
                }
                try await eventually("both agree on the new leader") {
                    coordinators[0].currentView.leaders[0] == coordinators[1].currentView.leaders[0]
                }
                // Whoever won, exactly one node leads, under its current lease.
                let leading = coordinators.filter { $0.currentView.leadership[0] != nil }
                #expect(leading.count == 1)
            }
        }

        @Test func resignWithAStaleEpochLeavesTheNewerLeadersKey() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withCoordinators([makeConfiguration(server, nodeID: "a", members: ["a"], shardCount: 1)]) { coordinators in
                let a = coordinators[0]
                try await eventually("a leads shard 0") { a.currentView.leadership[0] != nil }
                let first = try #require(a.currentView.leadership[0])
                // Resign with the right epoch deletes the key; a campaigns again at once (it may).
                #expect(try await a.resign(shard: 0, epoch: first))
                try await eventually("a leads shard 0 again with a newer epoch") {
                    (a.currentView.leadership[0] ?? 0) > first
                }
                let second = try #require(a.currentView.leadership[0])
                // The old epoch no longer names the key: nothing is deleted.
                #expect(try await a.resign(shard: 0, epoch: first) == false)
                try await withClient(server) { client in
                    let key = try await client.range(key: "/spool/v1/t/shards/0/leader").keyValues.first
                    #expect(key.map { UInt64($0.createRevision) } == second)
                }
                #expect(a.currentView.leadership[0] == second)
            }
        }

        @Test func leadershipSpreadsOverTheMembers() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let members = ["a", "b", "c"]
            try await withCoordinators(
                members.map { makeConfiguration(server, nodeID: $0, members: members, shardCount: 6) }
            ) { coordinators in
                try await eventually("all six shards have leaders in every view") {
                    coordinators.allSatisfy { $0.currentView.leaders.count == 6 }
                }
                for (index, coordinator) in coordinators.enumerated() {
                    let led = coordinator.currentView.leadership.keys.sorted()
                    #expect(led == [index, index + 3], "\(coordinator.configuration.nodeID) leads \(led)")
                }
                // Every epoch is distinct: each campaign is its own revision.
                let epochs = coordinators[0].currentView.leaders.values.map(\.epoch)
                #expect(Set(epochs).count == 6)
            }
        }

        @Test func aShardWhosePreferredMemberNeverRegistersIsTakenAfterTheDelay() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let members = ["a", "b"]  // b never starts
            let started = ContinuousClock.now
            try await withCoordinators([
                makeConfiguration(
                    server, nodeID: "a", members: members, shardCount: 2, nonPreferredCampaignDelay: .milliseconds(600))
            ]) { coordinators in
                let a = coordinators[0]
                try await eventually("a leads its own shard 0") { a.currentView.leadership[0] != nil }
                try await eventually("a leads b's shard 1 after the delay") { a.currentView.leadership[1] != nil }
                // Shard 1 was leaderless from the coordinator's start, after `started`.
                #expect(started.duration(to: .now) >= .milliseconds(600))
            }
        }

        @Test func bumpAndRecampaignWinsAnEpochAboveTheFloor() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withCoordinators([makeConfiguration(server, nodeID: "a", members: ["a"], shardCount: 1)]) { coordinators in
                let a = coordinators[0]
                try await eventually("a leads shard 0") { a.currentView.leadership[0] != nil }
                let epoch = try #require(a.currentView.leadership[0])
                // As if a replica had seen epoch + 25 before etcd was restored from a backup.
                let floor = epoch + 25
                let renewed = try #require(try await a.bumpAndRecampaign(shard: 0, epoch: epoch, floor: floor))
                #expect(renewed > floor)
                try await eventually("the view shows the new epoch") { a.currentView.leadership[0] == renewed }
            }
        }

        @Test func etcdOutageKeepsTheViewAndAfterRestartANewLeaseWinsNewEpochs() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            let changes = Mutex(0)
            let coordinator = try ClusterCoordinator(
                configuration: makeConfiguration(server, nodeID: "a", members: ["a"], shardCount: 2))
            coordinator.start(mayCampaign: { _ in true }, onChange: { _ in changes.withLock { $0 += 1 } })
            do {
                try await eventually("a leads both shards") { coordinator.currentView.leadership.count == 2 }
                let before = coordinator.currentView
                #expect(before.etcdReachable && before.leaseValid)

                server.kill()
                try await eventually("a reports etcd unreachable and its lease lost", timeout: .seconds(5)) {
                    let view = coordinator.currentView
                    return !view.etcdReachable && !view.leaseValid
                }
                let during = coordinator.currentView
                #expect(during.leaders == before.leaders, "the view keeps the leaders while etcd is down")
                #expect(during.nodes == before.nodes)
                #expect(during.leadership.isEmpty, "no leadership without a valid lease")

                try await server.launch()
                try await eventually("a re-registers under a new lease and leads both shards again", timeout: .seconds(10)) {
                    let view = coordinator.currentView
                    return view.etcdReachable && view.leaseValid && view.leaseID != before.leaseID
                        && view.leadership.count == 2
                        && view.leadership.allSatisfy { shard, epoch in epoch > (before.leadership[shard] ?? .max) }
                }
                // The old lease was revoked, not left to run out: only the new one holds keys (the
                // configuration lives under none).
                try await withClient(server) { client in
                    let keys = try await client.range(prefix: "/spool/v1/t/").keyValues
                    #expect(Set(keys.filter { $0.key != "/spool/v1/t/members" }.map(\.lease)) == [coordinator.currentView.leaseID])
                    #expect(try await client.keepAliveOnce(leaseID: before.leaseID) == nil)
                }
                #expect(changes.withLock { $0 } >= 4)
            } catch {
                await coordinator.stop()
                throw error
            }
            await coordinator.stop()
        }

        @Test func aPausedEtcdIsAnOutageAndTheWatchIsRenewedAfterItResumes() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withCoordinators([makeConfiguration(server, nodeID: "a", members: ["a"], shardCount: 1)]) { coordinators in
                let a = coordinators[0]
                try await eventually("a leads shard 0") { a.currentView.leadership[0] != nil }
                let before = a.currentView

                // SIGSTOP: connections stay open and nothing answers, the watch included.
                server.pause()
                try await eventually("a reports etcd unreachable and its lease lost", timeout: .seconds(5)) {
                    !a.currentView.etcdReachable && !a.currentView.leaseValid
                }
                #expect(a.currentView.leaders == before.leaders)
                server.resume()

                try await eventually("a leads shard 0 again under a new lease", timeout: .seconds(10)) {
                    let view = a.currentView
                    return view.etcdReachable && view.leaseValid && view.leaseID != before.leaseID
                        && (view.leadership[0] ?? 0) > (before.leadership[0] ?? .max)
                }
                // The watch follows etcd again: a node registering now shows up in the view.
                try await withClient(server) { client in
                    let record = #"{"addr":"z.test:6379","bus":"z.test:7379","version":"x"}"#
                    try await client.put(key: "/spool/v1/t/nodes/z", value: Array(record.utf8))
                }
                try await eventually("the new node appears through the watch") {
                    a.currentView.nodes["z"] == ClusterView.Node(address: "z.test:6379", busAddress: "z.test:7379", version: "x")
                }
            }
        }
    }
}
