/// Why the store could not open or could not do what it was asked.
public enum StorageError: Error, Sendable, CustomStringConvertible {
    case wiredTiger(WiredTigerError)
    /// The directory holds something that is not a Spool database; nothing was changed.
    case notSpoolData(String)
    case incompatibleSchema(found: UInt32, expected: UInt32)
    /// The directory cannot be used (missing parent, not a directory, no permission).
    case directory(String)
    /// A flush failed earlier; nothing more is accepted because durability can't be promised.
    case flushFailed(WiredTigerError)
    case shuttingDown
    /// The request itself was refused (an id not above the last one, say); nothing changed.
    case rejected(String)

    public var description: String {
        switch self {
        case .wiredTiger(let error): return "storage error: \(error)"
        case .notSpoolData(let why): return "not a Spool data directory: \(why)"
        case .incompatibleSchema(let found, let expected):
            return found > expected
                ? "data directory has schema version \(found), written by a newer spoold; this build reads version \(expected) (and upgrades older ones): run the spoold that wrote it, nothing was changed"
                : "data directory has schema version \(found); this build reads version \(expected)"
        case .directory(let why): return "data directory unusable: \(why)"
        case .flushFailed(let error): return "fsync failed, refusing writes until restart: \(error)"
        case .shuttingDown: return "server is shutting down"
        case .rejected(let why): return why
        }
    }
}
