/// Where a producer's append runs, which decides what it may do while its SEQ's predecessor has
/// not committed.
public enum ProducerAppendSite: Equatable, Sendable {
    /// Inside MULTI/EXEC: it cannot wait (the transaction is all or nothing, now).
    case transaction
    /// In a pipelined group. `maySetAside`: the rest of the group may wait for the batch's end
    /// (most gaps are filled by another connection's group in the same batch); false in the
    /// batch end's last pass, where what still waits parks one append at a time.
    case group(maySetAside: Bool)
}

/// What to do with a producer's append, decided without I/O from its `ProducerState.Decision`
/// and where it runs.
public enum ProducerAppendAction: Equatable, Sendable {
    /// Commit it now (its SEQ is the next one).
    case commit
    /// Already committed: reply with its id, write nothing.
    case replyWithID(EntryID)
    /// Refuse it with this reason (a transaction that holds it fails whole).
    case refuse(ProducerRefusal)
    /// Set the rest of its group aside until the batch's end, then run it again.
    case setAside
    /// Park it in its producer's commit queue until `missing` commits.
    case park(missing: UInt64)

    public static func plan(_ decision: ProducerState.Decision, at site: ProducerAppendSite) -> ProducerAppendAction {
        switch decision {
        case .next: return .commit
        case .duplicate(let id): return .replyWithID(id)
        case .fenced(let newer): return .refuse(.fenced(by: newer))
        case .belowWindow: return .refuse(.belowWindow)
        case .gap(let missing), .tooFarAhead(let missing):
            // A transaction cannot wait, however far ahead the SEQ is.
            if site == .transaction { return .refuse(.gapInTransaction(missing: missing)) }
            if case .tooFarAhead = decision { return .refuse(.tooFarAhead(missing: missing)) }
            return site == .group(maySetAside: true) ? .setAside : .park(missing: missing)
        }
    }
}

/// Why a producer's append is refused (the server renders each as its wire error).
public enum ProducerRefusal: Equatable, Sendable {
    case fenced(by: UInt64)
    case belowWindow
    case tooFarAhead(missing: UInt64)
    case gapInTransaction(missing: UInt64)
    /// `producer-queue-total-max` appends are already parked across all producers.
    case queuesFull(missing: UInt64)
}

/// One producer's appends that arrived before their turn, as a state machine without I/O. The
/// caller reports what happened — an early append arrived (`arrive`), the producer's SEQ
/// advanced (`takeNext`), a newer epoch claimed it (`fence`), time passed (`isTimedOut`), its
/// stream went (`drain`) — and gets back what to do with which appends. `Append` is whatever the
/// caller needs to run or answer one (the request, where its reply goes).
public struct ProducerCommitQueue<Append> {
    public struct Parked {
        public let sequence: UInt64
        public let epoch: UInt64
        public let append: Append
        /// Retries of the same request that arrived while it waited: they get its reply.
        public internal(set) var retries: [Append] = []
    }

    public private(set) var parked: [UInt64: Parked] = [:]
    /// The highest epoch among the appends ever parked here (the stream may have no producer
    /// state yet, so this is what fences older instances meanwhile).
    public private(set) var epoch: UInt64 = 0
    /// Monotonic nanoseconds since which the queue waits without its producer's SEQ advancing.
    public private(set) var waitingSince: UInt64

    public init(waitingSince: UInt64) {
        self.waitingSince = waitingSince
    }

    public var isEmpty: Bool { parked.isEmpty }
    public var count: Int { parked.count }

    public enum Arrival: Equatable, Sendable {
        /// It waits now.
        case parked
        /// The same SEQ already waits (a retry): it gets that append's reply.
        case attachedAsRetry
    }

    /// An append for `sequence` that must wait. A retry of a waiting SEQ attaches to it (fencing
    /// removed every parked append of a lower epoch, so an equal one is the same request).
    public mutating func arrive(sequence: UInt64, epoch: UInt64, append: Append) -> Arrival {
        if parked[sequence] != nil {
            precondition(parked[sequence]!.epoch == epoch, "parked appends of older epochs are fenced")
            parked[sequence]!.retries.append(append)
            return .attachedAsRetry
        }
        parked[sequence] = Parked(sequence: sequence, epoch: epoch, append: append)
        self.epoch = max(self.epoch, epoch)
        return .parked
    }

    /// A newer instance claimed the producer with `epoch`.
    public mutating func claim(_ epoch: UInt64) {
        self.epoch = max(self.epoch, epoch)
    }

    public enum Next {
        /// Its turn: commit it (then report the outcome with `committed` or stop).
        case commit(Parked)
        /// Its turn, but a newer epoch claimed the producer since it parked: fail it.
        case fenced(Parked, by: UInt64)
    }

    /// The parked append whose turn it is once the producer's last committed SEQ is
    /// `lastSequence` at `producerEpoch`, taken out of the queue; nil when the next SEQ is not
    /// here (a gap remains).
    public mutating func takeNext(lastSequence: UInt64, producerEpoch: UInt64) -> Next? {
        guard let next = parked.removeValue(forKey: lastSequence + 1) else { return nil }
        if next.epoch < producerEpoch { return .fenced(next, by: producerEpoch) }
        return .commit(next)
    }

    /// The producer's SEQ advanced at `now`: the wait starts again.
    public mutating func advanced(now: UInt64) {
        waitingSince = now
    }

    /// A newer epoch claimed the producer: the appends of older instances leave the queue, to be
    /// failed by the caller.
    public mutating func fence(below epoch: UInt64) -> [Parked] {
        claim(epoch)
        let fenced = parked.values.filter { $0.epoch < epoch }.sorted { $0.sequence < $1.sequence }
        for append in fenced { parked[append.sequence] = nil }
        return fenced
    }

    /// Whether the queue waited `timeout` nanoseconds without its producer's SEQ advancing.
    public func isTimedOut(now: UInt64, timeout: UInt64) -> Bool {
        now >= waitingSince &+ timeout
    }

    /// When the queue's wait times out.
    public func deadline(timeout: UInt64) -> UInt64 { waitingSince &+ timeout }

    /// Everything parked, in SEQ order, taken out (its gap timed out, or its stream was dropped).
    public mutating func drain() -> [Parked] {
        defer { parked.removeAll() }
        return parked.values.sorted { $0.sequence < $1.sequence }
    }
}
