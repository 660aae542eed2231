import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A client of etcd 3.4's v3 JSON gateway (REPLICATION.md section 6): leases, key-values,
/// transactions and watches over plain HTTP/1.1 POSTs, which is all the coordinator needs and
/// needs no gRPC or protobuf stack.
///
/// One `HTTPClient` (connection pool) serves every call. Calls go to the endpoint that answered
/// last; when an endpoint refuses the connection the call moves on to the next one (nothing was
/// sent, so this is safe for any request). A call that was sent and then timed out is not
/// retried elsewhere: it may have been applied, and only the caller knows whether repeating it
/// is safe.
///
/// Every call has a deadline (`Configuration.requestTimeout`, 1 s by default) covering connect,
/// request and the whole answer; a watch's deadline covers only its response head. Call
/// `shutdown()` before dropping the last reference: AsyncHTTPClient traps on a client that is
/// deinitialised without it.
public final class EtcdClient: Sendable {
    public struct Configuration: Sendable {
        /// Base URLs of the etcd members' client ports, e.g. `http://127.0.0.1:2379`.
        public var endpoints: [String]
        /// Deadline of each call (and of a watch's response head).
        public var requestTimeout: Duration
        /// Limit on one answer (a range of the cluster prefix is a few KiB; etcd's own request
        /// limit is 1.5 MiB).
        public var responseBytesMax: Int
        /// Watch batches buffered for a slow consumer; past it the watch ends with an error and
        /// the consumer re-ranges instead of missing events.
        public var watchBatchesBufferedMax: Int

        public init(
            endpoints: [String], requestTimeout: Duration = .seconds(1), responseBytesMax: Int = 8 << 20,
            watchBatchesBufferedMax: Int = 4_096
        ) {
            self.endpoints = endpoints
            self.requestTimeout = requestTimeout
            self.responseBytesMax = responseBytesMax
            self.watchBatchesBufferedMax = watchBatchesBufferedMax
        }
    }

    public let configuration: Configuration
    let http: HTTPClient
    /// Index into `configuration.endpoints` of the endpoint that last accepted a connection; calls
    /// start there. Any thread.
    private let preferredEndpoint = Atomic<Int>(0)

    public init(configuration: Configuration) {
        precondition(!configuration.endpoints.isEmpty, "EtcdClient needs at least one endpoint")
        precondition(configuration.requestTimeout > .zero)
        precondition(configuration.responseBytesMax > 0 && configuration.watchBatchesBufferedMax > 0)
        self.configuration = configuration
        var httpConfiguration = HTTPClient.Configuration()
        // No read timeout: a watch is legitimately idle for as long as nothing changes. Unary
        // calls are bounded by their own deadline instead.
        httpConfiguration.timeout = .init(connect: Self.timeAmount(configuration.requestTimeout), read: nil)
        // Fail a refused connection at once instead of retrying it until the connect timeout,
        // so the call can move on to the next endpoint.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        httpConfiguration.httpVersion = .http1Only
        httpConfiguration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: httpConfiguration)
    }

    /// Closes the connection pool. In-flight calls fail with `EtcdError.shutDown`.
    public func shutdown() async throws {
        try await http.shutdown()
    }

    // MARK: Leases

    /// Grants a lease of `ttlSeconds`; etcd may raise the TTL to its minimum.
    public func grantLease(ttlSeconds: Int64) async throws(EtcdError) -> (id: Int64, ttl: Int64) {
        let call = "/v3/lease/grant"
        let answer = try await unary(call, WireLeaseGrantRequest(TTL: WireInt64(ttlSeconds)), as: WireLeaseGrantResponse.self)
        if let error = answer.error, !error.isEmpty {
            throw .server(call: call, httpStatus: 200, grpcCode: nil, message: error)
        }
        guard let id = answer.ID?.value, id != 0, let ttl = answer.TTL?.value else {
            throw .malformedResponse(call: call, detail: "no ID or TTL in the grant")
        }
        return (id, ttl)
    }

    /// Renews `leaseID` once and returns its new TTL in seconds, or nil when the lease has
    /// expired or was revoked: the gateway then answers without `TTL` (zero is omitted) rather
    /// than with an error.
    public func keepAliveOnce(leaseID: Int64) async throws(EtcdError) -> Int64? {
        let call = "/v3/lease/keepalive"
        // A streaming call: a plain POST gets the first `{"result":…}` and then the end of the
        // body, because the request body (the client's stream) has ended.
        let bytes = try await exchange(call, body: encode(WireLeaseIDRequest(ID: WireInt64(leaseID))))
        var framer = JSONObjectFramer(objectBytesMax: configuration.responseBytesMax)
        let objects: [[UInt8]]
        do { objects = try framer.append(bytes) } catch { throw .malformedResponse(call: call, detail: error.description) }
        guard let first = objects.first else { throw .malformedResponse(call: call, detail: "empty body") }
        let envelope = try decode(WireStreamEnvelope<WireLeaseKeepAliveResponse>.self, from: first, call: call)
        if let error = envelope.error { throw Self.streamError(error, call: call) }
        guard let result = envelope.result else { throw .malformedResponse(call: call, detail: "neither result nor error") }
        guard let ttl = result.TTL?.value, ttl > 0 else { return nil }
        return ttl
    }

    /// Revokes `leaseID`, deleting every key attached to it. Returns false when etcd did not know
    /// the lease (it had expired or was revoked already), which leaves the same outcome.
    @discardableResult
    public func revoke(leaseID: Int64) async throws(EtcdError) -> Bool {
        do {
            _ = try await unary("/v3/lease/revoke", WireLeaseIDRequest(ID: WireInt64(leaseID)), as: WirePutResponse.self)
            return true
        } catch {
            // gRPC NOT_FOUND: "etcdserver: requested lease not found".
            if case .server(_, _, 5, _) = error { return false }
            throw error
        }
    }

    // MARK: Key-values

    /// Writes `value` at `key`, attached to `lease` (0 for none). Returns the revision of the write.
    @discardableResult
    public func put(key: String, value: [UInt8], lease: Int64 = 0) async throws(EtcdError) -> Int64 {
        let call = "/v3/kv/put"
        let request = WirePutRequest(
            key: WireBase64.encode(key), value: WireBase64.encode(value), lease: lease == 0 ? nil : WireInt64(lease))
        return try requireRevision(try await unary(call, request, as: WirePutResponse.self).header, call: call)
    }

    /// Reads one key; the result is empty when it does not exist.
    public func range(key: String) async throws(EtcdError) -> EtcdRangeResult {
        let call = "/v3/kv/range"
        return try await unary(call, WireRangeRequest(key: WireBase64.encode(key)), as: WireRangeResponse.self)
            .decoded(call: call)
    }

    /// Reads every key that starts with `prefix`, in key order, at one revision.
    public func range(prefix: String) async throws(EtcdError) -> EtcdRangeResult {
        let call = "/v3/kv/range"
        let request = WireRangeRequest(
            key: WireBase64.encode(prefix), range_end: WireBase64.encode(WireBase64.rangeEnd(forPrefix: Array(prefix.utf8))))
        return try await unary(call, request, as: WireRangeResponse.self).decoded(call: call)
    }

    /// Deletes one key.
    @discardableResult
    public func deleteKey(_ key: String) async throws(EtcdError) -> EtcdDeleteResult {
        let call = "/v3/kv/deleterange"
        let answer = try await unary(call, WireDeleteRangeRequest(key: WireBase64.encode(key)), as: WireDeleteRangeResponse.self)
        return EtcdDeleteResult(revision: try requireRevision(answer.header, call: call), deleted: answer.deleted?.value ?? 0)
    }

    /// Runs `success` if every comparison holds and `failure` otherwise, atomically at one
    /// revision.
    public func txn(
        compare: [EtcdCompare], success: [EtcdRequest], failure: [EtcdRequest] = []
    ) async throws(EtcdError) -> EtcdTxnResult {
        let call = "/v3/kv/txn"
        let request = WireTxnRequest(
            compare: compare.map(WireCompare.init), success: success.map(WireRequestOp.init),
            failure: failure.map(WireRequestOp.init))
        let answer = try await unary(call, request, as: WireTxnResponse.self)
        var responses: [EtcdResponse] = []
        for response in answer.responses ?? [] {
            if let range = response.response_range {
                responses.append(.range(try range.decoded(call: call)))
            } else if response.response_put != nil {
                responses.append(.put)
            } else if let delete = response.response_delete_range {
                responses.append(.deleteRange(deleted: delete.deleted?.value ?? 0))
            } else {
                throw .malformedResponse(call: call, detail: "a txn response of no known kind")
            }
        }
        // "succeeded" is omitted when false (proto3 zero value).
        return EtcdTxnResult(
            succeeded: answer.succeeded ?? false, revision: try requireRevision(answer.header, call: call),
            responses: responses)
    }

    /// Discards the history before `revision`. Watches that start below it then fail with
    /// `EtcdError.compacted` (an operator's call; the coordinator never compacts).
    public func compact(revision: Int64) async throws(EtcdError) {
        _ = try await unary("/v3/kv/compaction", WireCompactionRequest(revision: WireInt64(revision)), as: WirePutResponse.self)
    }

    // MARK: Transport

    /// A call that failed before anything was sent, so another endpoint may be tried.
    private struct NotConnected: Error {
        var detail: String
    }

    /// Our own deadline fired.
    private struct DeadlineReached: Error {}

    /// POSTs `body` to `call` and decodes a 200 answer as `Answer`.
    private func unary<Request: Encodable, Answer: Decodable>(
        _ call: String, _ request: Request, as answer: Answer.Type
    ) async throws(EtcdError) -> Answer {
        try decode(Answer.self, from: try await exchange(call, body: encode(request)), call: call)
    }

    /// POSTs `body` to `call` on the preferred endpoint, moving on to the next one while
    /// connections are refused, and returns the whole body of a 200 answer.
    private func exchange(_ call: String, body: [UInt8]) async throws(EtcdError) -> [UInt8] {
        try await withEndpoints(call) { endpoint in
            let (status, bytes) = try await self.attempt(call, endpoint: endpoint) { [http, configuration] in
                let response = try await http.execute(
                    Self.makeRequest(endpoint: endpoint, call: call, body: body),
                    timeout: Self.timeAmount(configuration.requestTimeout))
                let buffer = try await response.body.collect(upTo: configuration.responseBytesMax)
                return (Int(response.status.code), Array(buffer.readableBytesView))
            }
            guard status == 200 else { throw Self.unaryError(status: status, body: bytes, call: call) }
            return bytes
        }
    }

    /// Runs `body` against each endpoint in turn, starting with the preferred one, until one
    /// does not fail with `NotConnected`; remembers that endpoint.
    func withEndpoints<Result: Sendable>(
        _ call: String, _ body: (String) async throws -> Result
    ) async throws(EtcdError) -> Result {
        let endpoints = configuration.endpoints
        let first = preferredEndpoint.load(ordering: .relaxed)
        var lastDetail = ""
        for offset in 0..<endpoints.count {
            let index = (first + offset) % endpoints.count
            do {
                let result = try await body(endpoints[index])
                preferredEndpoint.store(index, ordering: .relaxed)
                return result
            } catch let failure as NotConnected {
                lastDetail = failure.detail
            } catch let error as EtcdError {
                // The call may have been applied, so it is not repeated elsewhere. If etcd
                // answered, stay with this endpoint; if it did not (a stopped or partitioned
                // member accepts connections but answers nothing), the next call starts at the
                // next endpoint.
                let next = error.isUnavailability ? (index + 1) % endpoints.count : index
                preferredEndpoint.store(next, ordering: .relaxed)
                throw error
            } catch {
                preconditionFailure("an endpoint attempt threw \(error), which attempt() maps")
            }
        }
        throw .unreachable(call: call, endpoints: endpoints, detail: lastDetail)
    }

    /// Runs `operation` (one HTTP exchange with `endpoint`) under the request deadline and maps
    /// what it throws: `NotConnected` when nothing was sent, `EtcdError` otherwise.
    func attempt<Result: Sendable>(
        _ call: String, endpoint: String, _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let timeout = configuration.requestTimeout
        do {
            // Whichever ends first wins; leaving the group cancels the other (AsyncHTTPClient
            // then cancels the request and closes its connection).
            return try await withThrowingTaskGroup(of: Result.self) { group in
                group.addTask { try await operation() }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw DeadlineReached()
                }
                defer { group.cancelAll() }
                guard let result = try await group.next() else {
                    preconditionFailure("a task group with two tasks ended empty")
                }
                return result
            }
        } catch {
            throw Self.classify(error, call: call, endpoint: endpoint, timeout: timeout)
        }
    }

    private static func classify(_ error: any Error, call: String, endpoint: String, timeout: Duration) -> any Error {
        if let error = error as? EtcdError { return error }
        if error is DeadlineReached { return EtcdError.timedOut(call: call, endpoint: endpoint, after: timeout) }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return NotConnected(detail: "\(endpoint): connect timeout")
            case .deadlineExceeded: return EtcdError.timedOut(call: call, endpoint: endpoint, after: timeout)
            case .alreadyShutdown: return EtcdError.shutDown(call: call)
            case .cancelled where Task.isCancelled: return EtcdError.cancelled(call: call)
            default: return EtcdError.transport(call: call, endpoint: endpoint, detail: String(describing: error))
            }
        }
        if error is CancellationError { return EtcdError.cancelled(call: call) }
        // Connection establishment failed: the request never left.
        if let error = error as? NIOConnectionError { return NotConnected(detail: "\(endpoint): \(error)") }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return NotConnected(detail: "\(endpoint): connect timeout")
        }
        if let error = error as? IOError, [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL].contains(error.errnoCode) {
            return NotConnected(detail: "\(endpoint): \(error)")
        }
        return EtcdError.transport(call: call, endpoint: endpoint, detail: String(describing: error))
    }

    static func makeRequest(endpoint: String, call: String, body: [UInt8]) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: endpoint + call)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        return request
    }

    static func unaryError(status: Int, body: [UInt8], call: String) -> EtcdError {
        if let answer = try? JSONDecoder().decode(WireUnaryError.self, from: Data(body)) {
            return .server(
                call: call, httpStatus: status, grpcCode: answer.code,
                message: answer.message ?? answer.error ?? "no message")
        }
        return .server(call: call, httpStatus: status, grpcCode: nil, message: String(decoding: body.prefix(256), as: UTF8.self))
    }

    static func streamError(_ error: WireStreamError, call: String) -> EtcdError {
        .server(call: call, httpStatus: error.http_code ?? 0, grpcCode: error.grpc_code, message: error.message ?? "no message")
    }

    func encode(_ request: some Encodable) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(request))
        } catch {
            preconditionFailure("encoding a gateway request failed: \(error)")
        }
    }

    func decode<Answer: Decodable>(_ type: Answer.Type, from bytes: [UInt8], call: String) throws(EtcdError) -> Answer {
        do {
            return try JSONDecoder().decode(Answer.self, from: Data(bytes))
        } catch {
            throw .malformedResponse(call: call, detail: "\(error); body: \(String(decoding: bytes.prefix(256), as: UTF8.self))")
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
