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

    /// Opens the shard's log as recovery left it: everything in it is on disk.
    init(table: ReplicationTable, shard: Int) throws(WiredTigerError) {
        self.table = table
        self.shard = shard
        if let last = try table.lastEntry(shard: shard) {
            tail = LogTail(seq: last.seq, epoch: last.epoch, sum: last.sum)
        } else {
            tail = .empty
        }
        syncedSeq = tail.seq
    }

    static func entry(_ stored: ReplicationTable.StoredEntry) throws(WiredTigerError) -> ReplicatedEntry<[UInt8]> {
        guard let kind = ReplicatedEntry<[UInt8]>.Kind(rawValue: stored.kind) else {
            throw WiredTigerError.corrupt("replication log entry \(stored.seq): kind \(stored.kind)")
        }
        return ReplicatedEntry(seq: stored.seq, epoch: stored.epoch, payload: stored.payload, kind: kind, storedSum: stored.sum)
    }

    func entry(at seq: UInt64) throws(WiredTigerError) -> ReplicatedEntry<[UInt8]> {
        if let index = recentIndex(seq) { return recent[index] }
        guard let stored = try table.entry(shard: shard, seq: seq) else {
            throw WiredTigerError.corrupt("replication log of shard \(shard) has no entry \(seq) below its tail \(tail.seq)")
        }
        return try Self.entry(stored)
    }

    /// Entries from `seq`, each checked against the chain: a damaged entry is never sent.
    func entries(from seq: UInt64, limit: Int) throws(WiredTigerError) -> [ReplicatedEntry<[UInt8]>] {
        guard seq >= 1, seq <= tail.seq else { return [] }
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
        try table.append(
            shard: shard,
            ReplicationTable.StoredEntry(seq: entry.seq, epoch: entry.epoch, sum: entry.sum, kind: entry.kind.rawValue, payload: entry.payload))
        tail = LogTail(seq: entry.seq, epoch: entry.epoch, sum: entry.sum)
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
        try table.truncate(shard: shard, after: seq)
        recent.removeAll { $0.seq > seq }
        recentStart = min(recentStart, recent.count)
        if seq == 0 {
            tail = .empty
        } else {
            let last = try entry(at: seq)
            tail = LogTail(seq: last.seq, epoch: last.epoch, sum: last.sum)
        }
        syncedSeq = min(syncedSeq, seq)
        truncations += 1
    }

    mutating func markSynced(through seq: UInt64) {
        syncedSeq = max(syncedSeq, min(seq, tail.seq))
    }
}
