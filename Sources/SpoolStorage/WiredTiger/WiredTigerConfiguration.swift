/// Every WiredTiger configuration string Spool uses, built here and nowhere else.
public enum WiredTigerConfiguration {
    /// wiredtiger_open's configuration.
    /// - create: make the database on first start.
    /// - log=(enabled=true): every commit goes to the write-ahead log; recovery replays it after a
    ///   crash. archive=true removes log files a checkpoint has made unnecessary (3.2.1 spells this
    ///   `archive`, later releases `remove`). file_max bounds each log file.
    /// - transaction_sync=(enabled=false): commit never syncs by itself; the flush thread's
    ///   log_flush(sync=on) is the only fsync, shared by every commit before it (group commit).
    /// - checkpoint=(wait=0): WiredTiger's own checkpoint thread is off; `StorageEngine`'s
    ///   checkpoint thread checkpoints every `checkpoint-interval` seconds instead, so it knows when
    ///   the last one finished and what it covered (INFO persistence), and recovery after kill -9
    ///   replays at most that much log.
    /// - cache_size: WiredTiger's page cache, the bulk of Spool's memory.
    /// - session_max: storage, flush, checkpoint and internal sessions with room to spare.
    /// - eviction: threads that write dirty pages out so appends never stall on a full cache.
    /// - eviction_dirty_target/trigger: dirty pages may fill 60–80% of the cache (WiredTiger's
    ///   defaults are 5% and 20%) before eviction writes them out. Every commit is already in the
    ///   log, so a dirty page costs nothing in durability; writing one out early only means reading
    ///   it back for the next append to the same stream. Appends spread over 100,000 streams each
    ///   dirty a different leaf page: measured with a 64 MB cache, paired runs, 1M appends, 69k /
    ///   72k / 60k appends/s and 24 / 23 / 28 µs CPU each instead of 52k / 67k / 59k and 34 / 26 /
    ///   30, one stream unchanged (Tools/bench_streams.py). Checkpoints by volume
    ///   (`checkpoint-writes`) still bound what recovery replays.
    public static func open(cacheSizeMiB: Int, create: Bool = true) -> String {
        precondition(cacheSizeMiB >= 1, "cache must be at least 1 MiB")
        return [
            create ? "create" : nil,
            "log=(enabled=true,archive=true,file_max=64MB)",
            "transaction_sync=(enabled=false)",
            "checkpoint=(wait=0)",
            "cache_size=\(cacheSizeMiB)MB",
            "session_max=64",
            "eviction=(threads_min=1,threads_max=2)",
            "eviction_dirty_target=60,eviction_dirty_trigger=80",
        ].compactMap { $0 }.joined(separator: ",")
    }

    /// Every Spool table: raw byte keys and values. Keys are built so byte order is the walk
    /// order we need (big-endian ids); values are Spool's own encodings.
    public static let table = "key_format=u,value_format=u"

    /// The shared entry tables (`EntryTables`): 4 KB leaf pages instead of 32 KB. Appends spread
    /// over many streams dirty one leaf page each, and every dirty page is rewritten whole when
    /// evicted or checkpointed, so smaller pages cost less per append: measured with 1M appends
    /// over 100,000 streams and a 64 MB cache, 40–44k appends/s instead of 20–23k, with no
    /// measurable change for appends to one stream or range reads (Tools/bench_streams.py).
    public static let entryTable = table + ",leaf_page_max=4KB"

    /// Every batch transaction (see `WiredTigerSession.beginTransaction`).
    public static let transaction = "isolation=snapshot"
}
