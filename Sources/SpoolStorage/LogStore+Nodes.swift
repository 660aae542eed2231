import SpoolCore

/// Redis keeps a stream's entries in radix-tree nodes (listpacks) and approximate trimming (`~`)
/// removes only whole nodes. Spool has no such nodes, so it records where Redis would have started
/// each one: an appended entry whose node would be full starts the next, marked by the top bit of
/// its dense number (`EntryCodec`). The rule is Redis's (streamAppendItem): a new node when the
/// tail holds `entriesMax` entries, deleted ones included, or when its bytes plus the new entry's
/// field and value lengths reach `bytesMax`; the bytes are an estimate of the listpack's encoding.
public struct StreamNodeLimits: Sendable, Equatable {
    /// stream-node-max-entries; 0: no limit.
    public var entriesMax: Int = 100
    /// stream-node-max-bytes; 0: no limit (Redis then caps a node at 1 GiB).
    public var bytesMax: Int = 4096

    public init(entriesMax: Int = 100, bytesMax: Int = 4096) {
        self.entriesMax = entriesMax
        self.bytesMax = bytesMax
    }

    var effectiveBytesMax: Int { bytesMax == 0 || bytesMax > 1 << 30 ? 1 << 30 : bytesMax }
}

/// The node appends go into, as `StreamState.tailNode` keeps it.
struct TailNode {
    /// Entries added to it, deleted ones included (Redis counts both).
    var entries: Int
    /// Estimated listpack bytes.
    var bytes: Int
    /// The field names of its first entry (its master entry): entries with the same names store
    /// only their values.
    var masterFields: [[UInt8]]
    /// Its first entry's id: the others store their id as a difference from it.
    var masterID: EntryID
}

/// Sizes of Redis's listpack encoding (listpack.c), close enough to place node boundaries where
/// Redis does for ordinary entries.
enum ListpackSize {
    /// Header (total bytes, element count) and end byte.
    static let empty = 7

    /// One element: its encoding plus the back-length byte(s). Strings that read as integers are
    /// stored as integers.
    static func element(_ bytes: some ByteString) -> Int {
        if let value = canonicalInteger(bytes) { return integer(value) }
        let encoded: Int
        switch bytes.count {
        case ..<64: encoded = 1 + bytes.count
        case ..<4096: encoded = 2 + bytes.count
        default: encoded = 5 + bytes.count
        }
        return encoded + backLength(encoded)
    }

    static func integer(_ value: Int64) -> Int {
        let encoded: Int
        switch value {
        case 0...127: encoded = 1
        case -4096...4095: encoded = 2
        case -32768...32767: encoded = 3
        case -8_388_608...8_388_607: encoded = 4
        case -2_147_483_648...2_147_483_647: encoded = 5
        default: encoded = 9
        }
        return encoded + backLength(encoded)
    }

    /// The value of a string that is an integer written canonically (no sign but `-`, no leading
    /// zeros, within Int64), as listpack's lpStringToInt64 accepts it; nil otherwise. No String is
    /// built: this runs for every field of every append.
    static func canonicalInteger(_ bytes: some ByteString) -> Int64? {
        guard !bytes.isEmpty, bytes.count <= 20 else { return nil }
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative {
            index = 1
            guard bytes.count > 1 else { return nil }
        }
        guard bytes[index] != UInt8(ascii: "0") || bytes.count == index + 1 else { return nil }
        if negative && bytes[index] == UInt8(ascii: "0") { return nil }
        var magnitude: UInt64 = 0
        while index < bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else { return nil }
            let (times, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(digit))
            guard !overflow, !carry else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }

    static func backLength(_ encoded: Int) -> Int { encoded <= 127 ? 1 : encoded < 16383 ? 2 : 3 }

    /// The master entry a node starts with: count, deleted, number of fields, the fields, 0.
    static func master(_ fields: [[UInt8]]) -> Int {
        integer(1) + integer(0) + integer(Int64(fields.count)) + fields.reduce(0) { $0 + element($1) } + integer(0)
    }

    /// One entry: flags, id differences from the master entry, (fields unless the master's),
    /// values, element count.
    static func entry(_ fields: some ByteStrings, id: EntryID, master: EntryID, sameFieldsAsMaster: Bool) -> Int {
        let milliseconds = Int64(bitPattern: id.milliseconds &- master.milliseconds)
        let sequence = Int64(bitPattern: id.sequence &- master.sequence)
        var size = integer(0) + integer(milliseconds) + integer(sequence)
        var index = fields.startIndex
        var values = 0
        while index < fields.endIndex {
            if !sameFieldsAsMaster { size += element(fields[index]) }
            size += element(fields[index + 1])
            values += 1
            index += 2
        }
        if !sameFieldsAsMaster { size += integer(Int64(values)) }
        return size + integer(Int64(sameFieldsAsMaster ? values + 3 : 2 * values + 4))
    }
}

extension LogStore {
    /// The top bit of a stored entry's dense number: the entry starts a node.
    static let nodeStartFlag: UInt64 = 1 << 63

    /// Decides whether an entry with `fields` appended now starts a node, and counts it into the
    /// tail node.
    func placeInNode(_ stream: StreamState, id: EntryID, _ fields: some ByteStrings) throws(WiredTigerError) -> Bool {
        if stream.tailNode == nil { stream.tailNode = try findTailNode(stream) }
        var rawLength = 0
        for field in fields { rawLength += field.count }
        var startsNode = true
        if let tail = stream.tailNode {
            let full = nodeLimits.entriesMax != 0 && tail.entries >= nodeLimits.entriesMax
            startsNode = full || tail.bytes + rawLength >= nodeLimits.effectiveBytesMax
        }
        if startsNode {
            let names = Self.fieldNames(fields)
            stream.tailNode = TailNode(
                entries: 0, bytes: ListpackSize.empty + ListpackSize.master(names), masterFields: names, masterID: id)
        }
        let tail = stream.tailNode!
        stream.tailNode!.entries += 1
        stream.tailNode!.bytes += ListpackSize.entry(
            fields, id: id, master: tail.masterID, sameFieldsAsMaster: Self.hasFieldNames(fields, tail.masterFields))
        return startsNode
    }

    /// An entry's field names (every other string, from the first).
    private static func fieldNames(_ fields: some ByteStrings) -> [[UInt8]] {
        var names: [[UInt8]] = []
        names.reserveCapacity(fields.count / 2)
        var index = fields.startIndex
        while index < fields.endIndex {
            names.append(Array(fields[index]))
            index += 2
        }
        return names
    }

    /// Whether the entry's field names are the master entry's, in order.
    private static func hasFieldNames(_ fields: some ByteStrings, _ names: [[UInt8]]) -> Bool {
        guard fields.count == names.count * 2 else { return false }
        var index = fields.startIndex
        for name in names {
            guard fields[index].elementsEqual(name) else { return false }
            index += 2
        }
        return true
    }

    /// The tail node after loading: walks back from the newest entry to the one that starts it.
    /// nil (the next append starts a node) for an empty stream or when no start is found within a
    /// node's worth of entries (its first entry was deleted).
    private func findTailNode(_ stream: StreamState) throws(WiredTigerError) -> TailNode? {
        guard stream.record.length > 0 else { return nil }
        let window = nodeLimits.entriesMax == 0 ? 100_000 : nodeLimits.entriesMax
        var cursor = try self.cursor(stream, direction: .backward)
        // Newest first, until the entry that starts the node.
        var entries: [(id: EntryID, number: UInt64, fields: [[UInt8]])] = []
        while entries.count < window {
            let step = try cursor.nextRaw { (id, raw) -> (id: EntryID, number: UInt64, starts: Bool, fields: [[UInt8]])? in
                guard let decoded = EntryCodec.decode(raw) else { return nil }
                return (id, decoded.number & ~Self.nodeStartFlag, decoded.number & Self.nodeStartFlag != 0, decoded.fields)
            }
            guard let step else { return nil }
            guard let entry = step else { throw WiredTigerError.corrupt("an entry's stored bytes do not decode") }
            entries.append((entry.id, entry.number, entry.fields))
            guard entry.starts else { continue }
            let names = Self.fieldNames(entry.fields[...])
            var bytes = ListpackSize.empty + ListpackSize.master(names)
            for other in entries {
                bytes += ListpackSize.entry(
                    other.fields[...], id: other.id, master: entry.id,
                    sameFieldsAsMaster: Self.hasFieldNames(other.fields[...], names))
            }
            // Deleted entries of the node count too: the dense numbers say how many were added.
            return TailNode(
                entries: Int(clamping: entries[0].number - entry.number + 1), bytes: bytes, masterFields: names,
                masterID: entry.id)
        }
        return nil
    }

    /// Approximate trimming (`~`): removes whole nodes from the oldest end while `removable` says a
    /// node of that many entries ending at that id may go, stopping before a node that would take
    /// the removed count past `limit` (Redis's streamTrim with KEEPREF). A node is the entries from
    /// one that starts a node up to the next; the oldest present entry starts the first.
    public func trimWholeNodes(
        _ stream: StreamState, limit: Int, removable: (_ entries: Int, _ last: EntryID, _ length: UInt64) -> Bool
    ) throws(WiredTigerError) -> Int {
        var doomed: [EntryID] = []
        var doomedBytes: UInt64 = 0
        var node: [EntryID] = []
        var nodeBytes: UInt64 = 0
        var length = stream.record.length
        var cursor = try self.cursor(stream)
        var finished = false
        func closeNode() -> Bool {
            guard !node.isEmpty else { return true }
            if doomed.count + node.count > limit { return false }
            guard removable(node.count, node[node.count - 1], length) else { return false }
            doomed += node
            doomedBytes += nodeBytes
            length -= UInt64(node.count)
            node.removeAll(keepingCapacity: true)
            nodeBytes = 0
            return true
        }
        while !finished {
            let step = try cursor.nextRaw { (id, raw) -> (EntryID, Bool, UInt64) in
                (id, raw.count >= 8 && readLittleEndian(UInt64.self, raw, at: 0) & Self.nodeStartFlag != 0,
                 EntrySize.of(storedValue: raw.count))
            }
            guard let (id, starts, size) = step else {
                _ = closeNode()
                break
            }
            if starts && !closeNode() { finished = true }
            node.append(id)
            nodeBytes += size
        }
        _ = consume cursor
        try removeWalked(stream, doomed, bytes: doomedBytes, runBreaks: [])
        return doomed.count
    }
}
