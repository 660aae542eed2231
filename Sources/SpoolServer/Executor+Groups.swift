import SpoolCore
import SpoolProtocol
import SpoolStorage

/// What a blocked XREADGROUP needs to run again when it is woken.
struct GroupReadRequest {
    let group: [UInt8]
    let consumer: [UInt8]
    let noAck: Bool
    /// CLAIM min-idle-time (Redis 8.4): `>` first claims pending entries idle at least this long.
    var claimMinIdle: Int64?
}

extension Executor {
    /// Longest group or consumer name (bytes); keys of the group tables carry 16-bit lengths.
    static let groupNameMaxLength = 1024

    static func noSuchKeyOrGroup(_ key: [UInt8], _ group: [UInt8], suffix: String = "") -> String {
        "NOGROUP No such key '\(key.asString)' or consumer group '\(group.asString)'\(suffix)"
    }

    static func noSuchGroup(_ key: [UInt8], _ group: [UInt8]) -> String {
        "NOGROUP No such consumer group '\(group.asString)' for key name '\(key.asString)'"
    }

    static func nameTooLong(_ what: String) -> String {
        "ERR \(what) name is longer than \(groupNameMaxLength) bytes"
    }

    var nowMilliseconds: Int64 { Int64(store.nowMilliseconds) }

    /// The entry with this id, if the stream still has it.
    func entry(_ stream: StreamState, _ id: EntryID) throws(WiredTigerError) -> Entry? {
        try store.entries(stream, from: id, to: id, count: 1).first
    }

    // MARK: XGROUP

    static let xgroupHelp = [
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "    * MAXDELIVERIES count",
        "      Move an entry to the dead-letter stream instead of delivering it more often (Spool).",
        "    * DEADLETTER stream",
        "      The dead-letter stream (default <key>:dlq) (Spool).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "SETPOLICY <key> <groupname> [MAXDELIVERIES count] [DEADLETTER stream]",
        "    Change the group's dead-letter policy; MAXDELIVERIES 0 turns it off (Spool).",
    ]

    /// The group policy options of XGROUP CREATE and SETPOLICY.
    struct GroupPolicy {
        var maxDeliveries: UInt64?
        var deadLetter: [UInt8]?
    }

    /// XGROUP CREATE | SETID | DESTROY | CREATECONSUMER | DELCONSUMER | SETPOLICY | HELP, checked
    /// in Redis's order: options (on the loop thread), then the key, then the group, then what the
    /// subcommand defers (a start id that does not parse, SETID's argument count).
    func xgroup(_ request: Command.XGroup, _ out: inout RESPWriter) throws(WiredTigerError) {
        let key = request.key
        let groupName = request.group
        if case .help = request.action { return CommandHelp.write([Array("XGROUP".utf8)], Self.xgroupHelp, into: &out) }
        var stream = try store.streamForWriting(key)
        if stream == nil && !request.action.makesStream {
            return out.error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
            )
        }
        let existing = stream?.groups[groupName]
        if existing == nil && request.action.needsGroup { return out.error(Self.noSuchGroup(key, groupName)) }
        switch request.action {
        case .help: return
        case .create(let start, _, let entriesRead, let policy):
            guard groupName.count <= Self.groupNameMaxLength else { return out.error(Self.nameTooLong("consumer group")) }
            let id: EntryID
            switch start {
            case .failure(let error): return out.error(error.text)
            case .success(.last): id = stream?.lastID ?? .zero
            case .success(.id(let given)): id = given
            }
            guard existing == nil else { return out.error("BUSYGROUP Consumer Group name already exists") }
            if stream == nil { stream = try store.createStream(key) }
            let group = store.createGroup(stream!, name: groupName, lastDeliveredID: id, entriesRead: entriesRead)
            if policy.maxDeliveries != nil || policy.deadLetter != nil {
                store.setGroupPolicy(stream!, group, maxDeliveries: policy.maxDeliveries, deadLetterStream: policy.deadLetter)
            }
            out.simpleString("OK")
        case .setID(let start, let entriesRead):
            let id: EntryID
            switch start {
            case .failure(let error): return out.error(error.text)
            case .success(.last): id = stream!.lastID
            case .success(.id(let given)): id = given
            }
            store.setGroupPosition(stream!, existing!, lastDeliveredID: id, entriesRead: entriesRead)
            out.simpleString("OK")
        case .destroy:
            guard let existing else { return out.integer(0) }
            try store.destroyGroup(stream!, existing)
            // Readers blocked on the group hear of it (and get NOGROUP).
            streamChanged(key)
            out.integer(1)
        case .createConsumer(let name):
            guard name.count <= Self.groupNameMaxLength else { return out.error(Self.nameTooLong("consumer")) }
            let (_, created) = store.consumer(stream!, existing!, named: name, now: nowMilliseconds)
            out.integer(created ? 1 : 0)
        case .deleteConsumer(let name):
            guard let consumer = existing!.consumers[name] else { return out.integer(0) }
            out.integer(Int64(try store.deleteConsumer(stream!, existing!, consumer)))
        case .setPolicy(let policy):
            store.setGroupPolicy(stream!, existing!, maxDeliveries: policy.maxDeliveries, deadLetterStream: policy.deadLetter)
            out.simpleString("OK")
        }
    }

    /// Notes that a stream changed in a way blocked readers must hear of now (appends, deletion,
    /// a destroyed group, a given-back entry).
    func streamChanged(_ key: [UInt8]) {
        if !waiters.isEmpty || cluster?.hasParkedReads == true { appendedStreams.insert(StreamKey(database: store.database, name: key)) }
    }

    // MARK: Counters (Redis 7.4's entries-read and lag)

    /// Whether an XDEL hole may lie between `start` and the end of the stream.
    func rangeHasTombstones(_ stream: StreamState, from start: EntryID) -> Bool {
        guard stream.length > 0, stream.maxDeletedID != .zero else { return false }
        return start <= stream.maxDeletedID
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry: the read counter of `id`, or nil when
    /// holes make it unknowable.
    func estimatedEntriesRead(_ stream: StreamState, at id: EntryID, firstID: EntryID) -> Int64? {
        let added = Int64(stream.entriesAdded)
        if added == 0 { return 0 }
        if stream.length == 0 && id <= stream.lastID { return added }
        if id != .zero && id < stream.maxDeletedID { return nil }
        if id == stream.lastID { return added }
        if id > stream.lastID { return nil }
        if stream.maxDeletedID == .zero || stream.maxDeletedID < firstID {
            if id < firstID { return added - Int64(stream.length) }
            if id == firstID { return added - Int64(stream.length) + 1 }
        }
        return nil
    }

    /// Redis 7.4's group lag: entries not yet delivered to the group, nil when unknowable.
    func lag(_ stream: StreamState, _ group: ConsumerGroup, firstID: EntryID) -> Int64? {
        if stream.entriesAdded == 0 || stream.length == 0 { return 0 }
        if group.lastDeliveredID < firstID && stream.maxDeletedID < firstID { return Int64(stream.length) }
        if group.entriesRead != ConsumerGroup.unknownEntriesRead
            && !rangeHasTombstones(stream, from: group.lastDeliveredID)
        {
            return Int64(stream.entriesAdded) - group.entriesRead
        }
        guard let read = estimatedEntriesRead(stream, at: group.lastDeliveredID, firstID: firstID) else { return nil }
        return Int64(stream.entriesAdded) - read
    }

    func firstID(_ stream: StreamState) throws(WiredTigerError) -> EntryID {
        try store.firstEntry(stream)?.id ?? .zero
    }

    /// Moves the group's position onto a just-delivered id, keeping entries-read as Redis does.
    func advance(_ stream: StreamState, _ group: ConsumerGroup, to id: EntryID, firstID: EntryID) {
        guard id > group.lastDeliveredID else { return }
        var read = group.entriesRead
        if read != ConsumerGroup.unknownEntriesRead && group.lastDeliveredID >= firstID
            && !rangeHasTombstones(stream, from: group.lastDeliveredID)
        {
            read += 1
        } else if stream.entriesAdded > 0 {
            read = estimatedEntriesRead(stream, at: id, firstID: firstID) ?? ConsumerGroup.unknownEntriesRead
        }
        store.setGroupPosition(stream, group, lastDeliveredID: id, entriesRead: read)
    }

    // MARK: Dead letters

    /// Where the group's dead letters go: its DEADLETTER stream, or `<key>:dlq`.
    func deadLetterStreamName(_ stream: StreamState, _ group: ConsumerGroup) -> [UInt8] {
        group.deadLetterStream ?? (stream.name + Array(":dlq".utf8))
    }

    /// Moves a pending entry to the group's dead-letter stream: one new entry carrying where it
    /// came from and how often it was delivered, then its own fields; it leaves the pending list.
    func deadLetter(_ stream: StreamState, _ group: ConsumerGroup, _ pending: PendingEntry, _ entry: Entry)
        throws(WiredTigerError)
    {
        try store.removePending(stream, group, id: pending.id)
        let name = deadLetterStreamName(stream, group)
        let target = try store.streamForWriting(creating: name)
        guard let id = EntryID.generated(after: target.lastID, nowMilliseconds: store.nowMilliseconds) else { return }
        var fields: [[UInt8]] = [
            Array("original-id".utf8), pending.id.bytes,
            Array("stream".utf8), stream.name,
            Array("group".utf8), group.name,
            Array("consumer".utf8), pending.consumer,
            Array("deliveries".utf8), Array(String(pending.deliveryCount).utf8),
        ]
        fields.append(contentsOf: entry.fields)
        try store.append(target, id: id, fields: fields)
        deadLetteredCount += 1
        streamChanged(name)
    }

    /// Delivers a pending entry once more to `consumer` (a claim, a redelivery, a history read):
    /// the delivery count goes up unless `keepCount`, or the entry is dead-lettered when that would
    /// pass the group's maximum. Returns false when it was dead-lettered.
    func redeliver(
        _ stream: StreamState, _ group: ConsumerGroup, _ pending: PendingEntry, _ entry: Entry,
        to consumer: [UInt8], at time: Int64, deliveryCount: UInt64? = nil, keepCount: Bool = false
    ) throws(WiredTigerError) -> Bool {
        let count = deliveryCount ?? (keepCount ? pending.deliveryCount : pending.deliveryCount + 1)
        if deliveryCount == nil && !keepCount && group.exceedsMaxDeliveries(count) {
            try deadLetter(stream, group, pending, entry)
            return false
        }
        try store.putPending(
            stream, group, PendingEntry(id: pending.id, consumer: consumer, deliveryTime: time, deliveryCount: count))
        return true
    }

    // MARK: XREADGROUP

    /// A claimed entry: its fields, or none for JUSTID.
    typealias DeliveredItem = (id: EntryID, fields: [[UInt8]]?)

    /// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] [CLAIM min-idle] STREAMS key … id …
    func xreadgroup(_ read: Command.XReadGroup, _ out: inout RESPWriter, group commandGroup: CommandGroup, mayBlock: Bool)
        throws(WiredTigerError) -> Waiter?
    {
        let groupName = read.request.group
        // nil: `>`; otherwise the history position.
        var positions: [EntryID?] = []
        for (key, start) in zip(read.keys, read.starts) {
            guard let stream = try store.streamForReading(key), stream.groups[groupName] != nil else {
                return rejected(Self.noSuchKeyOrGroup(key, groupName, suffix: " in XREADGROUP with GROUP option"), &out)
            }
            switch start {
            case .new: positions.append(nil)
            case .history(let id): positions.append(id)
            case .invalid(let error): return rejected(error, &out)
            }
        }
        let count = readCount(read.count)
        var reply = RESPWriter(version: out.version)
        var nextClaimAt: Int64?
        if try serveGroupRead(read.keys, positions: positions, request: read.request, count: count, into: &reply, nextClaimAt: &nextClaimAt) {
            out.append(contentsOf: reply)
            return nil
        }
        let waiter = blockedRead(
            block: read.block, mayBlock: mayBlock, group: commandGroup, keys: read.keys, ids: [], count: count,
            groupRead: read.request, &out)
        waiter?.claimCheckAt = nextClaimAt
        return waiter
    }

    func serveGroupRead(
        _ keys: [[UInt8]], positions: [EntryID?], request: GroupReadRequest, count: Int, into out: inout RESPWriter,
        nextClaimAt: inout Int64?
    ) throws(WiredTigerError) -> Bool {
        let now = nowMilliseconds
        // New entries past a backfill's unfilled part: TRYAGAIN, before anything changes.
        for (key, position) in zip(keys, positions) where position == nil {
            guard let stream = try store.streamForReading(key), let group = stream.groups[request.group] else { continue }
            if let refusal = backfillRefusal(stream, from: group.lastDeliveredID.successor ?? .max, to: .max) {
                out.error(refusal)
                return true
            }
        }
        var found: [([UInt8], RESPWriter)] = []
        for (key, position) in zip(keys, positions) {
            guard let stream = try store.streamForReading(key), let group = stream.groups[request.group] else { continue }
            let consumer = store.consumer(stream, group, named: request.consumer, now: now).consumer
            store.touch(stream, group, consumer, seen: now)
            var items = RESPWriter(version: out.version, reservingCapacity: min(count, 1024) * 160)
            if let position {
                let written = try readHistory(stream, group, consumer, after: position, count: count, now: now, into: &items)
                found.append((key, arrayOf(written, items)))
                continue
            }
            var written = 0
            if let minIdle = request.claimMinIdle {
                written = try readClaimed(
                    stream, group, consumer, minIdle: minIdle, count: count, now: now, into: &items, nextClaimAt: &nextClaimAt)
            }
            written += try readNew(
                stream, group, consumer, count: count - written, noAck: request.noAck, claimForm: request.claimMinIdle != nil,
                now: now, into: &items)
            if written > 0 { found.append((key, arrayOf(written, items))) }
        }
        return writeStreamsReply(found, into: &out)
    }

    /// XREAD's and XREADGROUP's reply: each stream that had something, by key (a map in RESP3,
    /// `[key, items]` pairs in RESP2). False, with nothing written, when none had.
    func writeStreamsReply(_ found: [([UInt8], RESPWriter)], into out: inout RESPWriter) -> Bool {
        guard !found.isEmpty else { return false }
        if out.version == .resp3 { out.mapHeader(found.count) } else { out.arrayHeader(found.count) }
        for (key, items) in found {
            if out.version == .resp2 { out.arrayHeader(2) }
            out.bulk(key)
            out.append(contentsOf: items)
        }
        return true
    }

    /// `items` behind an array header of `count`.
    func arrayOf(_ count: Int, _ items: RESPWriter) -> RESPWriter {
        var out = RESPWriter(version: items.version, reservingCapacity: items.bytes.count + 16)
        out.arrayHeader(count)
        out.append(contentsOf: items)
        return out
    }

    /// Writes one `[id, [field, value …]]` item, or `[id, nil]` for an entry that is gone; with
    /// `claimed`, XREADGROUP CLAIM's `[id, fields, idle ms, deliveries before this one]`.
    func writeItem(_ id: EntryID, _ fields: [[UInt8]]?, claimed: (idle: Int64, deliveries: UInt64)? = nil, into out: inout RESPWriter) {
        out.arrayHeader(claimed == nil ? 2 : 4)
        out.bulk(id)
        if let fields {
            out.arrayHeader(fields.count)
            for field in fields { out.bulk(field) }
        } else {
            out.nullArray()
        }
        if let claimed {
            out.integer(claimed.idle)
            out.integer(Int64(clamping: claimed.deliveries))
        }
    }

    /// XREADGROUP … CLAIM min-idle `>`: pending entries idle at least `minIdle` go to `consumer`
    /// before any new entry, given-back ones first (in the order they were given back), then the
    /// others longest idle first, each counted as a delivery (or dead-lettered past the group's
    /// maximum). Entries deleted from the stream are skipped and stay pending, as in Redis. Needs a
    /// walk of the group's pending list (no index by delivery time).
    func readClaimed(
        _ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer, minIdle: Int64, count: Int, now: Int64,
        into out: inout RESPWriter, nextClaimAt: inout Int64?
    ) throws(WiredTigerError) -> Int {
        guard group.pendingCount > 0, count > 0 else { return 0 }
        var candidates = group.givenBackInClaimOrder
        var oldestOwned: Int64?
        let owned = try store.pendingEntries(stream, group) { entry in
            guard !entry.isGivenBack else { return false }
            if now - entry.deliveryTime >= minIdle { return true }
            oldestOwned = min(oldestOwned ?? entry.deliveryTime, entry.deliveryTime)
            return false
        }
        candidates += owned.sorted { ($0.deliveryTime, $0.id) < ($1.deliveryTime, $1.id) }.map(\.id)
        if let oldestOwned {
            let due = oldestOwned + minIdle
            nextClaimAt = min(nextClaimAt ?? due, due)
        }
        var written = 0
        for id in candidates where written < count {
            guard let pending = try store.pendingEntry(stream, group, id: id), let stored = try entry(stream, id) else {
                continue
            }
            let claimed = (idle: now - pending.deliveryTime, deliveries: pending.deliveryCount)
            guard try redeliver(stream, group, pending, stored, to: consumer.name, at: now) else { continue }
            writeItem(id, stored.fields, claimed: claimed, into: &out)
            written += 1
        }
        if written > 0 { store.touch(stream, group, consumer, seen: nil, active: now) }
        return written
    }

    /// The consumer's own pending entries after `position`: each counts as delivered again.
    /// Entries deleted from the stream come back as an id with no fields and stay pending.
    func readHistory(
        _ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer, after position: EntryID, count: Int,
        now: Int64, into out: inout RESPWriter
    ) throws(WiredTigerError) -> Int {
        guard let start = position.successor else { return 0 }
        var written = 0
        var from = start
        // Dead-lettered entries leave the list; keep reading until `count` items or the end.
        while written < count {
            let pending = try store.pendingEntries(stream, group, consumer: consumer.name, from: from, limit: count - written)
            guard let last = pending.last else { break }
            var delivered: [EntryID] = []
            for entry in pending {
                guard let stored = try self.entry(stream, entry.id) else {
                    writeItem(entry.id, nil, into: &out)
                    written += 1
                    continue
                }
                if group.exceedsMaxDeliveries(entry.deliveryCount + 1) {
                    try deadLetter(stream, group, entry, stored)
                    continue
                }
                delivered.append(entry.id)
                writeItem(entry.id, stored.fields, into: &out)
                written += 1
            }
            // Delivered once more, all together.
            try store.modifyPending(stream, group, ids: delivered) { _, old in
                PendingState(consumer: consumer.name, deliveryTime: now, deliveryCount: (old?.deliveryCount ?? 0) + 1)
            }
            guard let next = last.id.successor else { break }
            from = next
        }
        return written
    }

    /// XREADGROUP `>`: given-back entries that are due, then entries after the group's position,
    /// written straight from storage.
    func readNew(
        _ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer, count: Int, noAck: Bool, claimForm: Bool,
        now: Int64, into out: inout RESPWriter
    ) throws(WiredTigerError) -> Int {
        var written = 0
        if !group.givenBack.isEmpty && !claimForm {
            for id in group.dueRedeliveries(now: now) where written < count {
                guard let pending = try store.pendingEntry(stream, group, id: id) else { continue }
                guard let stored = try entry(stream, id) else {
                    try store.removePending(stream, group, id: id)
                    continue
                }
                if noAck {
                    try store.removePending(stream, group, id: id)
                } else if !(try redeliver(stream, group, pending, stored, to: consumer.name, at: now)) {
                    continue
                }
                writeItem(id, stored.fields, into: &out)
                written += 1
            }
        }
        if written < count, stream.lastID > group.lastDeliveredID, let from = group.lastDeliveredID.successor {
            var delivered: [EntryID] = []
            var cursor = try store.cursor(stream, from: from)
            written += try writeItems(&cursor, count: count - written, claimForm: claimForm, into: &out) { delivered.append($0) }
            _ = consume cursor
            if !delivered.isEmpty {
                let first = try firstID(stream)
                for id in delivered { advance(stream, group, to: id, firstID: first) }
                if !noAck {
                    // New to the group, or pending already if SETID moved it back: delivered once, now.
                    let state = PendingState(consumer: consumer.name, deliveryTime: now, deliveryCount: 1)
                    try store.modifyPending(stream, group, ids: delivered) { _, _ in state }
                }
            }
        }
        if written > 0 && !noAck { store.touch(stream, group, consumer, seen: nil, active: now) }
        return written
    }

    /// Whether a blocked XREADGROUP has something due without an append: given-back entries.
    func hasDueRedeliveries(_ waiter: Waiter, now: Int64) throws(WiredTigerError) -> Bool {
        guard let request = waiter.groupRead else { return false }
        for key in waiter.keys {
            if let group = try store.streamForReading(key)?.groups[request.group], let next = group.nextRedeliveryTime,
                next <= now
            {
                return true
            }
        }
        return false
    }

    /// The monotonic deadline at which a blocked XREADGROUP's given-back entries come due.
    func redeliveryDeadline(_ waiter: Waiter) -> UInt64? {
        guard let request = waiter.groupRead else { return nil }
        store.database = waiter.database
        var earliest: Int64?
        for key in waiter.keys {
            if let next = (try? store.streamForReading(key))??.groups[request.group]?.nextRedeliveryTime {
                earliest = min(earliest ?? next, next)
            }
        }
        guard let earliest else { return nil }
        let wait = max(0, earliest - nowMilliseconds)
        return monotonicNanoseconds() + UInt64(wait) * 1_000_000
    }

    /// Re-runs a woken XREADGROUP; nil when it must keep waiting, else its whole reply.
    func wakeGroupRead(_ waiter: Waiter, request: GroupReadRequest) throws(WiredTigerError) -> [UInt8]? {
        var out = RESPWriter(version: waiter.version)
        for key in waiter.keys {
            // Its stream deleted, moved or swapped away, or its group destroyed: Redis 8 answers
            // what the command would answer if sent now.
            guard let stream = try store.streamForReading(key), stream.groups[request.group] != nil else {
                out.error(Self.noSuchKeyOrGroup(key, request.group, suffix: " in XREADGROUP with GROUP option"))
                return out.bytes
            }
        }
        let positions = [EntryID?](repeating: nil, count: waiter.keys.count)
        var nextClaimAt: Int64?
        guard try serveGroupRead(
            waiter.keys, positions: positions, request: request, count: waiter.count, into: &out, nextClaimAt: &nextClaimAt)
        else {
            waiter.claimCheckAt = nextClaimAt
            return nil
        }
        return out.bytes
    }

    // MARK: XACK, XNACK

    /// Parses ids strictly (no `-`/`+`), all before any change, as Redis does.
    /// XACK key group id [id …]
    func xack(key: [UInt8], group groupName: [UInt8], ids: [EntryID]?, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(key), let group = stream.groups[groupName] else {
            return out.integer(0)
        }
        guard let ids else { return out.error(CommandError.invalidStreamID) }
        out.integer(Int64(try store.removePending(stream, group, ids: ids)))
    }

    /// What XNACK does to a given-back entry's delivery count (Redis 8.8).
    enum NackMode {
        /// The delivery did not count (the consumer is shutting down): one fewer, not below 0.
        case silent
        /// The delivery failed: the count stays as it is.
        case fail
        /// The entry must never be delivered again: the highest count (with a dead-letter policy,
        /// it is dead-lettered at once).
        case fatal

        func count(after delivered: UInt64) -> UInt64 {
            switch self {
            case .silent: delivered > 0 ? delivered - 1 : 0
            case .fail: delivered
            case .fatal: UInt64(Int64.max)
            }
        }
    }

    /// XNACK key group SILENT|FAIL|FATAL IDS numids id … [RETRYCOUNT n] [FORCE] [DELAY ms]: gives
    /// pending entries back. Each loses its owner (XPENDING: consumer "", idle -1) and any claim
    /// (XCLAIM, XAUTOCLAIM, XREADGROUP CLAIM) takes it whatever its minimum idle time, first given
    /// back first. FORCE makes an existing entry that is not pending a given-back one. DELAY
    /// (Spool) also has XREADGROUP `>` deliver it again once `ms` have passed. An entry whose next
    /// delivery would pass the group's MAXDELIVERIES goes to the dead-letter stream now. Replies
    /// with the number of ids given back (each listed id counts, repeats too).
    /// XNACK: the stream and group first, then the options the loop thread parsed, in Redis's order.
    func xnack(key: [UInt8], group groupName: [UInt8], _ options: Result<Command.Nack, CommandErrorText>, _ out: inout RESPWriter)
        throws(WiredTigerError)
    {
        guard let stream = try store.streamForWriting(key), let group = stream.groups[groupName] else {
            return out.error(Self.noSuchKeyOrGroup(key, groupName))
        }
        let nack: Command.Nack
        switch options {
        case .failure(let error): return out.error(error.text)
        case .success(let parsed): nack = parsed
        }
        let ids = nack.ids
        let mode = nack.mode
        let retryCount = nack.retryCount
        let force = nack.force
        let delay = nack.delay
        let now = nowMilliseconds
        let givenBack = GivenBack(at: now, redeliverAt: delay.map { now + $0 })
        var processed: Int64 = 0
        for id in ids {
            var pending = try store.pendingEntry(stream, group, id: id)
            if pending == nil {
                guard force, try entry(stream, id) != nil else { continue }
                pending = PendingEntry(id: id, consumer: [], deliveryTime: 0, deliveryCount: 0)
            }
            guard let pending else { continue }
            processed += 1
            let count = retryCount ?? mode.count(after: pending.deliveryCount)
            // Its next delivery would pass the group's maximum: dead-letter it now.
            if group.exceedsMaxDeliveries(count &+ 1) {
                if let stored = try entry(stream, id) {
                    try deadLetter(stream, group, pending, stored)
                } else {
                    try store.removePending(stream, group, id: id)
                }
                continue
            }
            let state = PendingState(consumer: pending.consumer, deliveryTime: 0, deliveryCount: count, givenBack: givenBack)
            try store.modifyPending(stream, group, ids: [id]) { _, _ in state }
        }
        if processed > 0 { streamChanged(key) }
        out.integer(processed)
    }

    // MARK: XPENDING

    /// XPENDING, its options checked on the loop thread (Command+Claims.swift).
    func xpending(_ request: Command.XPending, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForReading(request.key), let group = stream.groups[request.group] else {
            return out.error(Self.noSuchKeyOrGroup(request.key, request.group))
        }
        guard let range = request.range else {
            out.arrayHeader(4)
            out.integer(Int64(group.pendingCount))
            guard let (first, last) = try store.pendingBounds(stream, group) else {
                out.nullBulk()
                out.nullBulk()
                out.nullArray()
                return
            }
            out.bulk(first)
            out.bulk(last)
            let holders = group.sortedConsumers.filter { $0.pendingCount > 0 }
            out.arrayHeader(holders.count)
            for consumer in holders {
                out.arrayHeader(2)
                out.bulk(consumer.name)
                out.bulk(Array(String(consumer.pendingCount).utf8))
            }
            return
        }
        if let consumerName = range.consumer, group.consumers[consumerName] == nil { return out.arrayHeader(0) }
        let now = nowMilliseconds
        let minIdle = range.minIdle
        let entries = try store.pendingEntries(
            stream, group, consumer: range.consumer, from: range.start, to: range.end,
            limit: min(range.count, limits.readCountMax)
        ) { entry in minIdle <= 0 || entry.isGivenBack || now - entry.deliveryTime >= minIdle }
        out.arrayHeader(entries.count)
        for entry in entries {
            // A given-back entry has no owner and no idle time, as Redis shows a NACKed one.
            out.arrayHeader(4)
            out.bulk(entry.id)
            out.bulk(entry.isGivenBack ? [] : entry.consumer)
            out.integer(entry.isGivenBack ? -1 : max(0, now - entry.deliveryTime))
            out.integer(Int64(clamping: entry.deliveryCount))
        }
    }

    // MARK: XCLAIM, XAUTOCLAIM

    /// XCLAIM: the stream and group first, then the consumer's name, then the options the loop
    /// thread parsed (Command+Claims.swift), in Redis's order.
    func xclaim(_ request: Command.XClaim, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(request.key), let group = stream.groups[request.group] else {
            return out.error(Self.noSuchKeyOrGroup(request.key, request.group))
        }
        guard request.consumer.count <= Self.groupNameMaxLength else { return out.error(Self.nameTooLong("consumer")) }
        let options: Command.XClaim.Options
        switch request.options {
        case .failure(let error): return out.error(error.text)
        case .success(let parsed): options = parsed
        }
        let ids = options.ids
        let now = nowMilliseconds
        let minIdle = options.minIdle
        let justID = options.justID
        let deliveryTime: Int64? = options.deliveryTime.map {
            switch $0 {
            case .idle(let ms): return now - ms
            case .at(let time): return time
            }
        }
        guard ids.count <= limits.readCountMax else {
            return out.error("ERR XCLAIM takes at most \(limits.readCountMax) ids")
        }
        if options.lastID > group.lastDeliveredID {
            store.setGroupPosition(stream, group, lastDeliveredID: options.lastID, entriesRead: group.entriesRead)
        }
        var time = deliveryTime ?? now
        if time < 0 || time > now { time = now }
        let consumer = store.consumer(stream, group, named: request.consumer, now: now).consumer
        store.touch(stream, group, consumer, seen: now)
        var claimed: [DeliveredItem] = []
        let retry: UInt64? = options.retryCount.map { UInt64(clamping: max(0, $0)) }
        for id in ids {
            let pending = try store.pendingEntry(stream, group, id: id)
            guard let stored = try entry(stream, id) else {
                if pending != nil { try store.removePending(stream, group, id: id) }
                continue
            }
            if let pending {
                if minIdle > 0 && !pending.isGivenBack && now - pending.deliveryTime < minIdle { continue }
                guard try redeliver(
                    stream, group, pending, stored, to: consumer.name, at: time, deliveryCount: retry, keepCount: justID)
                else { continue }
            } else {
                // FORCE: a new pending entry, counted as Redis counts it (created at 1, then delivered).
                guard options.force else { continue }
                let count = retry ?? (justID ? 1 : 2)
                try store.putPending(
                    stream, group, PendingEntry(id: id, consumer: consumer.name, deliveryTime: time, deliveryCount: count))
            }
            claimed.append((id, justID ? nil : stored.fields))
            store.touch(stream, group, consumer, seen: nil, active: now)
        }
        writeClaimed(claimed, justID: justID, into: &out)
    }

    /// XCLAIM's and XAUTOCLAIM's list of claimed entries, or of their ids for JUSTID.
    func writeClaimed(_ claimed: [DeliveredItem], justID: Bool, into out: inout RESPWriter) {
        out.arrayHeader(claimed.count)
        for item in claimed {
            if justID {
                out.bulk(item.id)
            } else {
                writeItem(item.id, item.fields, into: &out)
            }
        }
    }

    /// XAUTOCLAIM, its options checked on the loop thread (Command+Claims.swift).
    func xautoclaim(_ request: Command.XAutoClaim, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(request.key), let group = stream.groups[request.group] else {
            return out.error(Self.noSuchKeyOrGroup(request.key, request.group))
        }
        let minIdle = request.minIdle
        let justID = request.justID
        let start = request.start
        var count = request.count
        count = min(count, limits.readCountMax)
        guard request.consumer.count <= Self.groupNameMaxLength else { return out.error(Self.nameTooLong("consumer")) }
        let now = nowMilliseconds
        let consumer = store.consumer(stream, group, named: request.consumer, now: now).consumer
        store.touch(stream, group, consumer, seen: now)
        var attempts = count * 10
        let candidates = try store.pendingEntries(stream, group, from: start, limit: attempts + 1)
        var examined = 0
        var claimed: [DeliveredItem] = []
        var deleted: [EntryID] = []
        var remaining = count
        while attempts > 0 && remaining > 0 && examined < candidates.count {
            attempts -= 1
            let pending = candidates[examined]
            examined += 1
            guard let stored = try entry(stream, pending.id) else {
                try store.removePending(stream, group, id: pending.id)
                deleted.append(pending.id)
                remaining -= 1
                continue
            }
            if minIdle > 0 && !pending.isGivenBack && now - pending.deliveryTime < minIdle { continue }
            if try redeliver(stream, group, pending, stored, to: consumer.name, at: now, keepCount: justID) {
                claimed.append((pending.id, justID ? nil : stored.fields))
                store.touch(stream, group, consumer, seen: nil, active: now)
            }
            remaining -= 1
        }
        let next = examined < candidates.count ? candidates[examined].id : .zero
        out.arrayHeader(3)
        out.bulk(next)
        writeClaimed(claimed, justID: justID, into: &out)
        out.arrayHeader(deleted.count)
        for id in deleted { out.bulk(id) }
    }

    // MARK: XINFO GROUPS, CONSUMERS, and the groups of XINFO STREAM FULL

    /// XINFO GROUPS key: Redis's six fields, then Spool's time lags: the age (ms) of the oldest
    /// entry the group has not read yet and of its oldest pending entry (null when none).
    /// XINFO GROUPS key [EXTENDED]: Redis's six fields in Redis's order; EXTENDED (Spool's opt-in,
    /// which no Redis client sends) adds the time lags and the dead-letter policy after them.
    func xinfoGroups(_ stream: StreamState, extended: Bool, _ out: inout RESPWriter) throws(WiredTigerError) {
        let groups = stream.groups.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        out.arrayHeader(groups.count)
        guard !groups.isEmpty else { return }
        let first = try firstID(stream)
        let now = nowMilliseconds
        for group in groups {
            out.mapHeader(extended ? 10 : 6)
            out.bulk("name")
            out.bulk(group.name)
            out.bulk("consumers")
            out.integer(Int64(group.consumers.count))
            out.bulk("pending")
            out.integer(Int64(group.pendingCount))
            out.bulk("last-delivered-id")
            out.bulk(group.lastDeliveredID)
            writeReadCounters(stream, group, firstID: first, into: &out)
            guard extended else { continue }
            out.bulk("oldest-unread-age-ms")
            if let age = try oldestUnreadAge(stream, group, now: now) { out.integer(age) } else { out.nullBulk() }
            out.bulk("oldest-pending-age-ms")
            if let (oldest, _) = try store.pendingBounds(stream, group) {
                out.integer(max(0, now - Int64(clamping: oldest.milliseconds)))
            } else {
                out.nullBulk()
            }
            out.bulk("max-deliveries")
            out.integer(Int64(clamping: group.maxDeliveries))
            out.bulk("dead-letter-stream")
            if group.maxDeliveries > 0 {
                out.bulk(deadLetterStreamName(stream, group))
            } else {
                out.nullBulk()
            }
        }
    }

    /// How long ago (ms) the oldest entry the group has not been given was added; nil when it has
    /// been given everything.
    func oldestUnreadAge(_ stream: StreamState, _ group: ConsumerGroup, now: Int64) throws(WiredTigerError) -> Int64? {
        guard let from = group.lastDeliveredID.successor, let unread = try store.entries(stream, from: from, count: 1).first
        else { return nil }
        return max(0, now - Int64(clamping: unread.id.milliseconds))
    }

    /// The `entries-read` and `lag` fields of XINFO GROUPS and STREAM FULL (null when unknown).
    func writeReadCounters(_ stream: StreamState, _ group: ConsumerGroup, firstID: EntryID, into out: inout RESPWriter) {
        out.bulk("entries-read")
        if group.entriesRead == ConsumerGroup.unknownEntriesRead { out.nullBulk() } else { out.integer(group.entriesRead) }
        out.bulk("lag")
        if let lag = lag(stream, group, firstID: firstID) { out.integer(lag) } else { out.nullBulk() }
    }

    /// XINFO CONSUMERS key group
    func xinfoConsumers(_ stream: StreamState, groupName: [UInt8], key: [UInt8], _ out: inout RESPWriter) {
        guard let group = stream.groups[groupName] else { return out.error(Self.noSuchGroup(key, groupName)) }
        let now = nowMilliseconds
        let consumers = group.sortedConsumers
        out.arrayHeader(consumers.count)
        for consumer in consumers {
            out.mapHeader(4)
            out.bulk("name")
            out.bulk(consumer.name)
            out.bulk("pending")
            out.integer(Int64(consumer.pendingCount))
            out.bulk("idle")
            out.integer(max(0, now - consumer.seenTime))
            out.bulk("inactive")
            out.integer(consumer.activeTime == -1 ? -1 : now - consumer.activeTime)
        }
    }

    /// The `groups` value of XINFO STREAM FULL: every group with up to `count` pending entries,
    /// and every consumer with up to `count` of its own.
    func xinfoFullGroups(_ stream: StreamState, count: Int, _ out: inout RESPWriter) throws(WiredTigerError) {
        let groups = stream.groups.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        out.arrayHeader(groups.count)
        guard !groups.isEmpty else { return }
        let first = try firstID(stream)
        for group in groups {
            out.mapHeader(8)
            out.bulk("name")
            out.bulk(group.name)
            out.bulk("last-delivered-id")
            out.bulk(group.lastDeliveredID)
            writeReadCounters(stream, group, firstID: first, into: &out)
            out.bulk("pel-count")
            out.integer(Int64(group.pendingCount))
            out.bulk("nacked-count")
            out.integer(Int64(group.givenBack.count))
            out.bulk("pending")
            let pending = try store.pendingEntries(stream, group, limit: count)
            out.arrayHeader(pending.count)
            for entry in pending {
                out.arrayHeader(4)
                out.bulk(entry.id)
                out.bulk(entry.isGivenBack ? [] : entry.consumer)
                out.integer(entry.isGivenBack ? 0 : entry.deliveryTime)
                out.integer(Int64(clamping: entry.deliveryCount))
            }
            out.bulk("consumers")
            let consumers = group.sortedConsumers
            out.arrayHeader(consumers.count)
            for consumer in consumers {
                out.mapHeader(5)
                out.bulk("name")
                out.bulk(consumer.name)
                out.bulk("seen-time")
                out.integer(consumer.seenTime)
                out.bulk("active-time")
                out.integer(consumer.activeTime)
                out.bulk("pel-count")
                out.integer(Int64(consumer.pendingCount))
                out.bulk("pending")
                let own = try store.pendingEntries(stream, group, consumer: consumer.name, limit: count)
                out.arrayHeader(own.count)
                for entry in own {
                    out.arrayHeader(3)
                    out.bulk(entry.id)
                    out.integer(entry.deliveryTime)
                    out.integer(Int64(clamping: entry.deliveryCount))
                }
            }
        }
    }

    // MARK: References (KEEPREF, DELREF, ACKED)

    /// Whether some group of the stream still needs the entry: it has not been delivered to every
    /// group yet, or some group has it pending (Redis 8.2's "referenced").
    func isReferenced(_ stream: StreamState, _ id: EntryID) throws(WiredTigerError) -> Bool {
        for group in stream.groups.values {
            if id > group.lastDeliveredID { return true }
            if try store.pendingEntry(stream, group, id: id) != nil { return true }
        }
        return false
    }

    /// DELREF: the entry leaves every group's pending list.
    func removeReferences(_ stream: StreamState, _ id: EntryID) throws(WiredTigerError) {
        for group in stream.groups.values { try store.removePending(stream, group, id: id) }
    }
}
