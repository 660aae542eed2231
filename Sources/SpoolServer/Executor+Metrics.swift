import SpoolCore
import SpoolStorage

extension Executor {
    /// One scrape's view of the streams (the first `streamsMax` of every database, in catalog
    /// order), their groups' lag, and the counters the storage thread keeps.
    func metricsSnapshot(streamsMax: Int) throws(WiredTigerError) -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        let savedDatabase = store.database
        defer { store.database = savedDatabase }
        let now = nowMilliseconds
        for (database, count) in store.streamCountsByDatabase {
            snapshot.streamCount += count
            guard snapshot.streams.count < streamsMax else { continue }
            store.database = database
            let (names, _) = try store.scanStreams(from: 0, count: streamsMax - snapshot.streams.count)
            for name in names {
                guard let stream = try store.streamForReading(name) else { continue }
                var groups: [MetricsSnapshot.Group] = []
                if !stream.groups.isEmpty {
                    let first = try firstID(stream)
                    for group in stream.groups.values.sorted(by: { $0.name.lexicographicallyPrecedes($1.name) }) {
                        let age = try oldestUnreadAge(stream, group, now: now) ?? 0
                        groups.append(
                            .init(
                                name: String(decoding: group.name, as: UTF8.self), consumers: group.consumers.count,
                                pending: Int(group.pendingCount), lagEntries: lag(stream, group, firstID: first), lagMilliseconds: age))
                    }
                }
                let record = stream.record
                snapshot.streams.append(
                    .init(
                        database: database, name: String(decoding: name, as: UTF8.self), length: record.length,
                        entriesAdded: record.entriesAdded, bytes: record.bytes, groups: groups))
            }
        }
        snapshot.deadLettered = deadLetteredCount
        snapshot.producerAppendsParked = UInt64(producerQueues.counters.parked)
        snapshot.producerAppendsWaiting = producerQueues.parkedCount
        if let cluster { snapshot.shards = cluster.shardMetrics() }
        return snapshot
    }
}
