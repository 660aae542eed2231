import SpoolCore
import SpoolProtocol
import SpoolStorage

/// Runs storage commands on the storage thread against the log store, and keeps the readers
/// blocked in XREAD until a durable entry (or their timeout) wakes them.
final class Executor: StorageContext {
    typealias Outcome = ServerOutcome

    let store: LogStore
    let limits: Limits
    /// Readers blocked in XREAD, in arrival order (served first come, first served).
    var waiters: [Waiter] = []
    /// Streams that received entries in the batch in progress.
    var appendedStreams: Set<StreamKey> = []
    /// Producers' commit queues and the replies held for them (Executor+Producers.swift).
    let producerQueues: ProducerQueues
    /// A cluster node's replication (nil on a single node).
    var cluster: ClusterReplicator?
    /// A committed record of the cluster's log is being applied (`apply`).
    private(set) var isApplying = false

    struct Limits: Sendable {
        var readCountMax: Int
        var producers = ProducerLimits()
        var nodes = StreamNodeLimits()
        var idempotency = IdempotencyDefaults()
        var databases = 16
        var streamCacheMax = 100_000
    }

    /// Entries moved to dead-letter streams since start-up (/metrics).
    var deadLetteredCount: UInt64 = 0
    /// Where commands that ran long are reported (SLOWLOG, LATENCY).
    let slowCommands: SlowCommandReports

    init(store: LogStore, limits: Limits, slowCommands: SlowCommandReports = SlowCommandReports()) {
        self.store = store
        self.limits = limits
        self.slowCommands = slowCommands
        self.producerQueues = ProducerQueues(limits: limits.producers)
        store.producers.windowMax = limits.producers.windowMax
        store.nodeLimits = limits.nodes
        store.idempotencyDefaults = limits.idempotency
        store.streamCacheMax = limits.streamCacheMax
    }

    /// Runs one group and returns its outcome (or none if its last command blocked).
    func run(_ group: CommandGroup) throws(WiredTigerError) -> ServerOutcome {
        if !isApplying, let outcome = try deferBehindEarlierGroups(group) { return outcome }
        if Self.isConditionalTransaction(group) { return try runConditionalTransaction(group) }
        var out = RESPWriter(version: group.version, reservingCapacity: 64 * group.commands.count)
        if group.isTransaction { out.arrayHeader(group.commands.count) }
        return try run(group, from: 0, replies: &out, maySetAside: !group.isTransaction && !isApplying)
    }

    /// Runs a committed record of the cluster's log (ClusterReplicator): at the time the leader
    /// recorded, never blocking and never waiting for a producer's earlier SEQ, so every replica
    /// derives the same streams and groups from the same records. Returns the replies.
    func apply(_ group: CommandGroup, nowMilliseconds: UInt64) throws(WiredTigerError) -> [UInt8] {
        isApplying = true
        store.fixedNowMilliseconds = nowMilliseconds
        store.writesAreDerived = true  // the record is durable on a majority: no fsync of its own
        defer {
            isApplying = false
            store.fixedNowMilliseconds = nil
            store.writesAreDerived = false
        }
        return try run(group).bytes
    }

    /// What running one command did to its group.
    enum Step {
        case done
        /// A read found nothing and blocks (the group's last command).
        case blocked(Waiter)
        /// A producer's XADD must wait for its SEQ's predecessor: the group is set aside from it.
        case setAside
    }

    /// Runs a group's commands from `start` on, after the replies in `out`. A producer XADD that
    /// has to wait for its SEQ's predecessor may set the rest aside (`maySetAside`; Executor+Producers.swift).
    func run(_ group: CommandGroup, from start: Int, replies out: inout RESPWriter, maySetAside: Bool)
        throws(WiredTigerError) -> ServerOutcome
    {
        let threshold = slowCommands.thresholdMicroseconds.load(ordering: .relaxed)
        for index in start..<group.commands.count {
            let isLast = index == group.commands.count - 1
            let started = threshold >= 0 ? monotonicNanoseconds() : 0
            let step = try execute(
                group.commands[index], at: index, into: &out, group: group, mayBlock: isLast && !group.isTransaction && !isApplying,
                maySetAside: maySetAside)
            if threshold >= 0 {
                let microseconds = Int64((monotonicNanoseconds() - started) / 1000)
                if microseconds >= threshold, index < group.arguments.count {
                    slowCommands.report(.init(connection: group.connection, arguments: group.arguments[index], microseconds: microseconds))
                }
            }
            switch step {
            case .done: continue
            case .setAside: return setAside(group, at: index, replies: out)
            case .blocked(let waiter):
                waiter.prefix = out.bytes
                waiter.replyCount = group.replyCount
                waiter.minimumTag = store.jobDurabilityTag
                waiters.append(waiter)
                return try finishGroup(group, reply: out.bytes, waiter: waiter)
            }
        }
        return try finishGroup(group, reply: out.bytes, waiter: nil)
    }

    /// Executes the command at `index` of `group`.
    func execute(
        _ command: Command, at index: Int, into out: inout RESPWriter, group: CommandGroup, mayBlock: Bool,
        maySetAside: Bool
    ) throws(WiredTigerError) -> Step {
        store.database = group.database(at: index)
        var waiter: Waiter?
        switch command {
        case .xadd(let add):
            if try xadd(add, &out, group: group, maySetAside: maySetAside) { return .setAside }
        case .xread(let read): waiter = try xread(read, &out, group: group, mayBlock: mayBlock)
        case .xreadgroup(let read): waiter = try xreadgroup(read, &out, group: group, mayBlock: mayBlock)
        case .xrange(let range): try xrange(range, &out)
        case .xlen(let key): try xlen(key, &out)
        case .xtrim(let key, let spec): try xtrim(key, spec, &out)
        case .xack(let key, let groupName, let ids): try xack(key: key, group: groupName, ids: ids, &out)
        case .xdel(let key, let ids): try xdel(key: key, ids: ids, &out)
        case .xdelex(let request): try xdelex(request, &out)
        case .xackdel(let request): try xackdel(request, &out)
        case .info(let sections, let loopText): info(sections, &out, loopText: loopText)
        case .keys(let keys): try execute(keys, &out, inTransaction: group.isTransaction)
        case .xpending(let request): try xpending(request, &out)
        case .xclaim(let request): try xclaim(request, &out)
        case .xautoclaim(let request): try xautoclaim(request, &out)
        case .admin(let command): try execute(command, &out)
        case .answered(let reply): out.append(contentsOf: reply)
        }
        return waiter.map { .blocked($0) } ?? .done
    }

    /// An administration command, its options checked on the loop thread (Command+Admin.swift).
    private func execute(_ command: Command.Admin, _ out: inout RESPWriter) throws(WiredTigerError) {
        switch command {
        case .xsetid(let request): try xsetid(request, &out)
        case .xcfgset(let key, let settings): try xcfgset(key: key, settings, &out)
        case .xproducers(let key, let producer): try xproducers(key: key, producer: producer, &out)
        case .xnack(let key, let group, let options): try xnack(key: key, group: group, options, &out)
        case .xgroup(let request): try xgroup(request, &out)
        case .xinfo(let request): try xinfo(request, &out)
        case .xbackfill(let request): try xbackfill(request, &out)
        }
    }

    /// Handles a control message from the loop thread.
    func handle(_ control: StorageControl) -> ServerOutcome {
        switch control {
        case .connectionClosed(let connection):
            waiters.removeAll { $0.connection == connection }
            cluster?.forget(connection: connection)
        case .unblock(let connection, let answer):
            for waiter in waiters where waiter.connection == connection {
                waiter.unblock = answer
            }
        case .setStreamSettings(let nodes, let idempotency, let cacheMax):
            store.nodeLimits = nodes
            store.idempotencyDefaults = idempotency
            store.streamCacheMax = cacheMax
        }
        return ServerOutcome(kind: .nothing, connection: 0, slot: 0, bytes: [])
    }

    // MARK: StorageContext

    func batchWillCommit(nowNanoseconds: UInt64) throws(WiredTigerError) -> [DeferredOutcome<ServerOutcome>] {
        let replicated = try cluster?.batchWillCommit(nowNanoseconds: nowNanoseconds) ?? []
        let resumed = try runSetAsideGroups()
        return try replicated + producersWillCommit(resumed + serveWaiters(nowNanoseconds: nowNanoseconds), nowNanoseconds: nowNanoseconds)
    }

    func batchDidRollBack(_ error: StorageError) -> [ServerOutcome] {
        (cluster?.batchDidRollBack(error) ?? []) + producersDidRollBack(error)
    }

    func takeRetired() -> [any Sendable] {
        let queues = producerQueues
        guard !queues.finishedGroups.isEmpty else { return [] }
        defer { queues.finishedGroups = [] }
        return queues.finishedGroups
    }

    /// Blocked readers the batch's entries satisfy, and those whose timeout passed.
    private func serveWaiters(nowNanoseconds: UInt64) throws(WiredTigerError) -> [DeferredOutcome<ServerOutcome>] {
        guard !waiters.isEmpty else {
            appendedStreams.removeAll(keepingCapacity: true)
            return []
        }
        var served: [DeferredOutcome<ServerOutcome>] = []
        var remaining: [Waiter] = []
        let now = nowMilliseconds
        for waiter in waiters {
            store.database = waiter.database
            if let unblock = waiter.unblock {
                var out = RESPWriter(version: waiter.version)
                switch unblock {
                case .timeout: out.nullArray()
                case .error(let text): out.error(text)
                }
                served.append(finish(waiter, out.bytes))
                continue
            }
            let touched =
                !appendedStreams.isEmpty
                && waiter.keys.contains { appendedStreams.contains(StreamKey(database: waiter.database, name: $0)) }
            if let request = waiter.groupRead {
                let claimDue = waiter.claimCheckAt.map { $0 <= now } ?? false
                let due = touched || claimDue ? true : try hasDueRedeliveries(waiter, now: now)
                if due,
                    let reply = try wakeGroupRead(waiter, request: request)
                {
                    // The reply wrote pending entries: it waits for this batch's flush.
                    waiter.minimumTag = max(waiter.minimumTag, store.jobDurabilityTag)
                    served.append(finish(waiter, reply))
                    continue
                }
            } else if touched {
                var out = RESPWriter(version: waiter.version)
                if try writeStreams(waiter.keys, after: waiter.ids, count: waiter.count, into: &out) {
                    served.append(finish(waiter, out.bytes))
                    continue
                }
            }
            if let deadline = waiter.deadline, nowNanoseconds >= deadline {
                var out = RESPWriter(version: waiter.version)
                out.nullArray()
                served.append(finish(waiter, out.bytes))
                continue
            }
            remaining.append(waiter)
        }
        waiters = remaining
        appendedStreams.removeAll(keepingCapacity: true)
        return served
    }

    private func finish(_ waiter: Waiter, _ reply: [UInt8]) -> DeferredOutcome<ServerOutcome> {
        let outcome = ServerOutcome(
            kind: .reply, connection: waiter.connection, slot: waiter.slot, bytes: waiter.prefix + reply)
        let failure = Self.failure(
            connection: waiter.connection, slot: waiter.slot, version: waiter.version, replies: waiter.replyCount)
        return DeferredOutcome(outcome: outcome, minimumTag: waiter.minimumTag, fail: failure)
    }

    var nextDeadlineNanoseconds: UInt64? {
        var earliest = waiters.lazy.compactMap(\.deadline).min()
        if let due = cluster?.nextDeadlineNanoseconds { earliest = min(earliest ?? due, due) }
        for waiter in waiters where waiter.groupRead != nil {
            if let due = redeliveryDeadline(waiter) { earliest = min(earliest ?? due, due) }
            if let claimAt = waiter.claimCheckAt {
                let due = monotonicNanoseconds() + UInt64(max(0, claimAt - nowMilliseconds)) * 1_000_000
                earliest = min(earliest ?? due, due)
            }
        }
        guard let producers = producersNextDeadline else { return earliest }
        return min(earliest ?? .max, producers)
    }

    /// The reply a group gets when storage fails under it: an error for each of its `replies`
    /// (a pipelined group owes one per command), in its slot.
    static func failure(connection: UInt64, slot: UInt64, version: RESPVersion, replies: Int = 1)
        -> @Sendable (StorageError) -> ServerOutcome
    {
        { error in
            var out = RESPWriter(version: version)
            for _ in 0..<max(1, replies) {
                switch error {
                case .shuttingDown: out.error("ERR server is shutting down")
                default: out.error("IOERR \(error)")
                }
            }
            return ServerOutcome(kind: .reply, connection: connection, slot: slot, bytes: out.bytes)
        }
    }
}

/// A reader blocked in XREAD or XREADGROUP.
final class Waiter {
    let connection: UInt64
    let slot: UInt64
    let version: RESPVersion
    /// The database its keys are in.
    var database = 0
    let keys: [[UInt8]]
    let ids: [EntryID]
    let count: Int
    let deadline: UInt64?
    /// Replies of the commands before XREAD in the same group.
    var prefix: [UInt8] = []
    /// Replies the group's slot holds, XREAD's included (for a failure reply).
    var replyCount = 1
    /// The durability the prefix needs.
    var minimumTag: UInt64 = 0
    /// Set for XREADGROUP: it re-reads through its group when woken.
    var groupRead: GroupReadRequest?
    /// CLIENT UNBLOCK, or an ACL change that took the reader's rights, asked for an answer now.
    var unblock: UnblockAnswer?
    /// XREADGROUP CLAIM: when an entry pending when it blocked becomes idle enough (wall-clock ms).
    var claimCheckAt: Int64?

    init(connection: UInt64, slot: UInt64, version: RESPVersion, keys: [[UInt8]], ids: [EntryID], count: Int, deadline: UInt64?) {
        self.connection = connection
        self.slot = slot
        self.version = version
        self.keys = keys
        self.ids = ids
        self.count = count
        self.deadline = deadline
    }
}
