import Testing
@testable import SpoolStorage

/// A shard's row of `table:spool-shards`: the promise and applied seq, and the tagged sections
/// of an open gap and a learner, survive a restart exactly; a row of the first format (no sections)
/// still reads.
@Suite struct ReplicationTableTests {
    static let states: [ReplicationTable.ShardState] = [
        .init(maxEpochSeen: 7, appliedSeq: 120),
        .init(maxEpochSeen: 9, appliedSeq: 3, gap: .init(next: 4, endSeq: 90_000, endEpoch: 8, endSum: 0xdead_beef_f00d)),
        .init(maxEpochSeen: 9, appliedSeq: 0, learner: (incarnation: 0x1234_5678_9abc_def0, since: 4_242)),
        .init(
            maxEpochSeen: 11, appliedSeq: 10, gap: .init(next: 11, endSeq: 12, endEpoch: 11, endSum: 1),
            learner: (incarnation: UInt64.max, since: 11)),
    ]

    @Test func shardRowsRoundTripThroughARestart() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let table = try log.openReplicationTable()
            for (shard, state) in Self.states.enumerated() { try table.writeShardState(shard, state) }
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let read = try await store.run { (log: LogStore) throws(WiredTigerError) -> [ReplicationTable.ShardState] in
            let table = try log.openReplicationTable()
            return try (0..<Self.states.count + 1).map { shard throws(WiredTigerError) in try table.shardState(shard) }
        }
        #expect(Array(read.prefix(Self.states.count)) == Self.states)
        #expect(read.last == ReplicationTable.ShardState(), "a shard with no row starts from nothing")
    }
}
