/// One change seen by a watch (`mvccpb.Event`).
public struct WatchEvent: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The gateway omits `"type"` for a put (PUT is the enum's zero value).
        case put
        case delete
    }

    public var kind: Kind
    /// For a put, the key as written. For a delete, the key and the deleting revision in
    /// `modRevision`; the other fields are zero.
    public var keyValue: EtcdKeyValue

    public init(kind: Kind, keyValue: EtcdKeyValue) {
        self.kind = kind
        self.keyValue = keyValue
    }
}
