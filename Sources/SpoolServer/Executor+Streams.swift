import SpoolCore
import SpoolProtocol
import SpoolStorage

extension Executor {
    // MARK: XADD

    /// What deleting an entry does to the consumer groups that hold it (Redis 8.2).
    enum ReferencePolicy {
        /// KEEPREF, the default: their pending entries stay (and dangle).
        case keep
        /// DELREF: it leaves every group's pending list too.
        case delete
        /// ACKED: only entries no group still needs (delivered to every group, pending in none).
        case acknowledged

        init?(_ word: some ByteString) {
            switch true {
            case word.isKeyword("KEEPREF"): self = .keep
            case word.isKeyword("DELREF"): self = .delete
            case word.isKeyword("ACKED"): self = .acknowledged
            default: return nil
            }
        }
    }

    /// How XADD/XTRIM trim: MAXLEN or MINID, exact (=) or approximate (~), with a LIMIT.
    struct TrimSpec {
        enum Strategy { case maxLength(UInt64), minimumID(EntryID) }
        var strategy: Strategy
        var approximate: Bool
        var limit: Int?
        var references = ReferencePolicy.keep
    }

    /// The id XADD was given: `*`, `ms-*` or an explicit one.
    enum RequestedID {
        case auto
        case autoSequence(UInt64)
        case explicit(EntryID)

        init?(parsing text: some ByteString) {
            if text.count == 1 && text[0] == UInt8(ascii: "*") {
                self = .auto
            } else if text.count >= 3, text[text.count - 2] == UInt8(ascii: "-"), text[text.count - 1] == UInt8(ascii: "*") {
                guard let ms = EntryID(parsing: text.dropLast(2), missingSequence: .zero) else { return nil }
                self = .autoSequence(ms.milliseconds)
            } else {
                guard let id = EntryID(parsing: text, missingSequence: .zero) else { return nil }
                self = .explicit(id)
            }
        }
    }

    /// XADD's and XTRIM's arguments after the key.
    struct AddOrTrimArguments {
        var trim: TrimSpec?
        var noMakeStream = false
        /// XADD: the id and where it is; its fields follow it.
        var id: RequestedID?
        var idIndex = 0
        /// XADD: Spool's PRODUCER, SEQ, EPOCH, IFLAST and IFVERSION options (Executor+Producers.swift).
        var append = AppendOptions()
        /// XADD: Redis 8.6's IDMP producer iid or IDMPAUTO producer.
        var idempotency: Idempotency?
    }

    /// How an idempotent XADD names itself.
    enum Idempotency {
        /// IDMP producer iid.
        case explicit(producer: [UInt8], id: [UInt8])
        /// IDMPAUTO producer: the id is a hash of the fields and values, in any order.
        case automatic(producer: [UInt8])

        /// The producer and the idempotent id of an append with these fields.
        func resolve(_ fields: some ByteStrings) -> (producer: [UInt8], id: [UInt8]) {
            switch self {
            case .explicit(let producer, let id): return (producer, id)
            case .automatic(let producer): return (producer, FieldSetHash.digest(fields))
            }
        }
    }

    /// Parses `[NOMKSTREAM] [MAXLEN|MINID [=|~] threshold] [LIMIT count]` and, for XADD, the id, as
    /// Redis does (streamParseAddOrTrimArgsOrReply): options in any order, errors in the order
    /// Redis finds them.
    static func parseAddOrTrim<Arguments: RandomAccessCollection>(_ args: Arguments, isXADD: Bool)
        -> Result<AddOrTrimArguments, CommandErrorText>
    where Arguments.Element: ByteString, Arguments.Index == Int {
        var parsed = AddOrTrimArguments()
        var strategy: TrimSpec.Strategy?
        var approximate = false
        var limit: Int?
        var references: ReferencePolicy?
        var index = 2
        while index < args.count {
            let word = args[index]
            let more = args.count - 1 - index
            if (word.isKeyword("MAXLEN") || word.isKeyword("MINID")) && more > 0 {
                guard strategy == nil else { return .failure(CommandError.maxLengthAndMinimumID) }
                let modifier = args[index + 1]
                approximate = false
                if more >= 2 && modifier.count == 1 && (modifier[0] == UInt8(ascii: "~") || modifier[0] == UInt8(ascii: "=")) {
                    approximate = modifier[0] == UInt8(ascii: "~")
                    index += 1
                }
                let threshold = args[index + 1]
                if word.isKeyword("MAXLEN") {
                    guard let value = threshold.asInt64 else { return .failure(CommandError.notInteger) }
                    guard value >= 0 else { return .failure(CommandError.maxLengthNegative) }
                    strategy = .maxLength(UInt64(value))
                } else {
                    guard let id = EntryID(parsing: threshold, missingSequence: .zero) else {
                        return .failure(CommandError.invalidStreamID)
                    }
                    strategy = .minimumID(id)
                }
                index += 2
            } else if word.isKeyword("LIMIT") && more > 0 {
                guard let value = args[index + 1].asInt64 else { return .failure(CommandError.notInteger) }
                guard value >= 0 else { return .failure(CommandError.limitNegative) }
                limit = Int(value)
                index += 2
            } else if references == nil, let policy = ReferencePolicy(word) {
                references = policy
                index += 1
            } else if isXADD && (word.isKeyword("IDMP") && more >= 2 || word.isKeyword("IDMPAUTO") && more >= 1) {
                let automatic = word.isKeyword("IDMPAUTO")
                guard parsed.idempotency == nil else {
                    return .failure("ERR syntax error, IDMP/IDMPAUTO specified multiple times")
                }
                let producer = args[index + 1]
                guard !producer.isEmpty else {
                    return .failure("ERR syntax error, \(automatic ? "IDMPAUTO" : "IDMP") requires a non-empty producer ID")
                }
                if automatic {
                    parsed.idempotency = .automatic(producer: Array(producer))
                    index += 2
                } else {
                    guard !args[index + 2].isEmpty else {
                        return .failure("ERR syntax error, IDMP requires a non-empty idempotent ID")
                    }
                    parsed.idempotency = .explicit(producer: Array(producer), id: Array(args[index + 2]))
                    index += 3
                }
            } else if isXADD && word.isKeyword("NOMKSTREAM") {
                parsed.noMakeStream = true
                index += 1
            } else if isXADD && more > 0, let option = parsed.append.parse(args, at: index) {
                if case .failure(let error) = option { return .failure(error) }
                index += 2
            } else if isXADD {
                guard let id = RequestedID(parsing: word) else { return .failure(CommandError.invalidStreamID) }
                parsed.id = id
                parsed.idIndex = index
                break
            } else {
                return .failure(CommandError.syntax)
            }
        }
        if let limit, limit > 0, strategy == nil { return .failure(CommandError.limitWithoutStrategy) }
        if !isXADD && strategy == nil { return .failure(CommandError.xtrimWithoutStrategy) }
        if limit != nil && !approximate { return .failure(CommandError.limitWithoutTilde) }
        if isXADD, let error = parsed.append.validate() { return .failure(error) }
        if parsed.idempotency != nil {
            if let id = parsed.id, case .auto = id {} else {
                return .failure("ERR syntax error, IDMP/IDMPAUTO can be used only with auto-generated IDs")
            }
            if parsed.append.isUsed { return .failure("ERR IDMP/IDMPAUTO cannot be combined with PRODUCER, IFLAST or IFVERSION") }
        }
        parsed.trim = strategy.map {
            TrimSpec(strategy: $0, approximate: approximate, limit: limit, references: references ?? .keep)
        }
        return .success(parsed)
    }

    /// Removes what the spec says from the oldest end, as Redis's streamTrim does; returns how many
    /// entries went. KEEPREF with `~` removes whole nodes only (LogStore+Nodes.swift), at most
    /// LIMIT entries (default 100 × stream-node-max-entries); exact trimming removes entry by entry.
    /// DELREF also empties the groups' pending lists of what it removes; ACKED passes over entries
    /// a group still needs and removes the others.
    func trim(_ stream: StreamState, _ spec: TrimSpec) throws(WiredTigerError) -> Int {
        var limit = Int.max
        if spec.approximate {
            let byNodes = store.nodeLimits.entriesMax.multipliedReportingOverflow(by: 100)
            let defaultLimit = byNodes.overflow || byNodes.partialValue <= 0 ? 10_000 : min(byNodes.partialValue, 1_000_000)
            limit = spec.limit ?? defaultLimit
            if limit == 0 { limit = .max }
        }
        if spec.approximate && spec.references == .keep {
            switch spec.strategy {
            case .maxLength(let maximum):
                return try store.trimWholeNodes(stream, limit: limit) { entries, _, length in
                    length - UInt64(entries) >= maximum && length > maximum
                }
            case .minimumID(let minimum):
                return try store.trimWholeNodes(stream, limit: limit) { _, last, _ in last < minimum }
            }
        }
        let references = spec.references
        let removed = try store.trimOldest(stream, limit: limit) { id, length throws(WiredTigerError) in
            switch spec.strategy {
            case .maxLength(let maximum): if length <= maximum { return .stop }
            case .minimumID(let minimum): if id >= minimum { return .stop }
            }
            guard references == .acknowledged else { return .remove }
            // Everything after the first id some group has not been given is needed too.
            if stream.groups.values.contains(where: { id > $0.lastDeliveredID }) { return .stop }
            return try isReferenced(stream, id) ? .keep : .remove
        }
        if references == .delete {
            for id in removed { try removeReferences(stream, id) }
        }
        return removed.count
    }

    /// XADD; true when a producer's append sets the rest of its group aside (Executor+Producers.swift).
    func xadd(_ add: Command.XAdd, _ out: inout RESPWriter, group: CommandGroup, maySetAside: Bool)
        throws(WiredTigerError) -> Bool
    {
        if add.options.append.isUsed { return try xaddWithOptions(add, &out, group: group, maySetAside: maySetAside) }
        if group.isTransaction { try beginSavepointIfPending() }
        _ = try appendEntry(add, &out)
        return false
    }

    /// What `appendEntry` did.
    enum AppendResult {
        case appended(EntryID)
        /// Nothing was added; the reply (an error or NOMKSTREAM's null) is written.
        case refused
        /// IFLAST or IFVERSION did not match the stream (the error text given); nothing is added
        /// or written.
        case conditionFailed(String)
    }

    /// Adds XADD's entry (arguments already parsed and checked) and writes its reply: NOMKSTREAM,
    /// IFLAST and IFVERSION, the id, the append, the trim.
    func appendEntry(
        _ add: Command.XAdd, _ out: inout RESPWriter, nowMilliseconds: UInt64? = nil
    ) throws(WiredTigerError) -> AppendResult
    {
        let parsed = add.options
        let key = add.key
        let requested = parsed.id!
        let existing = try store.streamForWriting(key)
        if existing == nil && parsed.noMakeStream {
            out.nullBulk()
            return .refused
        }
        let lastID = existing?.lastID ?? .zero
        if parsed.trim != nil, let existing, let refusal = backfillRefusal(existing, from: .zero, to: .max) {
            out.error(refusal)
            return .refused
        }
        if parsed.append.isConditional,
            let failure = parsed.append.conditionFailure(lastID: lastID, version: existing?.entriesAdded ?? 0)
        {
            return .conditionFailed(failure)
        }
        let idempotent = parsed.idempotency?.resolve(add.fields)
        if let idempotent, let existing {
            let now = nowMilliseconds ?? store.nowMilliseconds
            let found = try store.lookUpIdempotent(existing, producer: idempotent.producer, id: idempotent.id, nowMilliseconds: now)
            if case .duplicate(let original) = found {
                // Sent before: the first append's id, and nothing added or trimmed.
                out.bulk(original)
                return .refused
            }
        }
        let id: EntryID?
        switch requested {
        case .auto: id = EntryID.generated(after: lastID, nowMilliseconds: nowMilliseconds ?? store.nowMilliseconds)
        case .autoSequence(let ms): id = EntryID.generated(milliseconds: ms, after: lastID)
        case .explicit(let explicit): id = explicit > lastID ? explicit : nil
        }
        guard let id else {
            if case .auto = requested {
                out.error("ERR The stream has exhausted the last possible ID, unable to add more items")
            } else {
                out.error(CommandError.xaddTooSmall)
            }
            return .refused
        }
        let stream: StreamState
        if let existing {
            stream = existing
        } else {
            stream = try store.createStream(key)
        }
        try store.append(stream, id: id, fields: add.fields)
        if let idempotent { try store.recordIdempotent(stream, producer: idempotent.producer, id: idempotent.id, entry: id) }
        // A reader that blocks later in this batch reads the entry directly; only waiting ones
        // need to hear of it.
        streamChanged(key)
        if let spec = parsed.trim { _ = try trim(stream, spec) }
        out.bulk(id)
        return .appended(id)
    }

    // MARK: Reads

    func writeEntry(_ entry: Entry, into out: inout RESPWriter) {
        out.arrayHeader(2)
        out.bulk(entry.id)
        out.arrayHeader(entry.fields.count)
        for field in entry.fields { out.bulk(field) }
    }

    func writeEntries(_ entries: [Entry], into out: inout RESPWriter) {
        out.arrayHeader(entries.count)
        for entry in entries { writeEntry(entry, into: &out) }
    }

    /// Writes up to `count` entries from the cursor as `[id, [field, value …]]` items straight from
    /// their stored bytes (no `Entry` built), calling `each` with every id written; returns how
    /// many were written. The caller writes the array header.
    /// `claimForm`: XREADGROUP CLAIM's items, `[id, fields, 0, 0]` for a new entry.
    func writeItems(
        _ cursor: inout MergedCursor, count: Int, claimForm: Bool = false, into out: inout RESPWriter,
        each: (EntryID) -> Void = { _ in }
    ) throws(WiredTigerError) -> Int {
        var written = 0
        while written < count {
            let result = try cursor.nextRaw { (id: EntryID, raw: UnsafeRawBufferPointer) -> EntryID? in
                out.arrayHeader(claimForm ? 4 : 2)
                out.bulk(id)
                let valid = EntryBytes.visit(raw, count: { out.arrayHeader($0) }, string: { out.bulk($0) })
                if claimForm {
                    out.integer(0)
                    out.integer(0)
                }
                return valid ? id : nil
            }
            guard let result else { break }
            guard let id = result else { throw WiredTigerError.corrupt("an entry's stored bytes do not decode") }
            each(id)
            written += 1
        }
        return written
    }

    /// Writes up to `count` entries between two inclusive ids as a RESP array, straight from storage.
    func writeRange(
        _ stream: StreamState, from lower: EntryID, to upper: EntryID = .max, direction: MergedCursor.Direction = .forward,
        count: Int, into out: inout RESPWriter
    ) throws(WiredTigerError) -> Int {
        var body = RESPWriter(version: out.version, reservingCapacity: min(count, 1024) * 160)
        var cursor = try store.cursor(stream, from: lower, to: upper, direction: direction)
        let written = try writeItems(&cursor, count: count, into: &body)
        out.arrayHeader(written)
        out.append(contentsOf: body)
        return written
    }

    /// XRANGE key start end [COUNT n], XREVRANGE key end start [COUNT n]. A COUNT of 0 or less
    /// on an existing stream is a null reply, as in Redis.
    func xrange(_ range: Command.XRange, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForReading(range.key) else { return out.arrayHeader(0) }
        if let refusal = backfillRefusal(stream, from: range.start, to: range.end) { return out.error(refusal) }
        guard range.count > 0 else { return out.nullArray() }
        _ = try writeRange(
            stream, from: range.start, to: range.end, direction: range.reverse ? .backward : .forward,
            count: min(range.count, limits.readCountMax), into: &out)
    }

    func xlen(_ key: [UInt8], _ out: inout RESPWriter) throws(WiredTigerError) {
        out.integer(Int64(try store.streamForReading(key)?.length ?? 0))
    }

    /// COUNT as XREAD and XREADGROUP apply it: none or 0 and below mean the limit.
    func readCount(_ requested: Int64?) -> Int {
        guard let requested, requested > 0 else { return limits.readCountMax }
        return Int(min(requested, Int64(limits.readCountMax)))
    }

    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …
    func xread(_ read: Command.XRead, _ out: inout RESPWriter, group: CommandGroup, mayBlock: Bool)
        throws(WiredTigerError) -> Waiter?
    {
        let count = readCount(read.count)
        var ids: [EntryID] = []
        ids.reserveCapacity(read.keys.count)
        for (key, start) in zip(read.keys, read.starts) {
            switch start {
            case .after(let id):
                ids.append(id)
            case .lastID:
                ids.append(try store.streamForReading(key)?.lastID ?? .zero)
            case .lastEntry:
                // `+` (Redis 7.4): the stream's last entry, if it has one.
                if let stream = try store.streamForReading(key), let last = try store.lastEntry(stream),
                    let before = last.id.predecessor
                {
                    ids.append(before)
                } else {
                    ids.append(try store.streamForReading(key)?.lastID ?? .zero)
                }
            }
        }
        for (key, id) in zip(read.keys, ids) {
            guard let stream = try store.streamForReading(key), let from = id.successor else { continue }
            if let refusal = backfillRefusal(stream, from: from, to: .max) {
                out.error(refusal)
                return nil
            }
        }
        var reply = RESPWriter(version: out.version)
        if try writeStreams(read.keys, after: ids, count: count, into: &reply) {
            out.append(contentsOf: reply)
            return nil
        }
        return blockedRead(block: read.block, mayBlock: mayBlock, group: group, keys: read.keys, ids: ids, count: count, &out)
    }

    /// XREAD or XREADGROUP found nothing: with BLOCK (ms, 0 for ever) and where it may block (not
    /// in MULTI), a waiter for the group's slot; otherwise the nil reply.
    func blockedRead(
        block: Int64?, mayBlock: Bool, group: CommandGroup, keys: [[UInt8]], ids: [EntryID], count: Int,
        groupRead: GroupReadRequest? = nil, _ out: inout RESPWriter
    ) -> Waiter? {
        guard let block, mayBlock else {
            out.nullArray()
            return nil
        }
        let deadline = block == 0 ? nil : monotonicNanoseconds() + UInt64(block) * 1_000_000
        let waiter = Waiter(
            connection: group.connection, slot: group.slot, version: group.version, keys: keys, ids: ids,
            count: count, deadline: deadline)
        waiter.groupRead = groupRead
        waiter.database = store.database
        return waiter
    }

    /// Writes XREAD's reply for the streams that have entries after their ids; false (and nothing
    /// written) when none has.
    func writeStreams(_ keys: [[UInt8]], after ids: [EntryID], count: Int, into out: inout RESPWriter)
        throws(WiredTigerError) -> Bool
    {
        var found: [([UInt8], RESPWriter)] = []
        for (key, id) in zip(keys, ids) {
            guard let stream = try store.streamForReading(key), stream.lastID > id, let from = id.successor else { continue }
            // A waiting reader whose stream began a backfill meanwhile waits until it ends.
            if backfillRefusal(stream, from: from, to: .max) != nil { continue }
            var items = RESPWriter(version: out.version)
            if try writeRange(stream, from: from, count: count, into: &items) > 0 { found.append((key, items)) }
        }
        return writeStreamsReply(found, into: &out)
    }

    // MARK: Deletion and trimming

    func xdel(key: [UInt8], ids: [EntryID], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(key) else { return out.integer(0) }
        for id in ids {
            if let refusal = backfillRefusal(stream, from: id, to: id) { return out.error(refusal) }
        }
        var deleted: Int64 = 0
        for id in ids where try store.delete(stream, id: id) { deleted += 1 }
        out.integer(deleted)
    }

    /// XDELEX's and XACKDEL's reply on a missing key (or group): -1 for each id, unchecked.
    private func answerNoneFound(_ count: Int, _ out: inout RESPWriter) {
        out.arrayHeader(count)
        for _ in 0..<count { out.integer(-1) }
    }

    /// XDELEX key [KEEPREF | DELREF | ACKED] IDS numids id … (Redis 8.2): per id 1 deleted, -1 not
    /// there, 2 kept because a group still needs it (ACKED).
    func xdelex(_ request: Command.ReferencedDelete, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(request.key) else { return answerNoneFound(request.count, &out) }
        guard let ids = request.ids else { return out.error(CommandError.invalidStreamID) }
        for id in ids {
            if let refusal = backfillRefusal(stream, from: id, to: id) { return out.error(refusal) }
        }
        out.arrayHeader(ids.count)
        for id in ids {
            if request.policy == .acknowledged, try isReferenced(stream, id) {
                out.integer(2)
                continue
            }
            if request.policy == .delete { try removeReferences(stream, id) }
            out.integer(try store.delete(stream, id: id) ? 1 : -1)
        }
    }

    /// XACKDEL key group [KEEPREF | DELREF | ACKED] IDS numids id … (Redis 8.2): acknowledges each
    /// id for the group and deletes it; per id 1 acknowledged (and deleted, or already gone), -1
    /// not pending in the group, 2 acknowledged but kept because another group still needs it
    /// (ACKED).
    func xackdel(_ request: Command.ReferencedDelete, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(request.key), let group = stream.groups[request.group ?? []]
        else {
            return answerNoneFound(request.count, &out)
        }
        guard let ids = request.ids else { return out.error(CommandError.invalidStreamID) }
        for id in ids {
            if let refusal = backfillRefusal(stream, from: id, to: id) { return out.error(refusal) }
        }
        out.arrayHeader(ids.count)
        for id in ids {
            guard try store.removePending(stream, group, id: id) else {
                out.integer(-1)
                continue
            }
            switch request.policy {
            case .acknowledged where try isReferenced(stream, id):
                out.integer(2)
                continue
            case .delete: try removeReferences(stream, id)
            default: break
            }
            _ = try store.delete(stream, id: id)
            out.integer(1)
        }
    }

    func xtrim(_ key: [UInt8], _ spec: TrimSpec, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let stream = try store.streamForWriting(key) else { return out.integer(0) }
        if let refusal = backfillRefusal(stream, from: .zero, to: .max) { return out.error(refusal) }
        out.integer(Int64(try trim(stream, spec)))
    }

    // MARK: Backfill

    /// TRYAGAIN for a read or change that reaches ids from `from` to `to` where a backfill has not
    /// copied every entry in yet (`BackfillGap`): never an answer with a hole in it.
    func backfillRefusal(_ stream: StreamState, from: EntryID, to: EntryID) -> String? {
        guard let gap = stream.backfillGap, gap.overlaps(from: from, to: to) else { return nil }
        return "TRYAGAIN the stream is being backfilled: entries after \(gap.filledThrough) up to \(gap.through) "
            + "are not all here yet"
    }

    static let xbackfillHelp = [
        "BEGIN <key> <through-id>",
        "    Start copying in a stream's history up to <through-id>, below every entry it holds (creates the stream).",
        "    Until END, reads and deletions that reach the part not copied yet get TRYAGAIN, and XADD goes above it.",
        "ADD <key> <id> <field> <value> [<field> <value> ...]", "    Copy in one entry, oldest first.",
        "END <key>", "    The history is complete.",
        "STATUS <key>", "    Show the backfill in progress (filled-through, through), or null.",
    ]

    /// XBACKFILL BEGIN | ADD | END | STATUS | HELP (Spool): history copied in below a stream's live
    /// entries, into the backfill table (`spool mirror`).
    func xbackfill(_ request: Command.XBackfill, _ out: inout RESPWriter) throws(WiredTigerError) {
        func rejected(_ rejection: LogStore.BackfillGapRejection) {
            switch rejection {
            case .alreadyOpen(let gap):
                out.error("ERR a backfill is already open on this stream (through \(gap.through), filled through \(gap.filledThrough))")
            case .entriesAtOrBelow(let id):
                out.error("ERR the stream holds entries at or below the backfill's end (\(id)): history goes below every entry")
            case .notOpen: out.error("ERR no backfill is open on this stream (XBACKFILL BEGIN first)")
            case .outside(let gap):
                out.error(
                    "ERR the id must be above the last one added (\(gap.filledThrough)) and at most the backfill's end (\(gap.through)), "
                        + "and not taken")
            }
        }
        switch request.action {
        case .help:
            CommandHelp.write([Array("XBACKFILL".utf8)], Self.xbackfillHelp, into: &out)
        case .begin(let through):
            let stream = try store.streamForWriting(creating: request.key)
            switch try store.openBackfillGap(stream, through: through) {
            case .success: out.simpleString("OK")
            case .failure(let rejection): rejected(rejection)
            }
        case .add(let id, let fields):
            guard let stream = try store.streamForWriting(request.key) else { return out.error(CommandError.noSuchKey) }
            switch try store.fillBackfillGap(stream, id: id, fields: fields) {
            case .success: out.bulk(id)
            case .failure(let rejection): rejected(rejection)
            }
        case .end:
            guard let stream = try store.streamForWriting(request.key) else { return out.error(CommandError.noSuchKey) }
            switch store.closeBackfillGap(stream) {
            case .success:
                streamChanged(request.key)  // readers waiting across the gap read now
                out.simpleString("OK")
            case .failure(let rejection): rejected(rejection)
            }
        case .status:
            guard let stream = try store.streamForReading(request.key) else { return out.error(CommandError.noSuchKey) }
            guard let gap = stream.backfillGap else { return out.nullBulk() }
            out.mapHeader(2)
            out.bulk(Array("filled-through".utf8))
            out.bulk(gap.filledThrough)
            out.bulk(Array("through".utf8))
            out.bulk(gap.through)
        }
    }

    /// XCFGSET key [IDMP-DURATION seconds] [IDMP-MAXSIZE count] (Redis 8.6): a stream's idempotency
    /// settings; a changed one forgets the producers' records.
    /// XCFGSET: the stream first, then the settings the loop thread parsed, in Redis's order.
    func xcfgset(key: [UInt8], _ settings: Result<Command.IdempotencySettings, CommandErrorText>, _ out: inout RESPWriter)
        throws(WiredTigerError)
    {
        guard let stream = try store.streamForWriting(key) else { return out.error(CommandError.noSuchKey) }
        let parsed: Command.IdempotencySettings
        switch settings {
        case .failure(let error): return out.error(error.text)
        case .success(let value): parsed = value
        }
        try store.configureIdempotency(stream, durationSeconds: parsed.durationSeconds, maxSize: parsed.maxSize.map { Int($0) })
        store.noteDurableDependency()
        out.simpleString("OK")
    }

    /// XSETID, its options checked on the loop thread; what needs the stream is checked here, in
    /// Redis's order.
    func xsetid(_ request: Command.XSetID, _ out: inout RESPWriter) throws(WiredTigerError) {
        let id = request.id
        let entriesAdded = request.entriesAdded
        let maxDeleted = request.maxDeleted
        guard let stream = try store.streamForWriting(request.key) else { return out.error(CommandError.noSuchKey) }
        if id < stream.maxDeletedID {
            return out.error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id")
        }
        if stream.length > 0 {
            if let last = try store.lastEntry(stream), id < last.id {
                return out.error("ERR The ID specified in XSETID is smaller than the target stream top item")
            }
            if let entriesAdded, entriesAdded < stream.length {
                return out.error("ERR The entries_added specified in XSETID is smaller than the target stream length")
            }
        }
        store.update(stream) { record in
            record.lastID = id
            if let entriesAdded { record.entriesAdded = entriesAdded }
            // 0-0 leaves it as it is, as in Redis.
            if let maxDeleted, maxDeleted != .zero { record.maxDeletedID = maxDeleted }
        }
        out.simpleString("OK")
    }

    // MARK: XINFO

    static let xinfoHelp = [
        "CONSUMERS <key> <groupname>", "    Show consumers of <groupname>.",
        "GROUPS <key> [EXTENDED]", "    Show the stream consumer groups; EXTENDED adds Spool's time lags and dead-letter policy.",
        "STREAM <key> [FULL [COUNT <count>]", "    Show information about the stream.",
    ]

    /// XINFO STREAM | GROUPS | CONSUMERS | HELP: the stream first, then what the loop thread
    /// found wrong with the options, in Redis's order.
    func xinfo(_ request: Command.XInfo, _ out: inout RESPWriter) throws(WiredTigerError) {
        guard let key = request.key else { return CommandHelp.write([Array("XINFO".utf8)], Self.xinfoHelp, into: &out) }
        guard let stream = try store.streamForReading(key) else { return out.error(CommandError.noSuchKey) }
        let detail: Command.StreamDetail
        switch request {
        case .help: return
        case .groups(_, .failure(let error)), .stream(_, .failure(let error)): return out.error(error.text)
        case .groups(_, .success(let extended)): return try xinfoGroups(stream, extended: extended, &out)
        case .consumers(_, let group): return xinfoConsumers(stream, groupName: group, key: key, &out)
        case .stream(_, .success(let given)): detail = given
        }
        var full = false
        var count = 10
        if case .full(let given) = detail {
            if let refusal = backfillRefusal(stream, from: .zero, to: .max) { return out.error(refusal) }
            full = true
            // Redis: negative means the default, 0 means every entry (here: up to the read limit).
            if let value = given { count = value < 0 ? 10 : value == 0 ? limits.readCountMax : min(Int(value), limits.readCountMax) }
        }
        let first = try store.firstEntry(stream)
        let nodes = Int64((stream.length + 99) / 100)
        let idempotency = try store.idempotency(stream, nowMilliseconds: store.nowMilliseconds)
        out.mapHeader(full ? 15 : 16)
        out.bulk("length")
        out.integer(Int64(stream.length))
        out.bulk("radix-tree-keys")
        out.integer(nodes)
        out.bulk("radix-tree-nodes")
        out.integer(nodes == 0 ? 1 : nodes + 1)
        out.bulk("last-generated-id")
        out.bulk(stream.lastID)
        out.bulk("max-deleted-entry-id")
        out.bulk(stream.maxDeletedID)
        out.bulk("entries-added")
        out.integer(Int64(stream.entriesAdded))
        out.bulk("recorded-first-entry-id")
        out.bulk(first?.id ?? .zero)
        // Redis 8.6's idempotent appends (XADD IDMP/IDMPAUTO, XCFGSET).
        out.bulk("idmp-duration")
        out.integer(idempotency.durationSeconds)
        out.bulk("idmp-maxsize")
        out.integer(Int64(idempotency.maxSize))
        out.bulk("pids-tracked")
        out.integer(Int64(idempotency.producerCount))
        out.bulk("iids-tracked")
        out.integer(Int64(idempotency.trackedIDCount))
        out.bulk("iids-added")
        out.integer(Int64(clamping: idempotency.idsAdded))
        out.bulk("iids-duplicates")
        out.integer(Int64(clamping: idempotency.duplicates))
        if full {
            out.bulk("entries")
            writeEntries(try store.entries(stream, count: count), into: &out)
            out.bulk("groups")
            try xinfoFullGroups(stream, count: count, &out)
        } else {
            out.bulk("groups")
            out.integer(Int64(stream.groups.count))
            out.bulk("first-entry")
            if let first { writeEntry(first, into: &out) } else { out.nullBulk() }
            out.bulk("last-entry")
            if let last = try store.lastEntry(stream) { writeEntry(last, into: &out) } else { out.nullBulk() }
        }
    }
}

/// Writes an error reply for a command that could have blocked; it did not.
func rejected(_ message: String, _ out: inout RESPWriter) -> Waiter? {
    out.error(message)
    return nil
}
