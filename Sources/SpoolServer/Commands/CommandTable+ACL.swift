/// Each command's ACL categories and the access it needs to its keys, as Redis declares them in
/// its command table (the `acl_categories` and key-spec flags of src/commands/*.json). Spool's own
/// commands are placed as their Redis neighbours are.
extension CommandTable {
    struct ACLMetadata {
        let categories: ACLCategories
        let keyAccess: ACLKeyAccess
    }

    /// The categories and key access of the command named `name`; a command missing here is a
    /// programming error, caught when the table is built.
    static func aclMetadata(name: String, flags: [String]) -> ACLMetadata {
        guard let declared = declaredACL[name] else { preconditionFailure("command \(name) has no ACL categories") }
        // Redis's setImplicitACLCategories.
        var categories = ACLCategories(declared.categories)
        if flags.contains("write") { categories.insert(ACLCategories([.write])) }
        if flags.contains("readonly") && !declared.categories.contains(.scripting) { categories.insert(ACLCategories([.read])) }
        if flags.contains("admin") { categories.insert(ACLCategories([.admin, .dangerous])) }
        if flags.contains("pubsub") { categories.insert(ACLCategories([.pubsub])) }
        if flags.contains("fast") { categories.insert(ACLCategories([.fast])) }
        if flags.contains("blocking") { categories.insert(ACLCategories([.blocking])) }
        if !categories.contains(.fast) { categories.insert(ACLCategories([.slow])) }
        return ACLMetadata(categories: categories, keyAccess: declared.keyAccess)
    }

    private typealias Declared = (categories: [ACLCategory], keyAccess: ACLKeyAccess)

    /// Key access: `.read` for Redis's ACCESS flag, `.write` for INSERT, DELETE or UPDATE, both
    /// for both, none for keys a command only tests (EXISTS, TYPE, XLEN: any pattern that
    /// matches the name will do). XREADGROUP needs only read access, as in Redis (its key spec is
    /// RO ACCESS although it writes the pending list).
    private static let declaredACL: [String: Declared] = [
        "ping": ([.connection], []),
        "echo": ([.connection], []),
        "hello": ([.connection], []),
        "auth": ([.connection], []),
        "client": ([], []),
        "client|getname": ([.connection], []),
        "client|help": ([.connection], []),
        "client|id": ([.connection], []),
        "client|info": ([.connection], []),
        "client|list": ([.connection], []),
        "client|no-evict": ([.connection], []),
        "client|no-touch": ([.connection], []),
        "client|setinfo": ([.connection], []),
        "client|setname": ([.connection], []),
        "client|unblock": ([.connection], []),
        "cluster": ([], []),
        "readonly": ([.connection], []),
        "readwrite": ([.connection], []),
        "asking": ([.connection], []),
        "select": ([.connection], []),
        "quit": ([.connection], []),
        "command": ([.connection], []),
        "command|count": ([.connection], []),
        "command|docs": ([.connection], []),
        "command|getkeys": ([.connection], []),
        "command|help": ([.connection], []),
        "command|info": ([.connection], []),
        "command|list": ([.connection], []),
        "info": ([.dangerous], []),
        "config": ([], []),
        "config|get": ([], []),
        "config|help": ([], []),
        "config|resetstat": ([], []),
        "config|rewrite": ([], []),
        "config|set": ([], []),
        "shutdown": ([], []),
        "multi": ([.transaction], []),
        "exec": ([.transaction], []),
        "discard": ([.transaction], []),
        "watch": ([.transaction], []),
        "unwatch": ([.transaction], []),
        "dbsize": ([.keyspace], []),
        "memory": ([], []),
        "memory|help": ([], []),
        "memory|usage": ([], []),
        "del": ([.keyspace], .write),
        "unlink": ([.keyspace], .write),
        "exists": ([.keyspace], []),
        "type": ([.keyspace], []),
        "keys": ([.keyspace, .dangerous], []),
        "scan": ([.keyspace], []),
        "swapdb": ([.keyspace, .dangerous], []),
        "move": ([.keyspace], .readWrite),
        "flushdb": ([.keyspace, .dangerous], []),
        "flushall": ([.keyspace, .dangerous], []),
        "xadd": ([.stream], .write),
        "xrange": ([.stream], .read),
        "xrevrange": ([.stream], .read),
        "xlen": ([.stream], []),
        "xread": ([.stream], .read),
        "xdel": ([.stream], .write),
        "xdelex": ([.stream], .write),
        "xackdel": ([.stream], .write),
        "xtrim": ([.stream], .write),
        "xcfgset": ([.stream], .write),
        "xproducers": ([.stream], .read),
        "xsetid": ([.stream], .write),
        "xreadgroup": ([.stream], .read),
        "xack": ([.stream], .write),
        "xnack": ([.stream], .write),
        "xpending": ([.stream], .read),
        "xclaim": ([.stream], .write),
        "xautoclaim": ([.stream], .write),
        "xgroup": ([], []),
        "xgroup|create": ([.stream], .write),
        "xgroup|createconsumer": ([.stream], .write),
        "xgroup|delconsumer": ([.stream], .write),
        "xgroup|destroy": ([.stream], .write),
        "xgroup|help": ([.stream], []),
        "xgroup|setid": ([.stream], .write),
        "xgroup|setpolicy": ([.stream], .write),
        "xbackfill": ([], []),
        "xbackfill|add": ([.stream], .write),
        "xbackfill|begin": ([.stream], .write),
        "xbackfill|end": ([.stream], .write),
        "xbackfill|help": ([.stream], []),
        "xbackfill|status": ([.stream], .read),
        "xinfo": ([], []),
        "xinfo|consumers": ([.stream], .read),
        "xinfo|groups": ([.stream], .read),
        "xinfo|help": ([.stream], []),
        "xinfo|stream": ([.stream], .read),
        "acl": ([], []),
        "acl|cat": ([], []),
        "acl|deluser": ([], []),
        "acl|dryrun": ([], []),
        "acl|genpass": ([], []),
        "acl|getuser": ([], []),
        "acl|help": ([], []),
        "acl|list": ([], []),
        "acl|load": ([], []),
        "acl|log": ([], []),
        "acl|save": ([], []),
        "acl|setuser": ([], []),
        "acl|users": ([], []),
        "acl|whoami": ([], []),
        "slowlog": ([], []),
        "slowlog|get": ([], []),
        "slowlog|help": ([], []),
        "slowlog|len": ([], []),
        "slowlog|reset": ([], []),
        "latency": ([], []),
        "latency|doctor": ([], []),
        "latency|graph": ([], []),
        "latency|help": ([], []),
        "latency|histogram": ([], []),
        "latency|history": ([], []),
        "latency|latest": ([], []),
        "latency|reset": ([], []),
    ]
}
