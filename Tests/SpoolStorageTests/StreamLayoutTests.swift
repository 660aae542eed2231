import Testing
import SpoolCore
@testable import SpoolStorage

/// Where Redis's radix-tree nodes would start (approximate trimming), databases in the catalog, and
/// idempotent-append records: each survives closing and reopening the store.
@Suite struct StreamLayoutTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    func fields(_ value: String) -> [[UInt8]] { [bytes("f"), bytes(value)] }

    @Test func nodesStartEveryEntriesMaxAndWholeNodesAreTrimmed() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let removed = try await store.run { (log: LogStore) throws(WiredTigerError) -> [Int] in
            log.nodeLimits = StreamNodeLimits(entriesMax: 10, bytesMax: 4096)
            let s = try log.createStream(self.bytes("s"))
            for n in 1...25 { try log.append(s, id: id(UInt64(n), 1), fields: self.fields("v")) }
            // Nodes of 10, 10, 5: keeping at least 12 removes one node; LIMIT 9 removes none.
            let keepTwelve = try log.trimWholeNodes(s, limit: .max) { entries, _, length in length - UInt64(entries) >= 12 }
            let limited = try log.trimWholeNodes(s, limit: 9) { _, _, _ in true }
            let all = try log.trimWholeNodes(s, limit: .max) { _, _, _ in true }
            return [keepTwelve, limited, all]
        }
        #expect(removed == [10, 0, 15])
    }

    @Test func bigEntriesCloseANodeByBytes() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let removed = try await store.run { (log: LogStore) throws(WiredTigerError) -> Int in
            let s = try log.createStream(self.bytes("s"))
            let value = String(repeating: "x", count: 1000)
            for n in 1...8 { try log.append(s, id: id(UInt64(n), 1), fields: self.fields(value)) }
            // 4096 bytes hold four 1000-byte values with their overhead: the first node has 4.
            return try log.trimWholeNodes(s, limit: .max) { entries, _, length in length - UInt64(entries) >= 1 }
        }
        #expect(removed == 4)
    }

    @Test func theTailNodeIsFoundAgainAfterReopening() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            log.nodeLimits = StreamNodeLimits(entriesMax: 10, bytesMax: 4096)
            let s = try log.createStream(self.bytes("s"))
            for n in 1...15 { try log.append(s, id: id(UInt64(n), 1), fields: self.fields("v")) }
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let removed = try await store.run { (log: LogStore) throws(WiredTigerError) -> Int in
            log.nodeLimits = StreamNodeLimits(entriesMax: 10, bytesMax: 4096)
            let s = try log.streamForWriting(self.bytes("s"))!
            // The node of 11…15 takes five more, then a new one starts: 10, 10, 1.
            for n in 16...21 { try log.append(s, id: id(UInt64(n), 1), fields: self.fields("v")) }
            return try log.trimWholeNodes(s, limit: 20) { _, _, _ in true }
        }
        #expect(removed == 20)
    }

    @Test func databasesAreSeparateAndSurviveReopening() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            for database in [0, 1, 15] {
                log.database = database
                let s = try log.createStream(self.bytes("s"))
                try log.append(s, id: id(UInt64(database + 1)), fields: self.fields("db\(database)"))
            }
            log.database = 1
            _ = try log.createStream(self.bytes("moved"))
            #expect(try log.moveStream(try log.streamForWriting(self.bytes("moved"))!, to: 2))
            try log.swapDatabases(0, 15)
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let seen = try await store.run { (log: LogStore) throws(WiredTigerError) -> [String] in
            var out: [String] = []
            for database in [0, 1, 2, 15] {
                log.database = database
                for name in try log.streamNames() {
                    let entry = try log.entries(try log.streamForReading(name)!, count: 1).first
                    out.append("\(database):\(String(decoding: name, as: UTF8.self)):\(entry.map { String(decoding: $0.fields[1], as: UTF8.self) } ?? "-")")
                }
            }
            return out
        }
        #expect(seen == ["0:s:db15", "1:s:db1", "2:moved:-", "15:s:db0"])
    }

    @Test func idempotentRecordsPersistAndKeepAtMostMaxSize() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let s = try log.createStream(self.bytes("s"))
            try log.configureIdempotency(s, durationSeconds: nil, maxSize: 2)
            for n in 1...3 {
                try log.append(s, id: id(UInt64(n)), fields: self.fields("v"))
                try log.recordIdempotent(s, producer: self.bytes("p"), id: self.bytes("i\(n)"), entry: id(UInt64(n)))
            }
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        // Entry ids of 1970 are long expired at 100 s: look them up as of then.
        let found = try await store.run { (log: LogStore) throws(WiredTigerError) -> [LogStore.IdempotentLookup] in
            let s = try log.streamForWriting(self.bytes("s"))!
            return try (1...3).map { (n) throws(WiredTigerError) in
                try log.lookUpIdempotent(s, producer: self.bytes("p"), id: self.bytes("i\(n)"), nowMilliseconds: 50)
            }
        }
        #expect(found == [.new, .duplicate(id(2)), .duplicate(id(3))])
    }
}
