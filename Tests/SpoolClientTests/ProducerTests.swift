import Testing

@testable import SpoolClient

@Suite struct ProducerTests {
    @Test(arguments: RESPVersionChoice.allCases)
    func pipelinedPublishesCompleteInSendOrder(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream, options: ProducerOptions(inFlightMax: 256))
        defer { producer.close() }
        let count = 3000
        var receipts: [PublishReceipt] = []
        for n in 0..<count {
            receipts.append(try await producer.send(["n": String(n)]))
        }
        var ids: [EntryID] = []
        for receipt in receipts { ids.append(try await receipt.entryID()) }
        // Acknowledged ids increase in the order the entries were sent…
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        // …and the stream holds them in that order.
        var stored: [(EntryID, String?)] = []
        for try await entry in client.replay(stream, batchSize: 500) { stored.append((entry.id, entry[field: "n"])) }
        #expect(stored.map(\.0) == ids)
        #expect(stored.map(\.1) == (0..<count).map { String($0) })
        #expect(producer.inFlightCount == 0)
    }

    @Test func sendWaitsForRoomWhenTheWindowIsFull() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream, options: ProducerOptions(inFlightMax: 4))
        defer { producer.close() }
        var receipts: [PublishReceipt] = []
        for n in 0..<200 {
            receipts.append(try await producer.send(["n": String(n)]))
            #expect(producer.inFlightCount <= 4)
        }
        await producer.flush()
        #expect(producer.inFlightCount == 0)
        for receipt in receipts { #expect(receipt.result != nil) }
        #expect(try await client.length(stream) == 200)
    }

    @Test func manyTasksPublishThroughOneProducer() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream)
        defer { producer.close() }
        let ids = try await withThrowingTaskGroup(of: EntryID.self) { group in
            for task in 0..<8 {
                group.addTask {
                    var last = EntryID.zero
                    for n in 0..<100 { last = try await producer.publish(["task": String(task), "n": String(n)]) }
                    return last
                }
            }
            var ids: [EntryID] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        #expect(ids.count == 8)
        #expect(try await client.length(stream) == 800)
    }

    @Test func aPublishErrorFailsOnlyItsOwnReceipt() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        // MAXLEN with a negative count is rejected by the server for each XADD.
        let bad = client.producer(for: stream, options: ProducerOptions(trim: .maxLength(-1)))
        defer { bad.close() }
        do {
            try await bad.publish(["a": "1"])
            Issue.record("a negative MAXLEN was accepted")
        } catch {
            guard case .server(let serverError) = error else {
                Issue.record("expected a server error, got \(error)")
                return
            }
            #expect(serverError.message.contains("MAXLEN"))
        }
        let good = client.producer(for: stream)
        defer { good.close() }
        try await good.publish(["a": "2"])
        #expect(try await client.length(stream) == 1)
    }

    @Test func withoutIdempotencePublishesCutOffByADisconnectFailWithConnectionLost() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let producer = client.producer(for: stream, options: ProducerOptions(inFlightMax: 10_000))
        defer { producer.close() }
        var receipts: [PublishReceipt] = []
        for n in 0..<2000 { receipts.append(try await producer.send(["n": String(n)])) }
        producer.breakConnectionForTesting()
        var acknowledged = 0
        var lost = 0
        for receipt in receipts {
            do {
                _ = try await receipt.entryID()
                acknowledged += 1
            } catch {
                #expect(error.isTransient, "\(error)")
                lost += 1
            }
        }
        #expect(acknowledged + lost == 2000)
        // Whatever was lost may or may not be in the stream: at least the acknowledged ones are.
        let length = try await client.length(stream)
        #expect(length >= acknowledged && length <= 2000)
        // The producer reconnects for the next publish.
        try await producer.publish(["n": "after"])
        #expect(try await client.length(stream) == length + 1)
    }

    @Test func aClosedProducerFailsItsPublishes() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let producer = client.producer(for: uniqueName())
        try await producer.publish(["a": "1"])
        producer.close()
        await #expect(throws: SpoolClientError.closed) { try await producer.publish(["a": "2"]) }
    }

    @Test func publishOptionsBuildTheExtensionsInOrder() {
        let options = PublishOptions(
            id: "*", noMakeStream: true, trim: .maxLength(10, approximate: true),
            producer: ProducerTag(producerID: "p1", sequence: 7, epoch: 2), ifLast: EntryID(milliseconds: 5, sequence: 1), ifVersion: 12)
        let command = options.command(stream: Array("s".utf8), fields: [Field("k", "v")])
        #expect(
            command.description == "XADD s PRODUCER p1 SEQ 7 EPOCH 2 IFLAST 5-1 IFVERSION 12 NOMKSTREAM MAXLEN ~ 10 * k v")
    }
}
