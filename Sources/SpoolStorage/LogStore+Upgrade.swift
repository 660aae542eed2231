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
        do {
            var catalog: [(key: StreamKey, number: UInt64)] = []
            for prefix in [streamKeyPrefix, databaseStreamKeyPrefix] {
                try walkMeta(meta, prefix: prefix) { key, value in
                    let record = value.withUnsafeBytes { StreamRecord(decoding: $0) }
                    guard let record, let streamKey = streamKey(catalogKey: key) else {
                        throw StorageError.notSpoolData("stream record for \(String(decoding: key, as: UTF8.self)) unreadable")
                    }
                    catalog.append((streamKey, record.streamNumber))
                }
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
            var version = [UInt8]()
            appendLittleEndian(schemaVersion, to: &version)
            try meta.insert(key: schemaKey, value: version)
            try session.commitTransaction()
            try session.flushLog()
            meta.reset()
        } catch let error as StorageError {
            throw error
        } catch {
            throw .wiredTiger(error as! WiredTigerError)
        }
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
