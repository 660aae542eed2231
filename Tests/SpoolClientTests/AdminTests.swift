import Testing

@testable import SpoolClient

@Suite struct AdminTests {
    @Test func streamsAreListedWithTheirInfo() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let prefix = uniqueName("admin")
        for name in ["a", "b", "c"] {
            for n in 0..<(name == "b" ? 3 : 1) { try await client.publish(to: "\(prefix):\(name)", ["n": String(n)]) }
        }
        #expect(try await client.streams(matching: "\(prefix):*") == ["a", "b", "c"].map { "\(prefix):\($0)" })
        let info = try await client.streamInfo("\(prefix):b")
        #expect(info.length == 3)
        #expect(info.groups == 0)
        #expect(info.firstEntry?[field: "n"] == "0")
        #expect(info.lastEntry?[field: "n"] == "2")
        #expect(info.lastEntry?.id == info.lastGeneratedID)
        #expect(try await client.length("\(prefix):b") == 3)
        #expect(try await client.groups(on: "\(prefix):b") == [])
    }

    @Test func trimmingAndDeletingChangeWhatIsStored() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        var ids: [EntryID] = []
        for n in 0..<10 { ids.append(try #require(try await client.publish(to: stream, ["n": String(n)]))) }
        #expect(try await client.trim(stream, .maxLength(6)) == 4)
        #expect(try await client.range(stream).map(\.id) == Array(ids[4...]))
        #expect(try await client.trim(stream, .minimumID(ids[6])) == 2)
        #expect(try await client.deleteEntries(stream, ids: [ids[7], ids[0]]) == 1)
        #expect(try await client.reverseRange(stream, count: 2).map(\.id) == [ids[9], ids[8]])
        #expect(try await client.lastEntryID(stream) == ids[9])
        #expect(try await client.delete(streams: [stream, uniqueName("missing")]) == 1)
        #expect(try await client.lastEntryID(stream) == nil)
    }

    @Test func serverInfoReadsSectionsAndTheSpoolFields() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        try await client.publish(to: uniqueName(), ["a": "1"])
        let info = try await client.info()
        #expect(info.sections.map(\.name).contains("server"))
        #expect(info.integer("connected_clients") ?? 0 >= 1)
        if server.isSpool {
            #expect(info.isSpool)
            #expect(info.integer("spool_fsyncs") ?? 0 >= 1)
            #expect(info["spool_durable_latency_p99_us"] != nil)
        }
    }

    @Test func commandSupportIsAskedOfTheServer() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        #expect(try await client.supportsCommand("xadd"))
        #expect(try await !client.supportsCommand("nosuchcommand"))
    }

    @Test func serverInfoParsesRedisText() {
        let info = ServerInfo(text: "# Server\r\nredis_version:7.0.15\r\n\r\n# Persistence\r\naof_enabled:1\r\nspool_fsyncs:12\r\n")
        #expect(info.sections.map(\.name) == ["server", "persistence"])
        #expect(info["redis_version"] == "7.0.15")
        #expect(info.integer("spool_fsyncs") == 12)
        #expect(info.isSpool == false)
    }

    @Test func replyShapesDecodeTheSameFromRESP2AndRESP3() throws {
        let entry = RESPValue.array([.bulkString("1-1"), .array([.bulkString("k"), .bulkString("v")])])
        let resp2 = RESPValue.array([.array([.bulkString("s"), .array([entry])])])
        let resp3 = RESPValue.map([RESPValue.Pair(.bulkString("s"), .array([entry]))])
        for reply in [resp2, resp3] {
            let streams = try #require(reply.streamEntries)
            #expect(streams.count == 1)
            #expect(streams[0].stream == "s")
            #expect(streams[0].entries == [Entry(id: EntryID(milliseconds: 1, sequence: 1), fields: [Array("k".utf8), Array("v".utf8)])])
        }
        #expect(RESPValue.null.streamEntries?.isEmpty == true)
        #expect(RESPValue.array([.bulkString("a"), .integer(1)]).fieldMap?["a"] == .integer(1))
        #expect(RESPValue.array([.bulkString("2-0"), .null]).entry?.fields == [])
    }

    @Test func backoffGrowsToItsMaximum() {
        let policy = ReconnectPolicy(initialDelay: .milliseconds(10), maximumDelay: .milliseconds(100), multiplier: 2, jitter: 0)
        #expect(policy.delay(afterFailures: 1) == .milliseconds(10))
        #expect(policy.delay(afterFailures: 2) == .milliseconds(20))
        #expect(policy.delay(afterFailures: 4) == .milliseconds(80))
        #expect(policy.delay(afterFailures: 9) == .milliseconds(100))
    }
}
