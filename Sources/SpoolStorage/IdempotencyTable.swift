import Collections
import SpoolCore

/// Redis 8.6's idempotent appends for one stream (XADD IDMP/IDMPAUTO, XCFGSET): per producer id
/// the idempotent ids of its recent appends and the entry each made, so an append sent again gets
/// the first one's id instead of a second entry. A producer keeps at most `maxSize` of them (the
/// oldest goes first) and forgets one whose entry is older than `durationSeconds`. Storage thread
/// only.
public final class StreamIdempotency {
    /// Redis's defaults, which a stream keeps until XCFGSET changes them.
    public static let defaultDurationSeconds: Int64 = 100
    public static let defaultMaxSize = 100

    public internal(set) var durationSeconds: Int64 = StreamIdempotency.defaultDurationSeconds
    public internal(set) var maxSize = StreamIdempotency.defaultMaxSize
    /// Idempotent ids recorded since the stream was created (XINFO STREAM iids-added).
    public internal(set) var idsAdded: UInt64 = 0
    /// Appends answered with an earlier entry's id (iids-duplicates).
    public internal(set) var duplicates: UInt64 = 0
    var producers: [[UInt8]: IdempotentProducer] = [:]
    fileprivate var isQueued = false
    fileprivate var settingsDirty = false
    fileprivate var dirtyProducers: Set<[UInt8]> = []
    fileprivate var removedProducers: Set<[UInt8]> = []

    public var producerCount: Int { producers.count }
    public var trackedIDCount: Int { producers.values.reduce(0) { $0 + $1.order.count } }
}

/// The settings a new stream starts with (stream-idmp-duration, stream-idmp-maxsize); a stream
/// keeps them until XCFGSET changes them, whatever the configuration says later, as in Redis.
public struct IdempotencyDefaults: Sendable, Equatable {
    public var durationSeconds: Int64 = StreamIdempotency.defaultDurationSeconds
    public var maxSize = StreamIdempotency.defaultMaxSize

    public init(durationSeconds: Int64 = StreamIdempotency.defaultDurationSeconds, maxSize: Int = StreamIdempotency.defaultMaxSize) {
        self.durationSeconds = durationSeconds
        self.maxSize = maxSize
    }
}

/// One producer's recorded appends, oldest first.
struct IdempotentProducer {
    var entries: [[UInt8]: EntryID] = [:]
    var order: Deque<(id: [UInt8], entry: EntryID)> = []

    /// `count LE4`, then per id: `len LE2, id, entry ms LE8, entry seq LE8`.
    func encoded() -> [UInt8] {
        var out: [UInt8] = []
        appendLittleEndian(UInt32(order.count), to: &out)
        for (id, entry) in order {
            appendLittleEndian(UInt16(id.count), to: &out)
            out.append(contentsOf: id)
            appendLittleEndian(entry.milliseconds, to: &out)
            appendLittleEndian(entry.sequence, to: &out)
        }
        return out
    }

    init() {}

    mutating func record(_ id: [UInt8], entry: EntryID, keepingAtMost maxSize: Int) {
        entries[id] = entry
        order.append((id, entry))
        while order.count > maxSize, let oldest = order.popFirst() {
            if entries[oldest.id] == oldest.entry { entries[oldest.id] = nil }
        }
    }

    /// Drops the records whose entries' time is at or before `horizon` (wall-clock ms).
    mutating func dropRecords(atOrBefore horizon: UInt64) {
        while let oldest = order.first, oldest.entry.milliseconds <= horizon {
            order.removeFirst()
            if entries[oldest.id] == oldest.entry { entries[oldest.id] = nil }
        }
    }

    init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 4 else { return nil }
        let count = Int(readLittleEndian(UInt32.self, bytes, at: 0))
        var offset = 4
        for _ in 0..<count {
            guard offset + 2 <= bytes.count else { return nil }
            let length = Int(readLittleEndian(UInt16.self, bytes, at: offset))
            offset += 2
            guard offset + length + 16 <= bytes.count else { return nil }
            let id = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
            offset += length
            let entry = EntryID(
                milliseconds: readLittleEndian(UInt64.self, bytes, at: offset),
                sequence: readLittleEndian(UInt64.self, bytes, at: offset + 8))
            offset += 16
            entries[id] = entry
            order.append((id, entry))
        }
        guard offset == bytes.count else { return nil }
    }
}

/// `table:spool-idmp`: per stream (8-byte big-endian table number) one settings row (the number
/// alone: duration, max size, counters) and one row per producer (`+ len16 BE + producer id`: its
/// recorded appends). A stream's rows are loaded the first time it uses IDMP or XINFO asks; changed
/// rows are rewritten once per batch in the batch's transaction, as durable as the entries they
/// name.
public final class IdempotencyTable {
    static let uri = "table:spool-idmp"

    private let cursor: WiredTigerCursor
    private var loaded: [UInt64: StreamIdempotency] = [:]
    private var dirty: [(UInt64, StreamIdempotency)] = []

    init(session: WiredTigerSession) throws(WiredTigerError) {
        try session.create(Self.uri, config: WiredTigerConfiguration.table)
        cursor = try session.openCursor(Self.uri, config: "overwrite=true")
    }

    /// The stream's state, loaded on first use.
    func state(of table: UInt64) throws(WiredTigerError) -> StreamIdempotency {
        if let known = loaded[table] { return known }
        let state = StreamIdempotency()
        let prefix = Self.prefix(table)
        defer { cursor.reset() }
        if let near = try cursor.searchNear(key: prefix) {
            var positioned = near == .before ? try cursor.next() : true
            while positioned {
                let key = try cursor.key
                guard key.starts(with: prefix) else { break }
                if key.count == prefix.count {
                    let settings = try cursor.value
                    guard settings.count == 32 else { throw WiredTigerError.corrupt("idempotency settings of table \(table)") }
                    settings.withUnsafeBytes { bytes in
                        state.durationSeconds = readLittleEndian(Int64.self, bytes, at: 0)
                        state.maxSize = Int(readLittleEndian(Int64.self, bytes, at: 8))
                        state.idsAdded = readLittleEndian(UInt64.self, bytes, at: 16)
                        state.duplicates = readLittleEndian(UInt64.self, bytes, at: 24)
                    }
                } else {
                    guard let producer = try cursor.withValue({ IdempotentProducer(decoding: $0) }) else {
                        throw WiredTigerError.corrupt("idempotent producer of table \(table)")
                    }
                    state.producers[Array(key.dropFirst(prefix.count + 2))] = producer
                }
                positioned = try cursor.next()
            }
        }
        loaded[table] = state
        return state
    }

    /// A stream created while the configured defaults differ from Redis's: its settings row is
    /// written with its catalog row (a stream without one has Redis's defaults).
    func start(_ table: UInt64, with defaults: IdempotencyDefaults) {
        let state = StreamIdempotency()
        state.durationSeconds = defaults.durationSeconds
        state.maxSize = defaults.maxSize
        loaded[table] = state
        noteChanged(table, state, settings: true)
    }

    func noteChanged(_ table: UInt64, _ state: StreamIdempotency, settings: Bool = false, producer: [UInt8]? = nil) {
        if !state.isQueued {
            state.isQueued = true
            dirty.append((table, state))
        }
        if settings { state.settingsDirty = true }
        if let producer {
            state.dirtyProducers.insert(producer)
            state.removedProducers.remove(producer)
        }
    }

    func noteRemoved(_ table: UInt64, _ state: StreamIdempotency, producer: [UInt8]) {
        noteChanged(table, state)
        state.removedProducers.insert(producer)
        state.dirtyProducers.remove(producer)
    }

    /// Rewrites what changed in the batch; called once before it commits.
    func writeDirty() throws(WiredTigerError) {
        guard !dirty.isEmpty else { return }
        defer { cursor.reset() }
        for (table, state) in dirty {
            let prefix = Self.prefix(table)
            if state.settingsDirty {
                var value: [UInt8] = []
                appendLittleEndian(state.durationSeconds, to: &value)
                appendLittleEndian(Int64(state.maxSize), to: &value)
                appendLittleEndian(state.idsAdded, to: &value)
                appendLittleEndian(state.duplicates, to: &value)
                try cursor.insert(key: prefix, value: value)
            }
            for producer in state.removedProducers {
                _ = try cursor.remove(key: prefix + Self.producerSuffix(producer))
            }
            for producer in state.dirtyProducers {
                guard let recorded = state.producers[producer] else { continue }
                try cursor.insert(key: prefix + Self.producerSuffix(producer), value: recorded.encoded())
            }
            state.isQueued = false
            state.settingsDirty = false
            state.dirtyProducers.removeAll()
            state.removedProducers.removeAll()
        }
        dirty.removeAll(keepingCapacity: true)
    }

    /// A stream is being dropped: its rows go in the same transaction.
    func removeAll(of table: UInt64) throws(WiredTigerError) {
        loaded[table] = nil
        dirty.removeAll { $0.0 == table }
        let prefix = Self.prefix(table)
        defer { cursor.reset() }
        guard let near = try cursor.searchNear(key: prefix) else { return }
        var keys: [[UInt8]] = []
        var positioned = near == .before ? try cursor.next() : true
        while positioned {
            let key = try cursor.key
            guard key.starts(with: prefix) else { break }
            keys.append(key)
            positioned = try cursor.next()
        }
        for key in keys { _ = try cursor.remove(key: key) }
    }

    /// Lets go of a stream's state (the stream left the cache); false, keeping it, when it has a
    /// change not yet written.
    func forget(stream number: UInt64) -> Bool {
        guard let state = loaded[number] else { return true }
        guard !state.isQueued else { return false }
        loaded[number] = nil
        return true
    }

    /// After a rollback: forget everything in memory; it is loaded again when needed.
    func reset() {
        loaded.removeAll()
        dirty.removeAll()
    }

    static func prefix(_ table: UInt64) -> [UInt8] {
        withUnsafeBytes(of: table.bigEndian) { Array($0) }
    }

    static func producerSuffix(_ producer: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt16(producer.count).bigEndian) { Array($0) } + producer
    }
}

extension LogStore {
    /// What an idempotent append found.
    public enum IdempotentLookup: Equatable, Sendable {
        /// Appended before: answer with this entry's id.
        case duplicate(EntryID)
        /// New: append, then `recordIdempotent`.
        case new
    }

    /// The stream's idempotency settings and counters (XINFO STREAM), expired ids left out.
    public func idempotency(_ stream: StreamState, nowMilliseconds: UInt64) throws(WiredTigerError) -> StreamIdempotency {
        noteRead(stream)
        let state = try idempotency.state(of: stream.number)
        for producer in Array(state.producers.keys) {
            expireIdempotent(stream, state, producer: producer, nowMilliseconds: nowMilliseconds)
        }
        return state
    }

    /// Whether `producer` appended `id` before (and its record has not expired).
    public func lookUpIdempotent(
        _ stream: StreamState, producer: [UInt8], id: [UInt8], nowMilliseconds: UInt64
    ) throws(WiredTigerError) -> IdempotentLookup {
        noteRead(stream)
        let state = try idempotency.state(of: stream.number)
        expireIdempotent(stream, state, producer: producer, nowMilliseconds: nowMilliseconds)
        guard let entry = state.producers[producer]?.entries[id] else { return .new }
        noteWrite(stream)
        state.duplicates += 1
        idempotency.noteChanged(stream.number, state, settings: true)
        return .duplicate(entry)
    }

    /// Records an idempotent append that made `entry`; the producer's oldest record goes past the
    /// stream's maximum.
    public func recordIdempotent(_ stream: StreamState, producer: [UInt8], id: [UInt8], entry: EntryID)
        throws(WiredTigerError)
    {
        noteWrite(stream)
        let table = stream.number
        let state = try idempotency.state(of: table)
        let maxSize = state.maxSize
        // Changed in place: a copy taken out and put back would copy every record it holds.
        state.producers[producer, default: IdempotentProducer()].record(id, entry: entry, keepingAtMost: maxSize)
        state.idsAdded += 1
        idempotency.noteChanged(table, state, settings: true, producer: producer)
    }

    /// XCFGSET: a changed setting forgets every producer's records (the counters stay), as Redis
    /// does; an unchanged one changes nothing.
    public func configureIdempotency(_ stream: StreamState, durationSeconds: Int64?, maxSize: Int?)
        throws(WiredTigerError)
    {
        let table = stream.number
        let state = try idempotency.state(of: table)
        let newDuration = durationSeconds ?? state.durationSeconds
        let newMaxSize = maxSize ?? state.maxSize
        guard newDuration != state.durationSeconds || newMaxSize != state.maxSize else { return }
        noteWrite(stream)
        state.durationSeconds = newDuration
        state.maxSize = newMaxSize
        for producer in Array(state.producers.keys) { idempotency.noteRemoved(table, state, producer: producer) }
        state.producers.removeAll()
        idempotency.noteChanged(table, state, settings: true)
    }

    /// Forgets the producer's records whose entries are older than the stream's duration, and the
    /// producer when none is left.
    private func expireIdempotent(
        _ stream: StreamState, _ state: StreamIdempotency, producer: [UInt8], nowMilliseconds: UInt64
    ) {
        let duration = UInt64(state.durationSeconds) * 1000
        guard nowMilliseconds > duration else { return }
        let horizon = nowMilliseconds - duration
        guard let first = state.producers[producer]?.order.first, first.entry.milliseconds <= horizon else { return }
        noteWrite(stream)
        let table = stream.number
        state.producers[producer]!.dropRecords(atOrBefore: horizon)
        if state.producers[producer]!.order.isEmpty {
            state.producers[producer] = nil
            idempotency.noteRemoved(table, state, producer: producer)
        } else {
            idempotency.noteChanged(table, state, producer: producer)
        }
    }
}
