import Testing
import SpoolCore
@testable import SpoolStorage

/// A stream's size (`StreamRecord.bytes`): it follows appends, backfill, XDEL and both kinds of
/// trim, survives reopening when the catalog row is behind the appends, and a schema 2 directory
/// gets it on open.
@Suite struct StreamSizeTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// What the entries add up to by `EntrySize`'s definition, counted from what a reader sees.
    static func counted(_ entries: [Entry]) -> UInt64 {
        entries.reduce(0) { total, entry in
            total + EntrySize.idBytes + 12 + entry.fields.reduce(0) { $0 + 4 + UInt64($1.count) }
        }
    }

    /// The stream's record and the size its entries add up to, in one job.
    func sizes(_ store: Store, _ name: String) async throws -> (record: StreamRecord, counted: UInt64, length: Int) {
        try await store.run { (log: LogStore) throws(WiredTigerError) -> (StreamRecord, UInt64, Int) in
            let stream = try log.streamForReading(self.bytes(name))!
            let entries = try log.entries(stream)
            return (stream.record, Self.counted(entries), entries.count)
        }
    }

    func expectAgrees(_ store: Store, _ name: String, _ comment: Comment) async throws {
        let (record, counted, length) = try await sizes(store, name)
        #expect(record.bytes == counted, comment)
        #expect(record.length == UInt64(length), comment)
    }

    /// The catalog row as it is on disk (not the stream in memory).
    func row(_ store: Store, _ name: String) async throws -> StreamRecord {
        try await store.run { (log: LogStore) throws(WiredTigerError) -> StreamRecord in
            let key = LogStore.catalogKey(database: 0, name: self.bytes(name))
            defer { log.meta.reset() }
            guard try log.meta.search(key: key), let record = try log.meta.withValue({ StreamRecord(decoding: $0) }) else {
                throw WiredTigerError.corrupt("no row")
            }
            return record
        }
    }

    func appendBatches(_ store: Store, _ name: String, from first: UInt64, count: Int, perBatch: Int) async throws {
        var next = first
        var left = count
        while left > 0 {
            let n = min(perBatch, left)
            let start = next
            try await store.run { (log: LogStore) throws(WiredTigerError) in
                let stream = try log.streamForWriting(creating: self.bytes(name))
                for ms in start..<start + UInt64(n) {
                    try log.append(stream, id: id(ms), fields: [self.bytes("f"), self.bytes(String(repeating: "x", count: Int(ms % 37)))])
                }
            }
            next += UInt64(n)
            left -= n
        }
    }

    @Test func theSizeFollowsEveryChangeAndSurvivesReopening() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await appendBatches(store, "s", from: 1_000, count: 1_500, perBatch: 300)
        try await expectAgrees(store, "s", "appends")
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let stream = try log.streamForWriting(self.bytes("s"))!
            for ms: UInt64 in [1_000, 1_777, 2_499] { _ = try log.delete(stream, id: id(ms)) }
            _ = try log.delete(stream, id: id(5))  // not there: nothing changes
        }
        try await expectAgrees(store, "s", "XDEL")
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let stream = try log.streamForWriting(self.bytes("s"))!
            var seen = 0
            _ = try log.trimOldest(stream, limit: 200) { _, _ throws(WiredTigerError) in
                seen += 1
                return seen % 3 == 0 ? .keep : .remove  // runs with survivors between them
            }
        }
        try await expectAgrees(store, "s", "exact trim")
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let stream = try log.streamForWriting(self.bytes("s"))!
            _ = try log.trimWholeNodes(stream, limit: 400) { _, _, _ in true }
        }
        try await expectAgrees(store, "s", "whole-node trim")
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let stream = try log.streamForWriting(self.bytes("s"))!
            for ms: UInt64 in 1...3 {
                guard case .success = try log.appendBackfill(stream, id: id(ms), fields: [self.bytes("old"), self.bytes("history")]) else {
                    throw WiredTigerError.corrupt("backfill refused")
                }
            }
        }
        try await expectAgrees(store, "s", "backfill")
        // Appends in batches of their own leave the row behind; the batch with the
        // `appendsPerRowWrite`-th since it was written writes it.
        let every = Int(LogStore.appendsPerRowWrite)
        let before = try await row(store, "s")
        try await appendBatches(store, "s", from: 3_000, count: every - 1, perBatch: 10)
        #expect(try await row(store, "s") == before, "appends alone leave the row as it was")
        try await appendBatches(store, "s", from: 3_000 + UInt64(every), count: 3, perBatch: 3)
        let after = try await row(store, "s")
        #expect(after.entriesAdded == before.entriesAdded + UInt64(every) + 2)
        try await appendBatches(store, "s", from: 4_000, count: 500, perBatch: 7)  // behind again at reopening
        let expected = try await sizes(store, "s")
        #expect(expected.record.bytes == expected.counted)
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let reopened = try await sizes(store, "s")
        #expect(reopened.record == expected.record)
        #expect(reopened.counted == expected.counted)
    }

    @Test func entriesAddedLoweredByXSETIDIsNotMistakenForAppendsOnLoading() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await appendBatches(store, "s", from: 1, count: 10, perBatch: 10)
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let stream = try log.streamForWriting(self.bytes("s"))!
            for ms: UInt64 in 1...5 { _ = try log.delete(stream, id: id(ms)) }
            log.update(stream) { $0.entriesAdded = 5 }  // XSETID … ENTRIESADDED 5: the newest entry is numbered 10
        }
        let expected = try await sizes(store, "s")
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        let reopened = try await sizes(store, "s")
        #expect(reopened.record == expected.record)
        #expect(reopened.record.length == 5 && reopened.record.entriesAdded == 5)
        // Appends after it are numbered from 6 and caught up on loading as before.
        try await appendBatches(store, "s", from: 20, count: 3, perBatch: 1)
        let grown = try await sizes(store, "s")
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let again = try await sizes(store, "s")
        #expect(again.record == grown.record)
        #expect(again.record.length == 8 && again.record.entriesAdded == 8 && again.record.bytes == again.counted)
    }

    @Test func aSchema2DirectoryGetsEveryStreamsSizeOnOpen() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await appendBatches(store, "a", from: 1, count: 50, perBatch: 10)
        try await appendBatches(store, "b", from: 100, count: 20, perBatch: 5)
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            _ = try log.delete(try log.streamForWriting(self.bytes("b"))!, id: id(105))
            _ = try log.appendBackfill(try log.streamForWriting(self.bytes("b"))!, id: id(50), fields: [self.bytes("h")  , self.bytes("i")])
            _ = try log.createStream(self.bytes("empty"))
        }
        try await appendBatches(store, "b", from: 200, count: 7, perBatch: 1)  // rows behind again
        let expected = [
            try await sizes(store, "a"), try await sizes(store, "b"), try await sizes(store, "empty"),
        ].map(\.record)
        // Back to schema 2: rows without their size.
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            for name in ["a", "b", "empty"] {
                let key = LogStore.catalogKey(database: 0, name: self.bytes(name))
                guard try log.meta.search(key: key), let row = try log.meta.withValue({ StreamRecord(decoding: $0) }) else {
                    throw WiredTigerError.corrupt("no row")
                }
                var raw = row.encoded()
                let at = 57 + (row.backfillGap == nil ? 0 : 33)
                #expect(raw[at] == StreamRecord.bytesTag)
                raw.removeSubrange(at..<at + 9)
                try log.meta.insert(key: key, value: raw)
            }
            try log.meta.insert(key: LogStore.schemaKey, value: LogStore.schemaBytes(2))
            log.meta.reset()
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let upgraded = [try await sizes(store, "a"), try await sizes(store, "b"), try await sizes(store, "empty")]
        #expect(upgraded.map(\.record) == expected)
        #expect(upgraded.map(\.counted) == expected.map(\.bytes))
        #expect(expected[2].bytes == 0 && expected[0].bytes > 0)
        let schema = try await store.run { (log: LogStore) throws(WiredTigerError) -> [UInt8] in
            defer { log.meta.reset() }
            _ = try log.meta.search(key: LogStore.schemaKey)
            return try log.meta.value
        }
        #expect(schema == LogStore.schemaBytes(3))
    }
}
