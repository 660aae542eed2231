import Testing

@testable import SpoolClient

// Spool's extensions: idempotent producers (XADD PRODUCER/SEQ), XNACK, MAXDELIVERIES/DEADLETTER.
// Excluded from the package until spoold has them (see Package.swift's `exclude:`); they need
// spoold (redis-server has none of these).
@Suite struct SpoolExtensionTests {
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

    @Test func aNegativeAcknowledgementHandsTheEntryToTheNextRead() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let id = try #require(try await client.publish(to: stream, ["job": "1"]))
        var delivered = try await client.readGroup("g", on: stream, as: "a")
        #expect(delivered.map(\.id) == [id])
        #expect(try await client.negativeAcknowledge([id], group: "g", on: stream) == 1)
        delivered = try await client.readGroup("g", on: stream, as: "b")
        #expect(delivered.map(\.id) == [id])
        let pending = try await client.pending(group: "g", on: stream)
        #expect(pending.map(\.consumer) == ["b"])
        #expect(pending.map(\.deliveryCount) == [2])
    }

    @Test func aGroupMessageCanBeGivenBack() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        try await client.publish(to: stream, ["job": "1"])
        var attempts: [Bool] = []
        for try await message in client.consumer(group: "g", on: stream, name: "c", options: ConsumerOptions(recoverPending: false)) {
            attempts.append(message.isRedelivery)
            if attempts.count == 1 {
                #expect(try await message.negativeAcknowledge())
            } else {
                #expect(try await message.acknowledge())
                break
            }
        }
        #expect(attempts.count == 2)
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 0)
    }

    @Test func anEntryDeliveredTooOftenGoesToTheDeadLetterStream() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let deadLetters = stream + ":dead"
        try await client.createGroup(
            "g", on: stream, startingAt: .beginning, makeStream: true,
            deadLetter: DeadLetterPolicy(maxDeliveries: 2, deadLetterStream: deadLetters))
        let id = try #require(try await client.publish(to: stream, ["job": "poison"]))
        for _ in 0..<2 {
            #expect(try await client.readGroup("g", on: stream, as: "c").map(\.id) == [id])
            try await client.negativeAcknowledge([id], group: "g", on: stream)
        }
        #expect(try await client.readGroup("g", on: stream, as: "c").isEmpty)
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 0)
        #expect(try await client.length(deadLetters) == 1)
    }
}
