/// What a stream remembers about one producer (XADD … PRODUCER id SEQ n [EPOCH e]): a high-water
/// mark, not a set of every id seen. Because a producer's entries are committed strictly in SEQ
/// order, every SEQ at or below `lastSequence` is known to be committed; the ids of the most recent
/// ones are kept so that a retry gets the id its entry got the first time.
///
/// Pure state and decisions, no I/O: the server keeps one per (stream, producer) and persists it
/// in the same transaction as the entries it describes.
public struct ProducerState: Sendable, Equatable {
    /// The longest producer id accepted, in bytes.
    public static let producerIDLengthMax = 256

    /// The highest EPOCH any instance of this producer has presented; lower ones are fenced.
    public var epoch: UInt64
    /// The highest committed SEQ; 0 before the first commit.
    public var lastSequence: UInt64
    /// Ids of the most recent committed SEQs: the newest is `lastSequence`'s.
    public private(set) var recentIDs: RecentIDs
    /// Wall-clock time of the last request that named this producer, for idle expiry.
    public var lastActivityMilliseconds: UInt64

    public init(epoch: UInt64 = 0, lastSequence: UInt64 = 0, recentIDs: RecentIDs, lastActivityMilliseconds: UInt64) {
        precondition(recentIDs.count <= lastSequence, "more ids than committed SEQs")
        self.epoch = epoch
        self.lastSequence = lastSequence
        self.recentIDs = recentIDs
        self.lastActivityMilliseconds = lastActivityMilliseconds
    }

    /// A producer that has committed nothing yet.
    public init(windowMax: Int, nowMilliseconds: UInt64) {
        self.init(recentIDs: RecentIDs(capacity: windowMax), lastActivityMilliseconds: nowMilliseconds)
    }

    /// How a request (epoch, SEQ) relates to this state.
    public enum Decision: Equatable, Sendable {
        /// A newer instance has claimed the producer.
        case fenced(by: UInt64)
        /// Already committed and its id is still known: reply with it, write nothing.
        case duplicate(EntryID)
        /// Already committed (it is at or below `lastSequence`) but its id is no longer kept.
        case belowWindow
        /// The next SEQ: commit it now.
        case next
        /// Ahead of the next SEQ: it waits for `missing` (the next SEQ) to commit first.
        case gap(missing: UInt64)
        /// More than `queueMax` ahead of the next SEQ: it could not wait without more than
        /// `queueMax` appends waiting before it. Refused.
        case tooFarAhead(missing: UInt64)
    }

    /// Decides what to do with a request; a higher epoch than `epoch` is a claim the caller records
    /// with `claim(_:)` (the decision is the same as for an equal epoch).
    public func decide(epoch requested: UInt64, sequence: UInt64, queueMax: Int) -> Decision {
        precondition(sequence > 0, "SEQ starts at 1")
        if requested < epoch { return .fenced(by: epoch) }
        if sequence <= lastSequence {
            if let id = id(of: sequence) { return .duplicate(id) }
            return .belowWindow
        }
        if sequence == lastSequence + 1 { return .next }
        // At most queueMax wait: lastSequence + 2 … lastSequence + 1 + queueMax.
        if sequence - (lastSequence + 1) > UInt64(queueMax) { return .tooFarAhead(missing: lastSequence + 1) }
        return .gap(missing: lastSequence + 1)
    }

    /// The id of a committed SEQ, if it is still in the window.
    public func id(of sequence: UInt64) -> EntryID? {
        guard sequence <= lastSequence else { return nil }
        let back = lastSequence - sequence
        guard back < UInt64(recentIDs.count) else { return nil }
        return recentIDs[recentIDs.count - 1 - Int(back)]
    }

    /// The oldest SEQ whose id is kept, if any.
    public var oldestKeptSequence: UInt64? {
        recentIDs.count == 0 ? nil : lastSequence - UInt64(recentIDs.count) + 1
    }

    /// Records that `sequence` (which must be the next one) committed as `id`.
    public mutating func recordCommit(sequence: UInt64, id: EntryID, nowMilliseconds: UInt64) {
        precondition(sequence == lastSequence + 1, "SEQs commit in order")
        lastSequence = sequence
        recentIDs.append(id)
        lastActivityMilliseconds = max(lastActivityMilliseconds, nowMilliseconds)
    }

    /// A newer instance presented `newEpoch`: every older one is fenced from now on.
    public mutating func claim(_ newEpoch: UInt64) {
        precondition(newEpoch > epoch, "a claim raises the epoch")
        epoch = newEpoch
    }

    public func isIdle(nowMilliseconds: UInt64, expiryMilliseconds: UInt64) -> Bool {
        nowMilliseconds >= lastActivityMilliseconds && nowMilliseconds - lastActivityMilliseconds >= expiryMilliseconds
    }
}

/// The ids of a producer's most recent commits, oldest first, at most `capacity` of them: a ring,
/// so recording a commit costs the same whatever the window.
public struct RecentIDs: Sendable, Equatable, RandomAccessCollection {
    public let capacity: Int
    private var storage: [EntryID] = []
    /// Index in `storage` of the oldest id once the ring is full.
    private var head = 0

    public init(capacity: Int) {
        precondition(capacity >= 1, "the window holds at least the last id")
        self.capacity = capacity
    }

    /// A window holding `ids` (oldest first); only the newest `capacity` are kept.
    public init<S: Sequence<EntryID>>(capacity: Int, ids: S) {
        self.init(capacity: capacity)
        for id in ids { append(id) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage.count }

    public subscript(position: Int) -> EntryID {
        precondition(position >= 0 && position < storage.count, "index out of range")
        return storage[(head + position) % storage.count]
    }

    public mutating func append(_ id: EntryID) {
        if storage.count < capacity {
            storage.append(id)
        } else {
            storage[head] = id
            head = (head + 1) % capacity
        }
    }

    /// The same ids, whatever the capacity (that is configuration, not state).
    public static func == (lhs: RecentIDs, rhs: RecentIDs) -> Bool {
        lhs.elementsEqual(rhs)
    }
}
