import SpoolCore

/// One producer of one stream as the storage thread keeps it: its state plus bookkeeping. Change
/// `state`, then call `ProducerTable.noteChanged(_:)` so the row is rewritten at commit.
public final class TrackedProducer {
    public let table: UInt64
    public let stream: [UInt8]
    public let id: [UInt8]
    public var state: ProducerState
    fileprivate var isDirty = false
    fileprivate var isRemoved = false

    init(table: UInt64, stream: [UInt8], id: [UInt8], state: ProducerState) {
        self.table = table
        self.stream = stream
        self.id = id
        self.state = state
    }
}

/// `table:spool-producers`: every stream's producers (see `ProducerRecord` for the encoding), and
/// an in-memory cache of the streams' producers that have been used since the store opened. A
/// stream's producers are loaded together the first time one of them is needed; changed rows are
/// rewritten once per batch, in the batch's transaction, so a producer's high-water mark is always
/// exactly as durable as the entries it describes. Storage thread only.
public final class ProducerTable {
    static let uri = "table:spool-producers"

    private let cursor: WiredTigerCursor
    /// Ids kept per producer for answering retries; set from the configuration at start.
    public var windowMax = 128
    /// Loaded streams' producers, by table number, then producer id.
    private var loaded: [UInt64: [[UInt8]: TrackedProducer]] = [:]
    private var dirty: [TrackedProducer] = []
    /// The producer the last lookup found (a producer's entries come in runs).
    private var lastFound: TrackedProducer?
    /// Streams dropped since the last `takeDroppedStreams()`, so the server can fail the
    /// appends that were waiting on them.
    private var droppedStreams: [StreamKey] = []

    init(session: WiredTigerSession) throws(WiredTigerError) {
        try session.create(Self.uri, config: WiredTigerConfiguration.table)
        cursor = try session.openCursor(Self.uri, config: "overwrite=true")
    }

    /// Every producer of the stream, loading them on first use.
    public func producers(of stream: StreamState) throws(WiredTigerError) -> [[UInt8]: TrackedProducer] {
        if let known = loaded[stream.number] { return known }
        let table = stream.number
        var found: [[UInt8]: TrackedProducer] = [:]
        for (key, value) in try rows(table: table) {
            let id = Array(key.dropFirst(8))
            guard let state = value.withUnsafeBytes({ ProducerRecord.decode($0, windowMax: windowMax) }) else {
                throw WiredTigerError.corrupt("producer row for table \(table)")
            }
            found[id] = TrackedProducer(table: table, stream: stream.name, id: id, state: state)
        }
        loaded[table] = found
        return found
    }

    public func producer(_ id: [UInt8], of stream: StreamState) throws(WiredTigerError) -> TrackedProducer? {
        if let last = lastFound, !last.isRemoved, last.table == stream.number, last.id == id {
            return last
        }
        let found: TrackedProducer?
        if let known = loaded[stream.number] {
            found = known[id]
        } else {
            found = try producers(of: stream)[id]
        }
        if found != nil { lastFound = found }
        return found
    }

    /// Starts tracking a producer the stream did not have; its row is written at commit.
    public func add(_ id: [UInt8], to stream: StreamState, state: ProducerState) throws(WiredTigerError)
        -> TrackedProducer
    {
        let existing = try producer(id, of: stream)
        precondition(existing == nil, "producer exists")
        let producer = TrackedProducer(table: stream.number, stream: stream.name, id: id, state: state)
        loaded[producer.table, default: [:]][id] = producer
        noteChanged(producer)
        return producer
    }

    public func noteChanged(_ producer: TrackedProducer) {
        precondition(!producer.isRemoved, "producer was removed")
        if !producer.isDirty {
            producer.isDirty = true
            dirty.append(producer)
        }
    }

    /// Forgets a producer (idle expiry): its row goes in the current transaction.
    public func remove(_ producer: TrackedProducer) throws(WiredTigerError) {
        producer.isRemoved = true
        loaded[producer.table]?[producer.id] = nil
        try cursor.remove(key: ProducerRecord.key(table: producer.table, producer: producer.id))
        cursor.reset()
    }

    /// Lets go of a stream's loaded producers (the stream left the cache); false, keeping them, when
    /// one has a change not yet written.
    func forget(stream number: UInt64) -> Bool {
        guard let producers = loaded[number] else { return true }
        guard !producers.values.contains(where: { $0.isDirty }) else { return false }
        loaded[number] = nil
        if let last = lastFound, last.table == number { lastFound = nil }
        return true
    }

    /// Loaded producers of every stream (the idle sweep walks these).
    public var loadedProducers: [TrackedProducer] { loaded.values.flatMap(\.values) }

    /// A stream is being dropped: its producers' rows go in the same transaction.
    func removeAll(of stream: StreamState) throws(WiredTigerError) {
        let table = stream.number
        if let producers = loaded.removeValue(forKey: table) {
            for producer in producers.values { producer.isRemoved = true }
        }
        for (key, _) in try rows(table: table) { try cursor.remove(key: key) }
        cursor.reset()
        droppedStreams.append(stream.key)
    }

    /// Whether a stream was dropped since the last `takeDroppedStreams()`.
    public var hasDroppedStreams: Bool { !droppedStreams.isEmpty }

    /// Streams dropped since the last call.
    public func takeDroppedStreams() -> [StreamKey] {
        guard !droppedStreams.isEmpty else { return [] }
        defer { droppedStreams.removeAll() }
        return droppedStreams
    }

    /// Rewrites every row that changed in the batch; called once before it commits.
    func writeDirty() throws(WiredTigerError) {
        guard !dirty.isEmpty else { return }
        for producer in dirty where producer.isDirty && !producer.isRemoved {
            try cursor.insert(
                key: ProducerRecord.key(table: producer.table, producer: producer.id),
                value: ProducerRecord.encode(producer.state))
            producer.isDirty = false
        }
        dirty.removeAll(keepingCapacity: true)
    }

    /// After a rollback: forget everything in memory; it is loaded again from disk when needed.
    func reset() {
        for producer in dirty { producer.isDirty = false }
        dirty.removeAll()
        loaded.removeAll()
        lastFound = nil
        droppedStreams.removeAll()
    }

    /// Every row of one stream, in producer-id order: (key, value).
    private func rows(table: UInt64) throws(WiredTigerError) -> [([UInt8], [UInt8])] {
        let prefix = ProducerRecord.tablePrefix(table)
        defer { cursor.reset() }
        guard let near = try cursor.searchNear(key: prefix) else { return [] }
        var found: [([UInt8], [UInt8])] = []
        var positioned = near == .before ? try cursor.next() : true
        while positioned {
            let key = try cursor.key
            guard key.count >= 8, key.starts(with: prefix) else { break }
            found.append((key, try cursor.value))
            positioned = try cursor.next()
        }
        return found
    }
}
