/// The replicated command log of a cluster node (ARCHITECTURE.md, "Replication"):
///
/// - `table:spool-replog` — (shard 4 bytes BE, seq 8 bytes BE) → epoch (8 LE), sum (8 LE),
///   kind (1), payload: each shard's log, dense seqs from 1, written in the batch's transaction
///   and durable with its flush.
/// - `table:spool-shards` — shard (4 bytes BE) → the highest epoch the node promised (8 LE) and
///   the last seq it applied to its streams (8 LE), then tagged sections: 1, while the node's log
///   has a gap (it joined at a leader's commit point and is filling what it skipped), the first
///   seq missing and the seq, epoch and sum of the last one (4 × 8 LE); 2, while the node is a
///   learner (it lost its state and does not vote yet), its incarnation and the epoch floor it
///   started from (2 × 8 LE). The promise is what lets a replica refuse a
///   stale leader after a restart; the applied seq is written in the transaction that applies, so
///   after a crash the node applies again exactly what it had not.
///
/// Storage thread only.
public final class ReplicationTable {
    static let logURI = "table:spool-replog"
    static let shardsURI = "table:spool-shards"

    /// A log entry as stored.
    public struct StoredEntry: Sendable, Equatable {
        public var seq: UInt64
        public var epoch: UInt64
        public var sum: UInt64
        public var kind: UInt8
        public var payload: [UInt8]

        public init(seq: UInt64, epoch: UInt64, sum: UInt64, kind: UInt8, payload: [UInt8]) {
            self.seq = seq
            self.epoch = epoch
            self.sum = sum
            self.kind = kind
            self.payload = payload
        }
    }

    /// What a shard's row holds.
    public struct ShardState: Sendable, Equatable {
        public var maxEpochSeen: UInt64 = 0
        public var appliedSeq: UInt64 = 0
        public var gap: StoredGap?
        /// While a learner: its incarnation and the epoch floor it started from.
        public var learner: (incarnation: UInt64, since: UInt64)?
        public init(
            maxEpochSeen: UInt64 = 0, appliedSeq: UInt64 = 0, gap: StoredGap? = nil, learner: (incarnation: UInt64, since: UInt64)? = nil
        ) {
            self.maxEpochSeen = maxEpochSeen
            self.appliedSeq = appliedSeq
            self.gap = gap
            self.learner = learner
        }

        public static func == (a: ShardState, b: ShardState) -> Bool {
            a.maxEpochSeen == b.maxEpochSeen && a.appliedSeq == b.appliedSeq && a.gap == b.gap
                && a.learner?.incarnation == b.learner?.incarnation && a.learner?.since == b.learner?.since
        }
    }

    /// A log's open gap as stored: the first seq missing, and the last one's seq, epoch and sum.
    public struct StoredGap: Sendable, Equatable {
        public var next: UInt64
        public var endSeq: UInt64
        public var endEpoch: UInt64
        public var endSum: UInt64
        public init(next: UInt64, endSeq: UInt64, endEpoch: UInt64, endSum: UInt64) {
            self.next = next
            self.endSeq = endSeq
            self.endEpoch = endEpoch
            self.endSum = endSum
        }
    }

    private let store: LogStore
    private let log: WiredTigerCursor
    private let shards: WiredTigerCursor

    init(store: LogStore) throws(WiredTigerError) {
        self.store = store
        try store.session.create(Self.logURI, config: WiredTigerConfiguration.table)
        try store.session.create(Self.shardsURI, config: WiredTigerConfiguration.table)
        log = try store.session.openCursor(Self.logURI, config: "overwrite=true")
        shards = try store.session.openCursor(Self.shardsURI, config: "overwrite=true")
    }

    static func key(shard: Int, seq: UInt64) -> [UInt8] {
        var key = [UInt8]()
        key.reserveCapacity(12)
        appendBigEndian(UInt32(shard), to: &key)
        appendBigEndian(seq, to: &key)
        return key
    }

    private static func decode(seq: UInt64, _ value: UnsafeRawBufferPointer) -> StoredEntry? {
        guard value.count >= 17 else { return nil }
        return StoredEntry(
            seq: seq, epoch: readLittleEndian(UInt64.self, value, at: 0), sum: readLittleEndian(UInt64.self, value, at: 8),
            kind: value[16], payload: Array(value[17...]))
    }

    /// The last entry of the shard's log, nil for an empty log.
    public func lastEntry(shard: Int) throws(WiredTigerError) -> StoredEntry? {
        defer { log.reset() }
        guard let match = try log.searchNear(key: Self.key(shard: shard, seq: UInt64.max)) else { return nil }
        if match == .after, try !log.previous() { return nil }
        return try currentEntry(shard: shard)
    }

    /// The entry at `seq`, nil if the log does not hold it. A row that cannot be decoded is
    /// corruption, never an absent entry.
    public func entry(shard: Int, seq: UInt64) throws(WiredTigerError) -> StoredEntry? {
        defer { log.reset() }
        guard try log.search(key: Self.key(shard: shard, seq: seq)) else { return nil }
        guard let entry = try log.withValue({ Self.decode(seq: seq, $0) }) else {
            throw WiredTigerError.corrupt("replication log row \(shard)/\(seq)")
        }
        return entry
    }

    /// Entries from `seq` on, at most `limit`, in order.
    public func entries(shard: Int, from seq: UInt64, limit: Int) throws(WiredTigerError) -> [StoredEntry] {
        defer { log.reset() }
        var found: [StoredEntry] = []
        guard limit > 0, let match = try log.searchNear(key: Self.key(shard: shard, seq: seq)) else { return found }
        if match == .before, try !log.next() { return found }
        while found.count < limit {
            guard let entry = try currentEntry(shard: shard) else { break }
            found.append(entry)
            guard try log.next() else { break }
        }
        return found
    }

    /// The entry under the cursor if it belongs to `shard`.
    private func currentEntry(shard: Int) throws(WiredTigerError) -> StoredEntry? {
        let position = try log.withKey { key -> (Int, UInt64)? in
            guard key.count == 12 else { return nil }
            return (Int(readBigEndian(UInt32.self, key, at: 0)), readBigEndian(UInt64.self, key, at: 4))
        }
        guard let (found, seq) = position, found == shard else { return nil }
        guard let entry = try log.withValue({ Self.decode(seq: seq, $0) }) else {
            throw WiredTigerError.corrupt("replication log row \(shard)/\(seq)")
        }
        return entry
    }

    public func append(shard: Int, _ entry: StoredEntry) throws(WiredTigerError) {
        var value = [UInt8]()
        value.reserveCapacity(17 + entry.payload.count)
        appendLittleEndian(entry.epoch, to: &value)
        appendLittleEndian(entry.sum, to: &value)
        value.append(entry.kind)
        value.append(contentsOf: entry.payload)
        try log.insert(key: Self.key(shard: shard, seq: entry.seq), value: value)
        store.noteDurableDependency()
    }

    /// Removes every entry after `seq` (a divergent, never committed suffix: short).
    public func truncate(shard: Int, after seq: UInt64) throws(WiredTigerError) {
        while let last = try lastEntry(shard: shard), last.seq > seq {
            _ = try log.remove(key: Self.key(shard: shard, seq: last.seq))
            log.reset()
        }
        store.noteDurableDependency()
    }

    public func shardState(_ shard: Int) throws(WiredTigerError) -> ShardState {
        defer { shards.reset() }
        var key = [UInt8]()
        appendBigEndian(UInt32(shard), to: &key)
        guard try shards.search(key: key) else { return ShardState() }
        guard let state = try shards.withValue({ value -> ShardState? in
            guard value.count >= 16 else { return nil }
            var state = ShardState(maxEpochSeen: readLittleEndian(UInt64.self, value, at: 0), appliedSeq: readLittleEndian(UInt64.self, value, at: 8))
            var offset = 16
            while offset < value.count {
                let tag = value[offset]
                offset += 1
                switch tag {
                case 1 where state.gap == nil && offset + 32 <= value.count:
                    let gap = StoredGap(
                        next: readLittleEndian(UInt64.self, value, at: offset), endSeq: readLittleEndian(UInt64.self, value, at: offset + 8),
                        endEpoch: readLittleEndian(UInt64.self, value, at: offset + 16), endSum: readLittleEndian(UInt64.self, value, at: offset + 24))
                    guard gap.next >= 1, gap.next <= gap.endSeq, state.appliedSeq < gap.next else { return nil }
                    state.gap = gap
                    offset += 32
                case 2 where state.learner == nil && offset + 16 <= value.count:
                    state.learner = (readLittleEndian(UInt64.self, value, at: offset), readLittleEndian(UInt64.self, value, at: offset + 8))
                    offset += 16
                default: return nil
                }
            }
            return state
        }) else {
            throw WiredTigerError.corrupt("shard row \(shard)")
        }
        return state
    }

    public func writeShardState(_ shard: Int, _ state: ShardState) throws(WiredTigerError) {
        var key = [UInt8]()
        appendBigEndian(UInt32(shard), to: &key)
        var value = [UInt8]()
        appendLittleEndian(state.maxEpochSeen, to: &value)
        appendLittleEndian(state.appliedSeq, to: &value)
        if let gap = state.gap {
            value.append(1)
            for word in [gap.next, gap.endSeq, gap.endEpoch, gap.endSum] { appendLittleEndian(word, to: &value) }
        }
        if let learner = state.learner {
            value.append(2)
            appendLittleEndian(learner.incarnation, to: &value)
            appendLittleEndian(learner.since, to: &value)
        }
        try shards.insert(key: key, value: value)
        store.noteDurableDependency()
    }
}

extension LogStore {
    /// Opens the replication tables (a cluster node's; created on first use).
    public func openReplicationTable() throws(WiredTigerError) -> ReplicationTable {
        try ReplicationTable(store: self)
    }
}
