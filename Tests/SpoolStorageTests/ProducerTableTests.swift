import Testing
import SpoolCore
@testable import SpoolStorage

@Suite struct ProducerTableTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    func state(lastSequence: UInt64, epoch: UInt64 = 0, window: Int = 4) -> ProducerState {
        var state = ProducerState(windowMax: window, nowMilliseconds: 7)
        state.epoch = epoch
        if lastSequence > 0 {
            for sequence in 1...lastSequence { state.recordCommit(sequence: sequence, id: id(sequence, 1), nowMilliseconds: 9) }
        }
        return state
    }

    @Test(arguments: [0, 1, 4, 9] as [UInt64])
    func recordsRoundTrip(lastSequence: UInt64) {
        let original = state(lastSequence: lastSequence, epoch: 3)
        let encoded = ProducerRecord.encode(original)
        #expect(encoded.withUnsafeBytes { ProducerRecord.decode($0, windowMax: 4) } == original)
        // A smaller configured window keeps the newest ids.
        let narrowed = encoded.withUnsafeBytes { ProducerRecord.decode($0, windowMax: 2) }
        #expect(narrowed?.lastSequence == lastSequence)
        #expect(narrowed.map { Array($0.recentIDs) } == Array(original.recentIDs.suffix(2)))
    }

    @Test func recordsThatDoNotAddUpAreRejected() {
        var encoded = ProducerRecord.encode(state(lastSequence: 2))
        #expect(encoded.dropLast().withUnsafeBytes { ProducerRecord.decode($0, windowMax: 4) } == nil)
        encoded[0] = 9
        #expect(encoded.withUnsafeBytes { ProducerRecord.decode($0, windowMax: 4) } == nil)
        // More ids than committed SEQs.
        var lying = ProducerRecord.encode(state(lastSequence: 2))
        lying.replaceSubrange(9..<17, with: [1, 0, 0, 0, 0, 0, 0, 0])
        #expect(lying.withUnsafeBytes { ProducerRecord.decode($0, windowMax: 4) } == nil)
    }

    @Test func producersPersistWithTheirStreamAndStaySeparatePerStream() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        // Enough streams that table numbers differ in more than their low byte.
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            for n in 0..<300 {
                let s = try log.createStream(self.bytes("s\(n)"))
                try log.append(s, id: id(1), fields: [self.bytes("f"), self.bytes("v")])
                if n == 0 || n == 256 || n == 299 {
                    _ = try log.producers.add(self.bytes("p"), to: s, state: self.state(lastSequence: UInt64(n) + 1))
                    _ = try log.producers.add(self.bytes("p\u{0}x"), to: s, state: self.state(lastSequence: 1, epoch: 5))
                }
            }
        }
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let found = try await store.run { (log: LogStore) throws(WiredTigerError) -> [String: [[UInt8]: ProducerState]] in
            var out: [String: [[UInt8]: ProducerState]] = [:]
            for n in [0, 1, 255, 256, 299] {
                let s = try log.streamForReading(self.bytes("s\(n)"))!
                out["s\(n)"] = try log.producers.producers(of: s).mapValues(\.state)
            }
            return out
        }
        #expect(found["s0"] == [bytes("p"): state(lastSequence: 1), bytes("p\u{0}x"): state(lastSequence: 1, epoch: 5)])
        #expect(found["s256"]?[bytes("p")] == state(lastSequence: 257))
        #expect(found["s299"]?[bytes("p")]?.lastSequence == 300)
        #expect(found["s1"] == [:])
        #expect(found["s255"] == [:])
    }

    @Test func droppingAStreamRemovesItsProducers() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        try await store.run { (log: LogStore) throws(WiredTigerError) in
            let s = try log.createStream(self.bytes("gone"))
            _ = try log.producers.add(self.bytes("p"), to: s, state: self.state(lastSequence: 0, epoch: 1))
            let kept = try log.createStream(self.bytes("kept"))
            _ = try log.producers.add(self.bytes("p"), to: kept, state: self.state(lastSequence: 0, epoch: 2))
        }
        let (dropped, rows) = try await store.run { (log: LogStore) throws(WiredTigerError) -> ([[UInt8]], Int) in
            try log.dropStream(try log.streamForWriting(self.bytes("gone"))!)
            let dropped = log.producers.takeDroppedStreams().map(\.name)
            // Forget the cache, so what follows reads the table.
            log.producers.reset()
            let kept = try log.producers.producers(of: try log.streamForReading(self.bytes("kept"))!)
            return (dropped, kept.count)
        }
        #expect(dropped == [bytes("gone")])
        #expect(rows == 1)
        let recreated = try await store.run { (log: LogStore) throws(WiredTigerError) -> Int in
            try log.producers.producers(of: log.createStream(self.bytes("gone"))).count
        }
        #expect(recreated == 0)
    }

    @Test func aSavepointRollsBackOnlyWhatCameAfterIt() async throws {
        let dir = TemporaryDirectory()
        var store = try Store.open(StorageOptions(directory: dir.path))
        let lengths = try await store.run { (log: LogStore) throws(WiredTigerError) -> [UInt64] in
            let s = try log.createStream(self.bytes("s"))
            try log.append(s, id: id(1), fields: [self.bytes("f"), self.bytes("before")])
            let p = try log.producers.add(self.bytes("p"), to: s, state: self.state(lastSequence: 1))
            let savepoint = try log.beginSavepoint()
            try log.append(s, id: id(2), fields: [self.bytes("f"), self.bytes("after")])
            p.state.recordCommit(sequence: 2, id: id(2), nowMilliseconds: 10)
            log.producers.noteChanged(p)
            _ = try log.createStream(self.bytes("new"))
            try log.rollBackToSavepoint(savepoint)
            let again = try log.streamForWriting(self.bytes("s"))!
            try log.append(again, id: id(3), fields: [self.bytes("f"), self.bytes("later")])
            return [
                again.length, UInt64(log.streamCount),
                try log.producers.producer(self.bytes("p"), of: again)!.state.lastSequence,
            ]
        }
        #expect(lengths == [2, 1, 1])
        store.shutdown()
        store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        #expect(try await store.ids("s") == [id(1), id(3)])
        let last = try await store.run { (log: LogStore) throws(WiredTigerError) -> UInt64? in
            try log.producers.producer(self.bytes("p"), of: try log.streamForReading(self.bytes("s"))!)?.state.lastSequence
        }
        #expect(last == 1)
    }
}
