import SpoolCore

/// Counters of the storage and flush threads, read as a consistent snapshot.
public struct StorageStatistics: Sendable {
    /// Entries appended (live and backfill).
    public var appends: UInt64 = 0
    /// Transactions committed that wrote something.
    public var commits: UInt64 = 0
    /// log_flush(sync=on) calls that had something to make durable.
    public var fsyncs: UInt64 = 0
    /// Entries made durable by the largest single fsync.
    public var entriesPerFsyncMax: UInt64 = 0
    /// Jobs whose outcome waited for an fsync.
    public var durableJobs: UInt64 = 0
    /// Submission → durable delivery, in microseconds.
    public var durableLatencyMicrosecondsP50: UInt64 = 0
    public var durableLatencyMicrosecondsP99: UInt64 = 0
    public var durableLatencyMicrosecondsP999: UInt64 = 0
    public var durableLatencyMicrosecondsMax: UInt64 = 0
    /// Time spent inside log_flush, in microseconds.
    public var fsyncMicrosecondsP50: UInt64 = 0
    public var fsyncMicrosecondsP99: UInt64 = 0
    /// The durable watermark: every commit of this generation or lower is on disk.
    public var durableGeneration: UInt64 = 0
    /// Set once an fsync failed; the store then refuses work until restarted.
    public var flushFailed = false
    /// Commands of jobs that wrote something (INFO's `rdb_changes_since_last_save` counts these
    /// since the last checkpoint).
    public var writeCommands: UInt64 = 0
    /// `writeCommands` when the last successful checkpoint began: everything counted up to it is in
    /// the checkpoint.
    public var writeCommandsAtLastCheckpoint: UInt64 = 0
    /// Checkpoints completed since start-up (the shutdown checkpoint is not counted).
    public var checkpoints: UInt64 = 0
    /// Wall-clock end of the last successful checkpoint, or of the start-up recovery.
    public var lastCheckpointWallMilliseconds: UInt64 = wallClockMilliseconds()
    public var checkpointInProgress = false
    public var lastCheckpointSucceeded = true

    public var entriesPerFsync: Double { fsyncs == 0 ? 0 : Double(appends) / Double(fsyncs) }
}
