/// One condition of a transaction (`etcdserverpb.Compare`): the key's `target` field compared
/// with a value. A key that does not exist has create, mod and version revisions 0, so
/// `createRevision == 0` reads "the key is absent" — the campaign's condition.
public struct EtcdCompare: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case version(Int64)
        case createRevision(Int64)
        case modRevision(Int64)
        case value([UInt8])
        case lease(Int64)
    }

    public enum Result: String, Sendable, Equatable {
        case equal = "EQUAL"
        case notEqual = "NOT_EQUAL"
        case greater = "GREATER"
        case less = "LESS"
    }

    public var key: String
    public var result: Result
    public var target: Target

    public init(key: String, _ result: Result, _ target: Target) {
        self.key = key
        self.result = result
        self.target = target
    }

    /// `key` does not exist (its create revision is 0).
    public static func isAbsent(_ key: String) -> EtcdCompare {
        EtcdCompare(key: key, .equal, .createRevision(0))
    }

    /// `key` exists and was created at `revision` (the same incarnation, e.g. the same epoch).
    public static func wasCreated(_ key: String, at revision: Int64) -> EtcdCompare {
        EtcdCompare(key: key, .equal, .createRevision(revision))
    }
}

/// One operation of a transaction branch (`etcdserverpb.RequestOp`).
public enum EtcdRequest: Sendable, Equatable {
    /// Writes `value` at `key`, attached to `lease` (0 for none).
    case put(key: String, value: [UInt8], lease: Int64)
    /// Reads one key.
    case range(key: String)
    /// Reads every key that starts with `prefix`.
    case rangePrefix(String)
    /// Deletes one key.
    case deleteRange(key: String)
}

/// The answer to one `EtcdRequest`, in the same position as the request.
public enum EtcdResponse: Sendable, Equatable {
    case put
    case range(EtcdRangeResult)
    case deleteRange(deleted: Int64)
}

/// The answer to a transaction. `revision` is the store's revision after it: for a transaction
/// that wrote, the revision of its writes (a campaign's epoch).
public struct EtcdTxnResult: Sendable, Equatable {
    /// Whether the comparisons held and the success branch ran. The gateway omits `succeeded`
    /// when it is false (proto3 zero values), so its absence reads as false.
    public var succeeded: Bool
    public var revision: Int64
    public var responses: [EtcdResponse]

    public init(succeeded: Bool, revision: Int64, responses: [EtcdResponse]) {
        self.succeeded = succeeded
        self.revision = revision
        self.responses = responses
    }
}
