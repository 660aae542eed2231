import Testing
@testable import SpoolReplication

@Suite struct ReplicationWireTests {
    static func entries(_ count: Int) -> [ReplicatedEntry<[UInt8]>] {
        var sum: UInt64 = 0
        return (1...count).map { seq in
            let entry = ReplicatedEntry(
                seq: UInt64(seq), epoch: 7, payload: Array(repeating: UInt8(seq), count: seq * 3), kind: seq == 1 ? .epochMark : .data,
                previousSum: sum)
            sum = entry.sum
            return entry
        }
    }

    static let messages: [Message<[UInt8]>] = [
        .beginEpoch(epoch: 812),
        .epochState(epoch: 812, tail: LogTail(seq: 9, epoch: 640, sum: 0xdead_beef)),
        .fetch(epoch: 812, from: 4),
        .fetchReply(epoch: 812, prevSeq: 3, prevSum: 77, entries: entries(3)),
        .replicate(epoch: 812, prevSeq: 0, prevSum: 0, entries: entries(5), commitSeq: 2),
        .replicate(epoch: 812, prevSeq: 5, prevSum: 1, entries: [], commitSeq: 5),
        .replicateAck(epoch: 812, syncedSeq: 5, sum: 99),
        .replicateNack(epoch: 812, hint: 1),
        .reject(epoch: 3, maxEpochSeen: 812),
        .installGap(epoch: 812, probeSeq: 4, probeSum: 0xfeed, end: LogTail(seq: 90_000, epoch: 811, sum: 0xbeef), commitSeq: 90_002),
        .gapRefused(epoch: 812),
        .backfill(from: 5),
        .backfillReply(prevSeq: 0, entries: entries(4)),
        .backfillReply(prevSeq: 9, entries: []),
        .learner(epoch: 812, incarnation: 0xfeed_f00d_dead_beef),
    ]

    static func text(_ message: Message<[UInt8]>) -> String { String(describing: message) }

    @Test(arguments: messages.indices)
    func everyMessageSurvivesTheWire(index: Int) throws {
        let message = Self.messages[index]
        var bytes: [UInt8] = []
        ReplicationWire.encode(shard: 13, Envelope(from: 2, to: 1, message: message), into: &bytes)
        let decoded = try bytes.withUnsafeBytes { raw in
            #expect(try ReplicationWire.completeFrameLength(raw) == raw.count)
            // One byte short is never a frame.
            #expect(try ReplicationWire.completeFrameLength(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 1)])) == nil)
            return try ReplicationWire.decode(raw)
        }
        guard case .message(let shard, let envelope) = decoded else {
            Issue.record("not a message")
            return
        }
        #expect(shard == 13)
        #expect(envelope.from == 2)
        #expect(Self.text(envelope.message) == Self.text(message))
    }

    @Test func decodedEntriesKeepTheirChain() throws {
        var bytes: [UInt8] = []
        let sent = Self.entries(4)
        ReplicationWire.encode(shard: 0, Envelope(from: 0, to: 1, message: .fetchReply(epoch: 1, prevSeq: 0, prevSum: 0, entries: sent)), into: &bytes)
        guard case .message(_, let envelope) = try bytes.withUnsafeBytes({ try ReplicationWire.decode($0) }),
            case .fetchReply(_, _, _, let entries) = envelope.message
        else {
            Issue.record("not a fetch reply")
            return
        }
        #expect(entries == sent)
        var previous: UInt64 = 0
        for entry in entries {
            #expect(entry.isIntact(previousSum: previous))
            previous = entry.sum
        }
        // A flipped payload byte breaks the chain.
        var flipped = entries[2].payload
        flipped[0] ^= 1
        let damaged = ReplicatedEntry(seq: 3, epoch: 7, payload: flipped, kind: .data, storedSum: entries[2].sum)
        #expect(!damaged.isIntact(previousSum: entries[1].sum))
    }

    @Test func helloCarriesTheClusterAndNode() throws {
        var bytes: [UInt8] = []
        ReplicationWire.encodeHello(cluster: "orders", node: 2, into: &bytes)
        guard case .hello(let cluster, let node) = try bytes.withUnsafeBytes({ try ReplicationWire.decode($0) }) else {
            Issue.record("not a hello")
            return
        }
        #expect(cluster == "orders" && node == 2)
    }

    @Test func damagedFramesAreRefused() throws {
        var bytes: [UInt8] = []
        ReplicationWire.encode(shard: 1, Envelope(from: 0, to: 1, message: .replicate(epoch: 1, prevSeq: 0, prevSum: 0, entries: Self.entries(2), commitSeq: 0)), into: &bytes)
        // Every truncation that keeps a consistent length prefix, and a wrong version, fail cleanly.
        for cut in 6..<bytes.count {
            var short = Array(bytes[0..<cut])
            let length = UInt32(cut - 4)
            short[0] = UInt8(length >> 24); short[1] = UInt8((length >> 16) & 0xff); short[2] = UInt8((length >> 8) & 0xff); short[3] = UInt8(length & 0xff)
            #expect(throws: ReplicationWire.DecodeError.self) { try short.withUnsafeBytes { try ReplicationWire.decode($0) } }
        }
        var wrongVersion = bytes
        wrongVersion[4] = 9
        #expect(throws: ReplicationWire.DecodeError.unsupportedVersion(9)) { try wrongVersion.withUnsafeBytes { try ReplicationWire.decode($0) } }
        let huge: [UInt8] = [0x7f, 0xff, 0xff, 0xff, 1, 1]
        #expect(throws: ReplicationWire.DecodeError.self) { try huge.withUnsafeBytes { try ReplicationWire.completeFrameLength($0) } }
    }
}
