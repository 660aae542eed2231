import SpoolCore

/// A stream's identity: its database (Redis's SELECT) and its name.
public struct StreamKey: Hashable, Sendable {
    public var database: Int
    public var name: [UInt8]

    public init(database: Int, name: [UInt8]) {
        self.database = database
        self.name = name
    }
}

/// One stream as the storage thread keeps it while it is in use: its persisted record, its
/// consumer groups and the bookkeeping of the batch in progress. `LogStore` loads it from the
/// catalog on first use and lets it go when the cache is full and it is clean. Storage thread only.
public final class StreamState {
    public let name: [UInt8]
    /// Its database; changed only by MOVE and SWAPDB (LogStore).
    public internal(set) var database: Int
    public internal(set) var record: StreamRecord
    /// Commit generation of the last batch that changed this stream; replies that read it wait
    /// until that generation is durable.
    public internal(set) var lastWriteGeneration: UInt64 = 0
    /// Consumer groups by name.
    public internal(set) var groups: [[UInt8]: ConsumerGroup] = [:]
    /// Set when the record changed in the batch in progress; written once at commit.
    var isDirty = false
    /// Entries-added in the catalog row as last written or loaded (appends since are counted
    /// from it, `LogStore.appendsPerRowWrite`).
    var rowEntriesAdded: UInt64 = 0
    /// The node appends fill (`LogStore+Nodes.swift`); nil until the first append after loading.
    var tailNode: TailNode?
    /// Generation of the last batch that looked the stream up (streams used in the batch in
    /// progress are never let go).
    var lastUsedGeneration: UInt64 = 0
    /// Neighbours in `StreamCache`'s order of use.
    fileprivate unowned(unsafe) var older: StreamState?
    fileprivate unowned(unsafe) var newer: StreamState?
    /// Created in the batch in progress: its catalog and number rows are written with its record.
    var isNew = false

    init(name: [UInt8], database: Int, record: StreamRecord) {
        self.name = name
        self.database = database
        self.record = record
    }

    /// The stream's number: the first half of its keys in every shared table. Never reused.
    public var number: UInt64 { record.streamNumber }

    public var key: StreamKey { StreamKey(database: database, name: name) }
    public var lastID: EntryID { record.lastID }
    public var length: UInt64 { record.length }
    public var entriesAdded: UInt64 { record.entriesAdded }
    public var maxDeletedID: EntryID { record.maxDeletedID }
    public var backfillGap: BackfillGap? { record.backfillGap }

    /// Opaque bytes the server keeps with the stream (consumer groups); persisted with the record.
    public var extensionBytes: [UInt8] { record.extensionBytes }
}

/// The streams held in memory, by key, and in order of use: a list through the streams
/// themselves, least recently used first, so letting go of the oldest costs only what goes.
/// Storage thread only.
final class StreamCache {
    private(set) var byKey: [StreamKey: StreamState] = [:]
    /// The list's ends; the links are unowned because `byKey` owns every stream in the list, and
    /// a stream leaves both together (`remove`).
    private unowned(unsafe) var oldest: StreamState?
    private unowned(unsafe) var newest: StreamState?

    var count: Int { byKey.count }
    var all: Dictionary<StreamKey, StreamState>.Values { byKey.values }

    subscript(key: StreamKey) -> StreamState? { byKey[key] }

    /// Adds a stream as the most recently used.
    func insert(_ stream: StreamState) {
        precondition(byKey[stream.key] == nil, "one stream per key")
        byKey[stream.key] = stream
        link(stream)
    }

    /// Makes a stream the most recently used.
    func touch(_ stream: StreamState) {
        guard newest !== stream else { return }
        unlink(stream)
        link(stream)
    }

    func remove(_ stream: StreamState) {
        guard byKey[stream.key] === stream else { return }
        unlink(stream)
        byKey[stream.key] = nil
    }

    /// A stream's key changes (MOVE, SWAPDB): `change` runs while it is out of the index.
    func rekey(_ stream: StreamState, _ change: () -> Void) {
        byKey[stream.key] = nil
        change()
        byKey[stream.key] = stream
    }

    func removeAll() {
        byKey.removeAll()
        oldest = nil
        newest = nil
    }

    /// Walks from the least recently used towards the newest while `body` returns true.
    func walkOldestFirst(_ body: (StreamState) -> Bool) {
        var next = oldest
        while let stream = next {
            next = stream.newer
            guard body(stream) else { return }
        }
    }

    private func link(_ stream: StreamState) {
        stream.older = newest
        stream.newer = nil
        newest?.newer = stream
        newest = stream
        if oldest == nil { oldest = stream }
    }

    private func unlink(_ stream: StreamState) {
        if let older = stream.older { older.newer = stream.newer } else { oldest = stream.newer }
        if let newer = stream.newer { newer.older = stream.older } else { newest = stream.older }
        stream.older = nil
        stream.newer = nil
    }
}
