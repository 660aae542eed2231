extension LogStore {
    /// Where `rollBackToSavepoint()` returns to.
    public struct Savepoint: Sendable {
        let appendCount: Int
    }

    /// Commits (without sync) everything the batch did so far and begins a new transaction, so the
    /// job that follows can be undone alone: WiredTiger has no nested transactions. The batch still
    /// becomes durable as a whole with its final commit's flush: replies wait for that one.
    ///
    /// Used by transactions (MULTI/EXEC) whose conditional appends may fail after the transaction
    /// has written something; those are all-or-nothing.
    public func beginSavepoint() throws(WiredTigerError) -> Savepoint {
        try commitSoFar()
        return Savepoint(appendCount: batchAppendCount)
    }

    /// Commits (without sync) everything the batch did so far and begins a new transaction: for a
    /// job too big for one transaction (FLUSHALL of many streams). The batch becomes durable with
    /// its final commit's flush, which its replies wait for.
    public func commitSoFar() throws(WiredTigerError) {
        try writeDirtyRecords()
        try session.commitTransaction()
        try session.beginTransaction()
    }

    /// Undoes everything since `savepoint` and continues the batch in a fresh transaction. The
    /// cache of streams (and of every table's rows) is emptied and loads again from what is
    /// committed; every stream is then treated as changed by this batch, so no reply that reads one
    /// goes out before the batch's flush, whatever the reload forgot about unflushed writes.
    public func rollBackToSavepoint(_ savepoint: Savepoint) throws(WiredTigerError) {
        try session.rollbackTransaction()
        do {
            try reloadAfterRollback()
        } catch {
            if case .wiredTiger(let cause) = error { throw cause }
            throw WiredTigerError.corrupt("catalog reload after a rolled-back transaction: \(error)")
        }
        loadedStreamGeneration = currentGeneration
        noteDurableDependency()
        batchAppendCount = savepoint.appendCount
        try session.beginTransaction()
    }
}
