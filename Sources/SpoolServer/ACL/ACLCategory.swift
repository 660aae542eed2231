/// Redis's ACL command categories, in the order ACL CAT lists them.
enum ACLCategory: Int, CaseIterable, Sendable {
    case keyspace, read, write, set, sortedset, list, hash, string, bitmap, hyperloglog, geo, stream, pubsub
    case admin, fast, slow, blocking, dangerous, connection, transaction, scripting

    var name: String { Self.names[rawValue] }

    private static let names = [
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
        "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
    ]

    /// The category a name (any case, without `@`) denotes.
    static func named(_ name: some Collection<UInt8>) -> ACLCategory? {
        allCases.first { CommandTable.equalsIgnoringCase(name, lowercase: $0.name.utf8) }
    }
}

/// A set of categories, one bit each.
struct ACLCategories: OptionSet, Sendable, Hashable {
    let rawValue: UInt32
    init(rawValue: UInt32) { self.rawValue = rawValue }
    init(_ categories: [ACLCategory]) {
        rawValue = categories.reduce(0) { $0 | (1 << UInt32($1.rawValue)) }
    }

    func contains(_ category: ACLCategory) -> Bool { rawValue & (1 << UInt32(category.rawValue)) != 0 }
}
