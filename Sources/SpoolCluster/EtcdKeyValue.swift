/// One key as etcd stores it (`mvccpb.KeyValue`), decoded from the gateway's base64 and int64
/// strings. Fields the gateway omitted (zero values) are zero here, as in the proto.
public struct EtcdKeyValue: Sendable, Equatable {
    /// Keys are bytes to etcd; Spool's keys are UTF-8 paths, so they are decoded as text.
    public var key: String
    public var value: [UInt8]
    /// The revision that created the key (0 for a deleted key in a watch event). A shard
    /// leader's epoch.
    public var createRevision: Int64
    /// The revision of the last change to the key.
    public var modRevision: Int64
    /// How many times the key was written since it was created (0 when deleted).
    public var version: Int64
    /// The lease the key is attached to, 0 for none.
    public var lease: Int64

    public init(
        key: String, value: [UInt8], createRevision: Int64, modRevision: Int64, version: Int64, lease: Int64
    ) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// The answer to a range: the keys found and the store's revision when they were read (a watch
/// that starts at `revision + 1` misses nothing and repeats nothing).
public struct EtcdRangeResult: Sendable, Equatable {
    public var revision: Int64
    public var keyValues: [EtcdKeyValue]

    public init(revision: Int64, keyValues: [EtcdKeyValue]) {
        self.revision = revision
        self.keyValues = keyValues
    }
}

/// The answer to a delete: the store's revision after it and how many keys it removed.
public struct EtcdDeleteResult: Sendable, Equatable {
    public var revision: Int64
    public var deleted: Int64

    public init(revision: Int64, deleted: Int64) {
        self.revision = revision
        self.deleted = deleted
    }
}
