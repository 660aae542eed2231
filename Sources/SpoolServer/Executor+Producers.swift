import SpoolCore
import SpoolProtocol
import SpoolStorage

/// Ordered, idempotent producers and conditional appends (docs/protocol.md, "Producers and
/// conditional appends"):
///
/// - `XADD key PRODUCER p SEQ n [EPOCH e] …`: a producer's entries commit in SEQ order whatever
///   order they arrive in, on any number of connections. One that arrives early first sets the
///   rest of its group aside (for at most `producer-reorder-wait`, retried at every batch end);
///   if its gap is still open then, it *parks* in the producer's commit queue (its reply becomes
///   a hole in its group's reply, and the rest of the group runs on). When its turn comes it
///   commits in the same transaction as the entry before it. A retry of a committed SEQ gets its
///   original id.
/// - `IFLAST id`: appends only if the stream's last id is exactly that.
/// - A MULTI/EXEC whose XADDs use either is all or nothing: a failed check discards it.
extension Executor {
    // MARK: XADD with Spool's options

    /// XADD with PRODUCER/SEQ/EPOCH and/or IFLAST; the arguments are parsed and valid. What a
    /// producer's append does is `ProducerAppendAction.plan` of its `ProducerState.Decision`;
    /// this carries it out. Returns true when the rest of the group is to be set aside from this
    /// command (`maySetAside`, and its SEQ's predecessor has not committed).
    func xaddWithOptions(_ add: Command.XAdd, _ out: inout RESPWriter, group: CommandGroup, maySetAside: Bool)
        throws(WiredTigerError) -> Bool
    {
        let args = add.args
        let parsed = add.options
        let queues = producerQueues
        let transaction = group.isTransaction && queues.isInConditionalTransaction
        guard let producerID = parsed.append.producer(in: args) else {
            try conditionalAppend(add, &out, transaction: transaction)
            return false
        }
        // A transaction's drops are handled once it is known to commit.
        if !transaction { failQueuesOfDroppedStreams() }
        let key = ProducerKey(database: store.database, stream: add.key, producer: producerID)
        let sequence = parsed.append.sequence!
        let requestedEpoch = parsed.append.epoch ?? 0
        let now = store.nowMilliseconds
        let stream = try store.streamForReading(add.key)
        let queueEpoch = queues.queues.isEmpty ? nil : queues.queues[key]?.epoch
        var producer: TrackedProducer?
        if let stream { producer = try trackedProducer(producerID, of: stream, hasQueue: queueEpoch != nil, now: now) }
        let knownEpoch = max(producer?.state.epoch ?? 0, queueEpoch ?? 0)

        func refuse(_ message: String) {
            if transaction {
                queues.transactionFailure = message
            } else {
                out.error(message)
            }
        }
        func text(_ refusal: ProducerRefusal) -> String {
            switch refusal {
            case .fenced(let newer): return ProducerError.fenced(producerID, epoch: requestedEpoch, by: newer)
            case .belowWindow: return ProducerError.stale(producerID, sequence: sequence, state: producer!.state)
            case .tooFarAhead(let missing):
                return ProducerError.tooFarAhead(
                    producerID, sequence: sequence, missing: missing, queueMax: limits.producers.queueMax)
            case .gapInTransaction(let missing):
                return ProducerError.gapInTransaction(producerID, sequence: sequence, missing: missing)
            case .queuesFull(let missing):
                return ProducerError.queuesFull(
                    producerID, sequence: sequence, missing: missing, totalMax: limits.producers.queueTotalMax)
            }
        }

        if requestedEpoch < knownEpoch {
            refuse(text(.fenced(by: knownEpoch)))
            return false
        }
        // Decided on the producer's state in place: a copy would share its window, which the
        // commit below would then have to copy.
        let queueMax = limits.producers.queueMax
        let decision =
            producer?.state.decide(epoch: requestedEpoch, sequence: sequence, queueMax: queueMax)
            ?? ProducerState(windowMax: 1, nowMilliseconds: now).decide(
                epoch: requestedEpoch, sequence: sequence, queueMax: queueMax)
        let action = ProducerAppendAction.plan(decision, at: transaction ? .transaction : .group(maySetAside: maySetAside))
        // A cluster applies the same records on every replica: an append that would wait for its
        // SEQ's predecessor would wait by each replica's own clock, so it is refused instead (the
        // producer resends in order; its appends on one connection are in order already).
        if isApplying, case .park(let missing) = action {
            refuse(ProducerError.gapInCluster(producerID, sequence: sequence, missing: missing))
            return false
        }
        // A transaction checks everything before it changes anything: a failed check discards it
        // whole, the claim included.
        if transaction {
            switch action {
            case .refuse(let refusal):
                refuse(text(refusal))
                return false
            case .commit:
                if let failure = try conditionFailure(add) {
                    refuse(failure)
                    return false
                }
                if producer == nil, let stream, let failure = try producerLimitFailure(stream) {
                    refuse(failure)
                    return false
                }
            case .replyWithID, .setAside, .park: break
            }
            try beginSavepointIfPending()
        }

        // A higher epoch claims the producer: older instances are fenced from now on, durably.
        if requestedEpoch > knownEpoch {
            if let stream {
                if producer == nil {
                    if let failure = try producerLimitFailure(stream) {
                        refuse(failure)
                        return false
                    }
                    var fresh = ProducerState(windowMax: limits.producers.windowMax, nowMilliseconds: now)
                    fresh.epoch = requestedEpoch
                    producer = try store.producers.add(producerID, to: stream, state: fresh)
                } else {
                    producer!.state.claim(requestedEpoch)
                    store.producers.noteChanged(producer!)
                }
                store.noteDurableDependency()
            }
            if queueEpoch != nil {
                queues.queues[key]?.claim(requestedEpoch)
                if transaction {
                    queues.deferredClaims.append((key, requestedEpoch))
                } else {
                    fenceParked(key, below: requestedEpoch)
                }
            }
        }
        if let producer, producer.state.lastActivityMilliseconds < now { producer.state.lastActivityMilliseconds = now }

        switch action {
        case .refuse(let refusal):
            out.error(text(refusal))
        case .replyWithID(let id):
            out.bulk(id)
        case .setAside:
            return true
        case .park(let missing):
            if let refusal = park(add, key: key, epoch: requestedEpoch, sequence: sequence, missing: missing, group: group, into: &out) {
                out.error(text(refusal))
            }
        case .commit:
            if producer == nil, let stream, let failure = try producerLimitFailure(stream) {
                refuse(failure)
                return false
            }
            let reply = try commit(
                add, key: key, producer: &producer, sequence: sequence, epoch: requestedEpoch, now: now,
                into: &out)
            if case .error(let text) = reply, transaction, parsed.append.isConditional,
                text.hasPrefix("IFLAST") || text.hasPrefix("IFVERSION")
            {
                // Checked above already; should the two ever disagree, the transaction still fails whole.
                queues.transactionFailure = text
            }
            if case .id = reply, queues.queues[key] != nil {
                queues.queues[key]!.advanced(now: monotonicNanoseconds())
                if transaction {
                    queues.deferredResumes.append(key)
                } else {
                    try resumeParked(key)
                }
            }
        }
        return false
    }

    /// XADD … IFLAST id / IFVERSION n without a producer.
    private func conditionalAppend(
        _ add: Command.XAdd, _ out: inout RESPWriter, transaction: Bool
    ) throws(WiredTigerError) {
        if transaction {
            if let failure = try conditionFailure(add) {
                producerQueues.transactionFailure = failure
                return
            }
            try beginSavepointIfPending()
        }
        if case .conditionFailed(let failure) = try appendEntry(add, &out) { out.error(failure) }
    }

    /// IFLAST's and IFVERSION's check as `appendEntry` will make it (NOMKSTREAM on a missing
    /// stream comes first).
    private func conditionFailure(_ add: Command.XAdd) throws(WiredTigerError) -> String? {
        let parsed = add.options
        guard parsed.append.isConditional else { return nil }
        let stream = try store.streamForReading(add.key)
        if stream == nil && parsed.noMakeStream { return nil }
        return parsed.append.conditionFailure(lastID: stream?.lastID ?? .zero, version: stream?.entriesAdded ?? 0)
    }

    /// Appends the next SEQ of a producer and records it (creating the producer, and the stream,
    /// on its first commit); returns the reply it wrote into `out`.
    private func commit(
        _ add: Command.XAdd, key: ProducerKey, producer: inout TrackedProducer?,
        sequence: UInt64, epoch: UInt64, now: UInt64, into out: inout RESPWriter
    ) throws(WiredTigerError) -> AppendReply {
        let before = out.bytes.count
        switch try appendEntry(add, &out, nowMilliseconds: now) {
        case .appended(let id):
            if producer == nil {
                let stream = try store.streamForReading(key.stream)!
                var fresh = ProducerState(windowMax: limits.producers.windowMax, nowMilliseconds: now)
                fresh.epoch = epoch
                producer = try store.producers.add(key.producer, to: stream, state: fresh)
            }
            producer!.state.recordCommit(sequence: sequence, id: id, nowMilliseconds: now)
            store.producers.noteChanged(producer!)
            return .id(id)
        case .conditionFailed(let text):
            out.error(text)
            return .error(text)
        case .refused:
            // NOMKSTREAM's null or an id error, already written; the SEQ stays uncommitted.
            let written = Array(out.bytes[before...])
            if written.first == UInt8(ascii: "-") {
                return .error(String(decoding: written.dropFirst().dropLast(2), as: UTF8.self))
            }
            return .null
        }
    }

    /// The stream's producer, unless it has been idle for `producer-idle-expiry` with nothing
    /// parked: then it is forgotten (its row removed) and the request starts afresh.
    private func trackedProducer(_ id: [UInt8], of stream: StreamState, hasQueue: Bool, now: UInt64)
        throws(WiredTigerError) -> TrackedProducer?
    {
        guard let producer = try store.producers.producer(id, of: stream) else { return nil }
        let expiry = limits.producers.idleExpiryMilliseconds
        if !hasQueue && producer.state.isIdle(nowMilliseconds: now, expiryMilliseconds: expiry) {
            try store.producers.remove(producer)
            return nil
        }
        return producer
    }

    /// The error for tracking one more producer on a stream that has `stream-producers-max`
    /// (after forgetting its idle ones), or nil.
    private func producerLimitFailure(_ stream: StreamState) throws(WiredTigerError) -> String? {
        let maximum = limits.producers.producersPerStreamMax
        guard try store.producers.producers(of: stream).count >= maximum else { return nil }
        try expireIdleProducers(try store.producers.producers(of: stream).values)
        guard try store.producers.producers(of: stream).count >= maximum else { return nil }
        return ProducerError.tooManyProducers(stream.name, max: maximum)
    }

    // MARK: Parking and resuming

    /// Parks an XADD whose predecessor has not committed: its reply becomes a hole at the current
    /// end of the group's replies. A retry of a parked SEQ attaches to it. Returns why it cannot
    /// wait, if it cannot.
    private func park(
        _ add: Command.XAdd, key: ProducerKey, epoch: UInt64, sequence: UInt64, missing: UInt64, group: CommandGroup,
        into out: inout RESPWriter
    ) -> ProducerRefusal? {
        let queues = producerQueues
        let isRetry = queues.queues[key]?.parked[sequence] != nil
        guard isRetry || queues.parkedCount < limits.producers.queueTotalMax else { return .queuesFull(missing: missing) }
        let reply = queues.currentReply(for: group)
        let hole = ReplyHole(reply: reply, index: reply.addHole(at: out.bytes.count))
        // A new queue's wait began when its group was set aside, if it was.
        _ = queues.park(
            key, sequence: sequence, epoch: epoch, WaitingAppend(add: add, hole: hole),
            now: queues.resuming?.since ?? monotonicNanoseconds())
        return nil
    }

    /// The producer's next SEQ committed: commits every parked append whose turn has come, in
    /// SEQ order, in this transaction. Stops at a gap, or at an append that fails (IFLAST, an id
    /// below the last one): its SEQ stays uncommitted and the ones after it keep waiting.
    func resumeParked(_ key: ProducerKey) throws(WiredTigerError) {
        let queues = producerQueues
        guard queues.queues[key] != nil else { return }
        store.database = key.database
        var producer = try store.streamForReading(key.stream).map { (s) throws(WiredTigerError) in
            try store.producers.producer(key.producer, of: s)
        } ?? nil
        let now = store.nowMilliseconds
        var scratch = RESPWriter(version: .resp2)
        while let next = queues.takeNext(
            key, lastSequence: producer?.state.lastSequence ?? 0, producerEpoch: producer?.state.epoch ?? 0)
        {
            switch next {
            case .fenced(let append, let epoch):
                queues.fill(append, with: .error(ProducerError.fenced(key.producer, epoch: append.epoch, by: epoch)), tag: 0)
                return
            case .commit(let append):
                scratch.removeAll(keepingCapacity: true)
                let reply = try commit(
                    append.append.add, key: key, producer: &producer,
                    sequence: append.sequence, epoch: append.epoch, now: now, into: &scratch)
                queues.fill(append, with: reply, tag: store.jobDurabilityTag)
                guard case .id = reply else { return }
                queues.queues[key]?.advanced(now: monotonicNanoseconds())
            }
        }
    }

    /// A newer epoch claimed the producer: its parked appends from older instances fail.
    func fenceParked(_ key: ProducerKey, below epoch: UInt64) {
        for append in producerQueues.fence(key, below: epoch) {
            producerQueues.fill(
                append, with: .error(ProducerError.fenced(key.producer, epoch: append.epoch, by: epoch)), tag: 0)
        }
    }

    /// Streams dropped (DEL, FLUSHALL) take their waiting appends with them.
    func failQueuesOfDroppedStreams() {
        guard store.producers.hasDroppedStreams else { return }
        let dropped = store.producers.takeDroppedStreams()
        let queues = producerQueues
        guard !dropped.isEmpty, !queues.queues.isEmpty else { return }
        let streams = Set(dropped)
        for key in Array(queues.queues.keys) where streams.contains(StreamKey(database: key.database, name: key.stream)) {
            for append in queues.drain(key) {
                queues.fill(append, with: .error(ProducerError.streamDeleted(key.producer, sequence: append.sequence)), tag: 0)
            }
        }
    }

    /// Forgets producers idle for `producer-idle-expiry` that have nothing parked.
    private func expireIdleProducers<S: Sequence<TrackedProducer>>(_ candidates: S) throws(WiredTigerError) {
        let now = store.nowMilliseconds
        let expiry = limits.producers.idleExpiryMilliseconds
        for producer in candidates where producer.state.isIdle(nowMilliseconds: now, expiryMilliseconds: expiry) {
            // Whatever its database (MOVE and SWAPDB change it): one with appends waiting stays.
            guard !producerQueues.queues.keys.contains(where: { $0.stream == producer.stream && $0.producer == producer.id })
            else { continue }
            try store.producers.remove(producer)
        }
    }

    // MARK: Groups set aside

    /// A producer XADD of `group` has to wait: the group is set aside from that command, to run
    /// again at the end of the batch (and of later ones, for at most `producer-reorder-wait`).
    func setAside(_ group: CommandGroup, at index: Int, replies out: RESPWriter) -> ServerOutcome {
        let queues = producerQueues
        precondition(queues.current == nil, "a group that parked appends runs to its end")
        if let run = queues.resuming {
            run.index = index
            run.out = out
            run.isSetAsideAgain = true
        } else {
            if queues.setAside[group.connection] == nil { queues.setAsideOrder.append(group.connection) }
            queues.counters.setAside += 1
            queues.setAside[group.connection, default: []].append(
                SetAsideRun(group: group, index: index, out: out, since: monotonicNanoseconds()))
        }
        return ServerOutcome(kind: .blocked, connection: group.connection, slot: group.slot, bytes: [])
    }

    /// A connection that has a group set aside keeps its order: its later groups wait behind it
    /// (a transaction instead runs at once, after what was set aside has run, parking what must
    /// wait). Returns the outcome of a group set aside here.
    func deferBehindEarlierGroups(_ group: CommandGroup) throws(WiredTigerError) -> ServerOutcome? {
        let queues = producerQueues
        guard !queues.setAside.isEmpty, queues.setAside[group.connection] != nil else { return nil }
        if group.isTransaction {
            for run in queues.setAside.removeValue(forKey: group.connection) ?? [] {
                if let outcome = try resume(run, maySetAside: false) {
                    queues.readyOutcomes += deliverable(outcome, of: run.group)
                }
            }
            queues.setAsideOrder.removeAll { $0 == group.connection }
            return nil
        }
        let out = RESPWriter(version: group.version, reservingCapacity: 64 * group.commands.count)
        queues.setAside[group.connection]!.append(
            SetAsideRun(group: group, index: 0, out: out, since: monotonicNanoseconds()))
        return ServerOutcome(kind: .blocked, connection: group.connection, slot: group.slot, bytes: [])
    }

    /// At the end of the batch: runs the set-aside groups again, in passes, each connection's in
    /// order, while any of them moves (one's commit is often the SEQ another waits for). A
    /// connection whose first waiting group was set aside less than `producer-reorder-wait` ago
    /// keeps waiting into the next batch (its gap is usually filled by a group already on its
    /// way); the others run to their end, parking the appends that still have to wait. So no
    /// group waits set aside longer than that (plus a batch), and no cycle of groups waiting on
    /// each other's later SEQs can last.
    func runSetAsideGroups() throws(WiredTigerError) -> [DeferredOutcome<ServerOutcome>] {
        let queues = producerQueues
        guard !queues.setAsideOrder.isEmpty else { return [] }
        var outcomes: [DeferredOutcome<ServerOutcome>] = []
        var moved = true
        while moved {
            moved = false
            for connection in queues.setAsideOrder {
                while let run = queues.setAside[connection]?.first {
                    let before = run.index
                    guard let outcome = try resume(run, maySetAside: true) else {
                        if run.index != before { moved = true }
                        break
                    }
                    queues.setAside[connection]!.removeFirst()
                    if queues.setAside[connection]!.isEmpty { queues.setAside[connection] = nil }
                    moved = true
                    outcomes += deliverable(outcome, of: run.group)
                }
            }
        }
        var carried: [UInt64] = []
        let now = monotonicNanoseconds()
        for connection in queues.setAsideOrder {
            guard let chain = queues.setAside[connection], let head = chain.first else {
                queues.setAside[connection] = nil
                continue
            }
            if now < head.since + queues.setAsideWaitMax {
                carried.append(connection)
                queues.counters.carried += 1
                continue
            }
            queues.setAside[connection] = nil
            queues.counters.outwaited += 1
            for run in chain {
                if let outcome = try resume(run, maySetAside: false) {
                    outcomes += deliverable(outcome, of: run.group)
                }
            }
        }
        queues.setAsideOrder = carried
        assert(queues.setAside.count == carried.count, "every waiting chain is in the order")
        return outcomes
    }

    /// Runs a set-aside group on from where it stopped; nil when it was set aside again.
    private func resume(_ run: SetAsideRun, maySetAside: Bool) throws(WiredTigerError) -> ServerOutcome? {
        let queues = producerQueues
        queues.resuming = run
        defer { queues.resuming = nil }
        run.isSetAsideAgain = false
        // Its replies so far may hold what earlier batches wrote or read: they wait for this one.
        store.noteDurableDependency()
        var out = run.out
        run.out = RESPWriter(version: run.group.version)
        let outcome = try self.run(run.group, from: run.index, replies: &out, maySetAside: maySetAside)
        if run.isSetAsideAgain { return nil }
        // Its commands are freed by the flush thread, off the path every append waits on.
        queues.finishedGroups.append(run.group)
        return outcome
    }

    /// A resumed group's reply, held for this batch's flush (a group still waiting on parked
    /// appends or a blocked read replies later).
    private func deliverable(_ outcome: ServerOutcome, of group: CommandGroup) -> [DeferredOutcome<ServerOutcome>] {
        guard outcome.kind == .reply else { return [] }
        return [
            DeferredOutcome(
                outcome: outcome, minimumTag: store.currentGeneration,
                fail: Self.failure(
                    connection: outcome.connection, slot: outcome.slot, version: group.version,
                    replies: group.replyCount))
        ]
    }

    // MARK: Groups and transactions

    /// Ends a group's run: its reply, or `.blocked` when parked XADDs (or a blocked read) still
    /// owe part of it.
    func finishGroup(_ group: CommandGroup, reply: [UInt8], waiter: Waiter?) throws(WiredTigerError) -> ServerOutcome {
        let queues = producerQueues
        failQueuesOfDroppedStreams()
        guard let held = queues.current else {
            return ServerOutcome(
                kind: waiter == nil ? .reply : .blocked, connection: group.connection, slot: group.slot,
                bytes: waiter == nil ? reply : [])
        }
        queues.current = nil
        held.prefix = reply
        held.waiter = waiter
        held.isGroupFinished = true
        held.minimumTag = max(held.minimumTag, store.jobDurabilityTag)
        if held.isComplete {
            held.isDone = true
            return ServerOutcome(kind: .reply, connection: group.connection, slot: group.slot, bytes: held.assembled())
        }
        queues.held[ProducerQueues.SlotKey(connection: group.connection, slot: group.slot)] = held
        return ServerOutcome(kind: .blocked, connection: group.connection, slot: group.slot, bytes: [])
    }

    /// Whether EXEC must run as a conditional transaction: one of its XADDs names a producer or
    /// IFLAST or IFVERSION.
    static func isConditionalTransaction(_ group: CommandGroup) -> Bool {
        group.isTransaction && group.commands.contains { $0.isConditionalAppend }
    }

    /// EXEC with producer or IFLAST appends: all or nothing. Every check of such an XADD is made
    /// before it changes anything; if one fails, everything the transaction did is rolled back
    /// (to a savepoint taken just before its first change) and EXEC replies EXECABORT.
    func runConditionalTransaction(_ group: CommandGroup) throws(WiredTigerError) -> ServerOutcome {
        let queues = producerQueues
        queues.isInConditionalTransaction = true
        queues.transactionFailure = nil
        queues.savepoint = nil
        defer {
            queues.isInConditionalTransaction = false
            queues.transactionFailure = nil
            queues.savepoint = nil
            queues.deferredClaims.removeAll()
            queues.deferredResumes.removeAll()
        }
        var out = RESPWriter(version: group.version, reservingCapacity: 64 * group.commands.count)
        out.arrayHeader(group.commands.count)
        for (index, command) in group.commands.enumerated() {
            // XADD takes the savepoint itself, after its checks; answered commands change nothing.
            if let name = command.name, name != .xadd && !name.changesNothing { try beginSavepointIfPending() }
            _ = try execute(command, at: index, into: &out, group: group, mayBlock: false, maySetAside: false)
            if queues.transactionFailure != nil { break }
        }
        if let failure = queues.transactionFailure {
            if let savepoint = queues.savepoint { try store.rollBackToSavepoint(savepoint) }
            var reply = RESPWriter(version: group.version)
            reply.error(ProducerError.transactionAborted(failure))
            return ServerOutcome(kind: .reply, connection: group.connection, slot: group.slot, bytes: reply.bytes)
        }
        failQueuesOfDroppedStreams()
        for (key, epoch) in queues.deferredClaims { fenceParked(key, below: epoch) }
        for key in queues.deferredResumes { try resumeParked(key) }
        return try finishGroup(group, reply: out.bytes, waiter: nil)
    }

    /// Takes the conditional transaction's savepoint before its first change.
    func beginSavepointIfPending() throws(WiredTigerError) {
        let queues = producerQueues
        guard queues.isInConditionalTransaction, queues.savepoint == nil else { return }
        queues.savepoint = try store.beginSavepoint()
    }

    // MARK: Batches

    /// batchWillCommit's producer part: gaps that timed out, replies completed (by appends that
    /// committed in this batch or failed), blocked reads that finished a held reply, idle expiry.
    func producersWillCommit(_ served: [DeferredOutcome<ServerOutcome>], nowNanoseconds: UInt64)
        throws(WiredTigerError) -> [DeferredOutcome<ServerOutcome>]
    {
        let queues = producerQueues
        if queues.isIdle && nowNanoseconds < queues.nextSweepNanoseconds {
            return served
        }
        var outcomes = served
        if !queues.held.isEmpty { outcomes = try takeServedWaiters(outcomes) }
        failQueuesOfDroppedStreams()
        if !queues.queues.isEmpty { try failTimedOutGaps(nowNanoseconds: nowNanoseconds) }
        if nowNanoseconds >= queues.nextSweepNanoseconds {
            try expireIdleProducers(store.producers.loadedProducers)
            let interval = min(UInt64(limits.producers.idleExpirySeconds), 60) * 1_000_000_000
            queues.nextSweepNanoseconds = nowNanoseconds + max(interval, 1_000_000_000)
        }
        outcomes += queues.readyOutcomes
        queues.readyOutcomes.removeAll()
        for reply in queues.completed {
            let outcome = ServerOutcome(kind: .reply, connection: reply.connection, slot: reply.slot, bytes: reply.assembled())
            outcomes.append(
                DeferredOutcome(
                    outcome: outcome, minimumTag: reply.minimumTag,
                    fail: Self.failure(
                        connection: reply.connection, slot: reply.slot, version: reply.version,
                        replies: reply.replyCount)))
        }
        queues.completed.removeAll()
        return outcomes
    }

    /// Blocked reads at the end of held groups: a served one completes its group's reply (or
    /// waits for its holes); one whose client left abandons it.
    private func takeServedWaiters(_ served: [DeferredOutcome<ServerOutcome>]) throws(WiredTigerError)
        -> [DeferredOutcome<ServerOutcome>]
    {
        let queues = producerQueues
        var remaining: [DeferredOutcome<ServerOutcome>] = []
        for deferred in served {
            let slot = ProducerQueues.SlotKey(connection: deferred.outcome.connection, slot: deferred.outcome.slot)
            guard let held = queues.held[slot], held.waiter != nil else {
                remaining.append(deferred)
                continue
            }
            held.waiter = nil
            held.tail = Array(deferred.outcome.bytes.dropFirst(held.prefix.count))
            held.minimumTag = max(held.minimumTag, deferred.minimumTag)
            if held.isComplete { queues.complete(held) }
        }
        for (slot, held) in queues.held {
            guard let waiter = held.waiter, !waiters.contains(where: { $0 === waiter }) else { continue }
            // Its client disconnected: nobody reads this reply. Parked appends still commit.
            held.isDone = true
            queues.held[slot] = nil
        }
        return remaining
    }

    /// Queues that waited `producer-gap-timeout` without progress: every append in them fails,
    /// naming the SEQ that never came; nothing after the gap commits.
    private func failTimedOutGaps(nowNanoseconds: UInt64) throws(WiredTigerError) {
        let queues = producerQueues
        let timeout = UInt64(limits.producers.gapTimeoutMilliseconds) * 1_000_000
        for (key, queue) in queues.queues where queue.isTimedOut(now: nowNanoseconds, timeout: timeout) {
            store.database = key.database
            let producer = try store.streamForReading(key.stream).map { (s) throws(WiredTigerError) in
                try store.producers.producer(key.producer, of: s)
            } ?? nil
            let missing = (producer?.state.lastSequence ?? 0) + 1
            for append in queues.drain(key) {
                let text = ProducerError.timedOut(
                    key.producer, sequence: append.sequence, missing: missing,
                    milliseconds: limits.producers.gapTimeoutMilliseconds)
                queues.fill(append, with: .error(text), tag: 0)
            }
        }
    }

    /// The storage failed under a batch: every waiting append fails (ProducerQueues.failAll). The
    /// store reloads producer state from disk on its own.
    func producersDidRollBack(_ error: StorageError) -> [ServerOutcome] {
        producerQueues.failAll(error)
    }

    /// When batchWillCommit must run for producers even if no job arrives.
    var producersNextDeadline: UInt64? {
        let queues = producerQueues
        if !queues.completed.isEmpty { return 0 }
        guard let setAside = queues.nextSetAsideDeadline else { return queues.nextGapDeadline }
        return min(setAside, queues.nextGapDeadline ?? .max)
    }

    // MARK: XPRODUCERS

    /// XPRODUCERS key [producer]: each producer's epoch, last SEQ and its id, the oldest SEQ whose
    /// id is kept, parked appends and idle time; by producer id.
    func xproducers(key: [UInt8], producer only: [UInt8]?, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForReading(key) else { return out.error(CommandError.noSuchKey) }
        var states: [[UInt8]: ProducerState] = [:]
        for (id, producer) in try store.producers.producers(of: stream) { states[id] = producer.state }
        for queued in producerQueues.queues.keys where queued.stream == key && states[queued.producer] == nil {
            states[queued.producer] = ProducerState(windowMax: 1, nowMilliseconds: store.nowMilliseconds)
        }
        var ids = states.keys.sorted { $0.lexicographicallyPrecedes($1) }
        if let only { ids = ids.filter { $0 == only } }
        let now = store.nowMilliseconds
        out.arrayHeader(ids.count)
        for id in ids {
            let state = states[id]!
            let queue = producerQueues.queues[ProducerKey(database: store.database, stream: key, producer: id)]
            out.mapHeader(7)
            out.bulk("name")
            out.bulk(id)
            out.bulk("epoch")
            out.integer(Int64(clamping: max(state.epoch, queue?.epoch ?? 0)))
            out.bulk("last-seq")
            out.integer(Int64(clamping: state.lastSequence))
            out.bulk("last-id")
            if let last = state.recentIDs.last { out.bulk(last) } else { out.nullBulk() }
            out.bulk("oldest-kept-seq")
            out.integer(Int64(clamping: state.oldestKeptSequence ?? 0))
            out.bulk("waiting")
            out.integer(Int64(queue?.count ?? 0))
            out.bulk("idle")
            out.integer(Int64(clamping: now >= state.lastActivityMilliseconds ? now - state.lastActivityMilliseconds : 0))
        }
    }
}
