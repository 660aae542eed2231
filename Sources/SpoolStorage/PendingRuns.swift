import SpoolCore

/// A pending entry's state, as `modifyPending` hands it to its change and takes it back.
public struct PendingState: Sendable, Equatable {
    /// The consumer that holds it (for a given-back entry: the last one, or empty).
    public var consumer: [UInt8]
    /// Wall-clock ms of the last delivery (0 once given back, as Redis keeps it).
    public var deliveryTime: Int64
    public var deliveryCount: UInt64
    /// Set for an entry given back (XNACK).
    public var givenBack: GivenBack?

    public init(consumer: [UInt8], deliveryTime: Int64, deliveryCount: UInt64, givenBack: GivenBack? = nil) {
        self.consumer = consumer
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
        self.givenBack = givenBack
    }
}

/// A run of a group's pending list: entries next to each other in the list, delivered to one
/// consumer at one time, each with its own delivery count. One row of `table:spool-pel` (key:
/// group prefix + the run's first id) and, unless given back, one of `table:spool-cpel` (key:
/// consumer prefix + the same id). Runs never overlap: the only run that can hold an id is the
/// one with the greatest first id at or below it. A read of 1000 new entries writes 8 rows, an
/// acknowledgement of them removes 8, where one row per entry would cost a thousand.
struct PendingRun {
    static let maximumLength = 128

    var consumer: [UInt8]
    var deliveryTime: Int64
    var ids: [EntryID] = []
    var counts: [UInt64] = []

    var first: EntryID { ids[0] }
    var last: EntryID { ids[ids.count - 1] }

    init(consumer: [UInt8], deliveryTime: Int64) {
        self.consumer = consumer
        self.deliveryTime = deliveryTime
    }

    func index(of id: EntryID) -> Int? {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low < ids.count && ids[low] == id ? low : nil
    }

    func entry(at index: Int) -> PendingEntry {
        PendingEntry(id: ids[index], consumer: consumer, deliveryTime: deliveryTime, deliveryCount: counts[index])
    }

    /// `2, time LE8, len16 LE consumer, consumer, varint n`, then per entry varints: milliseconds
    /// (delta from the previous entry's), sequence (delta when the milliseconds repeat), count.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + consumer.count + ids.count * 4)
        out.append(2)
        appendLittleEndian(deliveryTime, to: &out)
        appendLittleEndian(UInt16(truncatingIfNeeded: consumer.count), to: &out)
        out.append(contentsOf: consumer)
        Self.appendVarint(UInt64(ids.count), to: &out)
        var previous = EntryID(milliseconds: 0, sequence: 0)
        for index in ids.indices {
            let id = ids[index]
            let delta = id.milliseconds &- previous.milliseconds
            Self.appendVarint(delta, to: &out)
            Self.appendVarint(index > 0 && delta == 0 ? id.sequence &- previous.sequence : id.sequence, to: &out)
            Self.appendVarint(counts[index], to: &out)
            previous = id
        }
        return out
    }

    /// Decodes a row stored under `key`; nil when the bytes are not a valid run starting there.
    /// Version 1 rows (one entry per row) read as runs of one.
    static func decode(key: EntryID, _ bytes: UnsafeRawBufferPointer) -> PendingRun? {
        guard let version = bytes.first else { return nil }
        if version == 1 {
            guard bytes.count >= 17 else { return nil }
            var run = PendingRun(
                consumer: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[17...])),
                deliveryTime: readLittleEndian(Int64.self, bytes, at: 1))
            run.ids = [key]
            run.counts = [readLittleEndian(UInt64.self, bytes, at: 9)]
            return run
        }
        guard version == 2, bytes.count >= 11 else { return nil }
        let nameLength = Int(readLittleEndian(UInt16.self, bytes, at: 9))
        guard bytes.count >= 11 + nameLength else { return nil }
        var run = PendingRun(
            consumer: [UInt8](UnsafeRawBufferPointer(rebasing: bytes[11..<11 + nameLength])),
            deliveryTime: readLittleEndian(Int64.self, bytes, at: 1))
        var offset = 11 + nameLength
        guard let count = readVarint(bytes, &offset), count >= 1, count <= UInt64(maximumLength) else { return nil }
        run.ids.reserveCapacity(Int(count))
        run.counts.reserveCapacity(Int(count))
        var previous = EntryID(milliseconds: 0, sequence: 0)
        for index in 0..<Int(count) {
            guard let delta = readVarint(bytes, &offset), let sequence = readVarint(bytes, &offset),
                let deliveries = readVarint(bytes, &offset)
            else { return nil }
            let id = EntryID(
                milliseconds: previous.milliseconds &+ delta,
                sequence: index > 0 && delta == 0 ? previous.sequence &+ sequence : sequence)
            guard index == 0 || id > previous else { return nil }
            run.ids.append(id)
            run.counts.append(deliveries)
            previous = id
        }
        guard offset == bytes.count, run.ids[0] == key else { return nil }
        return run
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ offset: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count, shift < 64 {
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}

extension LogStore {
    // MARK: Pending entries

    /// The pending entry for `id`, if the group has one.
    public func pendingEntry(_ stream: StreamState, _ group: ConsumerGroup, id: EntryID) throws(WiredTigerError)
        -> PendingEntry?
    {
        noteRead(stream)
        guard group.pendingCount > 0, let run = try runs(around: id, of: group).covering,
            let index = run.index(of: id)
        else { return nil }
        var entry = run.entry(at: index)
        entry.isGivenBack = group.givenBack[run.first] != nil
        return entry
    }

    /// Writes a pending entry: delivered to `entry.consumer` (taken from its previous owner, no
    /// longer given back).
    public func putPending(_ stream: StreamState, _ group: ConsumerGroup, _ entry: PendingEntry) throws(WiredTigerError) {
        let state = PendingState(consumer: entry.consumer, deliveryTime: entry.deliveryTime, deliveryCount: entry.deliveryCount)
        try modifyPending(stream, group, ids: [entry.id]) { _, _ in state }
    }

    /// Removes an entry from the pending list (XACK, dead-lettering, claims of deleted entries);
    /// false when it was not pending.
    @discardableResult
    public func removePending(_ stream: StreamState, _ group: ConsumerGroup, id: EntryID) throws(WiredTigerError) -> Bool {
        try removePending(stream, group, ids: [id]) == 1
    }

    /// Removes entries from the pending list; returns how many were pending (each id counts once).
    public func removePending(_ stream: StreamState, _ group: ConsumerGroup, ids: [EntryID]) throws(WiredTigerError) -> Int {
        guard group.pendingCount > 0, !ids.isEmpty else { return 0 }
        var removed = 0
        try modifyPending(stream, group, ids: ids) { _, old in
            if old != nil { removed += 1 }
            return nil
        }
        return removed
    }

    /// Changes the pending list at `ids` (any order; duplicates count once): `change` gets each
    /// id's current state (nil when not pending) and returns its new one (nil: not pending). Owner
    /// and group counts, the per-consumer index and the given-back set follow. Runs are split where
    /// the change makes them differ and rewritten, so a batch costs a few rows per run it touches.
    public func modifyPending(
        _ stream: StreamState, _ group: ConsumerGroup, ids unsorted: [EntryID],
        _ change: (EntryID, PendingState?) -> PendingState?
    ) throws(WiredTigerError) {
        noteWrite(stream)
        var ids = unsorted
        if ids.count > 1 {
            var sorted = true
            for index in 1..<ids.count where ids[index] <= ids[index - 1] {
                sorted = false
                break
            }
            if !sorted {
                ids.sort()
                var unique: [EntryID] = []
                unique.reserveCapacity(ids.count)
                for id in ids where unique.last != id { unique.append(id) }
                ids = unique
            }
        }
        var start = 0
        while start < ids.count {
            let (covering, next) = group.pendingCount > 0 ? try runs(around: ids[start], of: group) : (nil, nil)
            var end = start + 1
            if let covering {
                while end < ids.count && ids[end] <= covering.last { end += 1 }
            } else if let next {
                while end < ids.count && ids[end] < next { end += 1 }
            } else {
                end = ids.count
            }
            try rewrite(stream, group, covering, ids[start..<end], change)
            start = end
        }
    }

    /// One pending entry inside `rewrite`.
    private struct Slot {
        var id: EntryID
        var consumer: [UInt8]
        var deliveryTime: Int64
        var deliveryCount: UInt64
        var givenBack: Bool
    }

    /// Applies `change` to `ids`, which lie inside `covering`'s span (or, without one, in a gap
    /// between runs), and writes the runs that result.
    private func rewrite(
        _ stream: StreamState, _ group: ConsumerGroup, _ covering: PendingRun?, _ ids: ArraySlice<EntryID>,
        _ change: (EntryID, PendingState?) -> PendingState?
    ) throws(WiredTigerError) {
        let oldGivenBack = covering.map { group.givenBack[$0.first] != nil } ?? false
        var slots: [Slot] = []
        slots.reserveCapacity((covering?.ids.count ?? 0) + ids.count)
        var ownerChanges: [([UInt8], Int)] = []
        func count(_ owner: [UInt8], _ delta: Int) {
            if let index = ownerChanges.firstIndex(where: { $0.0 == owner }) {
                ownerChanges[index].1 += delta
            } else {
                ownerChanges.append((owner, delta))
            }
        }
        var groupChange = 0
        let runIDs = covering?.ids ?? []
        var a = 0
        var b = ids.startIndex
        while a < runIDs.count || b < ids.endIndex {
            if b == ids.endIndex || (a < runIDs.count && runIDs[a] < ids[b]) {
                let run = covering!
                slots.append(
                    Slot(
                        id: runIDs[a], consumer: run.consumer, deliveryTime: run.deliveryTime,
                        deliveryCount: run.counts[a], givenBack: oldGivenBack))
                a += 1
                continue
            }
            let id = ids[b]
            b += 1
            var old: PendingState?
            if a < runIDs.count && runIDs[a] == id, let run = covering {
                old = PendingState(
                    consumer: run.consumer, deliveryTime: run.deliveryTime, deliveryCount: run.counts[a],
                    givenBack: oldGivenBack ? group.givenBack[id] : nil)
                a += 1
                if !oldGivenBack { count(run.consumer, -1) }
            }
            let new = change(id, old)
            if old == nil && new != nil { groupChange += 1 }
            if old != nil && new == nil { groupChange -= 1 }
            if let givenBack = new?.givenBack {
                if old?.givenBack != givenBack {
                    group.givenBack[id] = givenBack
                    try groupTables.redelivery.insert(key: GroupTables.key(group.keyPrefix, id), value: givenBack.encoded())
                }
            } else if old?.givenBack != nil {
                group.givenBack[id] = nil
                try groupTables.redelivery.remove(key: GroupTables.key(group.keyPrefix, id))
            }
            guard let new else { continue }
            if new.givenBack == nil {
                precondition(group.consumers[new.consumer] != nil, "pending entry for an unknown consumer")
                count(new.consumer, 1)
            }
            slots.append(
                Slot(
                    id: id, consumer: new.consumer, deliveryTime: new.deliveryTime, deliveryCount: new.deliveryCount,
                    givenBack: new.givenBack != nil))
        }

        // Cut the slots into runs: a new run where the owner, time or given-back state changes.
        var runs: [(run: PendingRun, givenBack: Bool)] = []
        for slot in slots {
            if let last = runs.last, last.givenBack == slot.givenBack, last.run.deliveryTime == slot.deliveryTime,
                last.run.ids.count < PendingRun.maximumLength, last.run.consumer == slot.consumer
            {
                runs[runs.count - 1].run.ids.append(slot.id)
                runs[runs.count - 1].run.counts.append(slot.deliveryCount)
            } else {
                var run = PendingRun(consumer: slot.consumer, deliveryTime: slot.deliveryTime)
                run.ids.reserveCapacity(min(slots.count, PendingRun.maximumLength))
                run.counts.reserveCapacity(min(slots.count, PendingRun.maximumLength))
                run.ids.append(slot.id)
                run.counts.append(slot.deliveryCount)
                runs.append((run, slot.givenBack))
            }
        }

        let prefix = group.keyPrefix
        var keepsOldRow = false
        var keepsOldIndex = false
        for (run, givenBack) in runs {
            try groupTables.pending.insert(key: GroupTables.key(prefix, run.first), value: run.encoded())
            if let covering, run.first == covering.first {
                keepsOldRow = true
                if givenBack == oldGivenBack && run.consumer == covering.consumer {
                    keepsOldIndex = true
                    continue
                }
            }
            if !givenBack, let owner = group.consumers[run.consumer] {
                try groupTables.consumerPending.insert(key: GroupTables.key(owner.keyPrefix, run.first), value: [])
            }
        }
        if let covering {
            if !keepsOldRow { try groupTables.pending.remove(key: GroupTables.key(prefix, covering.first)) }
            if !keepsOldIndex && !oldGivenBack, let owner = group.consumers[covering.consumer] {
                try groupTables.consumerPending.remove(key: GroupTables.key(owner.keyPrefix, covering.first))
            }
        }

        for (owner, delta) in ownerChanges where delta != 0 {
            guard let consumer = group.consumers[owner] else { continue }
            consumer.pendingCount = UInt64(max(0, Int(consumer.pendingCount) + delta))
            markDirty(stream, group, consumer)
        }
        if groupChange != 0 {
            group.pendingCount = UInt64(max(0, Int(group.pendingCount) + groupChange))
            markDirty(stream, group)
        }
    }

    /// The run whose span holds `id` (nil when it falls between runs), and otherwise the first id
    /// of the next run above it (nil when there is none).
    private func runs(around id: EntryID, of group: ConsumerGroup) throws(WiredTigerError)
        -> (covering: PendingRun?, next: EntryID?)
    {
        let cursor = groupTables.pending
        defer { cursor.reset() }
        let prefix = group.keyPrefix
        let positioned = try seek(cursor, atOrBelow: GroupTables.key(prefix, id))
        if positioned, let run = try currentRun(cursor, prefix), run.last >= id { return (run, nil) }
        // From the row below (or, unpositioned, from the start) on to the first row above `id`.
        guard try cursor.next() else { return (nil, nil) }
        return (nil, try currentID(cursor, prefix))
    }

    /// Positions `cursor` on the greatest key at or below `key`; false (and the cursor reset)
    /// when there is none.
    private func seek(_ cursor: WiredTigerCursor, atOrBelow key: [UInt8]) throws(WiredTigerError) -> Bool {
        guard let near = try cursor.searchNear(key: key) else { return false }
        return near == .after ? try cursor.previous() : true
    }

    /// The id at the end of the cursor's key when the key is `prefix + id`.
    private func currentID(_ cursor: WiredTigerCursor, _ prefix: [UInt8]) throws(WiredTigerError) -> EntryID? {
        try cursor.withKey { key -> EntryID? in
            guard key.count == prefix.count + 16,
                prefix.withUnsafeBytes({ $0.elementsEqual(UnsafeRawBufferPointer(rebasing: key[..<prefix.count])) })
            else { return nil }
            return EntryID(keyBytes: UnsafeRawBufferPointer(rebasing: key[prefix.count...]))
        }
    }

    /// The run under the pending cursor when its key starts with `prefix`.
    private func currentRun(_ cursor: WiredTigerCursor, _ prefix: [UInt8]) throws(WiredTigerError) -> PendingRun? {
        guard let first = try currentID(cursor, prefix) else { return nil }
        guard let run = try cursor.withValue({ PendingRun.decode(key: first, $0) }) else {
            throw WiredTigerError.corrupt("pending entries at \(first)")
        }
        return run
    }

    /// The group's pending entries between two inclusive ids, in id order; with `consumer`, only
    /// that consumer's own. Stops after `limit` entries that pass `filter`.
    public func pendingEntries(
        _ stream: StreamState, _ group: ConsumerGroup, consumer: [UInt8]? = nil,
        from start: EntryID = .min, to end: EntryID = .max, limit: Int = .max,
        where filter: (PendingEntry) -> Bool = { _ in true }
    ) throws(WiredTigerError) -> [PendingEntry] {
        noteRead(stream)
        guard limit > 0, start <= end, group.pendingCount > 0 else { return [] }
        var out: [PendingEntry] = []
        func take(_ run: PendingRun) -> Bool {
            let isGivenBack = group.givenBack[run.first] != nil
            for index in run.ids.indices where run.ids[index] >= start {
                guard run.ids[index] <= end else { return false }
                var entry = run.entry(at: index)
                entry.isGivenBack = isGivenBack
                if filter(entry) {
                    out.append(entry)
                    if out.count >= limit { return false }
                }
            }
            return true
        }
        let pending = groupTables.pending
        let prefix = group.keyPrefix
        if let consumer {
            guard let owner = group.consumers[consumer] else { return [] }
            // Runs are indexed by their first id: start with the last one at or below `start`.
            let index = groupTables.consumerPending
            var first = start
            if try seek(index, atOrBelow: GroupTables.key(owner.keyPrefix, start)),
                let id = try currentID(index, owner.keyPrefix)
            {
                first = id
            }
            index.reset()
            defer { pending.reset() }
            try GroupTables.walk(index, prefix: owner.keyPrefix, from: first.keyBytes) { key throws(WiredTigerError) in
                guard let id = GroupTables.id(endingKey: key), id <= end else { return false }
                guard try pending.search(key: GroupTables.key(prefix, id)), let run = try currentRun(pending, prefix) else {
                    return true
                }
                return take(run)
            }
            return out
        }
        let (covering, _) = try runs(around: start, of: group)
        var corrupt = false
        try GroupTables.walk(pending, prefix: prefix, from: (covering?.first ?? start).keyBytes) { key throws(WiredTigerError) in
            guard let id = GroupTables.id(endingKey: key), id <= end else { return false }
            guard let run = try pending.withValue({ PendingRun.decode(key: id, $0) }) else {
                corrupt = true
                return false
            }
            return take(run)
        }
        if corrupt { throw WiredTigerError.corrupt("pending entry of group \(String(decoding: group.name, as: UTF8.self))") }
        return out
    }

    /// The smallest and greatest pending ids of the group.
    public func pendingBounds(_ stream: StreamState, _ group: ConsumerGroup) throws(WiredTigerError) -> (EntryID, EntryID)? {
        noteRead(stream)
        guard group.pendingCount > 0 else { return nil }
        let prefix = group.keyPrefix
        var first: EntryID?
        try GroupTables.walk(groupTables.pending, prefix: prefix) { key in
            first = GroupTables.id(endingKey: key)
            return false
        }
        let cursor = groupTables.pending
        defer { cursor.reset() }
        var last: EntryID?
        if try seek(cursor, atOrBelow: GroupTables.key(prefix, .max)), let run = try currentRun(cursor, prefix) {
            last = run.last
        }
        guard let first, let last else { return nil }
        return (first, last)
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    public func deleteConsumer(_ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer) throws(WiredTigerError)
        -> UInt64
    {
        noteWrite(stream)
        let prefix = consumer.keyPrefix
        var firsts: [EntryID] = []
        try GroupTables.walk(groupTables.consumerPending, prefix: prefix) { key in
            if let id = GroupTables.id(endingKey: key) { firsts.append(id) }
            return true
        }
        var removed: UInt64 = 0
        let pending = groupTables.pending
        for id in firsts {
            try groupTables.consumerPending.remove(key: GroupTables.key(prefix, id))
            let key = GroupTables.key(group.keyPrefix, id)
            guard try pending.search(key: key), let run = try currentRun(pending, group.keyPrefix) else { continue }
            pending.reset()
            try pending.remove(key: key)
            removed += UInt64(run.ids.count)
        }
        pending.reset()
        group.pendingCount -= min(group.pendingCount, removed)
        try groupTables.consumers.remove(key: group.keyPrefix + consumer.name)
        consumer.isDirty = false
        group.consumers[consumer.name] = nil
        markDirty(stream, group)
        return removed
    }
}
