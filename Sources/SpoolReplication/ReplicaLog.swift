/// What a replicated entry carries, mixed into the chained sum.
public protocol ReplicaPayload: Sendable, Equatable {
    /// An empty payload (an epoch mark's).
    static var empty: Self { get }
    /// A join mark's payload: the incarnation of the node it was appended for.
    init(incarnation: UInt64)
    /// The incarnation a join mark's payload names (nil if it is not one).
    var incarnation: UInt64? { get }
    func mix(into sum: inout ChainSum)
}

/// The chained checksum: `sum_n = H(sum_{n-1} || seq || epoch || kind || payload)`. Two logs with
/// the same sum at a seq hold the same entries up to it (ARCHITECTURE.md, "Replication"). Not a
/// cryptographic hash: it guards against torn, flipped and misplaced entries, not adversaries.
public struct ChainSum: Sendable {
    public private(set) var value: UInt64

    public init(previous: UInt64) { value = previous ^ 0xcbf2_9ce4_8422_2325 }

    public mutating func mix(_ word: UInt64) {
        value ^= word
        value = value &* 0x0000_0100_0000_01b3
        value ^= value >> 29
    }

    public mutating func mix(bytes: some Collection<UInt8>) {
        mix(UInt64(bytes.count))
        var word: UInt64 = 0
        var shift: UInt64 = 0
        for byte in bytes {
            word |= UInt64(byte) << shift
            shift += 8
            if shift == 64 {
                mix(word)
                word = 0
                shift = 0
            }
        }
        if shift > 0 { mix(word) }
    }
}

extension UInt64: ReplicaPayload {
    public static var empty: UInt64 { 0 }
    public init(incarnation: UInt64) { self = incarnation }
    public var incarnation: UInt64? { self }
    public func mix(into sum: inout ChainSum) { sum.mix(self) }
}

/// One replicated entry. `sum` chains every entry before it.
public struct ReplicatedEntry<Payload: ReplicaPayload>: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, Equatable {
        case data = 1
        /// The first entry of a leader's epoch (Raft's no-op): committing it commits everything
        /// before it.
        case epochMark = 2
        /// A no-op the leader appends for a node that lost its state (its payload names the
        /// node's incarnation): everything that node's former self acknowledged is before it.
        case joinMark = 3
    }
    public let seq: UInt64
    public let epoch: UInt64
    public let payload: Payload
    public let kind: Kind
    public let sum: UInt64

    public init(seq: UInt64, epoch: UInt64, payload: Payload, kind: Kind, previousSum: UInt64) {
        self.seq = seq
        self.epoch = epoch
        self.payload = payload
        self.kind = kind
        var chain = ChainSum(previous: previousSum)
        chain.mix(seq)
        chain.mix(epoch)
        chain.mix(UInt64(kind.rawValue))
        payload.mix(into: &chain)
        self.sum = chain.value
    }

    /// An entry read back from storage with the sum it was written with; `verified(previousSum:)`
    /// recomputes it.
    public init(seq: UInt64, epoch: UInt64, payload: Payload, kind: Kind, storedSum: UInt64) {
        self.seq = seq
        self.epoch = epoch
        self.payload = payload
        self.kind = kind
        self.sum = storedSum
    }

    /// Where the entry is in the log: a tail that ends at it.
    public var position: LogTail { LogTail(seq: seq, epoch: epoch, sum: sum) }

    /// Whether the stored sum is what the entry's contents and its predecessor's sum give.
    public func isIntact(previousSum: UInt64) -> Bool {
        ReplicatedEntry(seq: seq, epoch: epoch, payload: payload, kind: kind, previousSum: previousSum).sum == sum
    }
}

/// The position of a log's last entry: logs are compared by (epoch, seq) of their tails.
public struct LogTail: Sendable, Equatable {
    public var seq: UInt64
    public var epoch: UInt64
    public var sum: UInt64

    public init(seq: UInt64, epoch: UInt64, sum: UInt64) {
        self.seq = seq
        self.epoch = epoch
        self.sum = sum
    }

    public static let empty = LogTail(seq: 0, epoch: 0, sum: 0)

    /// Whether this log is more advanced than `other`: a later epoch, or as late and longer.
    public func isAhead(of other: LogTail) -> Bool {
        (epoch, seq) > (other.epoch, other.seq)
    }
}

/// Entries a node took its place in the log without (`ReplicaLog.openGap`): it joined at the
/// leader's commit point and fills them from peers, oldest first. `next` is the first one it lacks;
/// of `end`, the last, it knows only the position.
public struct LogGap: Sendable, Equatable {
    public var next: UInt64
    public let end: LogTail

    public init(next: UInt64, end: LogTail) {
        self.next = next
        self.end = end
    }

    public func contains(_ seq: UInt64) -> Bool { seq >= next && seq <= end.seq }
}

/// A node's copy of the log, as the replication core sees it: the simulator keeps it in an array,
/// the server in WiredTiger. Seqs start at 1 and are dense, except for an open gap.
public protocol ReplicaLog {
    associatedtype Payload: ReplicaPayload
    /// What reading or writing the log can throw (the simulator's: nothing; the server's: a
    /// storage error, which fails the batch and reloads the node from disk).
    associatedtype Failure: Error
    /// The last entry's position (`.empty` for an empty log).
    var tail: LogTail { get }
    /// Entries up to here are on disk (with the gap below it, if there is one).
    var syncedSeq: UInt64 { get }
    /// The entries this node lacks below its tail, if any.
    var gap: LogGap? { get }
    /// The entry at `seq` (1...tail.seq, outside the gap).
    func entry(at seq: UInt64) throws(Failure) -> ReplicatedEntry<Payload>
    /// Entries from `seq` on, at most `limit` of them.
    func entries(from seq: UInt64, limit: Int) throws(Failure) -> [ReplicatedEntry<Payload>]
    /// Appends after the tail (unsynced until `markSynced`).
    mutating func append(_ entry: ReplicatedEntry<Payload>) throws(Failure)
    /// Drops every entry after `seq`.
    mutating func truncate(after seq: UInt64) throws(Failure)
    /// Everything up to `seq` is on disk.
    mutating func markSynced(through seq: UInt64)
    /// Places the tail at `end`, past entries this node does not hold (they become the gap):
    /// unsynced until `markSynced` reaches `end`.
    mutating func openGap(through end: LogTail) throws(Failure)
    /// Stores the gap's first missing entry (checked by the caller against the chain); the gap
    /// closes with its last one.
    mutating func fill(_ entry: ReplicatedEntry<Payload>) throws(Failure)
}

extension ReplicaLog {
    public var lastSeq: UInt64 { tail.seq }

    /// The chained sum at `seq` (0 before the first entry). Not for a seq inside the gap, except
    /// its end.
    public func sum(at seq: UInt64) throws(Failure) -> UInt64 {
        if seq == 0 { return 0 }
        if seq == tail.seq { return tail.sum }
        if let gap, seq == gap.end.seq { return gap.end.sum }
        return try entry(at: seq).sum
    }

    /// The last seq up to which this node holds every entry.
    public var heldThrough: UInt64 { gap.map { $0.next - 1 } ?? tail.seq }
}

/// A log whose crash can be simulated.
public protocol CrashableReplicaLog: ReplicaLog {
    /// A crash: what was not synced is gone.
    mutating func dropUnsynced()
}

/// The simulator's log: an array, with a crash that drops what was not synced.
public struct InMemoryReplicaLog<Payload: ReplicaPayload>: CrashableReplicaLog, Sendable {
    public typealias Failure = Never
    /// nil for the seqs of a gap.
    public private(set) var all: [ReplicatedEntry<Payload>?] = []
    public private(set) var syncedSeq: UInt64 = 0
    public private(set) var gap: LogGap?
    /// Where the last gap opened: a crash before it was synced goes back there.
    private var gapOpenedAfter: UInt64 = 0

    public init() {}

    /// The last entry's position, or the gap's end while nothing follows the gap.
    public var tail: LogTail {
        guard let last = all.last else { return .empty }
        return last?.position ?? gap!.end
    }

    public func entry(at seq: UInt64) -> ReplicatedEntry<Payload> {
        guard let entry = all[Int(seq) - 1] else { preconditionFailure("entry \(seq) is in the gap \(gap.map { "\($0.next)...\($0.end.seq)" } ?? "")") }
        return entry
    }

    public func entries(from seq: UInt64, limit: Int) -> [ReplicatedEntry<Payload>] {
        guard seq >= 1, seq <= UInt64(all.count) else { return [] }
        let start = Int(seq) - 1
        var found: [ReplicatedEntry<Payload>] = []
        for entry in all[start..<min(all.count, start + limit)] {
            guard let entry else { break }
            found.append(entry)
        }
        return found
    }

    public mutating func append(_ entry: ReplicatedEntry<Payload>) {
        precondition(entry.seq == UInt64(all.count) + 1, "appends are dense")
        all.append(entry)
    }

    public mutating func truncate(after seq: UInt64) {
        guard seq < UInt64(all.count) else { return }
        precondition(gap.map { seq >= $0.end.seq } ?? true, "truncating into the gap")
        all.removeLast(all.count - Int(seq))
        syncedSeq = min(syncedSeq, seq)
    }

    public mutating func markSynced(through seq: UInt64) {
        syncedSeq = max(syncedSeq, min(seq, UInt64(all.count)))
    }

    public mutating func openGap(through end: LogTail) {
        precondition(gap == nil && end.seq > tail.seq)
        gapOpenedAfter = tail.seq
        gap = LogGap(next: tail.seq + 1, end: end)
        all += Array(repeating: nil, count: Int(end.seq - tail.seq))
    }

    public mutating func fill(_ entry: ReplicatedEntry<Payload>) {
        guard var gap, entry.seq == gap.next else { preconditionFailure("a fill outside the gap's next entry") }
        all[Int(entry.seq) - 1] = entry
        gap.next += 1
        self.gap = gap.next > gap.end.seq ? nil : gap
    }

    /// A crash: what was not synced is gone (a gap whose opening was not synced with it; what
    /// filled it is kept with the opening).
    public mutating func dropUnsynced() {
        if let gap, syncedSeq < gap.end.seq {
            self.gap = nil
            syncedSeq = min(syncedSeq, gapOpenedAfter)
        }
        all.removeLast(all.count - Int(syncedSeq))
    }
}
