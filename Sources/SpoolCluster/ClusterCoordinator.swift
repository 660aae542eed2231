import Synchronization

/// One node's membership in its cluster's control plane (REPLICATION.md 5.2): it registers the
/// node under a lease, keeps the lease alive, mirrors the cluster's nodes and shard leaders from
/// etcd, and campaigns for leaderless shards. Leadership and epochs come from etcd; the data path
/// never waits on it.
///
/// Usable from any thread: the broker's threads are plain pthreads, so every entry point
/// returns at once and has a callback form; the work runs on Swift concurrency and NIO and never
/// blocks the cooperative pool. `onChange` and the completions are called on the coordinator's
/// own tasks, in order, and must only hand the value over to the caller's thread (e.g. post it to
/// the loop and wake it).
///
/// What the node does with the view:
/// - lead exactly the shards in `view.leadership` (keys naming it under its current, valid
///   lease), each with its epoch; stop leading all of them when `leaseValid` turns false;
/// - compare each epoch it wins with its persisted `maxEpochSeen` and, if the epoch is not
///   higher, call `bumpAndRecampaign` (etcd restored from an old snapshot);
/// - call `resign` to step down, with `mayCampaign` then saying no for that shard.
///
/// Call `stop` before dropping the coordinator: it revokes the lease (so other nodes take the
/// shards over at once instead of one TTL later) and shuts the HTTP client down, which
/// AsyncHTTPClient requires before deinit.
public final class ClusterCoordinator: Sendable {
    public let configuration: ClusterConfiguration
    private let engine: CoordinatorEngine
    /// Guarded by its Mutex: the view last handed to `onChange`, for readers on any thread.
    private let latestView: Mutex<ClusterView>
    /// Guarded by its Mutex: whether `start` and `stop` were called (each runs once).
    private let lifecycle = Mutex<Lifecycle>(.created)

    private enum Lifecycle {
        case created, started, stopped
    }

    public init(configuration: ClusterConfiguration) throws(ClusterConfiguration.Invalid) {
        try configuration.validate()
        self.configuration = configuration
        engine = CoordinatorEngine(configuration: configuration)
        latestView = Mutex(ClusterView(nodeID: configuration.nodeID))
    }

    /// Starts registering, watching and campaigning, and returns at once.
    ///
    /// - Parameters:
    ///   - mayCampaign: whether this node may lead shard `s` now (it is a member and its copies
    ///     of the shard have no open gap). Called on the coordinator's tasks before each
    ///     campaign: it must be quick, thread-safe and must not block.
    ///   - hears: whether this node hears member `id` over the cluster bus now. A shard's
    ///     preferred member is waited for before others campaign for it only while it is heard
    ///     (registered in etcd is not enough: a member cut off from its peers cannot serve).
    ///     Same rules as `mayCampaign`.
    ///   - onChange: the new view, after every change to it. Called on the coordinator's tasks,
    ///     one call at a time, in order.
    public func start(
        mayCampaign: @escaping @Sendable (Int) -> Bool, hears: @escaping @Sendable (String) -> Bool = { _ in true },
        onChange: @escaping @Sendable (ClusterView) -> Void
    ) {
        let isFirstStart = lifecycle.withLock { state in
            guard case .created = state else { return false }
            state = .started
            return true
        }
        precondition(isFirstStart, "ClusterCoordinator.start called twice or after stop")
        Task { [engine] in
            // Weak: the engine keeps the hook, and the coordinator keeps the engine.
            await engine.start(mayCampaign: mayCampaign, hears: hears) { [weak self] view in
                self?.latestView.withLock { $0 = view }
                onChange(view)
            }
        }
    }

    /// The view last handed to `onChange` (before the first one: nothing known, no lease).
    public var currentView: ClusterView {
        latestView.withLock { $0 }
    }

    /// Asks for a round of campaigns now, e.g. because `mayCampaign` says yes for a shard where
    /// it said no before (a gap closed). Returns at once.
    public func reconsiderCampaigns() {
        Task { [engine] in await engine.requestCampaigns() }
    }

    /// Records in etcd, once for good, that this node holds data (`/history/<node>`). Returns true
    /// when the record was there already: a node that starts with no state then knows it lost
    /// some (a replaced disk) rather than being new, and must not vote until it caught up.
    /// Retries until etcd answers; `completion` runs on the coordinator's tasks.
    public func registerHistory(completion: @escaping @Sendable (Bool) -> Void) {
        Task { [engine] in
            while !Task.isCancelled {
                if let existed = try? await engine.registerHistory() {
                    completion(existed)
                    return
                }
                if case .stopped = lifecycle.withLock({ $0 }) { return }
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// Deletes shard `shard`'s leader key only if it was created at `epoch`, so a node never
    /// deletes a newer leader's key. Returns whether it deleted it.
    public func resign(shard: Int, epoch: UInt64) async throws(EtcdError) -> Bool {
        precondition(shard >= 0 && shard < configuration.shardCount, "shard \(shard) out of range")
        return try await engine.resign(shard: shard, epoch: epoch)
    }

    /// `resign` for threads outside Swift concurrency; `completion` runs on the coordinator's tasks.
    public func resign(
        shard: Int, epoch: UInt64, completion: @escaping @Sendable (Result<Bool, EtcdError>) -> Void
    ) {
        Task {
            do throws(EtcdError) {
                completion(.success(try await resign(shard: shard, epoch: epoch)))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// The floor check's remedy (REPLICATION.md 5.2): when the epoch this node won for `shard`
    /// is not above its persisted `floor` (maxEpochSeen), etcd's revisions fell behind (restored
    /// from an old snapshot). Writes `/spool/v1/<cluster>/bump` until the revision reaches
    /// `floor`, resigns the key created at `epoch`, and campaigns again.
    ///
    /// Returns the new epoch, or nil when another node won the shard meanwhile or this node has
    /// no valid lease (it must not lead then anyway). The caller
    /// checks the new epoch against its floor again: it is above it unless the bump hit
    /// `bumpWritesMax` first.
    public func bumpAndRecampaign(shard: Int, epoch: UInt64, floor: UInt64) async throws(EtcdError) -> UInt64? {
        precondition(shard >= 0 && shard < configuration.shardCount, "shard \(shard) out of range")
        return try await engine.bumpAndRecampaign(shard: shard, epoch: epoch, floor: floor)
    }

    /// `bumpAndRecampaign` for threads outside Swift concurrency.
    public func bumpAndRecampaign(
        shard: Int, epoch: UInt64, floor: UInt64, completion: @escaping @Sendable (Result<UInt64?, EtcdError>) -> Void
    ) {
        Task {
            do throws(EtcdError) {
                completion(.success(try await bumpAndRecampaign(shard: shard, epoch: epoch, floor: floor)))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// Gives up shard `shard`'s leader key of `epoch` (if it is still that one) and campaigns for
    /// the shard again at once, whichever member the policy prefers: after a membership change, the
    /// leader continues under a new epoch of the new configuration. Best effort; returns at once.
    public func resignAndRecampaign(shard: Int, epoch: UInt64) {
        precondition(shard >= 0 && shard < configuration.shardCount, "shard \(shard) out of range")
        Task { [engine] in _ = try? await engine.resignAndRecampaign(shard: shard, epoch: epoch) }
    }

    /// Makes one membership change (see `CoordinatorEngine.changeMembers`); `completion` runs on
    /// the coordinator's tasks with the new configuration, or why not.
    public func changeMembers(
        _ change: MembershipChange, timeout: Duration = .seconds(10),
        completion: @escaping @Sendable (Result<MemberConfig, MembershipError>) -> Void
    ) {
        Task { [engine] in
            do throws(MembershipError) {
                completion(.success(try await engine.changeMembers(change, timeout: timeout)))
            } catch {
                completion(.failure(error))
            }
        }
    }

    /// A shard leader's answer to the membership change under way (`MemberApproval`), written
    /// while this node still holds the shard's leader key created at `epoch`. Best effort.
    public func approve(shard: Int, epoch: UInt64, _ approval: MemberApproval) {
        Task { [engine] in try? await engine.approve(shard: shard, epoch: epoch, approval) }
    }

    /// Stops the tasks, revokes the lease (best effort) and shuts the HTTP client down. Later
    /// calls return at once. No `onChange` call follows.
    public func stop() async {
        lifecycle.withLock { $0 = .stopped }
        await engine.stop()
    }

    /// `stop` for threads outside Swift concurrency; `completion` runs when it is done.
    public func stop(completion: @escaping @Sendable () -> Void) {
        Task {
            await stop()
            completion()
        }
    }
}
