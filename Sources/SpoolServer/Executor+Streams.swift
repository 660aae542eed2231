import SpoolCore
import SpoolProtocol
import SpoolStorage

extension Executor {
    // MARK: XADD

    /// How XADD/XTRIM trim: MAXLEN or MINID, exact (=) or approximate (~), with a LIMIT.
    struct TrimSpec {
        enum Strategy { case maxLength(UInt64), minimumID(EntryID) }
        var strategy: Strategy
        var approximate: Bool
        var limit: Int?
    }

    /// Redis trims approximately by whole radix-tree nodes of 100 entries; Spool removes whole
    /// multiples of that many, so `~` behaves alike: never below the threshold, cheap to repeat.
    static let approximateTrimUnit = 100

    /// Parses `MAXLEN|MINID [=|~] threshold [LIMIT count]` starting at `index`; advances it.
    func parseTrim(_ args: [[UInt8]], _ index: inout Int) -> Result<TrimSpec, CommandErrorText> {
        let isMaxLength = args[index].isKeyword("MAXLEN")
        index += 1
        guard index < args.count else { return .failure(CommandErrorText(CommandError.syntax)) }
        var approximate = false
        if args[index] == [UInt8(ascii: "~")] || args[index] == [UInt8(ascii: "=")] {
            approximate = args[index] == [UInt8(ascii: "~")]
            index += 1
            guard index < args.count else { return .failure(CommandErrorText(CommandError.syntax)) }
        }
        let strategy: TrimSpec.Strategy
        if isMaxLength {
            guard let value = args[index].asInt64 else { return .failure(CommandErrorText(CommandError.notInteger)) }
            guard value >= 0 else { return .failure(CommandErrorText("ERR The MAXLEN argument must be >= 0.")) }
            strategy = .maxLength(UInt64(value))
        } else {
            guard let id = EntryID(parsing: args[index], missingSequence: .zero) else {
                return .failure(CommandErrorText(CommandError.invalidStreamID))
            }
            strategy = .minimumID(id)
        }
        index += 1
        var limit: Int?
        if index + 1 < args.count, args[index].isKeyword("LIMIT") {
            guard let value = args[index + 1].asInt64, value >= 0 else {
                return .failure(CommandErrorText("ERR The LIMIT argument must be >= 0."))
            }
            guard approximate else { return .failure(CommandErrorText(CommandError.limitWithoutTilde)) }
            limit = Int(value)
            index += 2
        }
        return .success(TrimSpec(strategy: strategy, approximate: approximate, limit: limit))
    }

    /// Removes what the spec says from the oldest end; returns how many entries went.
    func trim(_ stream: StreamState, _ spec: TrimSpec) throws(WiredTigerError) -> Int {
        // Redis's default LIMIT for ~ is 100 × stream-node-max-entries; 0 means none.
        var limit = spec.approximate ? (spec.limit ?? 100 * Self.approximateTrimUnit) : Int.max
        if limit == 0 { limit = .max }
        switch spec.strategy {
        case .maxLength(let maximum):
            guard stream.length > maximum else { return 0 }
            var excess = Int(clamping: stream.length - maximum)
            if spec.approximate { excess -= excess % Self.approximateTrimUnit }
            excess = min(excess, limit)
            guard excess > 0 else { return 0 }
            return try store.trimOldest(stream, limit: excess) { _, _ in true }
        case .minimumID(let minimum):
            return try store.trimOldest(stream, limit: limit) { id, _ in id < minimum }
        }
    }

    func xadd(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 5 else { return out.error(CommandError.arity("xadd")) }
        let key = args[1]
        var index = 2
        var noMakeStream = false
        var trimSpec: TrimSpec?
        while index < args.count {
            let word = args[index]
            if word.isKeyword("NOMKSTREAM") {
                noMakeStream = true
                index += 1
            } else if word.isKeyword("MAXLEN") || word.isKeyword("MINID") {
                switch parseTrim(args, &index) {
                case .success(let spec): trimSpec = spec
                case .failure(let error): return out.error(error.text)
                }
            } else {
                break
            }
        }
        guard index < args.count else { return out.error(CommandError.arity("xadd")) }
        let idArgument = args[index]
        let fieldCount = args.count - index - 1
        guard fieldCount > 0, fieldCount % 2 == 0 else { return out.error(CommandError.arity("xadd")) }
        // Parse the id before touching the stream so a bad one changes nothing.
        enum Requested { case auto, autoSequence(UInt64), explicit(EntryID) }
        let requested: Requested
        if idArgument == [UInt8(ascii: "*")] {
            requested = .auto
        } else if idArgument.count >= 3, idArgument.suffix(2) == [UInt8(ascii: "-"), UInt8(ascii: "*")] {
            guard let ms = EntryID(parsing: idArgument.dropLast(2), missingSequence: .zero) else {
                return out.error(CommandError.invalidStreamID)
            }
            requested = .autoSequence(ms.milliseconds)
        } else {
            guard let id = EntryID(parsing: idArgument, missingSequence: .zero) else {
                return out.error(CommandError.invalidStreamID)
            }
            if id == .zero { return out.error(CommandError.xaddZeroID) }
            requested = .explicit(id)
        }
        let existing = store.streamForWriting(key)
        if existing == nil && noMakeStream {
            return out.nullBulk()
        }
        let lastID = existing?.lastID ?? .zero
        let id: EntryID?
        switch requested {
        case .auto: id = EntryID.generated(after: lastID, nowMilliseconds: wallClockMilliseconds())
        case .autoSequence(let ms): id = EntryID.generated(milliseconds: ms, after: lastID)
        case .explicit(let explicit): id = explicit > lastID ? explicit : nil
        }
        guard let id else {
            if case .auto = requested {
                return out.error("ERR The stream has exhausted the last possible ID, unable to add more items")
            }
            return out.error(CommandError.xaddTooSmall)
        }
        let stream: StreamState
        if let existing {
            stream = existing
        } else {
            stream = try store.createStream(key)
        }
        try store.append(stream, id: id, fields: args[(index + 1)...])
        // A reader that blocks later in this batch reads the entry directly; only waiting ones
        // need to hear of it.
        if !waiters.isEmpty { appendedStreams.insert(key) }
        if let trimSpec { _ = try trim(stream, trimSpec) }
        out.bulk(id.bytes)
    }

    // MARK: Reads

    func writeEntry(_ entry: Entry, into out: inout RESPWriter) {
        out.arrayHeader(2)
        out.bulk(entry.id.bytes)
        out.arrayHeader(entry.fields.count)
        for field in entry.fields { out.bulk(field) }
    }

    func writeEntries(_ entries: [Entry], into out: inout RESPWriter) {
        out.arrayHeader(entries.count)
        for entry in entries { writeEntry(entry, into: &out) }
    }

    /// Parses an XRANGE bound: `-`, `+`, an id, or `(id` for an exclusive bound.
    func parseRangeBound(_ text: [UInt8], isStart: Bool) -> Result<EntryID, CommandErrorText> {
        if text == [UInt8(ascii: "-")] { return .success(.min) }
        if text == [UInt8(ascii: "+")] { return .success(.max) }
        var body = text[...]
        let exclusive = body.first == UInt8(ascii: "(")
        if exclusive { body = body.dropFirst() }
        guard let id = EntryID(parsing: body, missingSequence: isStart ? .zero : .max) else {
            return .failure(CommandErrorText(CommandError.invalidStreamID))
        }
        guard exclusive else { return .success(id) }
        if isStart {
            guard let next = id.successor else { return .failure(CommandErrorText("ERR invalid start ID for the interval")) }
            return .success(next)
        }
        guard let previous = id.predecessor else { return .failure(CommandErrorText("ERR invalid end ID for the interval")) }
        return .success(previous)
    }

    func xrange(_ args: [[UInt8]], _ out: inout RESPWriter, reverse: Bool) throws(WiredTigerError) {
        let name = reverse ? "xrevrange" : "xrange"
        guard args.count == 4 || args.count == 6 else { return out.error(CommandError.arity(name)) }
        let start: EntryID
        let end: EntryID
        switch (parseRangeBound(args[reverse ? 3 : 2], isStart: true), parseRangeBound(args[reverse ? 2 : 3], isStart: false)) {
        case (.failure(let error), _), (_, .failure(let error)): return out.error(error.text)
        case (.success(let s), .success(let e)):
            start = s
            end = e
        }
        var count = Int.max
        if args.count == 6 {
            guard args[4].isKeyword("COUNT") else { return out.error(CommandError.syntax) }
            guard let value = args[5].asInt64 else { return out.error(CommandError.notInteger) }
            count = value < 0 ? 0 : Int(value)
        }
        count = min(count, limits.readCountMax)
        guard let stream = store.streamForReading(args[1]), count > 0 else { return out.arrayHeader(0) }
        let entries = try store.entries(stream, from: start, to: end, direction: reverse ? .backward : .forward, count: count)
        writeEntries(entries, into: &out)
    }

    func xlen(_ args: [[UInt8]], _ out: inout RESPWriter) {
        guard args.count == 2 else { return out.error(CommandError.arity("xlen")) }
        out.integer(Int64(store.streamForReading(args[1])?.length ?? 0))
    }

    /// XREAD [COUNT n] [BLOCK ms] STREAMS key … id …
    func xread(_ args: [[UInt8]], _ out: inout RESPWriter, group: CommandGroup, mayBlock: Bool)
        throws(WiredTigerError) -> Waiter?
    {
        guard args.count >= 4 else { return rejected(CommandError.arity("xread"), &out) }
        var index = 1
        var count = limits.readCountMax
        var block: Int64?
        var streamsAt: Int?
        while index < args.count {
            let word = args[index]
            if word.isKeyword("COUNT"), index + 1 < args.count {
                guard let value = args[index + 1].asInt64 else { return rejected(CommandError.notInteger, &out) }
                count = value <= 0 ? limits.readCountMax : min(Int(value), limits.readCountMax)
                index += 2
            } else if word.isKeyword("BLOCK"), index + 1 < args.count {
                guard let value = args[index + 1].asInt64 else {
                    return rejected("ERR timeout is not an integer or out of range", &out)
                }
                guard value >= 0 else { return rejected("ERR timeout is negative", &out) }
                block = value
                index += 2
            } else if word.isKeyword("STREAMS") {
                streamsAt = index + 1
                break
            } else {
                return rejected(CommandError.syntax, &out)
            }
        }
        guard let streamsAt else { return rejected(CommandError.syntax, &out) }
        let remaining = args.count - streamsAt
        guard remaining > 0, remaining % 2 == 0 else {
            return rejected(
                "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
            , &out)
        }
        let half = remaining / 2
        let keys = Array(args[streamsAt..<(streamsAt + half)])
        var ids: [EntryID] = []
        var lastEntryWanted: [Bool] = []
        for (offset, text) in args[(streamsAt + half)...].enumerated() {
            if text == [UInt8(ascii: "$")] {
                ids.append(store.streamForReading(keys[offset])?.lastID ?? .zero)
                lastEntryWanted.append(false)
            } else if text == [UInt8(ascii: "+")] {
                ids.append(.zero)
                lastEntryWanted.append(true)
            } else {
                guard let id = EntryID(parsing: text, missingSequence: .zero) else {
                    return rejected(CommandError.invalidStreamID, &out)
                }
                ids.append(id)
                lastEntryWanted.append(false)
            }
        }
        // `+` (Redis 7.4): the stream's last entry, if it has one.
        for (i, wantsLast) in lastEntryWanted.enumerated() where wantsLast {
            if let stream = store.streamForReading(keys[i]), let last = try store.lastEntry(stream),
                let before = last.id.predecessor
            {
                ids[i] = before
            } else {
                ids[i] = store.streamForReading(keys[i])?.lastID ?? .zero
            }
        }
        var reply = RESPWriter(version: out.version)
        if try writeStreams(keys, after: ids, count: count, into: &reply) {
            out.append(contentsOf: reply)
            return nil
        }
        guard let block, mayBlock else {
            out.nullArray()
            return nil
        }
        let deadline = block == 0 ? nil : monotonicNanoseconds() + UInt64(block) * 1_000_000
        return Waiter(
            connection: group.connection, slot: group.slot, version: group.version, keys: keys, ids: ids,
            count: count, deadline: deadline)
    }

    /// Writes XREAD's reply for the streams that have entries after their ids; false (and nothing
    /// written) when none has.
    func writeStreams(_ keys: [[UInt8]], after ids: [EntryID], count: Int, into out: inout RESPWriter)
        throws(WiredTigerError) -> Bool
    {
        var found: [([UInt8], [Entry])] = []
        for (key, id) in zip(keys, ids) {
            guard let stream = store.streamForReading(key), stream.lastID > id, let from = id.successor else { continue }
            let entries = try store.entries(stream, from: from, count: count)
            if !entries.isEmpty { found.append((key, entries)) }
        }
        guard !found.isEmpty else { return false }
        if out.version == .resp3 { out.mapHeader(found.count) } else { out.arrayHeader(found.count) }
        for (key, entries) in found {
            if out.version == .resp2 { out.arrayHeader(2) }
            out.bulk(key)
            writeEntries(entries, into: &out)
        }
        return true
    }

    // MARK: Deletion and trimming

    func xdel(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 3 else { return out.error(CommandError.arity("xdel")) }
        var ids: [EntryID] = []
        for text in args[2...] {
            guard let id = EntryID(parsing: text, missingSequence: .zero) else {
                return out.error(CommandError.invalidStreamID)
            }
            ids.append(id)
        }
        guard let stream = store.streamForWriting(args[1]) else { return out.integer(0) }
        var deleted: Int64 = 0
        for id in ids where try store.delete(stream, id: id) { deleted += 1 }
        out.integer(deleted)
    }

    func xtrim(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 4 else { return out.error(CommandError.arity("xtrim")) }
        var index = 2
        guard args[index].isKeyword("MAXLEN") || args[index].isKeyword("MINID") else {
            return out.error(CommandError.syntax)
        }
        let spec: TrimSpec
        switch parseTrim(args, &index) {
        case .success(let parsed): spec = parsed
        case .failure(let error): return out.error(error.text)
        }
        guard index == args.count else { return out.error(CommandError.syntax) }
        guard let stream = store.streamForWriting(args[1]) else { return out.integer(0) }
        out.integer(Int64(try trim(stream, spec)))
    }

    /// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]
    func xsetid(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count == 3 || args.count == 5 || args.count == 7 else { return out.error(CommandError.arity("xsetid")) }
        guard let id = EntryID(parsing: args[2], missingSequence: .zero) else {
            return out.error(CommandError.invalidStreamID)
        }
        var entriesAdded: UInt64?
        var maxDeleted: EntryID?
        var index = 3
        while index + 1 < args.count {
            if args[index].isKeyword("ENTRIESADDED") {
                guard let value = args[index + 1].asInt64 else { return out.error(CommandError.notInteger) }
                guard value >= 0 else { return out.error("ERR entries_added must be positive") }
                entriesAdded = UInt64(value)
            } else if args[index].isKeyword("MAXDELETEDID") {
                guard let value = EntryID(parsing: args[index + 1], missingSequence: .zero) else {
                    return out.error(CommandError.invalidStreamID)
                }
                if id < value {
                    return out.error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")
                }
                maxDeleted = value
            } else {
                return out.error(CommandError.syntax)
            }
            index += 2
        }
        guard let stream = store.streamForWriting(args[1]) else { return out.error(CommandError.noSuchKey) }
        if let entriesAdded, entriesAdded < stream.length {
            return out.error("ERR The entries_added specified in XSETID is smaller than the target stream length")
        }
        if stream.length > 0, let last = try store.lastEntry(stream), id < last.id {
            return out.error("ERR The ID specified in XSETID is smaller than the target stream top item")
        }
        store.update(stream) { record in
            record.lastID = id
            if let entriesAdded { record.entriesAdded = entriesAdded }
            if let maxDeleted { record.maxDeletedID = maxDeleted }
        }
        out.simpleString("OK")
    }

    // MARK: XINFO

    func xinfo(_ args: [[UInt8]], _ out: inout RESPWriter) throws(WiredTigerError) {
        guard args.count >= 2 else { return out.error(CommandError.arity("xinfo")) }
        let sub = args[1]
        if sub.isKeyword("HELP") {
            let lines = [
                "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CONSUMERS <key> <groupname>", "    Show consumers of <groupname>.",
                "GROUPS <key>", "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]", "    Show information about the stream.",
                "HELP", "    Print this help.",
            ]
            out.arrayHeader(lines.count)
            for line in lines { out.simpleString(line) }
            return
        }
        guard args.count >= 3 else {
            return out.error("ERR unknown subcommand or wrong number of arguments for '\(sub.asString)'. Try XINFO HELP.")
        }
        guard let stream = store.streamForReading(args[2]) else { return out.error(CommandError.noSuchKey) }
        if sub.isKeyword("GROUPS") {
            guard args.count == 3 else { return out.error(CommandError.arity("xinfo|groups")) }
            return out.arrayHeader(0)
        }
        if sub.isKeyword("CONSUMERS") {
            guard args.count == 4 else { return out.error(CommandError.arity("xinfo|consumers")) }
            return out.error("NOGROUP No such consumer group '\(args[3].asString)' for key name '\(args[2].asString)'")
        }
        guard sub.isKeyword("STREAM") else {
            return out.error("ERR unknown subcommand '\(sub.asString)'. Try XINFO HELP.")
        }
        var full = false
        var count = 10
        if args.count >= 4 {
            guard args[3].isKeyword("FULL") else { return out.error(CommandError.syntax) }
            full = true
            if args.count == 6, args[4].isKeyword("COUNT") {
                guard let value = args[5].asInt64 else { return out.error(CommandError.notInteger) }
                count = value <= 0 ? limits.readCountMax : min(Int(value), limits.readCountMax)
            } else if args.count != 4 {
                return out.error(CommandError.syntax)
            }
        }
        let first = try store.firstEntry(stream)
        let nodes = Int64((stream.length + 99) / 100)
        out.mapHeader(full ? 9 : 10)
        out.bulk("length")
        out.integer(Int64(stream.length))
        out.bulk("radix-tree-keys")
        out.integer(nodes)
        out.bulk("radix-tree-nodes")
        out.integer(nodes == 0 ? 1 : nodes + 1)
        out.bulk("last-generated-id")
        out.bulk(stream.lastID.bytes)
        out.bulk("max-deleted-entry-id")
        out.bulk(stream.maxDeletedID.bytes)
        out.bulk("entries-added")
        out.integer(Int64(stream.entriesAdded))
        out.bulk("recorded-first-entry-id")
        out.bulk((first?.id ?? .zero).bytes)
        if full {
            out.bulk("entries")
            writeEntries(try store.entries(stream, count: count), into: &out)
            out.bulk("groups")
            out.arrayHeader(0)
        } else {
            out.bulk("groups")
            out.integer(0)
            out.bulk("first-entry")
            if let first { writeEntry(first, into: &out) } else { out.nullBulk() }
            out.bulk("last-entry")
            if let last = try store.lastEntry(stream) { writeEntry(last, into: &out) } else { out.nullBulk() }
        }
    }
}

/// An error reply's text, as a value that can travel in a Result.
struct CommandErrorText: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

/// Writes an error reply for a command that could have blocked; it did not.
func rejected(_ message: String, _ out: inout RESPWriter) -> Waiter? {
    out.error(message)
    return nil
}
