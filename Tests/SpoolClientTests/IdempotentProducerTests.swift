import Testing

@testable import SpoolClient

// Spool's idempotent producers (XADD PRODUCER/SEQ) against a real spoold; redis-server has no
// such option.
@Suite struct IdempotentProducerTests {
    @Test func aRetriedSequenceReturnsTheOriginalIDAndAppendsNothing() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let tag = ProducerTag(producerID: "p-\(uniqueName())", sequence: 1)
        let first = try await client.publish(to: stream, ["a": "1"], options: PublishOptions(producer: tag))
        let retry = try await client.publish(to: stream, ["a": "1"], options: PublishOptions(producer: tag))
        #expect(first != nil)
        #expect(retry == first)
        #expect(try await client.length(stream) == 1)
    }

    @Test(arguments: RESPVersionChoice.allCases)
    func anIdempotentProducerResendsAfterAForcedDisconnectWithoutDuplicates(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream, options: ProducerOptions(inFlightMax: 10_000, idempotence: .init()))
        defer { producer.close() }
        let count = 3000
        var receipts: [PublishReceipt] = []
        for n in 0..<count {
            receipts.append(try await producer.send(["n": String(n)]))
            if n == count / 2 { producer.breakConnectionForTesting() }
        }
        producer.breakConnectionForTesting()
        var ids: [EntryID] = []
        for receipt in receipts { ids.append(try await receipt.entryID()) }
        #expect(Set(ids).count == count)
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        let stored = try await client.range(stream)
        #expect(stored.count == count)
        #expect(stored.map(\.id) == ids)
        #expect(stored.map { $0[field: "n"] } == (0..<count).map { String($0) })
    }

    @Test func anIdempotentProducerSurvivesAServerKillWithoutDuplicates() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream, options: ProducerOptions(inFlightMax: 10_000, idempotence: .init()))
        defer { producer.close() }
        var receipts: [PublishReceipt] = []
        for n in 0..<2000 { receipts.append(try await producer.send(["n": String(n)])) }
        server.kill9()
        try await server.launch()
        for n in 2000..<2500 { receipts.append(try await producer.send(["n": String(n)])) }
        var ids: [EntryID] = []
        for receipt in receipts { ids.append(try await receipt.entryID()) }
        let stored = try await client.range(stream)
        #expect(stored.map { $0[field: "n"] } == (0..<2500).map { String($0) })
        #expect(stored.map(\.id) == ids)
    }
}
