import CWiredTiger

/// An operating error from WiredTiger: the call that failed, its return code and WiredTiger's own
/// message for it. Programmer errors (a config string we built rejected) crash instead.
public struct WiredTigerError: Error, Sendable, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public let message: String

    init(call: String, code: Int32) {
        self.call = call
        self.code = code
        self.message = String(cString: wiredtiger_strerror(code))
    }

    public var description: String { "\(call): \(message) (\(code))" }

    public var isNotFound: Bool { code == WT_NOTFOUND }
    public var isNoSpace: Bool { code == ENOSPC_CODE }
}

/// ENOSPC and ENOENT without importing Glibc into every file.
let ENOSPC_CODE: Int32 = 28
let ENOENT_CODE: Int32 = 2

@inline(__always)
func check(_ code: Int32, _ call: @autoclosure () -> String) throws(WiredTigerError) {
    if code != 0 { throw WiredTigerError(call: call(), code: code) }
}

extension WiredTigerError {
    /// Data that WiredTiger returned but Spool cannot read: a foreign or damaged table.
    public static func corrupt(_ what: String) -> WiredTigerError {
        WiredTigerError(call: "decode", code: WT_ERROR, detail: "corrupt data: \(what)")
    }

    init(call: String, code: Int32, detail: String) {
        self.call = call
        self.code = code
        self.message = detail
    }
}
