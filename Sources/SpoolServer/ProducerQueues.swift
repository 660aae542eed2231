import SpoolCore
import SpoolProtocol
import SpoolStorage

/// Limits of Spool's producers (the `producer-*` and `stream-producers-max` config keys).
struct ProducerLimits: Sendable {
    /// How long parked appends wait without their producer's sequence advancing.
    var gapTimeoutMilliseconds = 5_000
    /// Appends one producer may have parked, and so how far ahead of its next SEQ one may be.
    var queueMax = 10_000
    /// Appends parked across every producer.
    var queueTotalMax = 1_000_000
    /// Committed SEQs per producer whose ids are kept for retries.
    var windowMax = 128
    /// How long the rest of a group may be set aside across batch ends waiting for an early
    /// SEQ's predecessor, before its waiting appends park one by one.
    var reorderWaitMilliseconds = 10
    /// Producers one stream may track.
    var producersPerStreamMax = 10_000
    /// A producer idle this long (and with nothing parked) is forgotten.
    var idleExpirySeconds = 604_800

    var idleExpiryMilliseconds: UInt64 { UInt64(idleExpirySeconds) * 1_000 }
}

/// XADD's Spool options: `PRODUCER id SEQ n [EPOCH e]`, `IFLAST id` and `IFVERSION n`. Plain values only (the
/// producer id is found by its index in the command), so the parsed XADD is copied for free.
struct AppendOptions {
    /// Where the PRODUCER id is among the command's arguments.
    var producerIndex: Int?
    var sequence: UInt64?
    var epoch: UInt64?
    var ifLast: EntryID?
    /// The entries the stream must have had added (its entries-added; 0 for none or no stream).
    var ifVersion: UInt64?

    var isUsed: Bool { producerIndex != nil || sequence != nil || epoch != nil || isConditional }
    var isConditional: Bool { ifLast != nil || ifVersion != nil }

    /// Why an append with these conditions may not go to a stream whose last id and entries-added
    /// are these (nil: it may). Checked in that order, so IFLAST's error comes first.
    func conditionFailure(lastID: EntryID, version: UInt64) -> String? {
        if let ifLast, ifLast != lastID { return ProducerError.lastIDMismatch(lastID) }
        if let ifVersion, ifVersion != version { return ProducerError.versionMismatch(version) }
        return nil
    }

    /// The PRODUCER id, if there is one.
    func producer(in args: RequestArguments) -> [UInt8]? { producerIndex.map { args[$0].bytes } }

    /// Parses the option `args[index]` and its value; nil when it is none of them (it is then
    /// XADD's id).
    mutating func parse<Arguments: RandomAccessCollection>(_ args: Arguments, at index: Int) -> Result<Void, CommandErrorText>?
    where Arguments.Element: ByteString, Arguments.Index == Int {
        let word = args[index]
        let value = args[index + 1]
        if word.isKeyword("PRODUCER") {
            guard producerIndex == nil else { return .failure(CommandErrorText(CommandError.syntax)) }
            guard !value.isEmpty, value.count <= ProducerState.producerIDLengthMax else {
                return .failure(CommandErrorText(ProducerError.producerIDLength))
            }
            producerIndex = index + 1
        } else if word.isKeyword("SEQ") {
            guard sequence == nil else { return .failure(CommandErrorText(CommandError.syntax)) }
            guard let number = value.asInt64, number > 0 else {
                return .failure(CommandErrorText(ProducerError.sequenceNotPositive))
            }
            sequence = UInt64(number)
        } else if word.isKeyword("EPOCH") {
            guard epoch == nil else { return .failure(CommandErrorText(CommandError.syntax)) }
            guard let number = value.asInt64, number >= 0 else {
                return .failure(CommandErrorText(ProducerError.epochNegative))
            }
            epoch = UInt64(number)
        } else if word.isKeyword("IFLAST") {
            guard ifLast == nil else { return .failure(CommandErrorText(CommandError.syntax)) }
            guard let id = EntryID(parsing: value, missingSequence: .zero) else {
                return .failure(CommandErrorText(CommandError.invalidStreamID))
            }
            ifLast = id
        } else if word.isKeyword("IFVERSION") {
            guard ifVersion == nil else { return .failure(CommandErrorText(CommandError.syntax)) }
            guard let number = value.asInt64, number >= 0 else {
                return .failure(CommandErrorText(ProducerError.versionNegative))
            }
            ifVersion = UInt64(number)
        } else {
            return nil
        }
        return .success(())
    }

    /// Options that only make sense together.
    func validate() -> CommandErrorText? {
        if producerIndex != nil && sequence == nil { return CommandErrorText(ProducerError.producerWithoutSequence) }
        if producerIndex == nil && (sequence != nil || epoch != nil) {
            return CommandErrorText(ProducerError.sequenceWithoutProducer)
        }
        return nil
    }
}

/// The wire errors of producers and conditional appends; docs/protocol.md lists them.
enum ProducerError {
    static let producerIDLength = "ERR PRODUCER id must be 1 to \(ProducerState.producerIDLengthMax) bytes"
    static let sequenceNotPositive = "ERR SEQ must be a positive integer"
    static let epochNegative = "ERR EPOCH must be a non-negative integer"
    static let producerWithoutSequence = "ERR syntax error, PRODUCER requires SEQ"
    static let sequenceWithoutProducer = "ERR syntax error, SEQ and EPOCH require PRODUCER"

    static func fenced(_ producer: [UInt8], epoch: UInt64, by newer: UInt64) -> String {
        "FENCED producer '\(printable(producer))' epoch \(epoch) is fenced by epoch \(newer)"
    }

    static func stale(_ producer: [UInt8], sequence: UInt64, state: ProducerState) -> String {
        let kept = state.oldestKeptSequence.map { "ids are kept from SEQ \($0)" } ?? "no ids are kept"
        return "STALESEQ producer '\(printable(producer))' SEQ \(sequence) is already committed but below the window (last committed SEQ \(state.lastSequence), \(kept))"
    }

    static func timedOut(_ producer: [UInt8], sequence: UInt64, missing: UInt64, milliseconds: Int) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) timed out after \(milliseconds) ms waiting for missing SEQ \(missing)"
    }

    static func gapInCluster(_ producer: [UInt8], sequence: UInt64, missing: UInt64) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) arrived before SEQ \(missing); a cluster does not hold early SEQs: send SEQ \(missing) first"
    }

    static func gapInTransaction(_ producer: [UInt8], sequence: UInt64, missing: UInt64) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) cannot wait for missing SEQ \(missing) inside a transaction"
    }

    static func tooFarAhead(_ producer: [UInt8], sequence: UInt64, missing: UInt64, queueMax: Int) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) is more than producer-queue-max (\(queueMax)) ahead of missing SEQ \(missing)"
    }

    static func queuesFull(_ producer: [UInt8], sequence: UInt64, missing: UInt64, totalMax: Int) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) cannot wait for missing SEQ \(missing): producer-queue-total-max (\(totalMax)) appends are already waiting"
    }

    static func streamDeleted(_ producer: [UInt8], sequence: UInt64) -> String {
        "SEQGAP producer '\(printable(producer))' SEQ \(sequence) was waiting when its stream was deleted"
    }

    static func tooManyProducers(_ stream: [UInt8], max: Int) -> String {
        "ERR too many producers on stream '\(printable(stream))' (stream-producers-max is \(max))"
    }

    static func lastIDMismatch(_ last: EntryID) -> String {
        "IFLAST the stream's last id is \(last)"
    }

    static let versionNegative = "ERR IFVERSION must be a non-negative integer"

    static func versionMismatch(_ version: UInt64) -> String {
        "IFVERSION the stream's version is \(version)"
    }

    static func transactionAborted(_ cause: String) -> String {
        "EXECABORT Transaction discarded: \(cause)"
    }

    /// Names in error replies: printable ASCII as is, every other byte (CR, LF …) as \xNN, so the
    /// reply stays one line whatever the name holds.
    static func printable(_ bytes: [UInt8]) -> String {
        var text = ""
        for byte in bytes {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "'") && byte != UInt8(ascii: "\\") {
                text.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789abcdef".unicodeScalars)
                text += "\\x"
                text.unicodeScalars.append(hex[Int(byte >> 4)])
                text.unicodeScalars.append(hex[Int(byte & 15)])
            }
        }
        return text
    }
}

/// A producer's commit queue is named by the stream's name and the producer id (the stream may
/// not exist yet when the first append parks).
struct ProducerKey: Hashable {
    /// The stream's database (SELECT).
    let database: Int
    let stream: [UInt8]
    let producer: [UInt8]
}

/// The reply of a group one of whose XADDs parked: the replies of the commands that ran, with
/// holes where parked XADDs' replies go once they commit (or fail), and possibly a blocked XREAD's
/// reply at the end. It is sent when the last hole is filled. Storage thread only.
final class HeldReply {
    let connection: UInt64
    let slot: UInt64
    let version: RESPVersion
    /// Replies the group's slot holds (for a failure reply).
    let replyCount: Int
    /// The group's replies without the holes; set when the group has run.
    var prefix: [UInt8] = []
    private(set) var holeOffsets: [Int] = []
    /// Each hole's reply once known.
    private(set) var holeReplies: [AppendReply?] = []
    private(set) var unfilled = 0
    /// The durability the group's own commands and every fill need.
    var minimumTag: UInt64 = 0
    /// Every command of the group has run (holes may still be open).
    var isGroupFinished = false
    /// The group ended in a blocked XREAD not served yet; its reply goes after `prefix`.
    var waiter: Waiter?
    var tail: [UInt8] = []
    /// Sent, or abandoned (its batch rolled back, its client left): later fills change nothing.
    var isDone = false

    init(connection: UInt64, slot: UInt64, version: RESPVersion, replyCount: Int) {
        self.connection = connection
        self.slot = slot
        self.version = version
        self.replyCount = replyCount
    }

    /// Opens a hole at `offset` in the group's replies; returns its index.
    func addHole(at offset: Int) -> Int {
        precondition(!isGroupFinished, "holes open only while the group runs")
        precondition(holeOffsets.last.map { $0 <= offset } ?? true, "holes in reply order")
        holeOffsets.append(offset)
        holeReplies.append(nil)
        unfilled += 1
        return holeOffsets.count - 1
    }

    func fill(_ index: Int, _ reply: AppendReply, tag: UInt64) {
        if holeReplies[index] == nil { unfilled -= 1 }
        holeReplies[index] = reply
        minimumTag = max(minimumTag, tag)
    }

    var isComplete: Bool { isGroupFinished && unfilled == 0 && waiter == nil }

    /// The replies in request order.
    func assembled() -> [UInt8] {
        precondition(unfilled == 0, "every hole is filled")
        var out = [UInt8]()
        out.reserveCapacity(prefix.count + tail.count + 32 * holeReplies.count)
        var rendered = RESPWriter(version: version, reservingCapacity: 64)
        var start = 0
        for (offset, reply) in zip(holeOffsets, holeReplies) {
            out.append(contentsOf: prefix[start..<offset])
            rendered.removeAll(keepingCapacity: true)
            reply!.write(into: &rendered)
            out.append(contentsOf: rendered.bytes)
            start = offset
        }
        out.append(contentsOf: prefix[start...])
        out.append(contentsOf: tail)
        return out
    }
}

/// Where a parked XADD's reply goes.
struct ReplyHole {
    let reply: HeldReply
    let index: Int
}

/// An XADD that arrived before its producer's previous SEQ committed (or a retry of one that
/// waits): the request, and where its reply goes.
struct WaitingAppend {
    let add: Command.XAdd
    let hole: ReplyHole
}

/// One producer's commit queue (`ProducerCommitQueue`, the state machine in SpoolCore).
typealias ProducerQueue = ProducerCommitQueue<WaitingAppend>

/// The rest of a group set aside at a producer XADD whose SEQ's predecessor had not committed:
/// it runs again, from that command, at the end of the batch and of later ones, for at most
/// `producer-reorder-wait` (or, in a transaction's job, before its connection's transaction).
final class SetAsideRun {
    let group: CommandGroup
    /// The command to run next.
    var index: Int
    /// The replies of the commands before it.
    var out: RESPWriter
    /// Set when a resumed run was set aside again.
    var isSetAsideAgain = false
    /// Monotonic time it was set aside: it runs to its end (parking what still waits) at the
    /// first batch end `producer-reorder-wait` after that.
    let since: UInt64

    init(group: CommandGroup, index: Int, out: RESPWriter, since: UInt64) {
        self.group = group
        self.index = index
        self.out = out
        self.since = since
    }
}

/// How a parked append ended, rendered for each waiting reply's protocol version.
enum AppendReply {
    case id(EntryID)
    case null
    case error(String)

    func write(into out: inout RESPWriter) {
        switch self {
        case .id(let id): out.bulk(id)
        case .null: out.nullBulk()
        case .error(let text): out.error(text)
        }
    }
}

/// How often producer appends had to wait, since start-up (INFO, "# Producers").
struct ProducerCounters {
    /// Groups whose rest was set aside at an early SEQ.
    var setAside: UInt64 = 0
    /// Batch ends at which a connection's set-aside groups waited on into the next batch.
    var carried: UInt64 = 0
    /// Connections whose set-aside groups outwaited `producer-reorder-wait` and ran on, parking.
    var outwaited: UInt64 = 0
    /// Appends that parked one by one in their producer's commit queue.
    var parked: UInt64 = 0
}

/// The executor's producer bookkeeping that is not persisted: commit queues of parked appends,
/// replies held for them, the conditional transaction in progress, and what a rolled-back batch
/// must undo. Storage thread only.
final class ProducerQueues {
    let limits: ProducerLimits
    var queues: [ProducerKey: ProducerQueue] = [:]
    /// Appends parked across every queue.
    var parkedCount = 0
    /// What INFO's Producers section counts since start-up.
    var counters = ProducerCounters()
    /// The reply of the group being run, once one of its XADDs parked.
    var current: HeldReply?
    /// Replies of groups that have run and wait for parked appends, by (connection, slot).
    var held: [SlotKey: HeldReply] = [:]
    /// Replies that became complete since the last batchWillCommit.
    var completed: [HeldReply] = []

    /// Groups set aside, per connection in request order, and the connections in the order they
    /// first set one aside. All of them run again at every batch end.
    var setAside: [UInt64: [SetAsideRun]] = [:]
    var setAsideOrder: [UInt64] = []
    /// The set-aside run being resumed: setting it aside again updates it in place.
    var resuming: SetAsideRun?
    /// Set-aside groups that ran to their end, for the flush thread to free (`takeRetired`).
    var finishedGroups: [CommandGroup] = []
    /// Outcomes of set-aside groups run to completion inside a job (before a transaction).
    var readyOutcomes: [DeferredOutcome<ServerOutcome>] = []
    /// How long a set-aside group may wait across batch ends before it runs to its end.
    let setAsideWaitMax: UInt64

    /// In a conditional transaction: its failure, its savepoint, and whether one is still to be
    /// taken before the transaction's first write.
    var isInConditionalTransaction = false
    var transactionFailure: String?
    var savepoint: LogStore.Savepoint?
    /// Effects a transaction applies only once it is known to commit: fencing parked appends of a
    /// claimed producer, resuming those whose turn came.
    var deferredClaims: [(ProducerKey, UInt64)] = []
    var deferredResumes: [ProducerKey] = []

    var nextSweepNanoseconds: UInt64 = 0

    struct SlotKey: Hashable {
        let connection: UInt64
        let slot: UInt64
    }

    init(limits: ProducerLimits) {
        self.limits = limits
        self.setAsideWaitMax = UInt64(limits.reorderWaitMilliseconds) * 1_000_000
    }

    /// When the first set-aside group waiting across batches must run to its end.
    var nextSetAsideDeadline: UInt64? {
        setAsideOrder.lazy.compactMap { self.setAside[$0]?.first.map { $0.since + self.setAsideWaitMax } }.min()
    }

    var isIdle: Bool {
        queues.isEmpty && held.isEmpty && completed.isEmpty && current == nil && readyOutcomes.isEmpty
    }

    /// The storage failed under a batch (it rolled back, or the store refuses work after a failed
    /// fsync): every append still waiting, every reply held for one and every group set aside
    /// fails with the error (producers resend; retries are recognised). Returns those failures;
    /// a failure for a job of the failed batch itself duplicates the engine's, which is harmless.
    func failAll(_ error: StorageError) -> [ServerOutcome] {
        var slots: [SlotKey: (RESPVersion, Int)] = [:]
        for reply in Array(held.values) + completed + (current.map { [$0] } ?? []) {
            reply.isDone = true
            slots[SlotKey(connection: reply.connection, slot: reply.slot)] = (reply.version, reply.replyCount)
        }
        for run in setAside.values.joined() {
            slots[SlotKey(connection: run.group.connection, slot: run.group.slot)] = (run.group.version, run.group.replyCount)
        }
        var failures = readyOutcomes.map { $0.fail(error) }
        for (slot, (version, count)) in slots {
            let fail = Executor.failure(connection: slot.connection, slot: slot.slot, version: version, replies: count)
            failures.append(fail(error))
        }
        queues.removeAll()
        parkedCount = 0
        held.removeAll()
        completed.removeAll()
        current = nil
        setAside.removeAll()
        setAsideOrder.removeAll()
        readyOutcomes.removeAll()
        resuming = nil
        return failures
    }

    /// The held reply of the group being run, created when its first XADD parks.
    func currentReply(for group: CommandGroup) -> HeldReply {
        if let current { return current }
        let reply = HeldReply(
            connection: group.connection, slot: group.slot, version: group.version, replyCount: group.replyCount)
        current = reply
        return reply
    }

    /// Fills every reply waiting on a parked append: its own and its retries'.
    func fill(_ append: ProducerQueue.Parked, with reply: AppendReply, tag: UInt64) {
        fill(append.append.hole, reply, tag: tag)
        for retry in append.retries { fill(retry.hole, reply, tag: tag) }
    }

    func fill(_ hole: ReplyHole, _ appendReply: AppendReply, tag: UInt64) {
        let reply = hole.reply
        guard !reply.isDone else { return }
        reply.fill(hole.index, appendReply, tag: tag)
        if reply.isComplete && reply !== current {
            complete(reply)
        }
    }

    func complete(_ reply: HeldReply) {
        reply.isDone = true
        held[SlotKey(connection: reply.connection, slot: reply.slot)] = nil
        completed.append(reply)
    }

    /// Parks an append in its producer's queue (created waiting since `now`), or attaches a retry
    /// to the waiting one.
    func park(_ key: ProducerKey, sequence: UInt64, epoch: UInt64, _ append: WaitingAppend, now: UInt64)
        -> ProducerQueue.Arrival
    {
        let arrival = queues[key, default: ProducerQueue(waitingSince: now)].arrive(
            sequence: sequence, epoch: epoch, append: append)
        if arrival == .parked {
            parkedCount += 1
            counters.parked += 1
        }
        return arrival
    }

    /// The queue's append whose turn it is after `lastSequence`, taken out (the queue dropped
    /// once empty).
    func takeNext(_ key: ProducerKey, lastSequence: UInt64, producerEpoch: UInt64) -> ProducerQueue.Next? {
        guard let next = queues[key]?.takeNext(lastSequence: lastSequence, producerEpoch: producerEpoch) else {
            return nil
        }
        taken(key, count: 1)
        return next
    }

    /// A newer epoch claimed the producer: its older instances' parked appends, taken out.
    func fence(_ key: ProducerKey, below epoch: UInt64) -> [ProducerQueue.Parked] {
        guard let fenced = queues[key]?.fence(below: epoch) else { return [] }
        taken(key, count: fenced.count)
        return fenced
    }

    /// Every append of the queue, in SEQ order, taken out.
    func drain(_ key: ProducerKey) -> [ProducerQueue.Parked] {
        guard let drained = queues[key]?.drain() else { return [] }
        taken(key, count: drained.count)
        return drained
    }

    private func taken(_ key: ProducerKey, count: Int) {
        parkedCount -= count
        if queues[key]?.isEmpty == true { queues[key] = nil }
    }

    /// The earliest moment a queue's gap times out.
    var nextGapDeadline: UInt64? {
        guard !queues.isEmpty else { return nil }
        let timeout = UInt64(limits.gapTimeoutMilliseconds) * 1_000_000
        return queues.values.lazy.map { $0.deadline(timeout: timeout) }.min()
    }
}

extension ProducerLimits {
    init(_ config: ServerConfig) {
        self.init(
            gapTimeoutMilliseconds: config.producerGapTimeout, queueMax: config.producerQueueMax,
            queueTotalMax: config.producerQueueTotalMax, windowMax: config.producerSeqWindow,
            reorderWaitMilliseconds: config.producerReorderWait, producersPerStreamMax: config.streamProducersMax,
            idleExpirySeconds: config.producerIdleExpiry)
    }
}
