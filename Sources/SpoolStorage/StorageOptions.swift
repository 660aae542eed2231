/// How the store is opened and how the storage thread batches. Every limit has a safe default.
public struct StorageOptions: Sendable {
    /// How a batch reaches disk.
    public enum CommitMode: Sendable {
        /// Transactions commit without sync; the flush thread's log_flush(sync=on) makes everything
        /// committed before it durable at once. The normal mode.
        case groupCommit
        /// Every job commits in its own synced transaction: the baseline group commit is measured
        /// against in benchmarks.
        case syncEachJob
    }

    public var directory: String
    /// Where commits, fsyncs and their latencies are reported (nil: nowhere but INFO).
    public var metrics: StorageMetrics?
    public var cacheSizeMiB: Int = 64
    public var checkpointIntervalSeconds: Int = 30
    /// Write commands after which a checkpoint starts without waiting for the interval (0: only
    /// the interval), so the log that recovery after kill -9 replays stays bounded by volume too.
    public var checkpointWritesMax: Int = 300_000
    /// Jobs the storage thread runs in one transaction at most.
    public var batchJobsMax: Int = 8192
    /// Commands one transaction holds at most (a job bigger than this runs alone): a transaction
    /// of about an fsync's time keeps the flush thread busy while the next one is written.
    public var batchCommandsMax: Int = 512
    public var commitMode: CommitMode = .groupCommit
    /// How long commits of derived writes alone (`LogStore.writesAreDerived`) may wait for an
    /// fsync that something else asks for before the flush thread syncs them anyway.
    public var lazySyncMilliseconds: UInt64 = 200
    /// Create a new database when the directory holds none.
    public var createIfMissing = true

    public init(directory: String) {
        self.directory = directory
    }
}
