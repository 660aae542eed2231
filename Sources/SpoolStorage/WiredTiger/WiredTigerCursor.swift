import CWiredTiger
import SpoolCore

/// A cursor over a table with raw byte keys and values (key_format=u, value_format=u).
/// Not Sendable: it belongs to its session's thread. Key and value bytes handed to closures are
/// valid only inside the closure (WiredTiger owns them until the cursor moves).
public final class WiredTigerCursor {
    let handle: UnsafeMutablePointer<WT_CURSOR>
    /// Closing a session closes its cursors; ours must not be closed again after that.
    private let session: WiredTigerSession
    private var closedHere = false

    init(handle: UnsafeMutablePointer<WT_CURSOR>, session: WiredTigerSession) {
        self.handle = handle
        self.session = session
    }

    public enum NearMatch: Sendable { case exact, before, after }

    /// Sets the key and runs one operation with it, returning WiredTiger's code: WiredTiger keeps
    /// a pointer to the key's bytes until the operation, so the two never come apart.
    func withKey(_ key: UnsafeRawBufferPointer, _ operation: (UnsafeMutablePointer<WT_CURSOR>) -> Int32) -> Int32 {
        spool_wt_cursor_set_key(handle, key.baseAddress, key.count)
        return operation(handle)
    }

    private func withKey(_ bytes: [UInt8], _ operation: (UnsafeMutablePointer<WT_CURSOR>) -> Int32) -> Int32 {
        bytes.withUnsafeBytes { withKey($0, operation) }
    }

    /// Inserts under the key that `withKey` sets; WiredTiger copies the value.
    func insert(value: [UInt8], withKey: ((UnsafeMutablePointer<WT_CURSOR>) -> Int32) -> Int32) throws(WiredTigerError) {
        let code = value.withUnsafeBytes { v in
            withKey { handle in
                spool_wt_cursor_set_value(handle, v.baseAddress, v.count)
                return handle.pointee.insert(handle)
            }
        }
        try check(code, "cursor insert")
    }

    /// true for success, false for WT_NOTFOUND, else the error.
    static func found(_ code: Int32, _ call: @autoclosure () -> String) throws(WiredTigerError) -> Bool {
        if code == WT_NOTFOUND { return false }
        try check(code, call())
        return true
    }

    /// What search_near's `exact` says, nil for WT_NOTFOUND (an empty table), else the error.
    static func nearMatch(_ code: Int32, exact: Int32) throws(WiredTigerError) -> NearMatch? {
        guard try found(code, "cursor search_near") else { return nil }
        return exact == 0 ? .exact : (exact < 0 ? .before : .after)
    }

    /// WiredTiger copies the value on insert, so the buffer only needs to live across the insert.
    public func insert(key: [UInt8], value: [UInt8]) throws(WiredTigerError) {
        try insert(value: value) { operation in withKey(key, operation) }
    }

    /// Removes the record with this key; returns false when there was none.
    @discardableResult
    public func remove(key: [UInt8]) throws(WiredTigerError) -> Bool {
        try Self.found(withKey(key) { $0.pointee.remove($0) }, "cursor remove")
    }

    /// Positions on the exact key; false when absent.
    public func search(key: [UInt8]) throws(WiredTigerError) -> Bool {
        try Self.found(withKey(key) { $0.pointee.search($0) }, "cursor search")
    }

    /// Positions on the key or a neighbour; nil when the table is empty.
    public func searchNear(key: [UInt8]) throws(WiredTigerError) -> NearMatch? {
        var exact: Int32 = 0
        let code = withKey(key) { $0.pointee.search_near($0, &exact) }
        return try Self.nearMatch(code, exact: exact)
    }

    /// Moves forward; false past the end (the cursor is then reset).
    public func next() throws(WiredTigerError) -> Bool {
        let code = handle.pointee.next(handle)
        if code == WT_NOTFOUND { return false }
        try check(code, "cursor next")
        return true
    }

    public func previous() throws(WiredTigerError) -> Bool {
        let code = handle.pointee.prev(handle)
        if code == WT_NOTFOUND { return false }
        try check(code, "cursor prev")
        return true
    }

    public func reset() {
        guard !closedHere, !session.isClosed else { return }
        _ = handle.pointee.reset(handle)
    }

    public func withKey<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(WiredTigerError) -> R {
        var data: UnsafeRawPointer?
        var size = 0
        try check(spool_wt_cursor_get_key(handle, &data, &size), "cursor get_key")
        return body(UnsafeRawBufferPointer(start: data, count: size))
    }

    public func withValue<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(WiredTigerError) -> R {
        var data: UnsafeRawPointer?
        var size = 0
        try check(spool_wt_cursor_get_value(handle, &data, &size), "cursor get_value")
        return body(UnsafeRawBufferPointer(start: data, count: size))
    }

    public var key: [UInt8] {
        get throws(WiredTigerError) {
            var data: UnsafeRawPointer?
            var size = 0
            try check(spool_wt_cursor_get_key(handle, &data, &size), "cursor get_key")
            return [UInt8](UnsafeRawBufferPointer(start: data, count: size))
        }
    }

    public var value: [UInt8] {
        get throws(WiredTigerError) {
            var data: UnsafeRawPointer?
            var size = 0
            try check(spool_wt_cursor_get_value(handle, &data, &size), "cursor get_value")
            return [UInt8](UnsafeRawBufferPointer(start: data, count: size))
        }
    }

    public func close() {
        guard !closedHere, !session.isClosed else { return }
        closedHere = true
        _ = handle.pointee.close(handle)
    }

    deinit { close() }
}
