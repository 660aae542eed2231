import Testing
import SpoolCore
@testable import SpoolStorage

/// Every stream's entries in two shared tables: ranges that never bleed into their neighbours,
/// reads that nest, range truncation for drops and trims, and the cache of streams in use.
@Suite struct SharedTablesTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// Streams a, b, c created in that order (numbers 1, 2, 3), each with live and backfill
    /// entries at the same ids, so every range has neighbours on both sides in both tables.
    func makeNeighbours() async throws -> (Store, TemporaryDirectory) {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            for name in ["a", "b", "c"] {
                let s = try log.createStream(self.bytes(name))
                for ms in stride(from: UInt64(2), through: 10, by: 2) {
                    try log.insertBackfillUnchecked(s, id: id(ms), fields: [self.bytes(name), self.bytes("backfill")])
                }
                for ms in stride(from: UInt64(11), through: 15, by: 1) {
                    try log.append(s, id: id(ms), fields: [self.bytes(name), self.bytes("live")])
                }
            }
        }
        return (store, dir)
    }

    @Test func aStreamsRangeNeverReachesItsNeighbours() async throws {
        let (store, dir) = try await makeNeighbours()
        defer { store.shutdown(); _ = dir }
        let expected = [2, 4, 6, 8, 10, 11, 12, 13, 14, 15].map { id(UInt64($0)) }
        for name in ["a", "b", "c"] {
            #expect(try await store.ids(name) == expected)
            #expect(try await store.ids(name, direction: .backward) == expected.reversed())
            #expect(try await store.ids(name, from: id(16), to: .max) == [])
            #expect(try await store.ids(name, from: .min, to: id(1), direction: .backward) == [])
        }
        let owners = try await store.run { (log: LogStore) throws(WiredTigerError) -> Set<String> in
            Set(try log.entries(try log.streamForReading(self.bytes("b"))!).map { String(decoding: $0.fields[0], as: UTF8.self) })
        }
        #expect(owners == ["b"])
    }

    @Test func readsThatNestGetCursorsOfTheirOwn() async throws {
        let (store, dir) = try await makeNeighbours()
        defer { store.shutdown(); _ = dir }
        let pairs = try await store.run { (log: LogStore) throws(WiredTigerError) -> [String] in
            let a = try log.streamForReading(self.bytes("a"))!
            let c = try log.streamForReading(self.bytes("c"))!
            var outer = try log.cursor(a)
            var out: [String] = []
            while let left = try outer.next() {
                // A whole read of another stream, and an append to it, while `outer` is positioned.
                let right = try log.entries(c, from: left.id, to: left.id)
                out.append("\(left.id.milliseconds):\(right.count)")
            }
            try log.append(c, id: id(20), fields: [self.bytes("c"), self.bytes("late")])
            return out
        }
        #expect(pairs == ["2:1", "4:1", "6:1", "8:1", "10:1", "11:1", "12:1", "13:1", "14:1", "15:1"])
        #expect(try await store.ids("c").last == id(20))
        #expect(try await store.ids("a").count == 10)
    }

    @Test func droppingAStreamTruncatesOnlyItsRange() async throws {
        let (store, dir) = try await makeNeighbours()
        defer { store.shutdown(); _ = dir }
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            try log.dropStream(try log.streamForWriting(self.bytes("b"))!)
        }
        #expect(try await store.ids("b") == [])
        #expect(try await store.ids("a").count == 10)
        #expect(try await store.ids("c").count == 10)
        // A new stream of the dropped name gets a new number: nothing of the old one shows.
        let fresh = try await store.run { (log: LogStore) throws(WiredTigerError) -> (UInt64, Int) in
            let b = try log.createStream(self.bytes("b"))
            return (b.number, try log.entries(b).count)
        }
        #expect(fresh.0 == 4 && fresh.1 == 0)
    }

    @Test func trimmingTruncatesEachRunOfRemovedEntriesAndKeepsTheRest() async throws {
        let (store, dir) = try await makeNeighbours()
        defer { store.shutdown(); _ = dir }
        let removed = try await store.run { (log: LogStore) throws(WiredTigerError) -> [EntryID] in
            let b = try log.streamForWriting(self.bytes("b"))!
            // Keep 6 and 12 (as ACKED trimming keeps entries a group holds); stop before 14.
            return try log.trimOldest(b) { entry, _ in
                if entry == id(6) || entry == id(12) { return .keep }
                return entry < id(14) ? .remove : .stop
            }
        }
        #expect(removed == [2, 4, 8, 10, 11, 13].map { id(UInt64($0)) })
        #expect(try await store.ids("b") == [6, 12, 14, 15].map { id(UInt64($0)) })
        #expect(try await store.ids("a").count == 10)
        #expect(try await store.ids("c").count == 10)
        let length = try await store.run { (log: LogStore) throws(WiredTigerError) -> UInt64 in
            try log.streamForReading(self.bytes("b"))!.length
        }
        #expect(length == 4)
    }

    @Test func theCacheLetsGoOfCleanStreamsAndLoadsThemAgain() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            log.streamCacheMax = 10
            for n in 0..<50 {
                let s = try log.createStream(self.bytes("s\(n)"))
                try log.append(s, id: id(UInt64(n + 1)), fields: [self.bytes("n"), self.bytes(String(n))])
                let group = log.createGroup(s, name: self.bytes("g"), lastDeliveredID: .zero, entriesRead: 0)
                log.setGroupPosition(s, group, lastDeliveredID: id(UInt64(n + 1)), entriesRead: 1)
            }
        }
        // Each later batch lets go of what the earlier ones left durable.
        for round in 0..<3 {
            try await store.run { (log: LogStore) throws(WiredTigerError) in
                _ = try log.streamForWriting(self.bytes("s\(round)"))
                log.noteDurableDependency()
            }
        }
        let (cached, evictions) = try await store.run { (log: LogStore) throws(WiredTigerError) -> (Int, UInt64) in
            (log.cachedStreamCount, log.streamEvictions)
        }
        #expect(cached <= 11)
        #expect(evictions >= 39)
        let seen = try await store.run { (log: LogStore) throws(WiredTigerError) -> [String] in
            try (0..<50).map { n throws(WiredTigerError) -> String in
                let s = try log.streamForReading(self.bytes("s\(n)"))!
                let entry = try log.firstEntry(s)!
                let group = s.groups[self.bytes("g")]!
                return "\(String(decoding: entry.fields[1], as: UTF8.self)):\(group.lastDeliveredID.milliseconds)"
            }
        }
        #expect(seen == (0..<50).map { "\($0):\($0 + 1)" })
        let counts = try await store.run { (log: LogStore) throws(WiredTigerError) -> (Int, Int) in
            (log.streamCount, try log.streamNames().count)
        }
        #expect(counts == (50, 50))
    }

    @Test func aDirectoryOfANewerSchemaIsRefusedUnchanged() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            _ = try log.createStream(self.bytes("s"))
            var version = [UInt8]()
            appendLittleEndian(LogStore.schemaVersion + 1, to: &version)
            try log.meta.insert(key: LogStore.schemaKey, value: version)
        }
        store.shutdown()
        var refusal: StorageError?
        do {
            store = try Store.open(StorageOptions(directory: dir.path))
            store.shutdown()
        } catch {
            refusal = error
        }
        guard case .incompatibleSchema(found: LogStore.schemaVersion + 1, expected: LogStore.schemaVersion)? = refusal else {
            Issue.record("expected a refusal, got \(String(describing: refusal))")
            return
        }
        #expect(refusal!.description.contains("written by a newer spoold"))
    }

    @Test func appendsMadeAfterTheCatalogRowAreCaughtUpOnLoading() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let s = try log.createStream(self.bytes("s"))
            try log.append(s, id: id(1), fields: [self.bytes("f"), self.bytes("1")])
        }
        // Appends in later batches leave the row as it was; a delete rewrites it; more appends.
        for n in 2...5 { _ = try await store.append("s", id: id(UInt64(n)), ["f", String(n)]) }
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            _ = try log.delete(try log.streamForWriting(self.bytes("s"))!, id: id(3))
        }
        for n in 6...8 { _ = try await store.append("s", id: id(UInt64(n)), ["f", String(n)]) }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let record = try await store.run { (log: LogStore) throws(WiredTigerError) -> StreamRecord in
            try log.streamForReading(self.bytes("s"))!.record
        }
        #expect(record.entriesAdded == 8)
        #expect(record.length == 7)
        #expect(record.lastID == id(8))
        #expect(record.maxDeletedID == id(3))
        #expect(try await store.ids("s") == [1, 2, 4, 5, 6, 7, 8].map { id(UInt64($0)) })
    }

    @Test func theUpgradeTellsAMissingTableFromOneItCannotRead() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let found = try await store.run { (log: LogStore) throws(WiredTigerError) -> [Bool] in
            [
                try LogStore.openIfPresent("table:s999.live", session: log.session) != nil,
                try LogStore.openIfPresent(EntryTables.liveURI, session: log.session) != nil,
            ]
        }
        #expect(found == [false, true])
    }
}
