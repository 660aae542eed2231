import Testing

@testable import SpoolClient

/// Spool's consumer-group extensions: XNACK and MAXDELIVERIES/DEADLETTER (spoold only).
@Suite(.enabled(if: TestServer.kind == .spool, "XNACK and dead-letter streams are Spool extensions"))
struct GroupExtensionTests {
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

    @Test func withoutARedeliveryDelayOnlyAClaimTakesAGivenBackEntry() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let id = try #require(try await client.publish(to: stream, ["job": "1"]))
        _ = try await client.readGroup("g", on: stream, as: "a")
        #expect(try await client.negativeAcknowledge([id], group: "g", on: stream, mode: .silent, redeliverAfter: nil) == 1)
        // Redis's XNACK: not pushed to `>` readers, taken by a claim whatever its idle time.
        #expect(try await client.readGroup("g", on: stream, as: "b").isEmpty)
        let claimed = try await client.autoClaim(group: "g", on: stream, for: "b", minimumIdle: .seconds(60))
        #expect(claimed.entries.map(\.id) == [id])
        // SILENT took the delivery back (0), the claim counts one.
        #expect(try await client.pending(group: "g", on: stream).map(\.deliveryCount) == [1])
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
