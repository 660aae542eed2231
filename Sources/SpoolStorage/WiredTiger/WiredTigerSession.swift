import CWiredTiger

/// A WiredTiger session. Not Sendable: a session and its cursors belong to one thread.
public final class WiredTigerSession {
    let handle: UnsafeMutablePointer<WT_SESSION>
    /// Closing the connection closes its sessions; a session must not be closed again after that.
    private let connection: WiredTigerConnection
    private var closedHere = false

    init(handle: UnsafeMutablePointer<WT_SESSION>, connection: WiredTigerConnection) {
        self.handle = handle
        self.connection = connection
    }

    /// Closed by us, or with the connection: either way its cursors are gone too.
    var isClosed: Bool { closedHere || connection.isClosed }

    public func create(_ uri: String, config: String) throws(WiredTigerError) {
        try check(handle.pointee.create(handle, uri, config), "create(\(uri))")
    }

    public func drop(_ uri: String) throws(WiredTigerError) {
        try check(handle.pointee.drop(handle, uri, "force=true"), "drop(\(uri))")
    }

    public func openCursor(_ uri: String, config: String? = nil) throws(WiredTigerError)
        -> WiredTigerCursor
    {
        var cursor: UnsafeMutablePointer<WT_CURSOR>?
        try check(
            handle.pointee.open_cursor(handle, uri, nil, config, &cursor), "open_cursor(\(uri))")
        return WiredTigerCursor(handle: cursor!, session: self)
    }

    /// One snapshot for the whole transaction: the storage thread is the only writer, so a batch
    /// never conflicts, and read-committed's snapshot per operation is wasted work.
    public func beginTransaction() throws(WiredTigerError) {
        try check(
            handle.pointee.begin_transaction(handle, WiredTigerConfiguration.transaction), "begin_transaction")
    }

    public func commitTransaction() throws(WiredTigerError) {
        try check(handle.pointee.commit_transaction(handle, nil), "commit_transaction")
    }

    /// One commit that is synced before it returns: the baseline group commit is measured against.
    public func commitTransactionSynced() throws(WiredTigerError) {
        try check(handle.pointee.commit_transaction(handle, "sync=on"), "commit_transaction(sync=on)")
    }

    public func rollbackTransaction() throws(WiredTigerError) {
        try check(handle.pointee.rollback_transaction(handle, nil), "rollback_transaction")
    }

    /// Writes the log and fsyncs it: everything committed before this call becomes durable.
    public func flushLog() throws(WiredTigerError) {
        try check(handle.pointee.log_flush(handle, "sync=on"), "log_flush(sync=on)")
    }

    public func checkpoint() throws(WiredTigerError) {
        try check(handle.pointee.checkpoint(handle, nil), "checkpoint")
    }

    public func close() {
        guard !isClosed else { return }
        closedHere = true
        _ = handle.pointee.close(handle, nil)
    }

    deinit { close() }
}

extension WiredTigerSession {
    /// Removes every key from `lower` to `upper`, inclusive, in the transaction in progress, with
    /// two cursors of the same table that mark the ends (they are reset after). An empty range
    /// removes nothing.
    public func truncate(
        start: WiredTigerCursor, from lower: [UInt8], stop: WiredTigerCursor, to upper: [UInt8]
    ) throws(WiredTigerError) {
        // WiredTiger keeps pointers to the keys until the truncate: both buffers live across it.
        let code = lower.withUnsafeBytes { l in
            upper.withUnsafeBytes { u in
                spool_wt_cursor_set_key(start.handle, l.baseAddress, l.count)
                spool_wt_cursor_set_key(stop.handle, u.baseAddress, u.count)
                return handle.pointee.truncate(handle, nil, start.handle, stop.handle, nil)
            }
        }
        start.reset()
        stop.reset()
        if code == WT_NOTFOUND { return }
        try check(code, "truncate(range)")
    }
}
