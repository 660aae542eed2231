import SpoolCore

/// A consumer group of one stream, as the storage thread keeps it in memory. Its row and its
/// consumers' rows are rewritten when they change, in the transaction of the batch that changed
/// them; the pending entries live only in WiredTiger (they may outgrow memory), in runs.
public final class ConsumerGroup {
    /// Redis's marker for "the group's read counter is unknown".
    public static let unknownEntriesRead: Int64 = -1

    public let name: [UInt8]
    public internal(set) var lastDeliveredID: EntryID
    /// Entries the group has read (Redis's entries-read), or `unknownEntriesRead`.
    public internal(set) var entriesRead: Int64
    /// Entries in the group's pending list, given-back ones included.
    public internal(set) var pendingCount: UInt64 = 0
    /// Deliveries after which an entry moves to the dead-letter stream; 0 means never.
    public internal(set) var maxDeliveries: UInt64 = 0
    /// The dead-letter stream's name; nil means `<stream>:dlq`.
    public internal(set) var deadLetterStream: [UInt8]?
    public internal(set) var consumers: [[UInt8]: Consumer] = [:]
    /// Entries given back (XNACK): unowned, claimable at once, and with a delay also delivered
    /// again by XREADGROUP `>`. Held in memory (and in `table:spool-redeliver`).
    public internal(set) var givenBack: [EntryID: GivenBack] = [:]
    var isDirty = false
    /// `stream table + len16 name + name`: the start of its rows' keys.
    let keyPrefix: [UInt8]

    init(name: [UInt8], lastDeliveredID: EntryID, entriesRead: Int64, table: UInt64) {
        self.name = name
        self.lastDeliveredID = lastDeliveredID
        self.entriesRead = entriesRead
        self.keyPrefix = GroupTables.groupPrefix(table, name)
    }

    /// Consumers in name order, as Redis lists them.
    public var sortedConsumers: [Consumer] {
        consumers.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    /// Given-back entries that XREADGROUP `>` may deliver at `now`, oldest id first.
    public func dueRedeliveries(now: Int64) -> [EntryID] {
        givenBack.filter { ($0.value.redeliverAt ?? .max) <= now }.keys.sorted()
    }

    /// Given-back entries in the order claims take them (Redis's NACK zone: first given back,
    /// first claimed; ties by id).
    public var givenBackInClaimOrder: [EntryID] {
        givenBack.sorted { ($0.value.at, $0.key) < ($1.value.at, $1.key) }.map(\.key)
    }

    /// Whether delivering an entry a `count`-th time passes the group's maximum (it is then
    /// dead-lettered instead).
    public func exceedsMaxDeliveries(_ count: UInt64) -> Bool {
        maxDeliveries > 0 && count > maxDeliveries
    }

    /// When the next given-back entry becomes deliverable, if any is waiting.
    public var nextRedeliveryTime: Int64? { givenBack.values.lazy.compactMap(\.redeliverAt).min() }

    func encoded() -> [UInt8] {
        var out: [UInt8] = [1]
        appendLittleEndian(lastDeliveredID.milliseconds, to: &out)
        appendLittleEndian(lastDeliveredID.sequence, to: &out)
        appendLittleEndian(entriesRead, to: &out)
        appendLittleEndian(pendingCount, to: &out)
        appendLittleEndian(maxDeliveries, to: &out)
        if let deadLetterStream {
            out.append(1)
            out.append(contentsOf: deadLetterStream)
        } else {
            out.append(0)
        }
        return out
    }

    static func decode(name: [UInt8], table: UInt64, _ bytes: UnsafeRawBufferPointer) -> ConsumerGroup? {
        guard bytes.count >= 42, bytes[0] == 1 else { return nil }
        let group = ConsumerGroup(
            name: name,
            lastDeliveredID: EntryID(
                milliseconds: readLittleEndian(UInt64.self, bytes, at: 1),
                sequence: readLittleEndian(UInt64.self, bytes, at: 9)),
            entriesRead: readLittleEndian(Int64.self, bytes, at: 17), table: table)
        group.pendingCount = readLittleEndian(UInt64.self, bytes, at: 25)
        group.maxDeliveries = readLittleEndian(UInt64.self, bytes, at: 33)
        if bytes[41] == 1 {
            group.deadLetterStream = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[42...]))
        }
        return group
    }
}

/// A consumer of a group: its activity times and the size of its own pending list.
public final class Consumer {
    public let name: [UInt8]
    /// Last time it tried anything (read, claim), wall-clock ms.
    public internal(set) var seenTime: Int64
    /// Last time it was given an entry, or -1 if never.
    public internal(set) var activeTime: Int64 = -1
    public internal(set) var pendingCount: UInt64 = 0
    var isDirty = false
    /// `group prefix + len16 name + name`: the start of its own pending rows' keys.
    let keyPrefix: [UInt8]

    init(name: [UInt8], seenTime: Int64, groupPrefix: [UInt8]) {
        self.name = name
        self.seenTime = seenTime
        var prefix = groupPrefix
        GroupTables.appendLength(name.count, to: &prefix)
        prefix.append(contentsOf: name)
        self.keyPrefix = prefix
    }

    func encoded() -> [UInt8] {
        var out: [UInt8] = [1]
        appendLittleEndian(seenTime, to: &out)
        appendLittleEndian(activeTime, to: &out)
        appendLittleEndian(pendingCount, to: &out)
        return out
    }

    static func decode(name: [UInt8], groupPrefix: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Consumer? {
        guard bytes.count == 25, bytes[0] == 1 else { return nil }
        let consumer = Consumer(name: name, seenTime: readLittleEndian(Int64.self, bytes, at: 1), groupPrefix: groupPrefix)
        consumer.activeTime = readLittleEndian(Int64.self, bytes, at: 9)
        consumer.pendingCount = readLittleEndian(UInt64.self, bytes, at: 17)
        return consumer
    }
}

/// How a pending entry that was given back (XNACK) comes back. Given-back entries have no owner
/// (XPENDING shows the consumer as "" and idle as -1, as Redis does) and any claim takes them
/// whatever its minimum idle time.
public struct GivenBack: Sendable, Equatable {
    /// Wall-clock ms of the XNACK: claims take given-back entries in this order.
    public var at: Int64
    /// With XNACK's DELAY (Spool): from this wall-clock ms on, XREADGROUP `>` delivers it again
    /// before new entries. nil: only claims deliver it (XCLAIM, XAUTOCLAIM, XREADGROUP CLAIM), as
    /// in Redis.
    public var redeliverAt: Int64?

    public init(at: Int64, redeliverAt: Int64?) {
        self.at = at
        self.redeliverAt = redeliverAt
    }

    /// `at LE8, redeliverAt LE8` (Int64.min: none). An 8-byte row is the earlier layout, one time
    /// that was both.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        appendLittleEndian(at, to: &out)
        appendLittleEndian(redeliverAt ?? .min, to: &out)
        return out
    }

    init?(decoding bytes: UnsafeRawBufferPointer) {
        switch bytes.count {
        case 8:
            at = readLittleEndian(Int64.self, bytes, at: 0)
            redeliverAt = at
        case 16:
            at = readLittleEndian(Int64.self, bytes, at: 0)
            let time = readLittleEndian(Int64.self, bytes, at: 8)
            redeliverAt = time == .min ? nil : time
        default:
            return nil
        }
    }
}

/// One entry of a group's pending list: delivered, not yet acknowledged.
public struct PendingEntry: Sendable, Equatable {
    public var id: EntryID
    /// The consumer that holds it (for a given-back entry: the one that gave it back).
    public var consumer: [UInt8]
    /// Wall-clock ms of the last delivery.
    public var deliveryTime: Int64
    public var deliveryCount: UInt64
    /// Given back (XNACK): it has no owner now; `consumer` is the last one (empty when XNACK FORCE
    /// made it pending).
    public var isGivenBack: Bool

    public init(id: EntryID, consumer: [UInt8], deliveryTime: Int64, deliveryCount: UInt64, isGivenBack: Bool = false) {
        self.id = id
        self.consumer = consumer
        self.deliveryTime = deliveryTime
        self.deliveryCount = deliveryCount
        self.isGivenBack = isGivenBack
    }
}

/// The tables behind consumer groups, shared by every stream; each key starts with the stream's
/// table number (8 bytes big-endian), so one stream's rows are contiguous and a dropped stream's
/// rows go with one prefix walk.
///
/// - `table:spool-groups`     stream + group                          → group row
/// - `table:spool-consumers`  stream + len16 group + group + consumer → consumer row
/// - `table:spool-pel`        stream + len16 group + group + first id → run of pending entries
/// - `table:spool-cpel`       stream + len16 group + group + len16 consumer + consumer + first id → empty
/// - `table:spool-redeliver`  stream + len16 group + group + id       → available-at ms
///
/// The pending list is stored in runs (`PendingRun`) keyed twice, per group and per consumer, so
/// both walks are range scans.
final class GroupTables {
    static let groupsURI = "table:spool-groups"
    static let consumersURI = "table:spool-consumers"
    static let pendingURI = "table:spool-pel"
    static let consumerPendingURI = "table:spool-cpel"
    static let redeliveryURI = "table:spool-redeliver"

    let groups: WiredTigerCursor
    let consumers: WiredTigerCursor
    let pending: WiredTigerCursor
    let consumerPending: WiredTigerCursor
    let redelivery: WiredTigerCursor

    init(session: WiredTigerSession) throws(WiredTigerError) {
        for uri in [Self.groupsURI, Self.consumersURI, Self.pendingURI, Self.consumerPendingURI, Self.redeliveryURI] {
            try session.create(uri, config: WiredTigerConfiguration.table)
        }
        groups = try session.openCursor(Self.groupsURI, config: "overwrite=true")
        consumers = try session.openCursor(Self.consumersURI, config: "overwrite=true")
        pending = try session.openCursor(Self.pendingURI, config: "overwrite=true")
        consumerPending = try session.openCursor(Self.consumerPendingURI, config: "overwrite=true")
        redelivery = try session.openCursor(Self.redeliveryURI, config: "overwrite=true")
    }

    func close() {
        for cursor in [groups, consumers, pending, consumerPending, redelivery] { cursor.close() }
    }

    // MARK: Keys

    static func streamPrefix(_ table: UInt64) -> [UInt8] {
        withUnsafeBytes(of: table.bigEndian) { Array($0) }
    }

    static func groupPrefix(_ table: UInt64, _ group: [UInt8]) -> [UInt8] {
        var key = streamPrefix(table)
        appendLength(group.count, to: &key)
        key.append(contentsOf: group)
        return key
    }

    static func appendLength(_ count: Int, to key: inout [UInt8]) {
        key.append(UInt8(truncatingIfNeeded: count >> 8))
        key.append(UInt8(truncatingIfNeeded: count))
    }

    /// `prefix + id` in one allocation.
    static func key(_ prefix: [UInt8], _ id: EntryID) -> [UInt8] {
        var key = [UInt8]()
        key.reserveCapacity(prefix.count + 16)
        key.append(contentsOf: prefix)
        withUnsafeBytes(of: id.milliseconds.bigEndian) { key.append(contentsOf: $0) }
        withUnsafeBytes(of: id.sequence.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// The id a `prefix + id` key (`key(_:_:)`) ends with.
    static func id(endingKey key: [UInt8]) -> EntryID? {
        key.suffix(EntryID.keyByteCount).withUnsafeBytes { EntryID(keyBytes: $0) }
    }

    // MARK: Walks

    /// Calls `body` with each key (and the cursor positioned on it) that starts with `prefix`
    /// and is at or above `prefix + start`, in order, until it returns false.
    static func walk(
        _ cursor: WiredTigerCursor, prefix: [UInt8], from start: [UInt8] = [],
        _ body: ([UInt8]) throws(WiredTigerError) -> Bool
    ) throws(WiredTigerError) {
        defer { cursor.reset() }
        let seek = prefix + start
        guard let near = try cursor.searchNear(key: seek) else { return }
        var positioned = true
        if near == .before { positioned = try cursor.next() }
        while positioned {
            let key = try cursor.key
            guard key.starts(with: prefix) else { return }
            guard try body(key) else { return }
            positioned = try cursor.next()
        }
    }

    /// Removes every row whose key starts with `prefix`.
    static func removeAll(_ cursor: WiredTigerCursor, prefix: [UInt8]) throws(WiredTigerError) {
        var keys: [[UInt8]] = []
        try walk(cursor, prefix: prefix) { key in
            keys.append(key)
            return true
        }
        for key in keys { try cursor.remove(key: key) }
        cursor.reset()
    }

    /// Loads a stream's groups, consumers and given-back entries.
    func load(table: UInt64) throws(WiredTigerError) -> [[UInt8]: ConsumerGroup] {
        let prefix = Self.streamPrefix(table)
        var loaded: [[UInt8]: ConsumerGroup] = [:]
        var corrupt: String?
        try Self.walk(groups, prefix: prefix) { key throws(WiredTigerError) in
            let name = Array(key.dropFirst(prefix.count))
            guard let group = try groups.withValue({ ConsumerGroup.decode(name: name, table: table, $0) }) else {
                corrupt = "group row of stream table \(table)"
                return false
            }
            loaded[name] = group
            return true
        }
        try Self.walk(consumers, prefix: prefix) { key throws(WiredTigerError) in
            guard let (groupName, rest) = Self.splitGroup(key, prefixCount: prefix.count),
                let group = loaded[groupName],
                let consumer = try consumers.withValue({ Consumer.decode(name: rest, groupPrefix: group.keyPrefix, $0) })
            else {
                corrupt = "consumer row of stream table \(table)"
                return false
            }
            group.consumers[consumer.name] = consumer
            return true
        }
        try Self.walk(redelivery, prefix: prefix) { key throws(WiredTigerError) in
            guard let (groupName, rest) = Self.splitGroup(key, prefixCount: prefix.count), rest.count == 16,
                let group = loaded[groupName],
                let id = rest.withUnsafeBytes({ EntryID(keyBytes: $0) })
            else {
                corrupt = "redelivery row of stream table \(table)"
                return false
            }
            guard let state = try redelivery.withValue({ GivenBack(decoding: $0) }) else {
                corrupt = "redelivery row of stream table \(table)"
                return false
            }
            group.givenBack[id] = state
            return true
        }
        if let corrupt { throw WiredTigerError.corrupt(corrupt) }
        return loaded
    }

    /// Splits `prefix + len16 group + group + rest` into the group name and the rest.
    static func splitGroup(_ key: [UInt8], prefixCount: Int) -> ([UInt8], [UInt8])? {
        guard key.count >= prefixCount + 2 else { return nil }
        let length = Int(key[prefixCount]) << 8 | Int(key[prefixCount + 1])
        let start = prefixCount + 2
        guard key.count >= start + length else { return nil }
        return (Array(key[start..<start + length]), Array(key[(start + length)...]))
    }
}

extension LogStore {
    // MARK: Groups

    /// Creates a group positioned after `lastDeliveredID`.
    public func createGroup(
        _ stream: StreamState, name: [UInt8], lastDeliveredID: EntryID, entriesRead: Int64
    ) -> ConsumerGroup {
        precondition(stream.groups[name] == nil, "group exists")
        let group = ConsumerGroup(
            name: name, lastDeliveredID: lastDeliveredID, entriesRead: entriesRead, table: stream.number)
        stream.groups[name] = group
        markDirty(stream, group)
        return group
    }

    /// Removes a group with its consumers and pending list.
    public func destroyGroup(_ stream: StreamState, _ group: ConsumerGroup) throws(WiredTigerError) {
        noteWrite(stream)
        let prefix = group.keyPrefix
        try groupTables.groups.remove(key: GroupTables.streamPrefix(stream.number) + group.name)
        try GroupTables.removeAll(groupTables.consumers, prefix: prefix)
        try GroupTables.removeAll(groupTables.pending, prefix: prefix)
        try GroupTables.removeAll(groupTables.consumerPending, prefix: prefix)
        try GroupTables.removeAll(groupTables.redelivery, prefix: prefix)
        group.isDirty = false
        for consumer in group.consumers.values { consumer.isDirty = false }
        stream.groups[group.name] = nil
    }

    public func setGroupPosition(_ stream: StreamState, _ group: ConsumerGroup, lastDeliveredID: EntryID, entriesRead: Int64) {
        group.lastDeliveredID = lastDeliveredID
        group.entriesRead = entriesRead
        markDirty(stream, group)
    }

    /// Changes the dead-letter policy; a nil argument leaves that setting as it is.
    public func setGroupPolicy(_ stream: StreamState, _ group: ConsumerGroup, maxDeliveries: UInt64?, deadLetterStream: [UInt8]?) {
        if let maxDeliveries { group.maxDeliveries = maxDeliveries }
        if let deadLetterStream { group.deadLetterStream = deadLetterStream }
        markDirty(stream, group)
    }

    // MARK: Consumers

    /// The consumer, created (seen now) if it did not exist; `created` tells which.
    public func consumer(
        _ stream: StreamState, _ group: ConsumerGroup, named name: [UInt8], now: Int64
    ) -> (consumer: Consumer, created: Bool) {
        if let existing = group.consumers[name] { return (existing, false) }
        let consumer = Consumer(name: name, seenTime: now, groupPrefix: group.keyPrefix)
        group.consumers[name] = consumer
        markDirty(stream, group, consumer)
        return (consumer, true)
    }

    /// Records that a consumer tried something (`seen`) and possibly got entries (`active`).
    public func touch(_ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer, seen: Int64?, active: Int64? = nil) {
        if let seen { consumer.seenTime = seen }
        if let active { consumer.activeTime = active }
        markDirty(stream, group, consumer)
    }

    // MARK: Bookkeeping

    func markDirty(_ stream: StreamState, _ group: ConsumerGroup, _ consumer: Consumer? = nil) {
        noteWrite(stream)
        if !group.isDirty {
            group.isDirty = true
            dirtyGroups.append((stream, group))
        }
        if let consumer, !consumer.isDirty {
            consumer.isDirty = true
            dirtyConsumers.append((stream, group, consumer))
        }
    }

    /// Writes changed group and consumer rows; part of `writeDirtyRecords`.
    func writeDirtyGroups() throws(WiredTigerError) {
        for (stream, group) in dirtyGroups where group.isDirty {
            try groupTables.groups.insert(
                key: GroupTables.streamPrefix(stream.number) + group.name, value: group.encoded())
            group.isDirty = false
        }
        for (_, group, consumer) in dirtyConsumers where consumer.isDirty {
            try groupTables.consumers.insert(
                key: group.keyPrefix + consumer.name,
                value: consumer.encoded())
            consumer.isDirty = false
        }
        dirtyGroups.removeAll(keepingCapacity: true)
        dirtyConsumers.removeAll(keepingCapacity: true)
    }

    /// Removes every group row of a dropped stream.
    func removeGroupRows(table: UInt64) throws(WiredTigerError) {
        let prefix = GroupTables.streamPrefix(table)
        for cursor in [groupTables.groups, groupTables.consumers, groupTables.pending, groupTables.consumerPending, groupTables.redelivery] {
            try GroupTables.removeAll(cursor, prefix: prefix)
        }
    }
}
