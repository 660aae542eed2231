import AsyncHTTPClient
import NIOCore

extension EtcdClient {
    /// Watches every key under `prefix` from `fromRevision` on (use a range's revision + 1 to
    /// miss nothing). Each element is one batch of events of one revision or more, in revision
    /// order.
    ///
    /// The stream ends with an error, never silently: `EtcdError.compacted` when `fromRevision`
    /// was compacted away, `.watchClosed` when the body ended (etcd restarted, the connection
    /// dropped), `.watchCanceled` when etcd cancelled the watch or the consumer fell more than
    /// `watchBatchesBufferedMax` batches behind, or the call's error. In every case the consumer
    /// re-ranges and watches again from the new revision. A watch on a stopped (SIGSTOP) etcd
    /// can stay silent without ending; callers that need to notice use another call (the lease
    /// keepalive) as the liveness signal. Ending the iteration cancels the request.
    public func watch(prefix: String, fromRevision: Int64) -> AsyncThrowingStream<[WatchEvent], Error> {
        let (stream, continuation) = AsyncThrowingStream<[WatchEvent], Error>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.watchBatchesBufferedMax))
        let task = Task {
            do {
                try await self.runWatch(prefix: prefix, fromRevision: fromRevision, into: continuation)
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private func runWatch(
        prefix: String, fromRevision: Int64, into continuation: AsyncThrowingStream<[WatchEvent], Error>.Continuation
    ) async throws {
        let call = "/v3/watch"
        let body = encode(
            WireWatchRequest(
                create_request: .init(
                    key: WireBase64.encode(prefix),
                    range_end: WireBase64.encode(WireBase64.rangeEnd(forPrefix: Array(prefix.utf8))),
                    start_revision: WireInt64(fromRevision))))
        let timeout = Self.timeAmount(configuration.requestTimeout)
        let bytesMax = configuration.responseBytesMax
        let (status, response) = try await withEndpoints(call) { endpoint in
            try await self.attempt(call, endpoint: endpoint) { [http] in
                let response = try await http.execute(
                    Self.makeRequest(endpoint: endpoint, call: call, body: body), timeout: timeout)
                return (Int(response.status.code), response)
            }
        }
        guard status == 200 else {
            let bytes = try await response.body.collect(upTo: bytesMax)
            throw Self.unaryError(status: status, body: Array(bytes.readableBytesView), call: call)
        }

        var framer = JSONObjectFramer(objectBytesMax: bytesMax)
        do {
            for try await buffer in response.body {
                let objects: [[UInt8]]
                do { objects = try framer.append(buffer.readableBytesView) } catch {
                    throw EtcdError.malformedResponse(call: call, detail: String(describing: error))
                }
                for object in objects {
                    guard let batch = try decodeWatchObject(object, call: call) else { continue }
                    switch continuation.yield(batch) {
                    case .enqueued: break
                    case .terminated: return
                    case .dropped:
                        throw EtcdError.watchCanceled(
                            reason: "the consumer fell more than \(configuration.watchBatchesBufferedMax) batches behind")
                    @unknown default: break
                    }
                }
            }
        } catch let error as EtcdError {
            throw error
        } catch {
            if Task.isCancelled { return }
            throw EtcdError.transport(call: call, endpoint: "watch body", detail: String(describing: error))
        }
        if Task.isCancelled { return }
        throw EtcdError.watchClosed
    }

    /// One streamed object: the events it carries, nil for the creation notice and progress
    /// notices, or the watch's end as an error.
    private func decodeWatchObject(_ object: [UInt8], call: String) throws(EtcdError) -> [WatchEvent]? {
        let envelope = try decode(WireStreamEnvelope<WireWatchResponse>.self, from: object, call: call)
        if let error = envelope.error { throw Self.streamError(error, call: call) }
        guard let result = envelope.result else { throw .malformedResponse(call: call, detail: "neither result nor error") }
        if result.canceled == true {
            if let compactRevision = result.compact_revision?.value, compactRevision > 0 {
                throw .compacted(compactRevision: compactRevision)
            }
            throw .watchCanceled(reason: result.cancel_reason ?? "no reason given")
        }
        guard let events = result.events, !events.isEmpty else { return nil }
        var batch: [WatchEvent] = []
        batch.reserveCapacity(events.count)
        for event in events {
            guard let keyValue = event.kv else { throw .malformedResponse(call: call, detail: "an event without kv") }
            let kind: WatchEvent.Kind
            switch event.type {
            case nil, "PUT": kind = .put  // PUT is the enum's zero value, so the gateway omits it.
            case "DELETE": kind = .delete
            case let other?: throw .malformedResponse(call: call, detail: "unknown event type \(other)")
            }
            batch.append(WatchEvent(kind: kind, keyValue: try keyValue.decoded(call: call)))
        }
        return batch
    }
}
