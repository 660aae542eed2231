import CoreMetrics

/// What the storage engine reports as it commits and syncs, through swift-metrics (the server
/// bootstraps nothing global: it hands in the factory its /metrics registry uses).
public struct StorageMetrics: Sendable {
    let appends: Counter
    let commits: Counter
    let fsyncs: Counter
    let entriesPerFsync: Recorder
    let fsyncDuration: CoreMetrics.Timer
    let appendToDurable: CoreMetrics.Timer

    /// The metric names, in Prometheus's conventions (base units, `_total` for counters).
    public enum Name {
        public static let appends = "spool_appends_total"
        public static let commits = "spool_commits_total"
        public static let fsyncs = "spool_fsyncs_total"
        public static let entriesPerFsync = "spool_fsync_entries"
        public static let fsyncDuration = "spool_fsync_duration_seconds"
        public static let appendToDurable = "spool_append_durable_seconds"
    }

    public init(factory: any MetricsFactory) {
        appends = Counter(label: Name.appends, factory: factory)
        commits = Counter(label: Name.commits, factory: factory)
        fsyncs = Counter(label: Name.fsyncs, factory: factory)
        entriesPerFsync = Recorder(label: Name.entriesPerFsync, factory: factory)
        fsyncDuration = CoreMetrics.Timer(label: Name.fsyncDuration, factory: factory)
        appendToDurable = CoreMetrics.Timer(label: Name.appendToDurable, factory: factory)
    }
}
