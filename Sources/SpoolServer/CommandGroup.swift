import SpoolProtocol
import SpoolStorage

/// Consecutive storage commands from one connection, run as one storage job: their replies are
/// concatenated and delivered together once everything they wrote or read is durable.
struct CommandGroup: Sendable {
    let connection: UInt64
    let slot: UInt64
    let version: RESPVersion
    /// The connection's database (SELECT) when the commands were sent.
    var database = 0
    var commands: [Command]
    /// Each command's request as sent, for SLOWLOG (empty for a cluster's applied records).
    var arguments: [RequestArguments] = []
    /// EXEC: the replies are wrapped in one array (and run in one transaction, as every group is).
    var isTransaction = false

    /// EXEC: each command's database, when a SELECT in the transaction changed it.
    var commandDatabases: [Int]?

    func database(at index: Int) -> Int { commandDatabases?[index] ?? database }

    /// Replies its slot holds: one per command, or EXEC's one array.
    var replyCount: Int { isTransaction ? 1 : commands.count }
}

/// A message from the loop thread to the storage thread that is not a command.
enum StorageControl: Sendable {
    /// The connection closed while blocked: forget its reader without serving it (no entry is
    /// delivered into a pending list for a consumer that is gone).
    case connectionClosed(UInt64)
    /// Answer the connection's blocked reader at the end of this batch: CLIENT UNBLOCK (as if
    /// its timeout ran out, or with `UNBLOCKED`), or an ACL change that took its rights (NOPERM).
    case unblock(connection: UInt64, answer: UnblockAnswer)
    /// CONFIG SET of the settings new and growing streams follow: stream-node-max-entries and
    /// -bytes, stream-idmp-duration and -maxsize; and of stream-cache-max.
    case setStreamSettings(StreamNodeLimits, IdempotencyDefaults, cacheMax: Int)
}

/// How a blocked reader is answered when it is unblocked before its time.
enum UnblockAnswer: Sendable {
    /// As if the timeout ran out: a null reply.
    case timeout
    /// This error reply.
    case error(String)
}

/// What the storage thread hands back to the loop thread.
public struct ServerOutcome: Sendable {
    enum Kind: Sendable {
        /// Replies for one reserved slot of a connection.
        case reply
        /// The group blocked (XREAD BLOCK): nothing to send yet.
        case blocked
        /// A control message was handled: there is nothing to send.
        case nothing
        /// Work for the cluster's side of the server (`action`), not for a connection.
        case cluster
    }
    let kind: Kind
    let connection: UInt64
    let slot: UInt64
    let bytes: [UInt8]
    var action: ClusterAction? = nil

    static let nothing = ServerOutcome(kind: .nothing, connection: 0, slot: 0, bytes: [])

    static func cluster(_ action: ClusterAction) -> ServerOutcome {
        ServerOutcome(kind: .cluster, connection: 0, slot: 0, bytes: [], action: action)
    }
}
