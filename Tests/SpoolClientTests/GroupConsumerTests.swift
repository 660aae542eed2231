import Synchronization
import Testing

@testable import SpoolClient

// Consumer groups (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS/CONSUMERS)
// on spoold. Excluded from the package until spoold has them (see Package.swift's `exclude:`);
// every test here passes against redis-server today (SPOOL_TEST_TARGET=redis).
@Suite struct GroupConsumerTests {
    private func publish(_ client: SpoolClient, _ stream: String, count: Int, from first: Int = 0) async throws -> [EntryID] {
        var ids: [EntryID] = []
        for n in first..<(first + count) { ids.append(try #require(try await client.publish(to: stream, ["n": String(n)]))) }
        return ids
    }

    private func take(_ count: Int, from consumer: GroupConsumer) async throws -> [GroupMessage] {
        var messages: [GroupMessage] = []
        if count == 0 { return [] }
        for try await message in consumer {
            messages.append(message)
            if messages.count == count { break }
        }
        return messages
    }

    @Test(arguments: RESPVersionChoice.allCases)
    func aConsumerReceivesEveryEntryAndAcknowledgesIt(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 20)
        let messages = try await take(20, from: client.consumer(group: "g", on: stream, name: "c1", options: ConsumerOptions(batchSize: 7)))
        #expect(messages.map(\.id) == ids)
        #expect(messages.map { $0[field: "n"] } == (0..<20).map { String($0) })
        #expect(messages.allSatisfy { !$0.isRedelivery })
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 20)
        for message in messages { #expect(try await message.acknowledge()) }
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 0)
        #expect(try await !messages[0].acknowledge())
    }

    @Test func entriesAddedWhileTheConsumerWaitsAreDelivered() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .newEntries, makeStream: true)
        let consumer = client.consumer(group: "g", on: stream, name: "c")
        let reader = Task { try await take(10, from: consumer).map { $0[field: "n"] } }
        _ = try await publish(client, stream, count: 10)
        #expect(try await reader.value == (0..<10).map { String($0) })
    }

    @Test func unacknowledgedEntriesComeBackToTheSameConsumerFirst() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 8)
        let first = try await take(5, from: client.consumer(group: "g", on: stream, name: "c", options: ConsumerOptions(batchSize: 5)))
        try await first[0].acknowledge()
        try await first[1].acknowledge()
        // A new run of the same consumer: its 3 unacknowledged entries first, then the rest.
        let second = try await take(6, from: client.consumer(group: "g", on: stream, name: "c"))
        #expect(second.map(\.id) == Array(ids[2...7]))
        #expect(second.map(\.isRedelivery) == [true, true, true, false, false, false])
    }

    @Test func aConsumerClaimsWhatAnotherLeftUnacknowledged() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 5)
        _ = try await take(5, from: client.consumer(group: "g", on: stream, name: "crashed"))
        let rescuer = client.consumer(
            group: "g", on: stream, name: "rescuer",
            options: ConsumerOptions(claimIdle: .milliseconds(20), claimInterval: .milliseconds(20)))
        let claimed = try await take(5, from: rescuer)
        #expect(claimed.map(\.id) == ids)
        #expect(claimed.allSatisfy { $0.isRedelivery })
        let pending = try await client.pending(group: "g", on: stream)
        #expect(pending.map(\.consumer) == Array(repeating: "rescuer", count: 5))
        #expect(pending.allSatisfy { $0.deliveryCount == 2 })
    }

    @Test func claimAndAutoClaimMoveOwnership() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 6)
        #expect(try await client.readGroup("g", on: stream, as: "a", count: 6).map(\.id) == ids)
        let claimed = try await client.claim([ids[0], ids[1]], group: "g", on: stream, for: "b", minimumIdle: .zero)
        #expect(claimed.map(\.id) == [ids[0], ids[1]])
        let auto = try await client.autoClaim(group: "g", on: stream, for: "c", minimumIdle: .zero, start: ids[2], count: 2)
        #expect(auto.entries.map(\.id) == [ids[2], ids[3]])
        #expect(auto.nextStart == ids[4])
        let summary = try await client.pendingSummary(group: "g", on: stream)
        #expect(summary.count == 6)
        #expect(summary.lowestID == ids[0])
        #expect(summary.highestID == ids[5])
        #expect(summary.consumers == ["a": 2, "b": 2, "c": 2])
        let ofB = try await client.pending(group: "g", on: stream, consumer: "b")
        #expect(ofB.map(\.id) == [ids[0], ids[1]])
        // The consumer's own pending entries, re-read by id.
        #expect(try await client.readGroup("g", on: stream, as: "a", after: "0").map(\.id) == [ids[4], ids[5]])
    }

    @Test func groupsAreCreatedListedWithLagMovedAndDestroyed() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        _ = try await publish(client, stream, count: 10)
        #expect(try await client.createGroup("g", on: stream, startingAt: .beginning))
        #expect(try await !client.createGroup("g", on: stream, ifNotExists: true))
        do {
            try await client.createGroup("g", on: stream)
            Issue.record("a second group of the same name was created")
        } catch {
            guard case .server(let serverError) = error else { throw error }
            #expect(serverError.code == "BUSYGROUP")
        }
        _ = try await client.readGroup("g", on: stream, as: "c", count: 4)
        var groups = try await client.groups(on: stream)
        #expect(groups.map(\.name) == ["g"])
        #expect(groups[0].consumers == 1)
        #expect(groups[0].pending == 4)
        #expect(groups[0].entriesRead == 4)
        #expect(groups[0].lag == 6)
        let consumers = try await client.consumers(of: "g", on: stream)
        #expect(consumers.map(\.name) == ["c"])
        #expect(consumers[0].pending == 4)

        try await client.setGroupPosition("g", on: stream, to: .beginning, entriesRead: 0)
        groups = try await client.groups(on: stream)
        #expect(groups[0].lastDeliveredID == .zero)
        #expect(groups[0].lag == 10)

        #expect(try await client.createConsumer("d", group: "g", on: stream))
        #expect(try await client.deleteConsumer("c", group: "g", on: stream) == 4)
        #expect(try await client.destroyGroup("g", on: stream))
        #expect(try await !client.destroyGroup("g", on: stream))
        do {
            _ = try await client.readGroup("g", on: stream, as: "c")
            Issue.record("read from a destroyed group")
        } catch {
            guard case .server(let serverError) = error else { throw error }
            #expect(serverError.code == "NOGROUP")
            #expect(serverError.isNotFound)
        }
    }

    @Test func aMessageLimitEndsTheSequenceWithoutReadingAhead() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 5)
        var seen: [EntryID] = []
        for try await message in client.consumer(group: "g", on: stream, name: "c", options: ConsumerOptions(messagesMax: 2)) {
            seen.append(message.id)
        }
        #expect(seen == Array(ids[0..<2]))
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 2)
    }

    @Test func aConsumerCanCreateItsGroup() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let ids = try await publish(client, stream, count: 3)
        let messages = try await take(
            3, from: client.consumer(group: "new", on: stream, name: "c", options: ConsumerOptions(createGroup: .beginning)))
        #expect(messages.map(\.id) == ids)
    }

    @Test func aConsumerRecoversItsLostDeliveriesAfterTheServerRestarts() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.createGroup("g", on: stream, startingAt: .beginning, makeStream: true)
        let ids = try await publish(client, stream, count: 4)
        let seen = Mutex<[EntryID]>([])
        let consumer = client.consumer(group: "g", on: stream, name: "c")
        let reader = Task {
            for try await message in consumer {
                let count = seen.withLock { $0.append(message.id); return $0.count }
                if count == 2 { try await server.restart() }
                try await message.acknowledge()
                if seen.withLock({ Set($0).isSuperset(of: ids) }) { break }
            }
        }
        try await reader.value
        #expect(Set(seen.withLock { $0 }) == Set(ids))
        #expect(try await client.pendingSummary(group: "g", on: stream).count == 0)
    }
}
