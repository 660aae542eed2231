import SpoolCore

extension LogStore {
    /// Schema 1 kept each stream's entries in two tables of its own (`table:s<N>.live` and
    /// `table:s<N>.backfill`, N its number). Schema 2 keeps them in the shared entry tables under
    /// the same number, so the catalog, group, producer and idempotency rows stay as they are.
    ///
    /// Stream by stream: entries are copied in transactions of `chunk` entries, the log is synced,
    /// then the old tables are dropped. A crash at any point leaves a directory this resumes: a
    /// stream whose old tables are gone is done (they were dropped only after its copy was
    /// durable), one whose tables remain is copied again over what is there. The schema row
    /// changes last, with what schema 2 keeps beside the catalog (per-database counts, the number
    /// index SCAN walks).
    static func upgradeFromSchema1(
        session: WiredTigerSession, meta: WiredTigerCursor, chunk: Int = 10_000
    ) throws(StorageError) {
        try upgradeStep {
            let catalog = try catalogRows(meta).map { row -> (key: StreamKey, number: UInt64) in
                guard let streamKey = streamKey(catalogKey: row.key) else {
                    throw StorageError.notSpoolData("stream record for \(String(decoding: row.key, as: UTF8.self)) unreadable")
                }
                return (streamKey, row.record.streamNumber)
            }
            // Copied again after a crash: overwrite what an earlier attempt left.
            let targets = [
                try session.openCursor(EntryTables.liveURI, config: "overwrite=true"),
                try session.openCursor(EntryTables.backfillURI, config: "overwrite=true"),
            ]
            defer { for target in targets { target.close() } }
            for (_, number) in catalog {
                for (old, new) in zip(["table:s\(number).live", "table:s\(number).backfill"], targets) {
                    // Gone: copied and dropped before a crash interrupted the upgrade.
                    guard let source = try openIfPresent(old, session: session) else { continue }
                    try copyEntries(from: source, to: new, stream: number, session: session, chunk: chunk)
                    source.close()
                }
                try session.flushLog()
                for old in ["table:s\(number).live", "table:s\(number).backfill"] { try? session.drop(old) }
            }
            var counts: [Int: UInt64] = [:]
            for (key, _) in catalog { counts[key.database, default: 0] += 1 }
            try session.beginTransaction()
            for (key, number) in catalog {
                try meta.insert(key: numberKey(database: key.database, number: number), value: key.name)
            }
            for (database, count) in counts { try writeCount(count, database: database, to: meta) }
            try meta.insert(key: schemaKey, value: schemaBytes(2))
            try session.commitTransaction()
            try session.flushLog()
            meta.reset()
        }
    }

    /// Schema 3 keeps each stream's size in its catalog row (`StreamRecord.bytes`). One walk of
    /// each entry table (keyed by stream number first) adds up every stream's entries; each row is
    /// brought up to date with the appends made since it was written (`catchUp`) and rewritten
    /// with its size, in transactions of `chunk` rows; the schema row changes last, so a crash
    /// part way leaves a directory this starts again on.
    static func upgradeFromSchema2(
        session: WiredTigerSession, meta: WiredTigerCursor, entryTables: EntryTables, chunk: Int = 10_000
    ) throws(StorageError) {
        try upgradeStep {
            var sizes: [UInt64: UInt64] = [:]
            for table in [entryTables.live, entryTables.backfill] {
                defer { table.reset() }
                var positioned = try table.next()
                while positioned {
                    let stream = try table.entryKey.stream
                    sizes[stream, default: 0] += try table.withValue { EntrySize.of(storedValue: $0.count) }
                    positioned = try table.next()
                }
            }
            let rows = try catalogRows(meta)
            for start in stride(from: 0, to: rows.count, by: chunk) {
                try session.beginTransaction()
                for (key, row) in rows[start..<min(start + chunk, rows.count)] {
                    var record = row
                    try catchUp(&record, entryTables: entryTables)
                    record.bytes = sizes[record.streamNumber] ?? 0
                    try meta.insert(key: key, value: record.encoded())
                }
                try session.commitTransaction()
            }
            try session.beginTransaction()
            try meta.insert(key: schemaKey, value: schemaBytes(3))
            try session.commitTransaction()
            try session.flushLog()
            meta.reset()
        }
    }

    /// Every catalog row (every database's), decoded.
    private static func catalogRows(_ meta: WiredTigerCursor) throws -> [(key: [UInt8], record: StreamRecord)] {
        var rows: [(key: [UInt8], record: StreamRecord)] = []
        for prefix in [streamKeyPrefix, databaseStreamKeyPrefix] {
            try walkMeta(meta, prefix: prefix) { key, value in
                guard let record = value.withUnsafeBytes({ StreamRecord(decoding: $0) }) else {
                    throw StorageError.notSpoolData("stream record for \(String(decoding: key, as: UTF8.self)) unreadable")
                }
                rows.append((key, record))
            }
        }
        return rows
    }

    /// Runs an upgrade, reporting WiredTiger's failures as storage errors.
    private static func upgradeStep(_ body: () throws -> Void) throws(StorageError) {
        do {
            try body()
        } catch let error as StorageError {
            throw error
        } catch {
            throw .wiredTiger(error as! WiredTigerError)
        }
    }

    static func schemaBytes(_ version: UInt32) -> [UInt8] {
        var bytes = [UInt8]()
        appendLittleEndian(version, to: &bytes)
        return bytes
    }

    /// A cursor on the table, or nil when it does not exist (any other failure is thrown: a table
    /// that cannot be read is never dropped).
    static func openIfPresent(_ uri: String, session: WiredTigerSession) throws(WiredTigerError) -> WiredTigerCursor? {
        do {
            return try session.openCursor(uri, config: nil)
        } catch {
            if error.code == ENOENT_CODE { return nil }
            throw error
        }
    }

    private static func copyEntries(
        from source: WiredTigerCursor, to target: WiredTigerCursor, stream: UInt64, session: WiredTigerSession, chunk: Int
    ) throws(WiredTigerError) {
        var positioned = try source.next()
        while positioned {
            try session.beginTransaction()
            var copied = 0
            while positioned && copied < chunk {
                let id = try source.withKey { EntryID(keyBytes: $0) }
                guard let id else { throw WiredTigerError.corrupt("schema 1 entry key of stream \(stream)") }
                try target.insert(key: EntryKey(stream: stream, id: id), value: try source.value)
                copied += 1
                positioned = try source.next()
            }
            target.reset()
            try session.commitTransaction()
        }
    }
}
