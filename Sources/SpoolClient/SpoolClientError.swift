/// Everything that can go wrong between a call on the client and its reply. Each case says what
/// happened in terms the caller can act on: retry later (`connectFailed`, `connectionLost`), fix
/// the call (`server`, `invalidArgument`), fix the setup (`authenticationFailed`), or stop
/// (`closed`, `cancelled`).
public enum SpoolClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made to `endpoint` (after every attempt the reconnect policy
    /// allows); `reason` is the last system error, e.g. "connect: Connection refused".
    case connectFailed(endpoint: String, reason: String)
    /// The connection broke while this request was in flight. The server may or may not have
    /// run it; only idempotent requests (reads, idempotent-producer appends) are retried for you.
    case connectionLost(reason: String)
    /// The client, producer, consumer or connection was closed by its owner.
    case closed
    /// The server answered with an error reply.
    case server(ServerError)
    /// The server refused the password (`WRONGPASS`) or asked for one (`NOAUTH`).
    case authenticationFailed(String)
    /// The server sent bytes that are not valid RESP; the connection was closed.
    case protocolViolation(String)
    /// The reply does not have the shape the command promises (for example a server that is not
    /// Redis-compatible). `command` names the command, `reply` is a short rendering.
    case unexpectedReply(command: String, reply: String)
    /// An argument the client can reject without asking the server.
    case invalidArgument(String)
    /// The task was cancelled while waiting.
    case cancelled

    public var description: String {
        switch self {
        case .connectFailed(let endpoint, let reason): return "cannot connect to \(endpoint): \(reason)"
        case .connectionLost(let reason): return "connection lost: \(reason)"
        case .closed: return "closed"
        case .server(let error): return error.description
        case .authenticationFailed(let message): return "authentication failed: \(message)"
        case .protocolViolation(let message): return "protocol violation: \(message)"
        case .unexpectedReply(let command, let reply): return "unexpected reply to \(command): \(reply)"
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .cancelled: return "cancelled"
        }
    }

    /// True when retrying the same call later may succeed (the server or the network was down).
    public var isTransient: Bool {
        switch self {
        case .connectFailed, .connectionLost: return true
        default: return false
        }
    }
}

/// An error reply: `code` is its first word (`ERR`, `NOGROUP`, `BUSYGROUP`, `WRONGTYPE`,
/// `NOAUTH` …), the stable part to branch on; `message` is the whole text as the server sent it.
public struct ServerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var code: String
    public var message: String

    public init(message: String) {
        self.message = message
        let first = message.prefix { $0 != " " }
        // Redis codes are upper-case words; anything else is a message without a code.
        code = !first.isEmpty && first.allSatisfy({ $0.isUppercase || $0 == "_" }) ? String(first) : "ERR"
    }

    public var description: String { message }

    /// `ERR no such key` and `NOGROUP …`: the stream or group does not exist.
    public var isNotFound: Bool {
        code == "NOGROUP" || message.hasPrefix("ERR no such key")
            || message.hasPrefix("ERR The XGROUP subcommand requires the key to exist")
    }

    /// The server does not know the command (older server, or a Spool extension on Redis).
    public var isUnknownCommand: Bool { message.hasPrefix("ERR unknown command") }
}
