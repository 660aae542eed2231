import SpoolCore

/// Spool's data on one WiredTiger session: the catalog of streams, their live and backfill tables
/// and the metadata table. Storage thread only; the group-commit machinery around it decides when
/// transactions begin and commit.
///
/// Tables:
/// - `table:spool-meta` — "schema-version" → UInt32, "next-table" → UInt64,
///   "stream:<name>" → `StreamRecord`.
/// - `table:s<N>.live` / `table:s<N>.backfill` — entry id (16 bytes big-endian) → `EntryCodec`.
/// - `table:spool-producers` — table number + producer id → `ProducerRecord` (see `ProducerTable`).
public final class LogStore {
    public static let schemaVersion: UInt32 = 1
    static let metaURI = "table:spool-meta"
    static let schemaKey = Array("schema-version".utf8)
    static let nextTableKey = Array("next-table".utf8)
    /// Catalog rows: `stream:` + name for database 0, `stream@` + database byte + name for the others.
    static let streamKeyPrefix = Array("stream:".utf8)
    static let databaseStreamKeyPrefix = Array("stream@".utf8)
    /// Databases a catalog key can name (one byte).
    public static let databasesMax = 256

    static func catalogKey(_ key: StreamKey) -> [UInt8] {
        key.database == 0 ? streamKeyPrefix + key.name : databaseStreamKeyPrefix + [UInt8(key.database)] + key.name
    }

    static func streamKey(catalogKey key: [UInt8]) -> StreamKey? {
        if key.starts(with: streamKeyPrefix) { return StreamKey(database: 0, name: Array(key.dropFirst(streamKeyPrefix.count))) }
        guard key.starts(with: databaseStreamKeyPrefix), key.count > databaseStreamKeyPrefix.count else { return nil }
        let database = Int(key[databaseStreamKeyPrefix.count])
        guard database > 0 else { return nil }
        return StreamKey(database: database, name: Array(key.dropFirst(databaseStreamKeyPrefix.count + 1)))
    }

    let session: WiredTigerSession
    private let meta: WiredTigerCursor
    let groupTables: GroupTables
    /// Groups and consumers whose rows changed in the batch in progress.
    var dirtyGroups: [(StreamState, ConsumerGroup)] = []
    var dirtyConsumers: [(StreamState, ConsumerGroup, Consumer)] = []
    private var nextTableNumber: UInt64
    private var streams: [StreamKey: StreamState] = [:]
    /// The database the job in progress works in (Redis's SELECT): names look up streams there.
    /// Set by the storage thread's context before each job.
    public var database = 0
    /// Streams per database (DBSIZE, INFO keyspace), kept with `streams`.
    private var streamCounts: [Int: Int] = [:]
    /// The stream the last lookup found: batches are mostly runs of commands on one stream, and
    /// comparing a short name costs less than hashing it. Cleared whenever a stream leaves the
    /// catalog.
    private var lastFound: StreamState?
    /// Tables of dropped streams, removed once the drop is committed.
    private var tablesToDrop: [String] = []
    /// Producers' high-water marks (`table:spool-producers`), written with the entries.
    public let producers: ProducerTable
    /// Idempotent appends (XADD IDMP/IDMPAUTO, `table:spool-idmp`), written with the entries.
    let idempotency: IdempotencyTable
    /// Where appends start Redis's radix-tree nodes (stream-node-max-entries/-bytes). Storage thread.
    public var nodeLimits = StreamNodeLimits()
    /// The IDMP settings new streams start with (stream-idmp-duration, -maxsize). Storage thread.
    public var idempotencyDefaults = IdempotencyDefaults()

    /// Generation the batch in progress will commit as; set by the storage thread.
    public internal(set) var currentGeneration: UInt64 = 1
    /// Highest generation known durable; set by the storage thread from the flush thread's word.
    public internal(set) var durableGeneration: UInt64 = 0
    /// Whether the batch in progress wrote anything.
    public internal(set) var batchDidWrite = false
    /// The generation the job in progress must see durable before its outcome is delivered.
    public internal(set) var jobDurabilityTag: UInt64 = 0
    /// Entries appended in the batch in progress (statistics).
    var batchAppendCount = 0

    /// Opens (creating on first use) the metadata table and loads the catalog.
    init(session: WiredTigerSession, createIfMissing: Bool) throws(StorageError) {
        self.session = session
        do {
            try session.create(Self.metaURI, config: WiredTigerConfiguration.table)
            meta = try session.openCursor(Self.metaURI, config: "overwrite=true")
            groupTables = try GroupTables(session: session)
        } catch {
            throw .wiredTiger(error)
        }
        var version: UInt32?
        do {
            if try meta.search(key: Self.schemaKey) {
                version = try meta.withValue { $0.count == 4 ? readLittleEndian(UInt32.self, $0, at: 0) : nil }
                guard version != nil else { throw StorageError.notSpoolData("schema version unreadable") }
            }
            meta.reset()
        } catch let error as StorageError {
            throw error
        } catch {
            throw .wiredTiger(error as! WiredTigerError)
        }
        if let version, version != Self.schemaVersion {
            throw .incompatibleSchema(found: version, expected: Self.schemaVersion)
        }
        if version == nil {
            guard createIfMissing else { throw .notSpoolData("no Spool metadata in the WiredTiger database") }
            var bytes = [UInt8]()
            appendLittleEndian(Self.schemaVersion, to: &bytes)
            var next = [UInt8]()
            appendLittleEndian(UInt64(1), to: &next)
            do {
                try session.beginTransaction()
                try meta.insert(key: Self.schemaKey, value: bytes)
                try meta.insert(key: Self.nextTableKey, value: next)
                try session.commitTransaction()
                // The schema row is the only write not covered by a later group commit's flush.
                try session.flushLog()
            } catch {
                throw .wiredTiger(error)
            }
        }
        do {
            producers = try ProducerTable(session: session)
            idempotency = try IdempotencyTable(session: session)
        } catch {
            throw .wiredTiger(error)
        }
        nextTableNumber = 1
        try loadCatalog()
    }

    private func loadCatalog() throws(StorageError) {
        do {
            if try meta.search(key: Self.nextTableKey) {
                nextTableNumber = try meta.withValue { $0.count == 8 ? readLittleEndian(UInt64.self, $0, at: 0) : 1 }
            }
            var records: [(StreamKey, StreamRecord)] = []
            for prefix in [Self.streamKeyPrefix, Self.databaseStreamKeyPrefix] {
                guard try meta.searchNear(key: prefix) != nil else { continue }
                // search_near may land before the prefix; walk forward while keys carry it.
                var positioned = true
                let firstKey = try meta.key
                if firstKey.lexicographicallyPrecedes(prefix) { positioned = try meta.next() }
                while positioned {
                    let key = try meta.key
                    guard key.starts(with: prefix) else { break }
                    let record = try meta.withValue { StreamRecord(decoding: $0) }
                    guard let record, let streamKey = Self.streamKey(catalogKey: key) else {
                        throw StorageError.notSpoolData("stream record for \(String(decoding: key, as: UTF8.self)) unreadable")
                    }
                    records.append((streamKey, record))
                    positioned = try meta.next()
                }
            }
            meta.reset()
            for (key, record) in records {
                register(try openStream(key, record: record))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw .wiredTiger(error as! WiredTigerError)
        }
    }

    private func openStream(_ key: StreamKey, record: StreamRecord) throws(WiredTigerError) -> StreamState {
        let live = StreamState.liveURI(record.tableNumber)
        let backfill = StreamState.backfillURI(record.tableNumber)
        // create is idempotent; it also repairs a catalog row whose tables a crash left uncreated.
        try session.create(live, config: WiredTigerConfiguration.table)
        try session.create(backfill, config: WiredTigerConfiguration.table)
        let stream = StreamState(
            name: key.name, database: key.database, record: record,
            live: try session.openCursor(live, config: "overwrite=false"),
            backfill: try session.openCursor(backfill, config: "overwrite=false"))
        stream.groups = try groupTables.load(table: record.tableNumber)
        return stream
    }

    // MARK: Catalog

    /// Streams of the selected database.
    public var streamCount: Int { streamCount(database: database) }
    public var streamNames: [[UInt8]] { streams.keys.filter { $0.database == database }.map(\.name) }

    /// Every stream of every database.
    var allStreams: [StreamState] { Array(streams.values) }

    public func streamCount(database: Int) -> Int { streamCounts[database] ?? 0 }

    /// Databases that hold streams, with how many (INFO keyspace).
    public var streamCountsByDatabase: [(database: Int, count: Int)] {
        streamCounts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    private func register(_ stream: StreamState) {
        streams[stream.key] = stream
        streamCounts[stream.database, default: 0] += 1
    }

    private func unregister(_ stream: StreamState) {
        streams[stream.key] = nil
        let left = streamCounts[stream.database, default: 0] - 1
        precondition(left >= 0, "stream counts agree with the catalog")
        streamCounts[stream.database] = left == 0 ? nil : left
    }

    /// Looks a stream up for reading: the job's reply will wait until the stream's last change is
    /// durable, so no reader ever sees an entry that is not on disk yet.
    public func streamForReading(_ name: [UInt8]) -> StreamState? {
        guard let stream = lookUp(name) else { return nil }
        noteRead(stream)
        return stream
    }

    /// Looks a stream up for a change; the job's reply will wait for this batch's flush.
    public func streamForWriting(_ name: [UInt8]) -> StreamState? {
        guard let stream = lookUp(name) else { return nil }
        noteWrite(stream)
        return stream
    }

    /// Looks a stream up for a change, creating it if it does not exist.
    public func streamForWriting(creating name: [UInt8]) throws(WiredTigerError) -> StreamState {
        if let stream = streamForWriting(name) { return stream }
        return try createStream(name)
    }

    private func lookUp(_ name: [UInt8]) -> StreamState? {
        if let last = lastFound, last.name == name, last.database == database { return last }
        let found = streams[StreamKey(database: database, name: name)]
        if found != nil { lastFound = found }
        return found
    }

    public func noteRead(_ stream: StreamState) {
        if stream.lastWriteGeneration > durableGeneration {
            jobDurabilityTag = max(jobDurabilityTag, stream.lastWriteGeneration)
        }
    }

    func noteWrite(_ stream: StreamState) {
        stream.lastWriteGeneration = currentGeneration
        jobDurabilityTag = currentGeneration
        batchDidWrite = true
    }

    /// Marks the job's reply as depending on this batch's commit (e.g. a write that changed no stream).
    public func noteDurableDependency() {
        jobDurabilityTag = currentGeneration
        batchDidWrite = true
    }

    public func createStream(_ name: [UInt8]) throws(WiredTigerError) -> StreamState {
        let key = StreamKey(database: database, name: name)
        precondition(streams[key] == nil, "stream exists")
        let number = nextTableNumber
        nextTableNumber += 1
        var next = [UInt8]()
        appendLittleEndian(nextTableNumber, to: &next)
        try meta.insert(key: Self.nextTableKey, value: next)
        let stream = try openStream(key, record: StreamRecord(tableNumber: number))
        register(stream)
        if idempotencyDefaults != IdempotencyDefaults() { idempotency.start(number, with: idempotencyDefaults) }
        noteWrite(stream)
        markDirty(stream)
        return stream
    }

    /// Removes the stream from the catalog now; its tables go after the commit.
    public func dropStream(_ stream: StreamState) throws(WiredTigerError) {
        noteWrite(stream)
        _ = try meta.remove(key: Self.catalogKey(stream.key))
        try removeGroupRows(table: stream.record.tableNumber)
        for group in stream.groups.values {
            group.isDirty = false
            for consumer in group.consumers.values { consumer.isDirty = false }
        }
        stream.groups.removeAll()
        unregister(stream)
        lastFound = nil
        stream.isDirty = false
        stream.live.close()
        stream.backfill.close()
        tablesToDrop.append(stream.liveURI)
        tablesToDrop.append(stream.backfillURI)
        try producers.removeAll(of: stream)
        try idempotency.removeAll(of: stream.record.tableNumber)
    }

    /// MOVE: the stream goes to `database` under its name; false when a stream of that name is
    /// there already. Its groups, producers and entries go with it (they are keyed by its tables).
    public func moveStream(_ stream: StreamState, to database: Int) throws(WiredTigerError) -> Bool {
        let target = StreamKey(database: database, name: stream.name)
        guard streams[target] == nil else { return false }
        unregister(stream)
        _ = try meta.remove(key: Self.catalogKey(stream.key))
        stream.database = database
        register(stream)
        noteWrite(stream)
        markDirty(stream)
        lastFound = nil
        return true
    }

    /// SWAPDB: the streams of two databases trade places.
    public func swapDatabases(_ first: Int, _ second: Int) throws(WiredTigerError) {
        guard first != second else { return }
        let moving = streams.values.filter { $0.database == first || $0.database == second }
        for stream in moving { unregister(stream) }
        for stream in moving {
            _ = try meta.remove(key: Self.catalogKey(stream.key))
            stream.database = stream.database == first ? second : first
            register(stream)
            noteWrite(stream)
            markDirty(stream)
        }
        lastFound = nil
    }

    // MARK: Entries

    /// Appends to the live table. The caller has checked that `id` is above the stream's last id.
    public func append(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws(WiredTigerError) {
        try append(stream, id: id, fields: fields[...])
    }

    public func append(_ stream: StreamState, id: EntryID, fields: ArraySlice<[UInt8]>) throws(WiredTigerError) {
        precondition(id > stream.record.lastID, "live appends go above the last id")
        noteWrite(stream)
        let startsNode = try placeInNode(stream, id: id, fields)
        let number = stream.record.entriesAdded + 1
        try stream.live.insert(
            key: id, value: EntryCodec.encode(number: startsNode ? number | Self.nodeStartFlag : number, fields: fields))
        stream.record.entriesAdded = number
        stream.record.length += 1
        stream.record.lastID = id
        markDirty(stream)
        batchAppendCount += 1
    }

    public enum BackfillRejection: Error, Sendable, Equatable {
        /// Backfill fills gaps below the live range; this id is at or above the first live id.
        case notBelowLiveRange(firstLive: EntryID)
        case alreadyPresent
    }

    /// Appends to the backfill table an entry that arrived from elsewhere (catch-up, import) for an
    /// id below every live entry.
    public func appendBackfill(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws
        -> Result<Void, BackfillRejection>
    {
        if let firstLive = try firstLiveID(stream), id >= firstLive {
            return .failure(.notBelowLiveRange(firstLive: firstLive))
        }
        if try stream.backfill.search(key: id.keyBytes) {
            stream.backfill.reset()
            return .failure(.alreadyPresent)
        }
        noteWrite(stream)
        let number = stream.record.entriesAdded + 1
        try stream.backfill.insert(key: id.keyBytes, value: EntryCodec.encode(number: number, fields: fields))
        stream.record.entriesAdded = number
        stream.record.length += 1
        if id > stream.record.lastID { stream.record.lastID = id }
        markDirty(stream)
        batchAppendCount += 1
        return .success(())
    }

    /// Writes straight into the backfill table with no range check, so tests can build any
    /// interleaving of the two tables for the merged cursor.
    func insertBackfillUnchecked(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws(WiredTigerError) {
        noteWrite(stream)
        stream.record.entriesAdded += 1
        stream.record.length += 1
        try stream.backfill.insert(key: id.keyBytes, value: EntryCodec.encode(number: stream.record.entriesAdded, fields: fields))
        markDirty(stream)
    }

    func firstLiveID(_ stream: StreamState) throws(WiredTigerError) -> EntryID? {
        defer { stream.live.reset() }
        guard try stream.live.next() else { return nil }
        return try stream.live.withKey { EntryID(keyBytes: $0) }
    }

    /// A merged cursor over the stream between two inclusive ids. The job's reply waits for the
    /// stream's last change to be durable.
    public func cursor(
        _ stream: StreamState, from lower: EntryID = .min, to upper: EntryID = .max,
        direction: MergedCursor.Direction = .forward
    ) -> MergedCursor {
        noteRead(stream)
        return MergedCursor(
            live: stream.live, backfill: stream.backfill, direction: direction, from: lower, to: upper)
    }

    /// Up to `count` entries between two inclusive ids.
    public func entries(
        _ stream: StreamState, from lower: EntryID = .min, to upper: EntryID = .max,
        direction: MergedCursor.Direction = .forward, count: Int = .max
    ) throws(WiredTigerError) -> [Entry] {
        var cursor = self.cursor(stream, from: lower, to: upper, direction: direction)
        var out: [Entry] = []
        while out.count < count, let entry = try cursor.next() { out.append(entry) }
        return out
    }

    public func firstEntry(_ stream: StreamState) throws(WiredTigerError) -> Entry? {
        try entries(stream, count: 1).first
    }

    public func lastEntry(_ stream: StreamState) throws(WiredTigerError) -> Entry? {
        try entries(stream, direction: .backward, count: 1).first
    }

    /// Removes one entry from whichever table holds it.
    /// Removes one entry (XDEL): it counts towards the stream's max deleted id.
    public func delete(_ stream: StreamState, id: EntryID) throws(WiredTigerError) -> Bool {
        try remove(stream, id: id, countsAsDeleted: true)
    }

    /// Trimming removes entries without moving max-deleted-entry-id, as Redis 7.4 does: that id
    /// tells consumers about holes in the middle of a stream, not about its oldest end.
    func remove(_ stream: StreamState, id: EntryID, countsAsDeleted: Bool) throws(WiredTigerError) -> Bool {
        let key = id.keyBytes
        var removed = try stream.live.remove(key: key)
        if !removed { removed = try stream.backfill.remove(key: key) }
        stream.live.reset()
        stream.backfill.reset()
        guard removed else { return false }
        noteWrite(stream)
        stream.record.length -= 1
        if countsAsDeleted && id > stream.record.maxDeletedID { stream.record.maxDeletedID = id }
        markDirty(stream)
        return true
    }

    /// What `trimOldest` does with the entry it is shown.
    public enum TrimDecision {
        case remove
        /// Leave it and look at the next (ACKED trimming passes entries a group still holds).
        case keep
        case stop
    }

    /// Walks the oldest entries, removing those `decide` says to (it sees each id and the length
    /// the stream has at that point), at most `limit` of them. Returns how many went.
    public func trimOldest(
        _ stream: StreamState, limit: Int = .max,
        deciding decide: (EntryID, UInt64) throws(WiredTigerError) -> TrimDecision
    ) throws(WiredTigerError) -> [EntryID] {
        var doomed: [EntryID] = []
        var cursor = self.cursor(stream)
        var remaining = stream.record.length
        walk: while doomed.count < limit, let id = try cursor.nextID() {
            switch try decide(id, remaining) {
            case .remove:
                doomed.append(id)
                remaining -= 1
            case .keep: continue
            case .stop: break walk
            }
        }
        _ = consume cursor
        for id in doomed { _ = try remove(stream, id: id, countsAsDeleted: false) }
        return doomed
    }

    /// Replaces the stream's last id and max-deleted id (XSETID) or its server-owned extension bytes.
    public func update(_ stream: StreamState, _ change: (inout StreamRecord) -> Void) {
        noteWrite(stream)
        let tableNumber = stream.record.tableNumber
        change(&stream.record)
        precondition(stream.record.tableNumber == tableNumber, "a stream's tables never change")
        markDirty(stream)
    }

    // MARK: Batches (called by the storage thread)

    func beginJob() {
        jobDurabilityTag = 0
    }

    /// Streams whose record changed in the batch in progress, so commit touches only those.
    private var dirtyStreams: [StreamState] = []

    func markDirty(_ stream: StreamState) {
        if !stream.isDirty {
            stream.isDirty = true
            dirtyStreams.append(stream)
        }
    }

    /// Writes every changed stream record; called once before the batch commits.
    func writeDirtyRecords() throws(WiredTigerError) {
        try producers.writeDirty()
        try idempotency.writeDirty()
        for stream in dirtyStreams where stream.isDirty {
            try meta.insert(key: Self.catalogKey(stream.key), value: stream.record.encoded())
            stream.isDirty = false
        }
        dirtyStreams.removeAll(keepingCapacity: true)
        try writeDirtyGroups()
    }

    /// After a commit: removes the tables of streams dropped in it. A failure (or a crash before
    /// this runs) leaves an orphan table no catalog row names: wasted space, never wrong data.
    func dropCommittedTables() {
        guard !tablesToDrop.isEmpty else { return }
        for uri in tablesToDrop { try? session.drop(uri) }
        tablesToDrop.removeAll()
    }

    /// After a rollback: the in-memory catalog may hold changes that never reached disk; reload it.
    func reloadAfterRollback() throws(StorageError) {
        producers.reset()
        idempotency.reset()
        for stream in streams.values {
            stream.live.close()
            stream.backfill.close()
        }
        streams.removeAll()
        streamCounts.removeAll()
        lastFound = nil
        dirtyStreams.removeAll()
        dirtyGroups.removeAll()
        dirtyConsumers.removeAll()
        tablesToDrop.removeAll()
        try loadCatalog()
    }
}
