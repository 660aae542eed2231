import Synchronization
import Testing

@testable import SpoolClient

@Suite struct ReadTests {
    /// Entries at fixed ids: 1000-0 … 1000-4, 2000-0 … 2000-4, … 5000-4.
    private func fill(_ client: SpoolClient, _ stream: String) async throws -> [EntryID] {
        var ids: [EntryID] = []
        for ms in stride(from: 1000, through: 5000, by: 1000) {
            for seq in 0..<5 {
                let id = try await client.publish(
                    to: stream, ["n": "\(ms)-\(seq)"], options: PublishOptions(id: "\(ms)-\(seq)"))
                ids.append(try #require(id))
            }
        }
        return ids
    }

    @Test(arguments: RESPVersionChoice.allCases)
    func replayFromAnIDReturnsTheRestInOrderAcrossBatches(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        let stream = uniqueName()
        let ids = try await fill(client, stream)
        var seen: [EntryID] = []
        for try await entry in client.replay(stream, from: .id(ids[7]), batchSize: 3) {
            seen.append(entry.id)
            #expect(entry[field: "n"] == entry.id.description)
        }
        #expect(seen == Array(ids[7...]))

        seen = []
        for try await entry in client.replay(stream, from: .after(ids[7]), until: .id(ids[12]), batchSize: 2) {
            seen.append(entry.id)
        }
        #expect(seen == Array(ids[8...12]))

        // Exactly one batch's worth, then the end.
        var batches: [[EntryID]] = []
        for try await batch in client.replay(stream, batchSize: 25).batches { batches.append(batch.map(\.id)) }
        #expect(batches == [ids])
    }

    @Test func replayFromATimeStartsAtThatMillisecondAndUntilATimeIncludesIt() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let ids = try await fill(client, stream)
        var seen: [EntryID] = []
        for try await entry in client.replay(stream, from: .time(milliseconds: 2000), until: .time(milliseconds: 3000)) {
            seen.append(entry.id)
        }
        #expect(seen == Array(ids[5..<15]))
        seen = []
        for try await entry in client.replay(stream, from: .time(milliseconds: 2500)) { seen.append(entry.id) }
        #expect(seen == Array(ids[10...]))
    }

    @Test func replayOfAMissingStreamIsEmpty() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        var count = 0
        for try await _ in client.replay(uniqueName("missing")) { count += 1 }
        #expect(count == 0)
    }

    @Test(arguments: RESPVersionChoice.allCases)
    func tailDeliversEntriesAddedAfterItsStart(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        let stream = uniqueName()
        let before = try #require(try await client.publish(to: stream, ["n": "before"]))
        let tail = Task {
            var values: [String] = []
            for try await entry in client.tail(stream, from: .after(before)) {
                values.append(entry[field: "n"] ?? "")
                if values.count == 50 { break }
            }
            return values
        }
        for n in 0..<50 { try await client.publish(to: stream, ["n": String(n)]) }
        #expect(try await tail.value == (0..<50).map { String($0) })
    }

    @Test func tailFromTheEndSkipsWhatIsAlreadyThere() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.publish(to: stream, ["n": "old"])
        let done = Mutex(false)
        let tail = Task {
            defer { done.withLock { $0 = true } }
            for try await entry in client.tail(stream) { return entry[field: "n"] }
            return nil
        }
        // The tail starts reading at some point: publish until it has seen a new entry.
        while !done.withLock({ $0 }) {
            try await client.publish(to: stream, ["n": "new"])
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await tail.value == "new")
    }

    @Test func cancellingATailEndsItsSequence() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let tail = Task {
            var count = 0
            for try await _ in client.tail(stream) { count += 1 }
            return count
        }
        tail.cancel()
        #expect(try await tail.value == 0)
    }

    @Test func aTailCarriesOnAfterTheServerRestarts() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let first = try #require(try await client.publish(to: stream, ["n": "0"]))
        let tail = Task {
            var values: [String] = []
            for try await entry in client.tail(stream, from: .id(first)) {
                values.append(entry[field: "n"] ?? "")
                if values.count == 3 { break }
            }
            return values
        }
        try await client.publish(to: stream, ["n": "1"])
        try await server.restart()
        try await client.publish(to: stream, ["n": "2"])
        #expect(try await tail.value == ["0", "1", "2"])
    }
}
