/// The coordinator's moving parts: the lease, the watch, the campaigns. An actor, so all of its
/// state below is touched by one task at a time; its loops run as tasks on Swift's concurrency
/// pool and never block it (every wait is an `await` on NIO or a sleep).
///
/// Four tasks:
/// - the lease loop grants a lease and registers the node key, then renews every TTL/3; it also
///   drives campaigns that wait for a delay;
/// - the watchdog declares the lease lost when it has not been renewed for TTL − margin;
/// - the watch task ranges the cluster prefix and watches it from the range's revision + 1,
///   and starts over on any error;
/// - a campaign task runs while there are campaigns to make.
///
/// Lease loss: once the lease is declared lost, the node reports `leaseValid = false` and never
/// uses that lease again. When etcd answers again it revokes the old lease (its leader keys go
/// at once, instead of one TTL later), grants a new one, registers again and re-ranges; the new
/// campaigns run under the new lease and win new, higher epochs.
actor CoordinatorEngine {
    private struct ActiveLease {
        var id: Int64
        var ttl: Duration
        /// When the last successful grant or keepalive was *sent*: etcd renewed the lease no
        /// earlier than this, so the lease lives at least until `renewedAt + ttl`.
        var renewedAt: ContinuousClock.Instant
    }

    let configuration: ClusterConfiguration
    let client: EtcdClient
    private let keyspace: ClusterKeyspace
    private let clock = ContinuousClock()

    /// Pause between attempts to get a lease while there is none.
    private let leaseRetryInterval: Duration = .milliseconds(200)
    /// The watchdog's period while there is no lease to watch.
    private let watchdogIdleInterval: Duration = .milliseconds(100)
    private let watchBackoffMin: Duration = .milliseconds(50)
    private let watchBackoffMax: Duration = .seconds(1)

    // Guarded by the actor: everything below.
    private var mirror: ClusterMirror
    private var mayCampaign: @Sendable (Int) -> Bool = { _ in false }
    private var hears: @Sendable (String) -> Bool = { _ in true }
    private var publishHook: @Sendable (ClusterView) -> Void = { _ in }
    private var lastPublished: ClusterView?

    private var lease: ActiveLease?
    /// A lease given up while etcd did not answer; revoked before the next grant.
    private var leaseToRevoke: Int64?
    private var leasesGranted = 0
    /// nil until etcd first answers or fails; false while the last call found it unreachable.
    private var isEtcdReachable: Bool?
    /// When each shard without a leader key was first seen without one.
    private var leaderlessSince: [Int: ContinuousClock.Instant] = [:]

    /// Bumped by every watch restart; a superseded watch task applies nothing.
    private var watchGeneration = 0
    private var watchTask: Task<Void, Never>?
    private var leaseTask: Task<Void, Never>?
    private var watchdogTask: Task<Void, Never>?
    private var campaignTask: Task<Void, Never>?
    private var isCampaignRequested = false
    private var isStarted = false
    private var isStopped = false

    init(configuration: ClusterConfiguration) {
        self.configuration = configuration
        client = EtcdClient(
            configuration: .init(endpoints: configuration.endpoints, requestTimeout: configuration.requestTimeout))
        keyspace = ClusterKeyspace(clusterName: configuration.clusterName)
        mirror = ClusterMirror(keyspace: keyspace, shardCount: configuration.shardCount)
    }

    // MARK: Lifecycle

    func start(
        mayCampaign: @escaping @Sendable (Int) -> Bool, hears: @escaping @Sendable (String) -> Bool,
        publish: @escaping @Sendable (ClusterView) -> Void
    ) {
        guard !isStopped, !isStarted else { return }
        isStarted = true
        self.mayCampaign = mayCampaign
        self.hears = hears
        publishHook = publish
        refreshLeaderless()
        leaseTask = Task { await self.runLeaseLoop() }
        watchdogTask = Task { await self.runWatchdog() }
        restartWatch()
    }

    /// Stops every task, revokes the lease (best effort: if etcd is down it expires on its own)
    /// and shuts the HTTP client down. No `onChange` call follows.
    func stop() async {
        guard !isStopped else { return }
        isStopped = true
        let tasks = [leaseTask, watchdogTask, watchTask, campaignTask].compactMap { $0 }
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        for leaseID in [lease?.id, leaseToRevoke].compactMap({ $0 }) {
            _ = try? await client.revoke(leaseID: leaseID)
        }
        lease = nil
        leaseToRevoke = nil
        try? await client.shutdown()
    }

    // MARK: Lease

    private func runLeaseLoop() async {
        while !isStopped && !Task.isCancelled {
            // A failed keepalive is retried soon rather than a third of the TTL later: one
            // slow answer (an etcd leader election) should not cost the lease.
            let isRenewed = lease == nil ? await acquireLease() : await renewLease()
            // Delayed campaigns become due with time alone; this tick is their clock.
            requestCampaigns()
            let pause = isRenewed ? (lease.map { $0.ttl / 3 } ?? leaseRetryInterval) : leaseRetryInterval
            try? await Task.sleep(for: pause)
        }
    }

    /// Returns whether the node holds a lease afterwards.
    private func acquireLease() async -> Bool {
        if let old = leaseToRevoke {
            do {
                try await client.revoke(leaseID: old)
                leaseToRevoke = nil
            } catch {
                noteFailure(error)
                if error.isUnavailability || error.isCancellation { return false }
                leaseToRevoke = nil  // etcd answered; whatever it said, the lease is unusable.
            }
        }
        let sentAt = clock.now
        let granted: (id: Int64, ttl: Int64)
        do {
            granted = try await client.grantLease(ttlSeconds: configuration.leaseTTLSeconds)
        } catch {
            noteFailure(error)
            return false
        }
        let record = NodeRecord(
            addr: configuration.clientAddress, bus: configuration.busAddress, version: configuration.version,
            index: configuration.effectiveNodeIndex, tls: configuration.tlsAddress)
        do {
            try await client.put(
                key: keyspace.nodeKey(configuration.nodeID), value: ClusterKeyspace.encode(record), lease: granted.id)
            // The cluster's first start: the seed list becomes the configuration (the first node
            // to get here writes it; the others find it there).
            _ = try await client.txn(
                compare: [.isAbsent(keyspace.membersKey)],
                success: [.put(key: keyspace.membersKey, value: ClusterKeyspace.encode(configuration.seedConfig), lease: 0)])
        } catch {
            noteFailure(error)
            leaseToRevoke = granted.id
            return false
        }
        lease = ActiveLease(id: granted.id, ttl: .seconds(granted.ttl), renewedAt: sentAt)
        leasesGranted += 1
        noteReachable()
        // After a lost lease, re-range: the revoked lease's keys are gone, and a watch that
        // hung while etcd was stopped is replaced. The first lease uses the watch start() began.
        if leasesGranted > 1 { restartWatch() }
        publish()
        requestCampaigns()
        return true
    }

    /// Returns whether the lease was renewed.
    private func renewLease() async -> Bool {
        guard let current = lease else { return false }
        let sentAt = clock.now
        let ttl: Int64?
        do {
            ttl = try await client.keepAliveOnce(leaseID: current.id)
        } catch {
            noteFailure(error)
            return false
        }
        noteReachable()
        // The watchdog may have given the lease up while the keepalive was in flight; a lost
        // lease stays lost (the node already stopped leading under it).
        guard lease?.id == current.id else { return false }
        guard let ttl else {
            // Expired: etcd has deleted its keys already, there is nothing to revoke.
            lease = nil
            publish()
            return false
        }
        lease?.renewedAt = sentAt
        lease?.ttl = .seconds(ttl)
        return true
    }

    private func runWatchdog() async {
        while !isStopped && !Task.isCancelled {
            guard let current = lease else {
                try? await Task.sleep(for: watchdogIdleInterval)
                continue
            }
            let deadline = current.renewedAt + current.ttl - configuration.leaseMargin
            if clock.now >= deadline {
                // Not renewed in time: give the lease up. Revoke it once etcd answers again.
                lease = nil
                leaseToRevoke = current.id
                publish()
                continue
            }
            try? await Task.sleep(until: deadline, clock: clock)
        }
    }

    // MARK: Reachability

    private func noteReachable(restartsWatch: Bool = true) {
        let wasUnreachable = isEtcdReachable == false
        isEtcdReachable = true
        // etcd is back: a watch opened before it went away may be hanging (SIGSTOP) or dead.
        if wasUnreachable && restartsWatch { restartWatch() }
        publish()
    }

    /// Marks etcd unreachable when `error` says so; an answer with an error shows it is there.
    private func noteFailure(_ error: any Error) {
        guard let error = error as? EtcdError, !error.isCancellation else { return }
        if error.isUnavailability {
            isEtcdReachable = false
            publish()
        } else {
            noteReachable()
        }
    }

    // MARK: Watch

    private func restartWatch() {
        guard !isStopped else { return }
        watchTask?.cancel()
        watchGeneration += 1
        let generation = watchGeneration
        watchTask = Task { await self.runWatch(generation: generation) }
    }

    private func runWatch(generation: Int) async {
        var backoff = watchBackoffMin
        while !Task.isCancelled && generation == watchGeneration {
            let range: EtcdRangeResult
            do {
                range = try await client.range(prefix: keyspace.prefix)
            } catch {
                guard generation == watchGeneration else { return }
                noteFailure(error)
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, watchBackoffMax)
                continue
            }
            guard generation == watchGeneration, !Task.isCancelled else { return }
            mirror.load(range)
            noteReachable(restartsWatch: false)
            mirrorChanged()
            backoff = watchBackoffMin
            do {
                for try await batch in client.watch(prefix: keyspace.prefix, fromRevision: range.revision + 1) {
                    guard generation == watchGeneration else { return }
                    var changed = false
                    for event in batch where mirror.apply(event) { changed = true }
                    if changed { mirrorChanged() }
                }
            } catch {
                // Compaction, a closed stream, a cancelled watch: re-range below. Reachability
                // is left to the calls that have deadlines.
            }
            guard generation == watchGeneration, !Task.isCancelled else { return }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, watchBackoffMax)
        }
    }

    private func mirrorChanged() {
        refreshLeaderless()
        publish()
        requestCampaigns()
    }

    private func refreshLeaderless() {
        let now = clock.now
        for shard in 0..<configuration.shardCount {
            if mirror.leaders[shard] == nil {
                if leaderlessSince[shard] == nil { leaderlessSince[shard] = now }
            } else {
                leaderlessSince[shard] = nil
            }
        }
    }

    // MARK: Campaigns

    /// Who campaigns for what: by the configuration in etcd (the seed list until it is read).
    private var policy: CampaignPolicy {
        CampaignPolicy(
            nodeID: configuration.nodeID, memberNodeIDs: mirror.members?.names ?? configuration.memberNodeIDs,
            nonPreferredDelay: configuration.effectiveNonPreferredDelay)
    }

    func requestCampaigns() {
        guard !isStopped, isStarted else { return }
        isCampaignRequested = true
        guard campaignTask == nil else { return }
        campaignTask = Task { await self.runCampaigns() }
    }

    private func runCampaigns() async {
        while isCampaignRequested && !isStopped && !Task.isCancelled {
            isCampaignRequested = false
            guard !dueShards().isEmpty else { continue }
            if configuration.campaignJitter > .zero {
                try? await Task.sleep(for: configuration.campaignJitter * Double.random(in: 0...1))
            }
            // The view may have changed during the jitter: decide again.
            for shard in dueShards() {
                guard mirror.leaders[shard] == nil, !isStopped else { continue }
                _ = try? await campaign(shard: shard)
            }
        }
        campaignTask = nil
    }

    /// The shards to campaign for now: none without a valid lease or while etcd is unreachable.
    private func dueShards() -> [Int] {
        guard lease != nil, isEtcdReachable == true, !isStopped else { return [] }
        let now = clock.now
        var leaderlessFor: [Int: Duration] = [:]
        for (shard, since) in leaderlessSince where mirror.leaders[shard] == nil && mayCampaign(shard) {
            leaderlessFor[shard] = since.duration(to: now)
        }
        let policy = self.policy
        let unheard = Set(policy.memberNodeIDs.filter { $0 != configuration.nodeID && !hears($0) })
        return policy.shardsDue(
            leaderlessFor: leaderlessFor, registered: Set(mirror.nodes.keys), seen: mirror.nodesSeen, unheard: unheard)
    }

    /// The campaign txn of REPLICATION.md section 6: create the leader key under this node's
    /// lease if it does not exist, else read it. Returns the epoch when this node holds the key
    /// under its current lease afterwards (won now, or by an earlier attempt whose answer was
    /// lost), nil when another node holds it or there is no lease.
    ///
    /// The epoch is bound to the configuration this node knows: the transaction also checks that
    /// the `members` key is the one it read (else it fails, and the watch brings the new one), and
    /// the leader key names that configuration's version and members.
    private func campaign(shard: Int) async throws(EtcdError) -> UInt64? {
        guard let current = lease, let config = mirror.members, config.member(named: configuration.nodeID) != nil else { return nil }
        let key = keyspace.leaderKey(shard: shard)
        let value = ClusterKeyspace.encode(
            LeaderRecord(
                node: configuration.nodeID, addr: configuration.clientAddress, bus: configuration.busAddress, config: config.version,
                members: config.indices))
        let result: EtcdTxnResult
        do {
            result = try await client.txn(
                compare: [.isAbsent(key), EtcdCompare(key: keyspace.membersKey, .equal, .modRevision(mirror.membersRevision))],
                success: [.put(key: key, value: value, lease: current.id)],
                failure: [.range(key: key)])
        } catch {
            noteFailure(error)
            throw error
        }
        noteReachable()
        if result.succeeded {
            // epoch = the txn's revision = the key's create_revision.
            let keyValue = EtcdKeyValue(
                key: key, value: value, createRevision: result.revision, modRevision: result.revision, version: 1,
                lease: current.id)
            if mirror.put(keyValue, observedAt: result.revision) { mirrorChanged() }
            return UInt64(result.revision)
        }
        guard case .range(let holder)? = result.responses.first else {
            throw .malformedResponse(call: "/v3/kv/txn", detail: "a lost campaign without the holder's key")
        }
        // No holder: the configuration changed since it was read (the watch brings it).
        guard let holderKey = holder.keyValues.first else { return nil }
        if mirror.put(holderKey, observedAt: result.revision) { mirrorChanged() }
        guard holderKey.lease == lease?.id else { return nil }
        return UInt64(holderKey.createRevision)
    }

    // MARK: Requests from the node

    /// Records that this node holds (or is about to hold) data, once and for good: true when the
    /// record was there already, so a node that finds itself with no state knows it lost some.
    func registerHistory() async throws(EtcdError) -> Bool {
        let key = keyspace.historyKey(configuration.nodeID)
        let result: EtcdTxnResult
        do {
            result = try await client.txn(
                compare: [.isAbsent(key)], success: [.put(key: key, value: Array("{}".utf8), lease: 0)])
        } catch {
            noteFailure(error)
            throw error
        }
        noteReachable()
        return !result.succeeded
    }

    /// Deletes shard `shard`'s leader key if it is still the incarnation created at `epoch`.
    func resign(shard: Int, epoch: UInt64) async throws(EtcdError) -> Bool {
        guard let createRevision = Int64(exactly: epoch) else { return false }
        let key = keyspace.leaderKey(shard: shard)
        let result: EtcdTxnResult
        do {
            result = try await client.txn(
                compare: [.wasCreated(key, at: createRevision)], success: [.deleteRange(key: key)])
        } catch {
            noteFailure(error)
            throw error
        }
        noteReachable()
        if result.succeeded, mirror.delete(key, observedAt: result.revision) { mirrorChanged() }
        return result.succeeded
    }

    /// REPLICATION.md 5.2's floor check: writes the bump key until etcd's revision reaches
    /// `floor` (at most `bumpWritesMax` writes), resigns shard `shard` if its key is still the
    /// one created at `epoch`, and campaigns again. Returns the new epoch, which is above `floor`
    /// when the bump reached it, or nil when another node won the shard.
    func bumpAndRecampaign(shard: Int, epoch: UInt64, floor: UInt64) async throws(EtcdError) -> UInt64? {
        var writes = 0
        var revision: Int64 = 0
        repeat {
            do {
                revision = try await client.put(key: keyspace.bumpKey, value: [])
            } catch {
                noteFailure(error)
                throw error
            }
            writes += 1
        } while UInt64(clamping: revision) < floor && writes < configuration.bumpWritesMax
        _ = try await resign(shard: shard, epoch: epoch)
        return try await campaign(shard: shard)
    }

    // MARK: Membership

    /// `ClusterCoordinator.resignAndRecampaign`: the campaign goes ahead only if this node may
    /// lead the shard (`mayCampaign`) and is a member.
    func resignAndRecampaign(shard: Int, epoch: UInt64) async throws(EtcdError) -> UInt64? {
        _ = try await resign(shard: shard, epoch: epoch)
        guard mirror.leaders[shard] == nil, mayCampaign(shard) else { return nil }
        return try await campaign(shard: shard)
    }

    /// A shard leader's answer to the change under way: written only while this node's lease is
    /// valid and its leader key for the shard is still the one created at `epoch`.
    func approve(shard: Int, epoch: UInt64, _ approval: MemberApproval) async throws(EtcdError) {
        guard let current = lease, let createRevision = Int64(exactly: epoch) else { return }
        let key = keyspace.approvalKey(shard: shard)
        let value = ClusterKeyspace.encode(approval)
        let result: EtcdTxnResult
        do {
            result = try await client.txn(
                compare: [.wasCreated(keyspace.leaderKey(shard: shard), at: createRevision)],
                success: [.put(key: key, value: value, lease: current.id)])
        } catch {
            noteFailure(error)
            throw error
        }
        noteReachable()
        guard result.succeeded else { return }
        let keyValue = EtcdKeyValue(
            key: key, value: value, createRevision: result.revision, modRevision: result.revision, version: 1, lease: current.id)
        if mirror.put(keyValue, observedAt: result.revision) { mirrorChanged() }
    }

    /// Makes one membership change (REPLICATION.md 5.5): proposes it, waits until every shard's
    /// leader, elected under the current configuration, has answered that it is safe (its epoch
    /// began under this configuration and committed there; for a removal, every remaining member
    /// holds its committed log), then writes the new configuration in one transaction that
    /// checks nothing moved meanwhile: the configuration, the proposal, and each shard's leader
    /// key still the one that answered. Gives up after `timeout`, withdrawing the proposal.
    func changeMembers(_ change: MembershipChange, timeout: Duration) async throws(MembershipError) -> MemberConfig {
        guard let current = mirror.members, let leaseID = lease?.id, isEtcdReachable == true else {
            throw .unavailable("CLUSTERDOWN this node does not reach etcd (or has not read the configuration yet); retry")
        }
        let membersRevision = mirror.membersRevision
        let next: MemberConfig
        switch current.applying(change, registered: mirror.nodes) {
        case .success(let config): next = config
        case .failure(let error): throw error
        }
        let proposal = MemberProposal(
            from: current.version, next: next, removing: { if case .remove(let name) = change { name } else { nil } }())
        let proposalValue = ClusterKeyspace.encode(proposal)
        let proposed: EtcdTxnResult
        do {
            proposed = try await client.txn(
                compare: [.isAbsent(keyspace.proposalKey), EtcdCompare(key: keyspace.membersKey, .equal, .modRevision(membersRevision))],
                success: [.put(key: keyspace.proposalKey, value: proposalValue, lease: leaseID)])
        } catch {
            noteFailure(error)
            throw .unavailable("CLUSTERDOWN etcd did not answer (\(error)); retry")
        }
        guard proposed.succeeded else {
            throw .busy("ERR another membership change is under way (or the configuration just changed); retry when it is done")
        }
        let proposalRevision = proposed.revision
        let deadline = clock.now + timeout
        var lastReasons: [String] = []
        while clock.now < deadline && !isStopped {
            var ready: [(shard: Int, epoch: UInt64)] = []
            var reasons: [String] = []
            for shard in 0..<configuration.shardCount {
                guard let leader = mirror.leaders[shard] else {
                    reasons.append("shard \(shard) has no leader")
                    continue
                }
                guard let approval = mirror.approvals[shard], approval.version == next.version, approval.epoch == leader.epoch else {
                    reasons.append("shard \(shard)'s leader \(leader.nodeID) has not answered")
                    continue
                }
                guard approval.ok else {
                    reasons.append("shard \(shard): \(approval.reason)")
                    continue
                }
                ready.append((shard, leader.epoch))
            }
            lastReasons = reasons
            if reasons.isEmpty {
                var compare: [EtcdCompare] = [
                    EtcdCompare(key: keyspace.membersKey, .equal, .modRevision(membersRevision)),
                    EtcdCompare(key: keyspace.proposalKey, .equal, .modRevision(proposalRevision)),
                ]
                var success: [EtcdRequest] = [
                    .put(key: keyspace.membersKey, value: ClusterKeyspace.encode(next), lease: 0), .deleteRange(key: keyspace.proposalKey),
                ]
                for (shard, epoch) in ready {
                    compare.append(.wasCreated(keyspace.leaderKey(shard: shard), at: Int64(clamping: epoch)))
                    success.append(.deleteRange(key: keyspace.approvalKey(shard: shard)))
                }
                do {
                    let committed = try await client.txn(compare: compare, success: success)
                    if committed.succeeded { return next }
                } catch {
                    noteFailure(error)
                }
                // A leader changed between its answer and the write: wait for the new one's.
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        // Withdrawn, if it is still this proposal.
        _ = try? await client.txn(
            compare: [EtcdCompare(key: keyspace.proposalKey, .equal, .modRevision(proposalRevision))],
            success: [.deleteRange(key: keyspace.proposalKey)])
        throw .refused("ERR membership change '\(change)' refused: " + lastReasons.joined(separator: "; "))
    }

    // MARK: Publishing

    private func publish() {
        guard !isStopped, isStarted else { return }
        let view = ClusterView(
            nodeID: configuration.nodeID, nodes: mirror.nodes, leaders: mirror.leaders, leaseID: lease?.id ?? 0,
            leaseValid: lease != nil, etcdReachable: isEtcdReachable == true, revision: mirror.revision, members: mirror.members,
            proposal: mirror.proposal, approvals: mirror.approvals)
        guard view != lastPublished else { return }
        lastPublished = view
        publishHook(view)
    }
}
