import CWiredTiger

/// The process's one WiredTiger connection.
// Sendable because WT_CONNECTION is documented thread-safe; sessions are opened per thread.
public final class WiredTigerConnection: @unchecked Sendable {
    let handle: UnsafeMutablePointer<WT_CONNECTION>
    public let directory: String
    /// Set by close(); sessions read it (after their threads were joined) to avoid double frees.
    private(set) var isClosed = false

    public init(directory: String, config: String) throws(WiredTigerError) {
        var connection: UnsafeMutablePointer<WT_CONNECTION>?
        let code = wiredtiger_open(directory, nil, config, &connection)
        try check(code, "wiredtiger_open(\(directory))")
        self.handle = connection!
        self.directory = directory
    }

    public func openSession() throws(WiredTigerError) -> WiredTigerSession {
        var session: UnsafeMutablePointer<WT_SESSION>?
        try check(handle.pointee.open_session(handle, nil, nil, &session), "open_session")
        return WiredTigerSession(handle: session!, connection: self)
    }

    /// Closes every session and cursor. WiredTiger writes a final checkpoint on a clean close.
    /// After a panic it only marks the connection closed: WiredTiger cannot close a panicked
    /// connection (it would wait forever for the transaction that was running), and recovery at
    /// the next open replays the log. The process should then exit.
    public func close() throws(WiredTigerError) {
        guard !isClosed else { return }
        isClosed = true
        if hasPanicked { return }
        try check(handle.pointee.close(handle, nil), "connection close")
    }

    /// Whether WiredTiger panicked (a failed log write on a full disk, say): a panicked
    /// connection refuses new sessions with WT_PANIC.
    var hasPanicked: Bool {
        var probe: UnsafeMutablePointer<WT_SESSION>?
        let code = handle.pointee.open_session(handle, nil, nil, &probe)
        if code == 0, let probe { _ = probe.pointee.close(probe, nil) }
        return code == WT_PANIC
    }

    deinit {
        if !isClosed && !hasPanicked { _ = handle.pointee.close(handle, nil) }
    }
}
