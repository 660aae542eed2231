import SpoolCore

/// Spool's data on one WiredTiger session: the catalog of streams, the shared entry tables and
/// the metadata table. Storage thread only; the group-commit machinery around it decides when
/// transactions begin and commit.
///
/// Tables (schema 3; `LogStore+Upgrade.swift` brings a schema 1 or 2 directory here):
/// - `table:spool-meta` — "schema-version" → UInt32, "next-table" → the next stream number
///   (UInt64), "count@" + database → its streams (UInt64), "database-map" → which catalog
///   database each SELECT index names (SWAPDB), and the catalog: "stream:" + name (catalog
///   database 0) or "stream@" + database byte + name → `StreamRecord`.
/// - `table:spool-live` / `table:spool-backfill` — (stream number, entry id) → `EntryCodec`
///   (`EntryTables`).
/// - `table:spool-producers`, `table:spool-idmp` and the group tables — keyed by stream number first.
///
/// Nothing costs per stream but its catalog row and its rows: a stream in use is kept in memory
/// (`StreamState`, with its groups), up to `streamCacheMax` of them; the least recently used clean
/// ones are let go after a commit and loaded again from the catalog when next named.
public final class LogStore {
    public static let schemaVersion: UInt32 = 3
    /// A stream's catalog row is written by at least one append in this many since it was last
    /// written, so loading a stream reads at most this many entries to catch up (`catchUp`).
    static let appendsPerRowWrite: UInt64 = 128
    static let metaURI = "table:spool-meta"
    static let schemaKey = Array("schema-version".utf8)
    static let nextStreamKey = Array("next-table".utf8)
    static let countKeyPrefix = Array("count@".utf8)
    static let databaseMapKey = Array("database-map".utf8)
    /// "number@" + catalog database + stream number (BE) → name: SCAN walks streams in number order.
    static let numberKeyPrefix = Array("number@".utf8)
    /// Catalog rows: `stream:` + name for catalog database 0, `stream@` + database byte + name for the others.
    static let streamKeyPrefix = Array("stream:".utf8)
    static let databaseStreamKeyPrefix = Array("stream@".utf8)
    /// Databases a catalog key can name (one byte).
    public static let databasesMax = 256

    /// The catalog key of a stream in catalog database `database` (see `databaseMap`).
    static func catalogKey(database: Int, name: [UInt8]) -> [UInt8] {
        database == 0 ? streamKeyPrefix + name : databaseStreamKeyPrefix + [UInt8(database)] + name
    }

    static func catalogPrefix(database: Int) -> [UInt8] {
        database == 0 ? streamKeyPrefix : databaseStreamKeyPrefix + [UInt8(database)]
    }

    static func numberKey(database: Int, number: UInt64) -> [UInt8] {
        var key = numberKeyPrefix
        key.append(UInt8(database))
        withUnsafeBytes(of: number.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    /// The "count@" row of a catalog database: how many streams it holds.
    static func writeCount(_ count: UInt64, database: Int, to meta: WiredTigerCursor) throws(WiredTigerError) {
        var bytes = [UInt8]()
        appendLittleEndian(count, to: &bytes)
        try meta.insert(key: countKeyPrefix + [UInt8(database)], value: bytes)
    }

    static func streamKey(catalogKey key: [UInt8]) -> StreamKey? {
        if key.starts(with: streamKeyPrefix) { return StreamKey(database: 0, name: Array(key.dropFirst(streamKeyPrefix.count))) }
        guard key.starts(with: databaseStreamKeyPrefix), key.count > databaseStreamKeyPrefix.count else { return nil }
        let database = Int(key[databaseStreamKeyPrefix.count])
        guard database > 0 else { return nil }
        return StreamKey(database: database, name: Array(key.dropFirst(databaseStreamKeyPrefix.count + 1)))
    }

    let session: WiredTigerSession
    let meta: WiredTigerCursor
    let entryTables: EntryTables
    let groupTables: GroupTables
    /// Groups and consumers whose rows changed in the batch in progress.
    var dirtyGroups: [(StreamState, ConsumerGroup)] = []
    var dirtyConsumers: [(StreamState, ConsumerGroup, Consumer)] = []
    private var nextStreamNumber: UInt64
    private var nextStreamNumberDirty = false
    /// Streams in use, by (SELECT index, name) and in order of use: a cache of the catalog.
    private let streams = StreamCache()
    /// Streams kept in memory at most (between batches); clean ones beyond it are let go, least
    /// recently used first. Storage thread.
    public var streamCacheMax = 100_000
    /// Streams loaded from the catalog since the store opened, and let go (INFO).
    public private(set) var streamLoads: UInt64 = 0
    public private(set) var streamEvictions: UInt64 = 0
    /// A stream loaded from the catalog counts as changed by this generation: after a rolled-back
    /// batch the cache forgets which streams earlier, not yet durable batches changed.
    var loadedStreamGeneration: UInt64 = 0
    /// The database the job in progress works in (Redis's SELECT): names look up streams there.
    /// Set by the storage thread's context before each job.
    public var database = 0
    /// `databaseMap[SELECT index]` is the catalog database holding its streams; SWAPDB swaps two
    /// entries instead of rewriting every catalog row. Identity until the first SWAPDB.
    private var databaseMap: [UInt8] = (0..<256).map { UInt8($0) }
    /// Streams per catalog database (DBSIZE, INFO keyspace), persisted as "count@" rows.
    private var streamCounts: [Int: UInt64] = [:]
    private var dirtyCounts: Set<Int> = []
    /// The stream the last lookup found: batches are mostly runs of commands on one stream, and
    /// comparing a short name costs less than hashing it. Cleared whenever a stream leaves the
    /// cache.
    private var lastFound: StreamState?
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
    /// Whether it wrote something that must be synced before what depends on it is delivered:
    /// every write but derived ones.
    public internal(set) var batchNeedsSync = false
    /// Set while writes rebuild state from a log that is already durable elsewhere (a cluster node
    /// applying committed records, which a majority synced): they commit with the batch, ask for
    /// no fsync of their own, and readers do not wait for one. After a crash the log applies them
    /// again from the applied seq, which is written with them.
    public var writesAreDerived = false
    /// The generation the job in progress must see durable before its outcome is delivered.
    public internal(set) var jobDurabilityTag: UInt64 = 0
    /// Entries appended in the batch in progress (statistics).
    var batchAppendCount = 0
    /// The time commands see as now (XADD's `*` ids, delivery and idle times, IDMP expiry): the
    /// clock, or on a cluster node the time the leader put in the record being applied, so every
    /// replica computes the same ids and groups.
    public var fixedNowMilliseconds: UInt64?
    public var nowMilliseconds: UInt64 { fixedNowMilliseconds ?? wallClockMilliseconds() }

    /// Opens (creating on first use) the metadata table, upgrades a schema 1 directory, and reads
    /// what the catalog keeps besides its streams (they are loaded when first used).
    init(session: WiredTigerSession, createIfMissing: Bool) throws(StorageError) {
        self.session = session
        do {
            try session.create(Self.metaURI, config: WiredTigerConfiguration.table)
            meta = try session.openCursor(Self.metaURI, config: "overwrite=true")
            groupTables = try GroupTables(session: session)
            entryTables = try EntryTables(session: session)
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
        if version == 1 {
            try Self.upgradeFromSchema1(session: session, meta: meta)
            version = 2
        }
        if version == 2 {
            try Self.upgradeFromSchema2(session: session, meta: meta, entryTables: entryTables)
            version = 3
        }
        if let version, version != Self.schemaVersion {
            throw .incompatibleSchema(found: version, expected: Self.schemaVersion)
        }
        if version == nil {
            guard createIfMissing else { throw .notSpoolData("no Spool metadata in the WiredTiger database") }
            var next = [UInt8]()
            appendLittleEndian(UInt64(1), to: &next)
            do {
                try session.beginTransaction()
                try meta.insert(key: Self.schemaKey, value: Self.schemaBytes(Self.schemaVersion))
                try meta.insert(key: Self.nextStreamKey, value: next)
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
        nextStreamNumber = 1
        try loadCatalogHeader()
    }

    /// Reads the next stream number, the per-database counts and the database map: a handful of
    /// rows, however many streams there are.
    private func loadCatalogHeader() throws(StorageError) {
        do {
            nextStreamNumber = 1
            if try meta.search(key: Self.nextStreamKey) {
                nextStreamNumber = try meta.withValue { $0.count == 8 ? readLittleEndian(UInt64.self, $0, at: 0) : 1 }
            }
            databaseMap = (0..<256).map { UInt8($0) }
            if try meta.search(key: Self.databaseMapKey) {
                let map = try meta.value
                guard map.count == 256, Set(map).count == 256 else { throw StorageError.notSpoolData("database map unreadable") }
                databaseMap = map
            }
            streamCounts = [:]
            try Self.walkMeta(meta, prefix: Self.countKeyPrefix) { key, value in
                guard key.count == Self.countKeyPrefix.count + 1, value.count == 8 else {
                    throw StorageError.notSpoolData("stream count row unreadable")
                }
                let count = value.withUnsafeBytes { readLittleEndian(UInt64.self, $0, at: 0) }
                if count > 0 { streamCounts[Int(key[key.count - 1])] = count }
            }
            meta.reset()
        } catch let error as StorageError {
            throw error
        } catch {
            throw .wiredTiger(error as! WiredTigerError)
        }
    }

    /// Calls `body` with each metadata row whose key starts with `prefix`, in key order.
    static func walkMeta(
        _ meta: WiredTigerCursor, prefix: [UInt8], _ body: ([UInt8], [UInt8]) throws -> Void
    ) throws {
        var rows: [([UInt8], [UInt8])] = []
        try GroupTables.walk(meta, prefix: prefix) { key throws(WiredTigerError) in
            rows.append((key, try meta.value))
            return true
        }
        for (key, value) in rows { try body(key, value) }
    }

    // MARK: Catalog

    /// The catalog database that SELECT index `database` names.
    func catalogDatabase(_ database: Int) -> Int { Int(databaseMap[database]) }

    /// Streams of the selected database.
    public var streamCount: Int { streamCount(database: database) }

    public func streamCount(database: Int) -> Int { Int(streamCounts[catalogDatabase(database)] ?? 0) }

    /// The names of the selected database's streams, in byte order, read from the catalog (plus
    /// the ones created in the batch in progress).
    public func streamNames() throws(WiredTigerError) -> [[UInt8]] {
        try writeStreamRecords()
        let prefix = Self.catalogPrefix(database: catalogDatabase(database))
        var names: [[UInt8]] = []
        try GroupTables.walk(meta, prefix: prefix) { key in
            names.append(Array(key[prefix.count...]))
            return true
        }
        return names
    }

    /// SCAN: up to `count` streams of the selected database in number order, from number `cursor`
    /// on, and the cursor to go on from (0 at the end).
    public func scanStreams(from cursor: UInt64, count: Int) throws(WiredTigerError) -> (names: [[UInt8]], next: UInt64) {
        try writeStreamRecords()
        let prefix = Self.numberKeyPrefix + [UInt8(catalogDatabase(database))]
        var names: [[UInt8]] = []
        var next: UInt64 = 0
        let start = withUnsafeBytes(of: cursor.bigEndian) { Array($0) }
        try GroupTables.walk(meta, prefix: prefix, from: start) { key throws(WiredTigerError) in
            guard key.count == prefix.count + 8 else { return false }
            if names.count == count {
                next = key.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)) }
                return false
            }
            names.append(try meta.value)
            return true
        }
        return (names, next)
    }

    /// Databases that hold streams, with how many (INFO keyspace), by SELECT index.
    public var streamCountsByDatabase: [(database: Int, count: Int)] {
        var out: [(database: Int, count: Int)] = []
        for index in 0..<Self.databasesMax {
            if let count = streamCounts[catalogDatabase(index)], count > 0 { out.append((index, Int(count))) }
        }
        return out
    }

    /// Streams held in memory now (INFO).
    public var cachedStreamCount: Int { streams.count }

    private func changeCount(catalogDatabase: Int, by delta: Int) {
        let now = Int(streamCounts[catalogDatabase] ?? 0) + delta
        precondition(now >= 0, "stream counts agree with the catalog")
        streamCounts[catalogDatabase] = now == 0 ? nil : UInt64(now)
        dirtyCounts.insert(catalogDatabase)
    }

    /// Looks a stream up for reading: the job's reply will wait until the stream's last change is
    /// durable, so no reader ever sees an entry that is not on disk yet.
    public func streamForReading(_ name: [UInt8]) throws(WiredTigerError) -> StreamState? {
        guard let stream = try lookUp(name) else { return nil }
        noteRead(stream)
        return stream
    }

    /// Looks a stream up for a change; the job's reply will wait for this batch's flush.
    public func streamForWriting(_ name: [UInt8]) throws(WiredTigerError) -> StreamState? {
        guard let stream = try lookUp(name) else { return nil }
        noteWrite(stream)
        return stream
    }

    /// Looks a stream up for a change, creating it if it does not exist.
    public func streamForWriting(creating name: [UInt8]) throws(WiredTigerError) -> StreamState {
        if let stream = try streamForWriting(name) { return stream }
        return try createStream(name)
    }

    /// The stream from the cache, or from the catalog (then kept in the cache).
    private func lookUp(_ name: [UInt8]) throws(WiredTigerError) -> StreamState? {
        if let last = lastFound, last.name == name, last.database == database { return last }
        let key = StreamKey(database: database, name: name)
        if let found = streams[key] {
            found.lastUsedGeneration = currentGeneration
            streams.touch(found)
            lastFound = found
            return found
        }
        let catalogKey = Self.catalogKey(database: catalogDatabase(database), name: name)
        defer { meta.reset() }
        guard try meta.search(key: catalogKey) else { return nil }
        guard var record = try meta.withValue({ StreamRecord(decoding: $0) }) else {
            throw WiredTigerError.corrupt("catalog row of stream \(String(decoding: name, as: UTF8.self))")
        }
        meta.reset()
        let rowEntriesAdded = record.entriesAdded
        try Self.catchUp(&record, entryTables: entryTables)
        let stream = StreamState(name: name, database: database, record: record)
        stream.rowEntriesAdded = rowEntriesAdded
        stream.groups = try groupTables.load(table: record.streamNumber)
        stream.lastWriteGeneration = loadedStreamGeneration
        stream.lastUsedGeneration = currentGeneration
        streams.insert(stream)
        streamLoads += 1
        lastFound = stream
        return stream
    }

    /// A catalog row is rewritten by every change but a live append (and by every
    /// `appendsPerRowWrite`-th of those), so the appends made after it was last written are the
    /// live entries above its last id (each append raises the last id to its own; every other
    /// change rewrites the row). Their dense numbers continue from the row's entries-added, so the
    /// newest one's says how many there are; their count, sizes and the newest id bring the row
    /// up to date. (Not "numbered above entries-added": XSETID may lower that below older
    /// entries' numbers.)
    static func catchUp(_ record: inout StreamRecord, entryTables: EntryTables) throws(WiredTigerError) {
        guard let (id, number) = try entryTables.lastLive(stream: record.streamNumber), id > record.lastID else { return }
        guard number > record.entriesAdded else {
            throw WiredTigerError.corrupt(
                "stream \(record.streamNumber): entry \(id) is newer than the catalog row but numbered \(number), "
                    + "not above \(record.entriesAdded)")
        }
        let appended = number - record.entriesAdded
        record.bytes += try entryTables.newestLiveBytes(stream: record.streamNumber, count: appended)
        record.length += appended
        record.entriesAdded = number
        record.lastID = id
    }

    public func noteRead(_ stream: StreamState) {
        if stream.lastWriteGeneration > durableGeneration {
            jobDurabilityTag = max(jobDurabilityTag, stream.lastWriteGeneration)
        }
    }

    func noteWrite(_ stream: StreamState) {
        if !writesAreDerived { stream.lastWriteGeneration = currentGeneration }
        noteDurableDependency()
    }

    /// Marks the job's reply as depending on this batch's commit (e.g. a write that changed no stream).
    public func noteDurableDependency() {
        batchDidWrite = true
        guard !writesAreDerived else { return }
        jobDurabilityTag = currentGeneration
        batchNeedsSync = true
    }

    public func createStream(_ name: [UInt8]) throws(WiredTigerError) -> StreamState {
        let key = StreamKey(database: database, name: name)
        precondition(streams[key] == nil, "stream exists")
        let number = nextStreamNumber
        nextStreamNumber += 1
        nextStreamNumberDirty = true
        let stream = StreamState(name: name, database: database, record: StreamRecord(streamNumber: number))
        stream.lastUsedGeneration = currentGeneration
        stream.isNew = true
        streams.insert(stream)
        lastFound = stream
        changeCount(catalogDatabase: catalogDatabase(database), by: 1)
        if idempotencyDefaults != IdempotencyDefaults() { idempotency.start(number, with: idempotencyDefaults) }
        noteWrite(stream)
        // Its catalog and number rows are written with its record, before the commit or before
        // a catalog walk (KEYS, SCAN) in this batch.
        markDirty(stream)
        return stream
    }

    /// Removes the stream: its catalog row, and its entries and every row keyed by its number, by
    /// range, in the batch's transaction. Its number is never given out again.
    public func dropStream(_ stream: StreamState) throws(WiredTigerError) {
        noteWrite(stream)
        let catalogDatabase = catalogDatabase(stream.database)
        _ = try meta.remove(key: Self.catalogKey(database: catalogDatabase, name: stream.name))
        _ = try meta.remove(key: Self.numberKey(database: catalogDatabase, number: stream.number))
        meta.reset()
        try entryTables.truncate(stream: stream.number, from: .min, to: .max)
        try removeGroupRows(table: stream.number)
        for group in stream.groups.values {
            group.isDirty = false
            for consumer in group.consumers.values { consumer.isDirty = false }
        }
        stream.groups.removeAll()
        streams.remove(stream)
        changeCount(catalogDatabase: catalogDatabase, by: -1)
        lastFound = nil
        stream.isDirty = false
        stream.isNew = false
        try producers.removeAll(of: stream)
        try idempotency.removeAll(of: stream.number)
    }

    /// MOVE: the stream goes to `database` under its name; false when a stream of that name is
    /// there already. Its groups, producers and entries go with it (they are keyed by its number).
    public func moveStream(_ stream: StreamState, to database: Int) throws(WiredTigerError) -> Bool {
        let saved = self.database
        self.database = database
        defer { self.database = saved }
        guard try lookUp(stream.name) == nil else { return false }
        let from = catalogDatabase(stream.database)
        let to = catalogDatabase(database)
        _ = try meta.remove(key: Self.catalogKey(database: from, name: stream.name))
        _ = try meta.remove(key: Self.numberKey(database: from, number: stream.number))
        streams.rekey(stream) { stream.database = database }
        changeCount(catalogDatabase: from, by: -1)
        changeCount(catalogDatabase: to, by: 1)
        // Its rows go into the target database with its record (as a new stream's do).
        stream.isNew = true
        noteWrite(stream)
        markDirty(stream)
        lastFound = nil
        return true
    }

    /// SWAPDB: the streams of two databases trade places. The catalog rows stay; the map from
    /// SELECT index to catalog database swaps (one row), and so do the cached streams' indexes.
    public func swapDatabases(_ first: Int, _ second: Int) throws(WiredTigerError) {
        guard first != second else { return }
        // Rows not yet written go under the catalog database their stream named before the swap.
        try writeStreamRecords()
        databaseMap.swapAt(first, second)
        try meta.insert(key: Self.databaseMapKey, value: databaseMap)
        let moving = streams.all.filter { $0.database == first || $0.database == second }
        for stream in moving { streams.remove(stream) }
        for stream in moving {
            stream.database = stream.database == first ? second : first
            streams.insert(stream)
            noteWrite(stream)
        }
        noteDurableDependency()
        // Streams loaded from now on may be read under the new map: their readers wait for it too.
        loadedStreamGeneration = currentGeneration
        lastFound = nil
    }

    /// After a commit: lets go of the least recently used streams beyond `streamCacheMax` whose
    /// every change is written and durable (they load again from the catalog when next named).
    func trimStreamCache() {
        guard streams.count > streamCacheMax else { return }
        // Down to 90% of the limit, so the walk below runs once per many new streams.
        var excess = streams.count - (streamCacheMax - streamCacheMax / 10)
        var doomed: [StreamState] = []
        streams.walkOldestFirst { stream in
            // Streams used in this batch, and every newer one, stay.
            guard stream.lastUsedGeneration < currentGeneration else { return false }
            if isEvictable(stream) {
                doomed.append(stream)
                excess -= 1
            }
            return excess > 0
        }
        for stream in doomed {
            streams.remove(stream)
            streamEvictions += 1
        }
        lastFound = nil
    }

    private func isEvictable(_ stream: StreamState) -> Bool {
        guard !stream.isDirty, stream.lastWriteGeneration <= durableGeneration else { return false }
        for group in stream.groups.values {
            if group.isDirty || group.consumers.values.contains(where: { $0.isDirty }) { return false }
        }
        return producers.forget(stream: stream.number) && idempotency.forget(stream: stream.number)
    }

    // MARK: Entries

    /// Appends to the live table. The caller has checked that `id` is above the stream's last id.
    public func append(_ stream: StreamState, id: EntryID, fields: some ByteStrings) throws(WiredTigerError) {
        precondition(id > stream.record.lastID, "live appends go above the last id")
        noteWrite(stream)
        let startsNode = try placeInNode(stream, id: id, fields)
        let number = stream.record.entriesAdded + 1
        let value = EntryCodec.encode(number: startsNode ? number | Self.nodeStartFlag : number, fields: fields)
        try entryTables.live.insert(key: EntryKey(stream: stream.number, id: id), value: value)
        stream.record.entriesAdded = number
        stream.record.length += 1
        stream.record.bytes += EntrySize.of(storedValue: value.count)
        stream.record.lastID = id
        // The catalog row is not rewritten for an append: the entry carries its dense number, and
        // loading the stream catches the row up from the entries above its last id (`catchUp`).
        // A batch of appends spread over many streams writes entries only. The
        // `appendsPerRowWrite`-th append since the row was written writes it, which bounds how
        // many entries a load reads to add up their sizes.
        if !stream.isDirty, number > stream.rowEntriesAdded, number - stream.rowEntriesAdded >= Self.appendsPerRowWrite {
            markDirty(stream)
        }
        batchAppendCount += 1
    }

    public enum BackfillRejection: Error, Sendable, Equatable {
        /// Backfill fills gaps below the live range; this id is at or above the first live id.
        case notBelowLiveRange(firstLive: EntryID)
        case alreadyPresent
    }

    /// Appends to the backfill table an entry that arrived from elsewhere (catch-up, import) for an
    /// id below every live entry.
    public func appendBackfill(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws(WiredTigerError)
        -> Result<Void, BackfillRejection>
    {
        if let firstLive = try firstLiveID(stream), id >= firstLive {
            return .failure(.notBelowLiveRange(firstLive: firstLive))
        }
        let key = EntryKey(stream: stream.number, id: id)
        let backfill = entryTables.backfill
        if try backfill.search(key: key) {
            backfill.reset()
            return .failure(.alreadyPresent)
        }
        noteWrite(stream)
        let number = stream.record.entriesAdded + 1
        let value = EntryCodec.encode(number: number, fields: fields[...])
        try backfill.insert(key: key, value: value)
        backfill.reset()
        stream.record.entriesAdded = number
        stream.record.length += 1
        stream.record.bytes += EntrySize.of(storedValue: value.count)
        if id > stream.record.lastID { stream.record.lastID = id }
        markDirty(stream)
        batchAppendCount += 1
        return .success(())
    }

    public enum BackfillGapRejection: Error, Sendable, Equatable {
        /// BEGIN on a stream that already has one.
        case alreadyOpen(BackfillGap)
        /// BEGIN below entries the stream already holds: history goes under every entry.
        case entriesAtOrBelow(EntryID)
        /// ADD or END without a BEGIN.
        case notOpen
        /// ADD out of order (at or below what was filled) or above the gap.
        case outside(BackfillGap)
    }

    /// Opens a gap for history up to `through` (XBACKFILL BEGIN): the stream's last id becomes at
    /// least `through`, so nothing appended from now on can land inside it.
    public func openBackfillGap(_ stream: StreamState, through: EntryID) throws(WiredTigerError) -> Result<Void, BackfillGapRejection> {
        if let gap = stream.record.backfillGap { return .failure(.alreadyOpen(gap)) }
        if let first = try firstEntry(stream), first.id <= through {
            return .failure(.entriesAtOrBelow(first.id))
        }
        noteWrite(stream)
        stream.record.backfillGap = BackfillGap(filledThrough: .zero, through: through)
        if stream.record.lastID < through { stream.record.lastID = through }
        markDirty(stream)
        return .success(())
    }

    /// Copies one entry of the history in, oldest first (XBACKFILL ADD).
    public func fillBackfillGap(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws(WiredTigerError) -> Result<Void, BackfillGapRejection> {
        guard var gap = stream.record.backfillGap else { return .failure(.notOpen) }
        guard id > gap.filledThrough, id <= gap.through else { return .failure(.outside(gap)) }
        switch try appendBackfill(stream, id: id, fields: fields) {
        case .success: break
        case .failure: return .failure(.outside(gap))  // not below the live entries, or there already
        }
        gap.filledThrough = id
        stream.record.backfillGap = gap
        return .success(())
    }

    /// The history is complete (XBACKFILL END): readers see the whole stream again.
    public func closeBackfillGap(_ stream: StreamState) -> Result<Void, BackfillGapRejection> {
        guard stream.record.backfillGap != nil else { return .failure(.notOpen) }
        noteWrite(stream)
        stream.record.backfillGap = nil
        markDirty(stream)
        return .success(())
    }

    /// Writes straight into the backfill table with no range check, so tests can build any
    /// interleaving of the two tables for the merged cursor.
    func insertBackfillUnchecked(_ stream: StreamState, id: EntryID, fields: [[UInt8]]) throws(WiredTigerError) {
        noteWrite(stream)
        stream.record.entriesAdded += 1
        stream.record.length += 1
        let value = EntryCodec.encode(number: stream.record.entriesAdded, fields: fields[...])
        stream.record.bytes += EntrySize.of(storedValue: value.count)
        try entryTables.backfill.insert(key: EntryKey(stream: stream.number, id: id), value: value)
        entryTables.backfill.reset()
        markDirty(stream)
    }

    func firstLiveID(_ stream: StreamState) throws(WiredTigerError) -> EntryID? {
        try entryTables.firstLiveID(stream: stream.number)
    }

    /// A merged cursor over the stream between two inclusive ids. The job's reply waits for the
    /// stream's last change to be durable.
    public func cursor(
        _ stream: StreamState, from lower: EntryID = .min, to upper: EntryID = .max,
        direction: MergedCursor.Direction = .forward
    ) throws(WiredTigerError) -> MergedCursor {
        noteRead(stream)
        return MergedCursor(
            readers: try entryTables.borrowReaders(), stream: stream.number, direction: direction, from: lower, to: upper)
    }

    /// Up to `count` entries between two inclusive ids.
    public func entries(
        _ stream: StreamState, from lower: EntryID = .min, to upper: EntryID = .max,
        direction: MergedCursor.Direction = .forward, count: Int = .max
    ) throws(WiredTigerError) -> [Entry] {
        var cursor = try self.cursor(stream, from: lower, to: upper, direction: direction)
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

    /// Removes one entry (XDEL): it counts towards the stream's max deleted id.
    public func delete(_ stream: StreamState, id: EntryID) throws(WiredTigerError) -> Bool {
        try remove(stream, id: id, countsAsDeleted: true)
    }

    /// Removes one entry from whichever table holds it. Trimming removes entries without moving
    /// max-deleted-entry-id, as Redis 7.4 does: that id tells consumers about holes in the middle
    /// of a stream, not about its oldest end.
    func remove(_ stream: StreamState, id: EntryID, countsAsDeleted: Bool) throws(WiredTigerError) -> Bool {
        let key = EntryKey(stream: stream.number, id: id)
        var size: UInt64?
        for table in [entryTables.live, entryTables.backfill] where size == nil {
            defer { table.reset() }
            guard try table.search(key: key) else { continue }
            size = try table.withValue { EntrySize.of(storedValue: $0.count) }
            guard try table.remove(key: key) else { throw WiredTigerError.corrupt("entry \(id) vanished while removed") }
        }
        guard let size else { return false }
        noteWrite(stream)
        stream.record.length -= 1
        stream.record.bytes -= min(size, stream.record.bytes)
        if countsAsDeleted && id > stream.record.maxDeletedID { stream.record.maxDeletedID = id }
        markDirty(stream)
        return true
    }

    /// Removes entries that a walk in id order found (`ids`, ascending, each present; `bytes`,
    /// their sizes added up): every run of them with no surviving entry between goes with one
    /// range truncate per table.
    func removeWalked(_ stream: StreamState, _ ids: [EntryID], bytes: UInt64, runBreaks: Set<Int>) throws(WiredTigerError) {
        guard !ids.isEmpty else { return }
        noteWrite(stream)
        var runStart = 0
        for index in 1...ids.count where index == ids.count || runBreaks.contains(index) {
            try entryTables.truncate(stream: stream.number, from: ids[runStart], to: ids[index - 1])
            runStart = index
        }
        stream.record.length -= UInt64(ids.count)
        stream.record.bytes -= min(bytes, stream.record.bytes)
        markDirty(stream)
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
        var doomedBytes: UInt64 = 0
        // Indexes in `doomed` where a kept entry lies between it and the one before.
        var runBreaks: Set<Int> = []
        var cursor = try self.cursor(stream)
        var remaining = stream.record.length
        walk: while doomed.count < limit, let (id, size) = try cursor.nextRaw({ ($0, EntrySize.of(storedValue: $1.count)) }) {
            switch try decide(id, remaining) {
            case .remove:
                doomed.append(id)
                doomedBytes += size
                remaining -= 1
            case .keep:
                if !doomed.isEmpty { runBreaks.insert(doomed.count) }
            case .stop: break walk
            }
        }
        _ = consume cursor
        try removeWalked(stream, doomed, bytes: doomedBytes, runBreaks: runBreaks)
        return doomed
    }

    /// Replaces the stream's last id and max-deleted id (XSETID) or its server-owned extension bytes.
    public func update(_ stream: StreamState, _ change: (inout StreamRecord) -> Void) {
        noteWrite(stream)
        let number = stream.number
        change(&stream.record)
        precondition(stream.number == number, "a stream's number never changes")
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
        try writeStreamRecords()
        if nextStreamNumberDirty {
            var next = [UInt8]()
            appendLittleEndian(nextStreamNumber, to: &next)
            try meta.insert(key: Self.nextStreamKey, value: next)
            nextStreamNumberDirty = false
        }
        for database in dirtyCounts { try Self.writeCount(streamCounts[database] ?? 0, database: database, to: meta) }
        dirtyCounts.removeAll(keepingCapacity: true)
        try writeDirtyGroups()
    }

    /// Writes the catalog rows of streams changed in the batch so far (and the number rows of
    /// new ones): before the commit, and before a catalog walk.
    func writeStreamRecords() throws(WiredTigerError) {
        guard !dirtyStreams.isEmpty else { return }
        for stream in dirtyStreams where stream.isDirty {
            let database = catalogDatabase(stream.database)
            try meta.insert(key: Self.catalogKey(database: database, name: stream.name), value: stream.record.encoded())
            stream.rowEntriesAdded = stream.record.entriesAdded
            if stream.isNew {
                try meta.insert(key: Self.numberKey(database: database, number: stream.number), value: stream.name)
                stream.isNew = false
            }
            stream.isDirty = false
        }
        dirtyStreams.removeAll(keepingCapacity: true)
    }

    /// After a rollback: the in-memory catalog may hold changes that never reached disk; forget
    /// every cached stream (each loads again from what is committed) and reread the header rows.
    func reloadAfterRollback() throws(StorageError) {
        producers.reset()
        idempotency.reset()
        streams.removeAll()
        lastFound = nil
        dirtyStreams.removeAll()
        dirtyGroups.removeAll()
        dirtyConsumers.removeAll()
        dirtyCounts.removeAll()
        nextStreamNumberDirty = false
        // Earlier batches that changed these streams may not be durable yet: a stream loaded from
        // now on counts as changed by the last committed batch, so its readers wait for that.
        loadedStreamGeneration = max(loadedStreamGeneration, currentGeneration == 0 ? 0 : currentGeneration - 1)
        try loadCatalogHeader()
    }
}
