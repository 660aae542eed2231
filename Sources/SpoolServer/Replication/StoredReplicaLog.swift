import SpoolReplication
import SpoolStorage

/// A shard's replicated log in WiredTiger (`ReplicationTable`), as the replication core sees it:
/// the tail and what is synced are kept in memory; entries are read from the table (recent ones
/// are in WiredTiger's cache). Storage thread only.
struct StoredReplicaLog: ReplicaLog {
    typealias Payload = [UInt8]
    typealias Failure = WiredTigerError

    let table: ReplicationTable
    let shard: Int
    private(set) var tail: LogTail
    private(set) var syncedSeq: UInt64
    private(set) var gap: LogGap?
    /// Bumped by every truncation: a sync notice taken before one cannot mark entries written
    /// after it as synced.
    private(set) var truncations: UInt64 = 0
    /// The newest entries this node wrote or accepted (checked when they were), oldest first, at
    /// most `recentMax`: what the leader sends and every node applies next is read from here,
    /// not from the table.
    private var recent: [ReplicatedEntry<[UInt8]>] = []
    private var recentStart = 0
    static let recentMax = 2_048

    /// Where `seq` is in `recent`, if it is there.
    private func recentIndex(_ seq: UInt64) -> Int? {
        guard seq >= 1, seq <= tail.seq, let last = recent.last, last.seq == tail.seq else { return nil }
        let back = tail.seq - seq
        guard back < UInt64(recent.count - recentStart) else { return nil }
        return recent.count - 1 - Int(back)
    }

    /// Opens the shard's log as recovery left it: everything in it is on disk. `gap` is the one the
    /// shard's row records.
    init(table: ReplicationTable, shard: Int, gap stored: ReplicationTable.StoredGap? = nil) throws(WiredTigerError) {
        self.table = table
        self.shard = shard
        if let last = try table.lastEntry(shard: shard) {
            tail = LogTail(seq: last.seq, epoch: last.epoch, sum: last.sum)
        } else {
            tail = .empty
        }
        if let stored {
            let gap = LogGap(next: stored.next, end: LogTail(seq: stored.endSeq, epoch: stored.endEpoch, sum: stored.endSum))
            if gap.contains(tail.seq) {
                throw WiredTigerError.corrupt("replication log of shard \(shard) holds entry \(tail.seq) inside its gap from \(gap.next)")
            }
            if tail.seq < gap.next { tail = gap.end }  // nothing after the gap yet
            self.gap = gap
        }
        syncedSeq = tail.seq
    }

    static func entry(_ stored: ReplicationTable.StoredEntry) throws(WiredTigerError) -> ReplicatedEntry<[UInt8]> {
        guard let kind = ReplicatedEntry<[UInt8]>.Kind(rawValue: stored.kind) else {
            throw WiredTigerError.corrupt("replication log entry \(stored.seq): kind \(stored.kind)")
        }
        return ReplicatedEntry(seq: stored.seq, epoch: stored.epoch, payload: stored.payload, kind: kind, storedSum: stored.sum)
    }

    static func stored(_ entry: ReplicatedEntry<[UInt8]>) -> ReplicationTable.StoredEntry {
        ReplicationTable.StoredEntry(seq: entry.seq, epoch: entry.epoch, sum: entry.sum, kind: entry.kind.rawValue, payload: entry.payload)
    }

    func entry(at seq: UInt64) throws(WiredTigerError) -> ReplicatedEntry<[UInt8]> {
        if let index = recentIndex(seq) { return recent[index] }
        if let gap, gap.contains(seq) {
            throw WiredTigerError.corrupt("replication log of shard \(shard): entry \(seq) asked for inside the gap from \(gap.next)")
        }
        guard let stored = try table.entry(shard: shard, seq: seq) else {
            throw WiredTigerError.corrupt("replication log of shard \(shard) has no entry \(seq) below its tail \(tail.seq)")
        }
        return try Self.entry(stored)
    }

    /// Entries from `seq`, each checked against the chain: a damaged entry is never sent.
    func entries(from seq: UInt64, limit: Int) throws(WiredTigerError) -> [ReplicatedEntry<[UInt8]>] {
        guard seq >= 1, seq <= tail.seq else { return [] }
        var limit = limit
        if let gap {
            if gap.contains(seq) { return [] }
            if seq < gap.next { limit = min(limit, Int(gap.next - seq)) }  // up to the gap
        }
        if let start = recentIndex(seq) { return Array(recent[start..<min(recent.count, start + limit)]) }
        var previous = try sum(at: seq - 1)
        var found: [ReplicatedEntry<[UInt8]>] = []
        for stored in try table.entries(shard: shard, from: seq, limit: limit) {
            let entry = try Self.entry(stored)
            guard entry.seq == seq + UInt64(found.count), entry.isIntact(previousSum: previous) else {
                throw WiredTigerError.corrupt("replication log of shard \(shard): entry \(stored.seq) fails its checksum")
            }
            previous = entry.sum
            found.append(entry)
        }
        return found
    }

    mutating func append(_ entry: ReplicatedEntry<[UInt8]>) throws(WiredTigerError) {
        precondition(entry.seq == tail.seq + 1, "appends are dense")
        try table.append(shard: shard, Self.stored(entry))
        tail = entry.position
        recent.append(entry)
        if recent.count - recentStart > Self.recentMax {
            recentStart += 1
            if recentStart >= Self.recentMax {
                recent.removeFirst(recentStart)
                recentStart = 0
            }
        }
    }

    mutating func truncate(after seq: UInt64) throws(WiredTigerError) {
        guard seq < tail.seq else { return }
        precondition(gap.map { seq >= $0.end.seq } ?? true, "truncating into the gap")
        try table.truncate(shard: shard, after: seq)
        recent.removeAll { $0.seq > seq }
        recentStart = min(recentStart, recent.count)
        if seq == 0 {
            tail = .empty
        } else if let gap, seq == gap.end.seq {
            tail = gap.end
        } else {
            tail = try entry(at: seq).position
        }
        syncedSeq = min(syncedSeq, seq)
        truncations += 1
    }

    mutating func markSynced(through seq: UInt64) {
        syncedSeq = max(syncedSeq, min(seq, tail.seq))
    }

    /// The shard's row records the gap (the replicator writes it with this batch).
    mutating func openGap(through end: LogTail) throws(WiredTigerError) {
        precondition(gap == nil && end.seq > tail.seq)
        gap = LogGap(next: tail.seq + 1, end: end)
        tail = end
        recent = []  // what follows is not contiguous with what was cached
        recentStart = 0
    }

    mutating func fill(_ entry: ReplicatedEntry<[UInt8]>) throws(WiredTigerError) {
        guard var gap, entry.seq == gap.next else { preconditionFailure("a fill outside the gap's next entry") }
        try table.append(shard: shard, Self.stored(entry))
        gap.next += 1
        self.gap = gap.next > gap.end.seq ? nil : gap
    }

    var storedGap: ReplicationTable.StoredGap? {
        gap.map { ReplicationTable.StoredGap(next: $0.next, endSeq: $0.end.seq, endEpoch: $0.end.epoch, endSum: $0.end.sum) }
    }
}
