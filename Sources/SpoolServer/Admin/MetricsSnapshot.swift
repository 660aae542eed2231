/// What the storage thread reports for one scrape: streams and their groups (at most
/// `metrics-streams-max` streams), counters it keeps, and the cluster's shards. Sendable: it
/// crosses from the storage thread to the admin thread.
struct MetricsSnapshot: Sendable {
    struct Stream: Sendable {
        let database: Int
        let name: String
        let length: UInt64
        let entriesAdded: UInt64
        /// The size of its entries (`EntrySize`), before compression.
        let bytes: UInt64
        let groups: [Group]
    }

    struct Group: Sendable {
        let name: String
        let consumers: Int
        let pending: Int
        /// Entries not yet delivered to the group (Redis's lag), nil when unknowable.
        let lagEntries: Int64?
        /// Age of the oldest entry not yet delivered to the group, 0 when none.
        let lagMilliseconds: Int64
    }

    struct Shard: Sendable {
        let index: Int
        let role: String
        let epoch: UInt64
        let committed: UInt64
        let applied: UInt64
        let tail: UInt64
    }

    var streams: [Stream] = []
    /// Streams there are in all (more than `streams` holds when the limit cut it).
    var streamCount = 0
    var deadLettered: UInt64 = 0
    var producerAppendsParked: UInt64 = 0
    var producerAppendsWaiting = 0
    var shards: [Shard] = []
}
