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
    public func close() throws(WiredTigerError) {
        guard !isClosed else { return }
        isClosed = true
        try check(handle.pointee.close(handle, nil), "connection close")
    }

    deinit {
        if !isClosed { _ = handle.pointee.close(handle, nil) }
    }
}
