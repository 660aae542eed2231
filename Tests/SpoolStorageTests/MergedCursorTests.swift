import Testing
import SpoolCore
@testable import SpoolStorage

@Suite struct MergedCursorTests {
    /// Live holds the odd milliseconds 1…19, backfill the even ones 2…20: one sequence 1…20.
    func makeInterleaved() async throws -> (Store, TemporaryDirectory) {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        _ = try await store.run { (log: LogStore) throws(WiredTigerError) in
            let s = try log.createStream(Array("s".utf8))
            for ms in stride(from: UInt64(1), through: 19, by: 2) {
                try log.append(s, id: id(ms), fields: [Array("live".utf8), Array(String(ms).utf8)])
            }
            for ms in stride(from: UInt64(2), through: 20, by: 2) {
                try log.insertBackfillUnchecked(s, id: id(ms), fields: [Array("backfill".utf8), Array(String(ms).utf8)])
            }
        }
        return (store, dir)
    }

    @Test func mergedCursorYieldsBothTablesInIdOrder() async throws {
        let (store, dir) = try await makeInterleaved()
        defer { store.shutdown(); _ = dir }
        let all = try await store.ids("s")
        #expect(all == (1...20).map { id(UInt64($0)) })
        let entries = try await store.run { (log: LogStore) throws(WiredTigerError) -> [Entry] in
            try log.entries(try log.streamForReading(Array("s".utf8))!)
        }
        #expect(entries.map { String(decoding: $0.fields[0], as: UTF8.self) }.prefix(4) == ["live", "backfill", "live", "backfill"])
        #expect(entries.allSatisfy { String(decoding: $0.fields[1], as: UTF8.self) == String($0.id.milliseconds) })
    }

    @Test func mergedCursorWalksBackwards() async throws {
        let (store, dir) = try await makeInterleaved()
        defer { store.shutdown(); _ = dir }
        #expect(try await store.ids("s", direction: .backward) == (1...20).reversed().map { id(UInt64($0)) })
        #expect(try await store.ids("s", from: id(5), to: id(8), direction: .backward) == [id(8), id(7), id(6), id(5)])
    }

    @Test(arguments: [
        (EntryID(milliseconds: 0, sequence: 0), EntryID(milliseconds: 3, sequence: 0), [1, 2, 3]),
        (EntryID(milliseconds: 4, sequence: 1), EntryID(milliseconds: 6, sequence: 0), [5, 6]),
        (EntryID(milliseconds: 19, sequence: 5), EntryID.max, [20]),
        (EntryID(milliseconds: 21, sequence: 0), EntryID.max, []),
        (EntryID(milliseconds: 7, sequence: 0), EntryID(milliseconds: 7, sequence: 0), [7]),
        (EntryID(milliseconds: 8, sequence: 0), EntryID(milliseconds: 7, sequence: 0), []),
    ])
    func mergedCursorSeeksToBoundsInclusively(from: EntryID, to: EntryID, expected: [Int]) async throws {
        let (store, dir) = try await makeInterleaved()
        defer { store.shutdown(); _ = dir }
        #expect(try await store.ids("s", from: from, to: to) == expected.map { id(UInt64($0)) })
    }

    @Test func mergedCursorOverEmptyTablesYieldsNothing() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let result = try await store.run { (log: LogStore) throws(WiredTigerError) -> [EntryID] in
            let s = try log.createStream(Array("empty".utf8))
            return try log.entries(s).map(\.id) + log.entries(s, direction: .backward).map(\.id)
        }
        #expect(result.isEmpty)
    }

    @Test func mergedCursorWithOnlyOneTablePopulated() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let result = try await store.run { (log: LogStore) throws(WiredTigerError) -> ([EntryID], [EntryID]) in
            let a = try log.createStream(Array("onlylive".utf8))
            try log.append(a, id: id(1), fields: [])
            try log.append(a, id: id(2), fields: [])
            let b = try log.createStream(Array("onlybackfill".utf8))
            try log.insertBackfillUnchecked(b, id: id(3), fields: [])
            try log.insertBackfillUnchecked(b, id: id(4), fields: [])
            return (try log.entries(a).map(\.id), try log.entries(b, direction: .backward).map(\.id))
        }
        #expect(result.0 == [id(1), id(2)])
        #expect(result.1 == [id(4), id(3)])
    }

    @Test func mergedCursorNeverYieldsAnIdTwice() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let result = try await store.run { (log: LogStore) throws(WiredTigerError) -> [Entry] in
            let s = try log.createStream(Array("dup".utf8))
            try log.append(s, id: id(1), fields: [Array("from".utf8), Array("live".utf8)])
            try log.append(s, id: id(2), fields: [Array("from".utf8), Array("live".utf8)])
            try log.insertBackfillUnchecked(s, id: id(2), fields: [Array("from".utf8), Array("backfill".utf8)])
            return try log.entries(s)
        }
        #expect(result.map(\.id) == [id(1), id(2)])
        #expect(result[1].fields[1] == Array("live".utf8))
    }

    @Test func backfillAcceptsOnlyIdsBelowTheLiveRange() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let outcomes = try await store.run { (log: LogStore) throws(WiredTigerError) -> [String] in
            let s = try log.createStream(Array("bf".utf8))
            try log.append(s, id: id(100), fields: [])
            var out: [String] = []
            for candidate in [id(50), id(50), id(100), id(150)] {
                do {
                    switch try log.appendBackfill(s, id: candidate, fields: []) {
                    case .success: out.append("ok")
                    case .failure(.alreadyPresent): out.append("present")
                    case .failure(.notBelowLiveRange): out.append("above")
                    }
                } catch {
                    out.append("error")
                }
            }
            return out
        }
        #expect(outcomes == ["ok", "present", "above", "above"])
        #expect(try await store.ids("bf") == [id(50), id(100)])
    }

    @Test func catalogAndEntriesSurviveReopen() async throws {
        let dir = TemporaryDirectory()
        do {
            let store = try Store.open(StorageOptions(directory: dir.path))
            _ = try await store.append("a", id: id(5, 1), ["k", "v"])
            _ = try await store.append("a", id: id(6), ["k", "w"])
            _ = try await store.append("b", ["x", "y"])
            let deleted = try await store.run { (log: LogStore) throws(WiredTigerError) -> Bool in
                try log.delete(try log.streamForWriting(Array("a".utf8))!, id: id(5, 1))
            }
            #expect(deleted)
            store.shutdown()
        }
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let record = try await store.run { (log: LogStore) throws(WiredTigerError) -> StreamRecord? in
            try log.streamForReading(Array("a".utf8))?.record
        }
        #expect(record?.length == 1)
        #expect(record?.entriesAdded == 2)
        #expect(record?.lastID == id(6))
        #expect(record?.maxDeletedID == id(5, 1))
        #expect(try await store.ids("a") == [id(6)])
        #expect(try await store.ids("b").count == 1)
    }
}
