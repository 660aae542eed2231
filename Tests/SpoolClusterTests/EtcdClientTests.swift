import SpoolCluster
import Testing

extension EtcdBacked {
    /// EtcdClient against a real etcd 3.4 gateway: the JSON mapping of REPLICATION.md section 6,
    /// its gotchas (omitted zero values), deadlines and endpoint failover.
    @Suite struct EtcdClientTests {
        @Test func leaseKeepAliveReportsExpiryAfterRevoke() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let lease = try await client.grantLease(ttlSeconds: 1)
                #expect(lease.id != 0)
                #expect(lease.ttl >= 1)
                let renewed = try await client.keepAliveOnce(leaseID: lease.id)
                #expect(renewed == lease.ttl)
                #expect(try await client.revoke(leaseID: lease.id))
                // No TTL in the answer: the lease is gone (not an error).
                #expect(try await client.keepAliveOnce(leaseID: lease.id) == nil)
                #expect(try await client.revoke(leaseID: lease.id) == false)
            }
        }

        @Test func leaseExpiresWithoutKeepAliveAndTakesItsKeys() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let lease = try await client.grantLease(ttlSeconds: 1)
                try await client.put(key: "/leased", value: Array("v".utf8), lease: lease.id)
                let stored = try await client.range(key: "/leased")
                #expect(stored.keyValues.first?.lease == lease.id)
                try await eventually("the leased key is deleted by expiry", timeout: .seconds(5)) {
                    try await client.range(key: "/leased").keyValues.isEmpty
                }
                #expect(try await client.keepAliveOnce(leaseID: lease.id) == nil)
            }
        }

        @Test func putRangeAndDeleteRoundTripKeysValuesAndRevisions() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let binary: [UInt8] = [0, 0xff, 0x7b, 0x22]  // not UTF-8, and JSON-looking bytes
                let first = try await client.put(key: "/p/a", value: binary)
                let second = try await client.put(key: "/p/b", value: [])
                try await client.put(key: "/q", value: Array("outside".utf8))
                let updated = try await client.put(key: "/p/a", value: Array("v2".utf8))
                #expect(first < second && second < updated)

                let one = try await client.range(key: "/p/a")
                #expect(one.keyValues.count == 1)
                let a = try #require(one.keyValues.first)
                #expect(a.key == "/p/a")
                #expect(a.value == Array("v2".utf8))
                #expect(a.createRevision == first)
                #expect(a.modRevision == updated)
                #expect(a.version == 2)
                #expect(a.lease == 0)
                #expect(one.revision >= updated)

                let prefix = try await client.range(prefix: "/p/")
                #expect(prefix.keyValues.map(\.key) == ["/p/a", "/p/b"])
                // An empty value is omitted by the gateway; it reads back as empty.
                #expect(prefix.keyValues.last?.value == [])

                let deleted = try await client.deleteKey("/p/a")
                #expect(deleted.deleted == 1)
                #expect(deleted.revision == updated + 1)
                #expect(try await client.range(key: "/p/a").keyValues.isEmpty)
                #expect(try await client.deleteKey("/p/a").deleted == 0)

                try await client.put(key: "/bin", value: binary)
                #expect(try await client.range(key: "/bin").keyValues.first?.value == binary)
            }
        }

        @Test func campaignTxnWinsOnceAndTheLoserReadsTheHolder() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let lease = try await client.grantLease(ttlSeconds: 5)
                let key = "/spool/v1/c1/shards/3/leader"
                func campaign(_ node: String) async throws -> EtcdTxnResult {
                    try await client.txn(
                        compare: [.isAbsent(key)],
                        success: [.put(key: key, value: Array("{\"node\":\"\(node)\"}".utf8), lease: lease.id)],
                        failure: [.range(key: key)])
                }
                let won = try await campaign("a")
                #expect(won.succeeded)
                #expect(won.responses == [.put])
                let epoch = won.revision
                #expect(try await client.range(key: key).keyValues.first?.createRevision == epoch)

                let lost = try await campaign("b")
                #expect(!lost.succeeded)  // "succeeded" is absent from the JSON
                guard case .range(let holder)? = lost.responses.first else {
                    Issue.record("the failure branch's range is missing: \(lost.responses)")
                    return
                }
                #expect(holder.keyValues.first?.createRevision == epoch)
                #expect(holder.keyValues.first?.value == Array("{\"node\":\"a\"}".utf8))
                #expect(holder.keyValues.first?.lease == lease.id)
            }
        }

        @Test func txnComparesModValueAndLease() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let lease = try await client.grantLease(ttlSeconds: 5)
                let revision = try await client.put(key: "/cfg", value: Array("v1".utf8), lease: lease.id)
                // MOD: a CAS on mod_revision (the shard config's update rule).
                let stale = try await client.txn(
                    compare: [EtcdCompare(key: "/cfg", .equal, .modRevision(revision - 1))],
                    success: [.put(key: "/cfg", value: Array("bad".utf8), lease: 0)])
                #expect(!stale.succeeded)
                #expect(stale.responses.isEmpty)
                let fresh = try await client.txn(
                    compare: [
                        EtcdCompare(key: "/cfg", .equal, .modRevision(revision)),
                        EtcdCompare(key: "/cfg", .equal, .value(Array("v1".utf8))),
                        EtcdCompare(key: "/cfg", .equal, .lease(lease.id)),
                        EtcdCompare(key: "/cfg", .greater, .version(0)),
                    ],
                    success: [.put(key: "/cfg", value: Array("v2".utf8), lease: 0), .rangePrefix("/cf")])
                #expect(fresh.succeeded)
                guard fresh.responses.count == 2, case .range(let read) = fresh.responses[1] else {
                    Issue.record("unexpected responses \(fresh.responses)")
                    return
                }
                #expect(read.keyValues.first?.value == Array("v2".utf8))
                #expect(read.keyValues.first?.lease == 0)
                let delete = try await client.txn(
                    compare: [EtcdCompare(key: "/cfg", .notEqual, .value(Array("v1".utf8)))],
                    success: [.deleteRange(key: "/cfg")])
                #expect(delete.succeeded)
                #expect(delete.responses == [.deleteRange(deleted: 1)])
            }
        }

        @Test func watchDeliversPutsWithoutATypeAndDeletes() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let start = try await client.range(prefix: "/w/").revision
                var iterator = client.watch(prefix: "/w/", fromRevision: start + 1).makeAsyncIterator()
                let created = try await client.put(key: "/w/a", value: Array("1".utf8))
                try await client.put(key: "/outside", value: [])
                let updated = try await client.put(key: "/w/a", value: Array("2".utf8))
                let deleted = try await client.deleteKey("/w/a").revision

                var events: [WatchEvent] = []
                while events.count < 3, let batch = try await iterator.next() { events += batch }
                #expect(events.map(\.kind) == [.put, .put, .delete])
                #expect(events.map(\.keyValue.key) == ["/w/a", "/w/a", "/w/a"])
                #expect(events.map(\.keyValue.modRevision) == [created, updated, deleted])
                #expect(events[0].keyValue.createRevision == created)
                #expect(events[1].keyValue.value == Array("2".utf8))
                #expect(events[1].keyValue.version == 2)
            }
        }

        @Test func watchFromACompactedRevisionEndsWithCompacted() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server) { client in
                let first = try await client.put(key: "/c/a", value: [])
                let last = try await client.put(key: "/c/a", value: Array("x".utf8))
                try await client.compact(revision: last)
                do {
                    for try await batch in client.watch(prefix: "/c/", fromRevision: first) {
                        Issue.record("a compacted watch delivered \(batch)")
                    }
                    Issue.record("a compacted watch ended without an error")
                } catch let error as EtcdError {
                    #expect(error == .compacted(compactRevision: last))
                }
            }
        }

        @Test func refusedEndpointFailsOverAndAllRefusedIsUnreachable() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            // Nobody listens on port 1: the connection is refused at once, nothing is sent.
            let dead = "http://127.0.0.1:1"
            let client = EtcdClient(configuration: .init(endpoints: [dead, server.endpoint]))
            do {
                try await client.put(key: "/f", value: [])
                #expect(try await client.range(key: "/f").keyValues.count == 1)
            } catch {
                Issue.record("failover failed: \(error)")
            }
            try await client.shutdown()

            let unreachable = EtcdClient(configuration: .init(endpoints: [dead]))
            do throws(EtcdError) {
                _ = try await unreachable.range(key: "/f")
                Issue.record("a refused endpoint answered")
            } catch {
                guard case .unreachable(let call, let endpoints, let detail) = error else {
                    Issue.record("expected unreachable, got \(error)")
                    try await unreachable.shutdown()
                    return
                }
                #expect(call == "/v3/kv/range")
                #expect(endpoints == [dead])
                #expect(detail.contains("127.0.0.1:1"), "the connect error names the endpoint: \(detail)")
                #expect(error.isUnavailability)
            }
            try await unreachable.shutdown()
        }

        @Test func requestToAStoppedEtcdTimesOut() async throws {
            let server = try await EtcdServer.start()
            defer { server.remove() }
            try await withClient(server, requestTimeout: .milliseconds(300)) { client in
                try await client.put(key: "/s", value: [])
                server.pause()
                let started = ContinuousClock.now
                do throws(EtcdError) {
                    _ = try await client.range(key: "/s")
                    Issue.record("a stopped etcd answered")
                } catch {
                    guard case .timedOut(let call, _, let after) = error else {
                        Issue.record("expected a timeout, got \(error)")
                        server.resume()
                        return
                    }
                    #expect(call == "/v3/kv/range")
                    #expect(after == .milliseconds(300))
                }
                let elapsed = started.duration(to: .now)
                #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2))
                server.resume()
                #expect(try await client.range(key: "/s").keyValues.count == 1)
            }
        }

        @Test func afterATimeoutTheNextCallStartsAtTheNextEndpoint() async throws {
            let stopped = try await EtcdServer.start()
            defer { stopped.remove() }
            let live = try await EtcdServer.start()
            defer { live.remove() }
            let client = EtcdClient(
                configuration: .init(endpoints: [stopped.endpoint, live.endpoint], requestTimeout: .milliseconds(300)))
            stopped.pause()
            do throws(EtcdError) {
                _ = try await client.range(key: "/x")
                Issue.record("a stopped etcd answered")
            } catch {
                // Sent to the stopped member: not repeated elsewhere, it may have been applied.
                if case .timedOut = error {} else { Issue.record("expected a timeout, got \(error)") }
            }
            do {
                try await client.put(key: "/x", value: [])
                #expect(try await client.range(key: "/x").keyValues.count == 1)
            } catch {
                Issue.record("the next call did not move on to the live endpoint: \(error)")
            }
            try await client.shutdown()
            stopped.resume()
        }
    }
}
