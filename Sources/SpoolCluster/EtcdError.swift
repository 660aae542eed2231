/// Why an etcd call failed. Every error names the gateway call (`/v3/kv/txn`, …) so a log line
/// says which request it was without a stack trace.
///
/// The split matters to callers: `unreachable` and `timedOut` mean "etcd may be down" (the
/// coordinator reports `etcdReachable = false` and keeps its view), `server` means etcd answered
/// and refused, `malformedResponse` means we and the gateway disagree on the JSON mapping (a bug
/// or an unexpected etcd version), and `compacted` tells a watcher to re-range.
public enum EtcdError: Error, CustomStringConvertible, Sendable, Equatable {
    /// No endpoint accepted a connection; `detail` is the last endpoint's connect error.
    case unreachable(call: String, endpoints: [String], detail: String)
    /// The request was sent (or a connection was open) but no complete answer came within the
    /// timeout. The request may or may not have been applied.
    case timedOut(call: String, endpoint: String, after: Duration)
    /// The connection broke or the HTTP exchange failed after the request may have been sent.
    case transport(call: String, endpoint: String, detail: String)
    /// etcd answered with an error: the HTTP status, the gRPC status code (5 = NOT_FOUND,
    /// 9 = FAILED_PRECONDITION, …) when the gateway gave one, and etcd's message.
    case server(call: String, httpStatus: Int, grpcCode: Int?, message: String)
    /// The answer did not have the shape of section 6 of REPLICATION.md.
    case malformedResponse(call: String, detail: String)
    /// The watch's start revision was compacted away; re-range and watch from the new revision.
    case compacted(compactRevision: Int64)
    /// etcd cancelled the watch for another reason (its `cancel_reason`).
    case watchCanceled(reason: String)
    /// The watch's response body ended; etcd closed it (restart, leader change) or the
    /// connection dropped.
    case watchClosed
    /// The caller's task was cancelled while the call was in flight.
    case cancelled(call: String)
    /// The client was shut down before or during the call.
    case shutDown(call: String)

    public var description: String {
        switch self {
        case .unreachable(let call, let endpoints, let detail):
            "etcd \(call): no endpoint reachable (\(endpoints.joined(separator: ", "))): \(detail)"
        case .timedOut(let call, let endpoint, let after):
            "etcd \(call) at \(endpoint): no answer within \(after)"
        case .transport(let call, let endpoint, let detail):
            "etcd \(call) at \(endpoint): \(detail)"
        case .server(let call, let httpStatus, let grpcCode, let message):
            "etcd \(call): HTTP \(httpStatus)\(grpcCode.map { ", gRPC code \($0)" } ?? ""): \(message)"
        case .malformedResponse(let call, let detail):
            "etcd \(call): malformed response: \(detail)"
        case .compacted(let compactRevision):
            "etcd watch: start revision compacted (compact revision \(compactRevision)); re-range"
        case .watchCanceled(let reason):
            "etcd watch cancelled: \(reason)"
        case .watchClosed:
            "etcd watch: response stream ended"
        case .cancelled(let call):
            "etcd \(call): cancelled"
        case .shutDown(let call):
            "etcd \(call): client is shut down"
        }
    }

    /// True when the failure says nothing about etcd's health (the caller stopped waiting), so
    /// a coordinator must not mark etcd unreachable because of it.
    public var isCancellation: Bool {
        if case .cancelled = self { return true }
        return false
    }

    /// True when etcd could not be reached or did not answer: the coordinator's "etcd is down".
    /// gRPC's DEADLINE_EXCEEDED (4) and UNAVAILABLE (14) count too: etcd answers with them while
    /// it has no raft leader ("etcdserver: request timed out", "no leader").
    public var isUnavailability: Bool {
        switch self {
        case .unreachable, .timedOut, .transport, .watchClosed: true
        case .server(_, _, let grpcCode, _): grpcCode == 4 || grpcCode == 14
        default: false
        }
    }
}
