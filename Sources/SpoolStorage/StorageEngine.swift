import Collections
import Histogram
import SpoolCore
import Synchronization

/// Group commit around a `LogStore`: one storage thread executes submitted jobs in arrival order,
/// many per transaction, committing without sync; one flush thread loops log_flush(sync=on) and
/// advances the durable watermark; an outcome is delivered only once the commit it depends on is
/// durable.
///
/// Ordering: jobs run in submission order, so per-stream order is the order of acceptance.
/// Outcomes that depend on a commit are delivered in job order; outcomes that depend on nothing
/// unflushed (reads of durable data) are delivered as soon as they run.
///
/// Lock order: `submitLock` and `durableLock` are never held together.
// Sendable because all mutable state is guarded by `submitLock` or `durableLock` (as marked) or is
// confined to the storage or flush thread (as marked); `Context` never leaves the storage thread.
public final class StorageEngine<Context: StorageContext>: @unchecked Sendable {
    public typealias Outcome = Context.Outcome
    public typealias Job = @Sendable (Context) throws(WiredTigerError) -> Outcome

    public typealias Failure = @Sendable (StorageError) -> Outcome

    private struct Submitted {
        let job: Job
        let fail: Failure
        let submittedAt: UInt64
        /// The commands it runs, counted against `batchCommandsMax`.
        let commands: Int
    }

    private struct Awaiting {
        let tag: UInt64
        let outcome: Outcome
        let fail: Failure
        /// Submission time for jobs that wrote, to measure submit → durable.
        let submittedAt: UInt64?
    }

    public let options: StorageOptions
    public let connection: WiredTigerConnection
    private let deliver: @Sendable ([Outcome]) -> Void
    private let release: (@Sendable ([any Sendable]) -> Void)?

    private let submitLock = ConditionLock()
    private var submitted = Deque<Submitted>()  // Guarded by submitLock.
    private var stopRequested = false  // Guarded by submitLock.

    private let durableLock = ConditionLock()
    private var committedGeneration: UInt64 = 0  // Guarded by durableLock.
    private var flushedGeneration: UInt64 = 0  // Guarded by durableLock.
    private var awaiting = Deque<Awaiting>()  // Guarded by durableLock.
    /// The flush thread is delivering outcomes it took from `awaiting`: outcomes that become ready
    /// meanwhile queue behind them, so outcomes are delivered in the order their jobs ran.
    private var flushIsDelivering = false  // Guarded by durableLock.
    /// The storage thread is syncing the log itself (it had nothing else to do and the flush
    /// thread was idle): the flush thread leaves this generation to it.
    private var storageIsFlushing = false  // Guarded by durableLock.
    /// The flush thread took a generation to sync and has not finished.
    private var flushThreadIsFlushing = false  // Guarded by durableLock.
    /// The newest generation whose batch asked for an fsync (`LogStore.batchNeedsSync`). Batches
    /// of derived writes alone (a cluster node applying committed records) commit without one:
    /// they are synced with the next batch that needs it, when an outcome waits on them, or
    /// `options.lazySyncMilliseconds` after the first of them committed, whichever comes first.
    private var syncWantedGeneration: UInt64 = 0  // Guarded by durableLock.
    /// When the oldest commit not yet synced that nobody asked to sync committed (monotonic).
    private var lazyCommitSince: UInt64?  // Guarded by durableLock.
    /// The most jobs a batch may have for the storage thread to sync it itself (Tools/bench_xadd.py:
    /// at one client this saves a wake-up per append; at fifty, batches of tens of jobs overlap
    /// the fsync and are faster on the flush thread).
    static var ownFlushJobsMax: Int { 4 }
    private var unflushedAppends: UInt64 = 0  // Guarded by durableLock.
    /// Set once durability can no longer be promised (a failed fsync, a WiredTiger panic); every
    /// job after that fails with it until the process restarts.
    private var failure: StorageError?  // Guarded by durableLock.
    private var storageThreadDone = false  // Guarded by durableLock.
    /// Batches that ran and wrote (their jobs and the commands those hold) and the context's
    /// `takeRetired` values, which the flush thread lets go of after its next fsync: freeing a
    /// batch's commands is a tenth of the storage thread's time, and the storage thread is the one
    /// every append waits on.
    private var retired: [any Sendable] = []  // Guarded by durableLock.
    private var statistics = StorageStatistics()  // Guarded by durableLock.
    private var durableLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000)  // Guarded by durableLock.
    private var fsyncLatency = Histogram<UInt64>(highestTrackableValue: 60_000_000)  // Guarded by durableLock.
    /// Fsyncs that took at least `fsyncStallThreshold` nanoseconds (0: none are kept), the newest
    /// `fsyncStallsMax`, for LATENCY's fsync event; `fsyncStallCount` lets a reader skip the lock.
    private var fsyncStalls: [FsyncStall] = []  // Guarded by durableLock.
    private let fsyncStallThreshold = Atomic<UInt64>(0)
    private let fsyncStallCount = Atomic<Int>(0)
    public static var fsyncStallsMax: Int { 160 }

    /// One slow fsync: when it ended (Unix milliseconds) and how long it took.
    public struct FsyncStall: Sendable {
        public let endedAtMilliseconds: UInt64
        public let nanoseconds: UInt64
    }

    /// Fsyncs at least this long are kept for `takeFsyncStalls` (0: none).
    public func setFsyncStallThreshold(nanoseconds: UInt64) {
        fsyncStallThreshold.store(nanoseconds, ordering: .relaxed)
    }

    /// The slow fsyncs since the last call, oldest first; no lock is taken when there are none.
    public func takeFsyncStalls() -> [FsyncStall] {
        guard fsyncStallCount.load(ordering: .relaxed) > 0 else { return [] }
        return durableLock.locked {
            fsyncStallCount.store(0, ordering: .relaxed)
            defer { fsyncStalls = [] }
            return fsyncStalls
        }
    }

    private func noteFsyncLocked(_ nanoseconds: UInt64) {
        let threshold = fsyncStallThreshold.load(ordering: .relaxed)
        guard threshold > 0, nanoseconds >= threshold else { return }
        if fsyncStalls.count >= Self.fsyncStallsMax { fsyncStalls.removeFirst() }
        fsyncStalls.append(FsyncStall(endedAtMilliseconds: wallClockMilliseconds(), nanoseconds: nanoseconds))
        fsyncStallCount.store(fsyncStalls.count, ordering: .relaxed)
    }

    /// Read by the storage thread without a lock to tag reads of data that is already durable.
    private let durableWatermark = Atomic<UInt64>(0)

    private var storageThread: NativeThread?
    private var flushThread: NativeThread?
    private var checkpointThread: NativeThread?
    private let checkpointLock = ConditionLock()
    private var checkpointStopRequested = false  // Guarded by checkpointLock.
    private var checkpointWritesReached = false  // Guarded by checkpointLock.
    private let startup = ConditionLock()
    private var startupResult: Result<Void, StorageError>?  // Guarded by startup.

    /// Opens (or creates) the database, recovers it, loads the catalog on the storage thread and
    /// starts both threads. `deliver` is called from the storage or flush thread with outcomes
    /// whose durability requirement is met, in job order per thread. `release`, if given, receives
    /// from the flush thread what finished batches are done with (the jobs, the commands they
    /// captured) just before their outcomes are delivered, to free on the thread that allocated
    /// it; without it the flush thread frees it.
    public init(
        options: StorageOptions,
        makeContext: @escaping @Sendable (LogStore) -> Context,
        deliver: @escaping @Sendable ([Outcome]) -> Void,
        release: (@Sendable ([any Sendable]) -> Void)? = nil
    ) throws(StorageError) {
        self.options = options
        self.deliver = deliver
        self.release = release
        let state = try DataDirectory.prepare(options.directory, createIfMissing: options.createIfMissing)
        precondition(options.checkpointIntervalSeconds >= 0, "checkpoint interval cannot be negative")
        let config = WiredTigerConfiguration.open(cacheSizeMiB: options.cacheSizeMiB, create: state == .fresh)
        do {
            connection = try WiredTigerConnection(directory: options.directory, config: config)
        } catch {
            throw .wiredTiger(error)
        }
        let createIfMissing = state == .fresh
        storageThread = NativeThread(name: "spool-storage") { [self] in
            runStorageThread(makeContext: makeContext, createIfMissing: createIfMissing)
        }
        let result = startup.locked { () -> Result<Void, StorageError> in
            while startupResult == nil { startup.waitLocked() }
            return startupResult!
        }
        if case .failure(let error) = result {
            storageThread?.join()
            storageThread = nil
            try? connection.close()
            throw error
        }
        if options.commitMode == .groupCommit {
            flushThread = NativeThread(name: "spool-flush") { [self] in runFlushThread() }
        }
        if options.checkpointIntervalSeconds > 0 {
            checkpointThread = NativeThread(name: "spool-checkpoint") { [self] in runCheckpointThread() }
        }
    }

    /// Queues a job; it runs on the storage thread after every job submitted before it. If its
    /// batch rolls back, the flush fails or the engine is stopping, `onFailure` makes its outcome.
    public func submit(_ job: @escaping Job, onFailure: @escaping Failure) {
        submit(contentsOf: [(job, onFailure, 1)])
    }

    /// Queues several jobs at once (one lock, one wake-up): the server hands over everything one
    /// event-loop iteration produced. `commands` is how many commands a job runs: a transaction
    /// holds jobs of `batchCommandsMax` commands at most.
    public func submit(contentsOf jobs: [(job: Job, onFailure: Failure, commands: Int)]) {
        guard !jobs.isEmpty else { return }
        let now = monotonicNanoseconds()
        let (accepted, wasEmpty) = submitLock.locked { () -> (Bool, Bool) in
            guard !stopRequested else { return (false, false) }
            let wasEmpty = submitted.isEmpty
            for (job, fail, commands) in jobs {
                submitted.append(Submitted(job: job, fail: fail, submittedAt: now, commands: commands))
            }
            return (true, wasEmpty)
        }
        // Signalled after the unlock: a storage thread woken while the lock is still held would
        // run, find the lock taken and sleep again (two extra context switches per hand-over).
        if wasEmpty { submitLock.signal() }
        if !accepted { deliver(jobs.map { $0.onFailure(.shuttingDown) }) }
    }

    /// Every commit of this generation or lower is on disk.
    public var durableGeneration: UInt64 { durableWatermark.load(ordering: .acquiring) }

    public var statisticsSnapshot: StorageStatistics {
        durableLock.locked {
            var s = statistics
            s.durableLatencyMicrosecondsP50 = durableLatency.valueAtPercentile(50) / 1000
            s.durableLatencyMicrosecondsP99 = durableLatency.valueAtPercentile(99) / 1000
            s.durableLatencyMicrosecondsP999 = durableLatency.valueAtPercentile(99.9) / 1000
            s.durableLatencyMicrosecondsMax = durableLatency.max / 1000
            s.fsyncMicrosecondsP50 = fsyncLatency.valueAtPercentile(50) / 1000
            s.fsyncMicrosecondsP99 = fsyncLatency.valueAtPercentile(99) / 1000
            s.durableGeneration = flushedGeneration
            s.flushFailed = failure != nil
            return s
        }
    }

    /// Stops accepting jobs, runs and flushes everything queued, delivers every outcome,
    /// checkpoints and closes the database. Call once, not from the storage or flush thread.
    public func shutdown() {
        checkpointLock.locked {
            checkpointStopRequested = true
            checkpointLock.signal()
        }
        checkpointThread?.join()
        checkpointThread = nil
        submitLock.locked {
            stopRequested = true
            submitLock.signal()
        }
        storageThread?.join()
        storageThread = nil
        durableLock.locked { durableLock.signal() }
        flushThread?.join()
        flushThread = nil
        // Closing checkpoints everything, so the next start replays no log.
        try? connection.close()
    }

    // MARK: Storage thread

    private func runStorageThread(
        makeContext: @Sendable (LogStore) -> Context, createIfMissing: Bool
    ) {
        let session: WiredTigerSession
        let store: LogStore
        do {
            do { session = try connection.openSession() } catch { throw StorageError.wiredTiger(error) }
            store = try LogStore(session: session, createIfMissing: createIfMissing)
        } catch let error as StorageError {
            startup.locked {
                startupResult = .failure(error)
                startup.signal()
            }
            return
        } catch {
            fatalError("unexpected startup error \(error)")
        }
        let context = makeContext(store)
        startup.locked {
            startupResult = .success(())
            startup.signal()
        }
        var generation: UInt64 = 0
        var batch: [Submitted] = []
        batch.reserveCapacity(options.batchJobsMax)
        while true {
            let deadline = context.nextDeadlineNanoseconds
            let stop = submitLock.locked { () -> Bool in
                while submitted.isEmpty && !stopRequested {
                    if let deadline {
                        if monotonicNanoseconds() >= deadline { break }
                        submitLock.waitLocked(untilMonotonicNanoseconds: deadline)
                    } else {
                        submitLock.waitLocked()
                    }
                }
                // Everything ready, up to a transaction's worth: a bigger backlog becomes several
                // transactions, so the flush thread syncs the first while the next is written
                // (all of them still share fsyncs).
                var commands = 0
                while let next = submitted.first, batch.isEmpty
                    || (batch.count < options.batchJobsMax && commands + next.commands <= options.batchCommandsMax)
                {
                    batch.append(submitted.removeFirst())
                    commands += next.commands
                }
                return stopRequested && batch.isEmpty && submitted.isEmpty
            }
            if stop { break }
            var retiredBatch = false
            if options.commitMode == .syncEachJob {
                runEachJobSynced(batch, store: store, context: context)
            } else {
                retiredBatch = runBatch(batch, store: store, context: context, generation: &generation)
            }
            // A batch that wrote went to the flush thread to be freed; the next one starts anew.
            if retiredBatch { batch = [] } else { batch.removeAll(keepingCapacity: true) }
        }
        durableLock.locked {
            storageThreadDone = true
            durableLock.signal()
        }
        session.close()
    }

    /// Runs one batch in one transaction; returns whether the batch went to the flush thread
    /// (which frees it after its fsync).
    private func runBatch(
        _ batch: [Submitted], store: LogStore, context: Context, generation: inout UInt64
    ) -> Bool {
        if let stopped = durableLock.locked({ self.failure }) {
            deliver(batch.map { $0.fail(stopped) } + context.batchDidRollBack(stopped))
            return false
        }
        let thisGeneration = generation + 1
        store.currentGeneration = thisGeneration
        store.durableGeneration = durableWatermark.load(ordering: .acquiring)
        store.batchDidWrite = false
        store.batchNeedsSync = false
        store.batchAppendCount = 0
        var results: [Awaiting] = []
        results.reserveCapacity(batch.count)
        var failure: WiredTigerError?
        var extra: [DeferredOutcome<Outcome>] = []
        var flushHere = false
        do throws(WiredTigerError) {
            try store.session.beginTransaction()
            for item in batch {
                store.beginJob()
                let outcome = try item.job(context)
                let tag = store.jobDurabilityTag
                results.append(
                    Awaiting(
                        tag: tag, outcome: outcome, fail: item.fail,
                        submittedAt: tag == thisGeneration ? item.submittedAt : nil))
            }
            store.beginJob()
            extra = try context.batchWillCommit(nowNanoseconds: monotonicNanoseconds())
            let extraTag = store.jobDurabilityTag
            for deferred in extra {
                results.append(
                    Awaiting(
                        tag: deferred.afterCommitOnly ? 0 : max(extraTag, deferred.minimumTag), outcome: deferred.outcome,
                        fail: deferred.fail, submittedAt: nil))
            }
            if store.batchDidWrite { try store.writeDirtyRecords() }
            flushHere = store.batchNeedsSync && willSyncOwnCommit(batchSize: batch.count)
            try store.session.commitTransaction()
        } catch {
            failure = error
        }
        if let failure {
            if flushHere { durableLock.locked { storageIsFlushing = false } }
            try? store.session.rollbackTransaction()
            // The catalog in memory may hold this batch's changes; go back to what is on disk.
            // If even that fails (WiredTiger panicked, e.g. on a full disk), stop for good.
            do {
                try store.reloadAfterRollback()
            } catch {
                durableLock.locked { if self.failure == nil { self.failure = .wiredTiger(failure) } }
            }
            let undone = context.batchDidRollBack(.wiredTiger(failure))
            // Every job of the batch fails: none of its writes happened; nor do the outcomes the
            // batch made possible (served readers, appends that were waiting for it).
            deliver(batch.map { $0.fail(.wiredTiger(failure)) } + extra.map { $0.fail(.wiredTiger(failure)) } + undone)
            return false
        }
        if store.batchDidWrite {
            generation = thisGeneration
            store.trimStreamCache()
        }
        var ready: [Outcome] = []
        var startCheckpoint = false
        let appends = UInt64(store.batchAppendCount)
        let values = context.takeRetired()  // freed here unless the flush thread has a fsync to do
        var wakeFlushThread = false
        durableLock.locked {
            if store.batchDidWrite {
                committedGeneration = thisGeneration
                if store.batchNeedsSync {
                    syncWantedGeneration = thisGeneration
                    wakeFlushThread = !flushHere
                } else if lazyCommitSince == nil {
                    lazyCommitSince = monotonicNanoseconds()
                    wakeFlushThread = true  // to start the lazy sync's clock
                }
                unflushedAppends += appends
                statistics.commits += 1
                statistics.appends += appends
                if let metrics = options.metrics {
                    metrics.commits.increment()
                    metrics.appends.increment(by: Int64(appends))
                }
            }
            for (item, result) in zip(batch, results) where result.tag == thisGeneration {
                statistics.writeCommands += UInt64(item.commands)
            }
            if options.checkpointWritesMax > 0 && !statistics.checkpointInProgress
                && statistics.writeCommands - statistics.writeCommandsAtLastCheckpoint >= UInt64(options.checkpointWritesMax)
            {
                startCheckpoint = true
            }
            for result in results {
                if result.tag <= flushedGeneration && awaiting.isEmpty && !flushIsDelivering || result.tag == 0 {
                    ready.append(result.outcome)
                } else {
                    awaiting.append(result)
                }
            }
            if store.batchDidWrite {
                retired.append(batch)
                if !values.isEmpty { retired.append(values) }
            }
            // Outcomes wait on commits nobody asked to sync (a stream loaded after a rollback
            // counts as changed by the last of them): the flush thread syncs them now.
            if !awaiting.isEmpty && !flushHere && committedGeneration > max(flushedGeneration, syncWantedGeneration) {
                wakeFlushThread = true
            }
        }
        if wakeFlushThread { durableLock.signal() }  // after the unlock, as in `submit`
        if startCheckpoint {
            checkpointLock.locked {
                checkpointWritesReached = true
                checkpointLock.signal()
            }
        }
        if !ready.isEmpty { deliver(ready) }
        if flushHere { flush(upTo: thisGeneration, session: store.session) }
        return store.batchDidWrite
    }

    /// Whether the batch about to commit is synced by the storage thread itself (`log_flush`
    /// after its commit) instead of the flush thread; if so the flush thread leaves it alone.
    /// A small batch with nothing queued behind it is, while the flush thread is idle: waking the
    /// flush thread costs more than the little the next batch could overlap with the fsync. A
    /// bigger batch says requests arrive during an fsync: the flush thread syncs while the next
    /// batch is written. (A synced commit, `commit_transaction(sync=on)`, waited less inside
    /// WiredTiger but lost acknowledged entries when the disk filled: the full-disk producer test.)
    private func willSyncOwnCommit(batchSize: Int) -> Bool {
        guard options.commitMode == .groupCommit, batchSize <= Self.ownFlushJobsMax,
            submitLock.locked({ submitted.isEmpty })
        else { return false }
        return durableLock.locked {
            guard !flushThreadIsFlushing, syncWantedGeneration <= flushedGeneration, !flushIsDelivering, failure == nil else { return false }
            storageIsFlushing = true
            return true
        }
    }

    /// The baseline: every job in its own transaction, synced before its outcome is delivered.
    private func runEachJobSynced(_ batch: [Submitted], store: LogStore, context: Context) {
        for item in batch {
            store.currentGeneration = 0
            store.durableGeneration = 0
            store.batchAppendCount = 0
            store.batchDidWrite = false
            store.batchNeedsSync = false
            do throws(WiredTigerError) {
                try store.session.beginTransaction()
                store.beginJob()
                let outcome = try item.job(context)
                if store.batchDidWrite { try store.writeDirtyRecords() }
                let syncStarted = monotonicNanoseconds()
                try store.session.commitTransactionSynced()
                let now = monotonicNanoseconds()
                durableLock.locked {
                    statistics.appends += UInt64(store.batchAppendCount)
                    if store.batchDidWrite {
                        statistics.commits += 1
                        statistics.writeCommands += UInt64(item.commands)
                        statistics.fsyncs += 1
                        statistics.durableJobs += 1
                        statistics.entriesPerFsyncMax = max(statistics.entriesPerFsyncMax, UInt64(store.batchAppendCount))
                        _ = durableLatency.record(now - item.submittedAt)
                        noteFsyncLocked(now - syncStarted)
                        if let metrics = options.metrics {
                            metrics.commits.increment()
                            metrics.fsyncs.increment()
                            metrics.entriesPerFsync.record(Int64(store.batchAppendCount))
                            metrics.fsyncDuration.recordNanoseconds(Int64(now - syncStarted))
                            metrics.appendToDurable.recordNanoseconds(Int64(now - item.submittedAt))
                        }
                    }
                }
                deliver([outcome])
            } catch {
                try? store.session.rollbackTransaction()
                try? store.reloadAfterRollback()
                deliver([item.fail(.wiredTiger(error))])
            }
        }
    }

    // MARK: Checkpoint thread

    /// Checkpoints every `checkpointIntervalSeconds`, or sooner once `checkpointWritesMax` write
    /// commands were made since the last one, on its own session, beside the storage thread's
    /// transactions (WiredTiger allows that), so recovery replays at most that much log. What it
    /// covered is recorded for INFO persistence (`rdb_changes_since_last_save`).
    private func runCheckpointThread() {
        let session: WiredTigerSession
        do {
            session = try connection.openSession()
        } catch {
            fatalError("checkpoint thread cannot open a session: \(error)")
        }
        let interval = UInt64(options.checkpointIntervalSeconds) * 1_000_000_000
        var next = monotonicNanoseconds() + interval
        while true {
            let stop = checkpointLock.locked { () -> Bool in
                while !checkpointStopRequested && !checkpointWritesReached && monotonicNanoseconds() < next {
                    checkpointLock.waitLocked(untilMonotonicNanoseconds: next)
                }
                checkpointWritesReached = false
                return checkpointStopRequested
            }
            if stop { break }
            let covered = durableLock.locked { () -> UInt64? in
                guard failure == nil else { return nil }  // a failed store checkpoints nothing more
                statistics.checkpointInProgress = true
                return statistics.writeCommands
            }
            guard let covered else { break }
            var succeeded = true
            do { try session.checkpoint() } catch { succeeded = false }
            let finishedAt = wallClockMilliseconds()
            durableLock.locked {
                statistics.checkpointInProgress = false
                statistics.lastCheckpointSucceeded = succeeded
                if succeeded {
                    statistics.checkpoints += 1
                    statistics.writeCommandsAtLastCheckpoint = covered
                    statistics.lastCheckpointWallMilliseconds = finishedAt
                }
            }
            next = monotonicNanoseconds() + interval
        }
        session.close()
    }

    // MARK: Flush thread

    private func runFlushThread() {
        let session: WiredTigerSession
        do {
            session = try connection.openSession()
        } catch {
            fatalError("flush thread cannot open a session: \(error)")
        }
        while true {
            // Wait for something unflushed; when idle this returns the moment a commit lands, and
            // under load everything committed during the previous fsync rides this one.
            let target = durableLock.locked { () -> UInt64? in
                while true {
                    if storageIsFlushing && !storageThreadDone {
                        durableLock.waitLocked()
                        continue
                    }
                    guard committedGeneration > flushedGeneration, !storageIsFlushing else {
                        if storageThreadDone { return nil }
                        durableLock.waitLocked()
                        continue
                    }
                    // Something asked for this sync, or waits on it, or the storage thread is gone.
                    if syncWantedGeneration > flushedGeneration || !awaiting.isEmpty || storageThreadDone { break }
                    let due = (lazyCommitSince ?? monotonicNanoseconds()) + options.lazySyncMilliseconds * 1_000_000
                    if monotonicNanoseconds() >= due { break }
                    durableLock.waitLocked(untilMonotonicNanoseconds: due)
                }
                flushThreadIsFlushing = true
                return committedGeneration
            }
            guard let target else { break }
            flush(upTo: target, session: session)
        }
        session.close()
    }

    /// Syncs the log, which makes every commit up to `target` durable, and delivers the outcomes
    /// that waited for it, in order: on the flush thread, or on the storage thread for a small
    /// batch it syncs itself.
    private func flush(upTo target: UInt64, session: WiredTigerSession) {
        let started = monotonicNanoseconds()
        var error: WiredTigerError?
        do {
            try session.flushLog()
        } catch let e {
            error = e
        }
        finishFlush(upTo: target, started: started, finished: monotonicNanoseconds(), error: error)
    }

    /// After the fsync that made every commit up to `target` durable (or failed): advances the
    /// watermark and delivers what waited for it.
    private func finishFlush(upTo target: UInt64, started: UInt64, finished: UInt64, error: WiredTigerError?) {
        var ready: [Outcome] = []
        var failed: [Awaiting] = []
        var garbage: [any Sendable] = []
        durableLock.locked {
            storageIsFlushing = false
            flushThreadIsFlushing = false
            if target >= committedGeneration { lazyCommitSince = nil }
            swap(&garbage, &retired)
            if let error {
                failure = .flushFailed(error)
                statistics.flushFailed = true
                failed = Array(awaiting)
                awaiting.removeAll()
                // Nothing more becomes durable: stop the loop from waiting on this generation.
                flushedGeneration = committedGeneration
                return
            }
            flushedGeneration = target
            // Stored under the lock: whoever sees `flushedGeneration` sees the watermark too.
            durableWatermark.store(target, ordering: .releasing)
            statistics.fsyncs += 1
            statistics.entriesPerFsyncMax = max(statistics.entriesPerFsyncMax, unflushedAppends)
            let entriesThisFsync = unflushedAppends
            unflushedAppends = 0
            _ = fsyncLatency.record(finished - started)
            noteFsyncLocked(finished - started)
            if let metrics = options.metrics {
                metrics.fsyncs.increment()
                metrics.entriesPerFsync.record(Int64(entriesThisFsync))
                metrics.fsyncDuration.recordNanoseconds(Int64(finished - started))
            }
            while let head = awaiting.first, head.tag <= target {
                awaiting.removeFirst()
                ready.append(head.outcome)
                if let submittedAt = head.submittedAt {
                    statistics.durableJobs += 1
                    _ = durableLatency.record(finished &- submittedAt)
                    options.metrics?.appendToDurable.recordNanoseconds(Int64(finished &- submittedAt))
                }
            }
            flushIsDelivering = !ready.isEmpty
        }
        if let error {
            deliver(failed.map { $0.fail(.flushFailed(error)) })
            return
        }
        // Released first, so the delivery's wake-up carries both (a second wake-up per fsync
        // would cost the loop thread two context switches).
        if let release, !garbage.isEmpty {
            release(garbage)
            garbage = []  // the receiver holds the last references
        }
        while !ready.isEmpty {
            deliver(ready)
            // Outcomes that became ready while these were delivered waited behind them.
            ready = durableLock.locked {
                var more: [Outcome] = []
                while let head = awaiting.first, head.tag <= flushedGeneration {
                    awaiting.removeFirst()
                    more.append(head.outcome)
                }
                flushIsDelivering = !more.isEmpty
                return more
            }
        }
    }
}
