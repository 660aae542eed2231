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
    /// The node appends fill (`LogStore+Nodes.swift`); nil until the first append after loading.
    var tailNode: TailNode?
    /// Generation of the last batch that looked the stream up: the cache lets go of the least
    /// recently used streams first.
    var lastUsedGeneration: UInt64 = 0

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

    /// Opaque bytes the server keeps with the stream (consumer groups); persisted with the record.
    public var extensionBytes: [UInt8] { record.extensionBytes }
}
