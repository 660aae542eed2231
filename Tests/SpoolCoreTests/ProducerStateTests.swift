import Testing
import SpoolCore

@Suite struct ProducerStateTests {
    func id(_ ms: UInt64) -> EntryID { EntryID(milliseconds: ms, sequence: 0) }

    func committed(_ count: UInt64, window: Int = 4, epoch: UInt64 = 0) -> ProducerState {
        var state = ProducerState(windowMax: window, nowMilliseconds: 0)
        state.epoch = epoch
        for sequence in 1...count { state.recordCommit(sequence: sequence, id: id(100 + sequence), nowMilliseconds: sequence) }
        return state
    }

    @Test func aNewProducerWantsSequenceOne() {
        let state = ProducerState(windowMax: 4, nowMilliseconds: 0)
        #expect(state.decide(epoch: 0, sequence: 1, queueMax: 10) == .next)
        #expect(state.decide(epoch: 0, sequence: 2, queueMax: 10) == .gap(missing: 1))
        #expect(state.decide(epoch: 0, sequence: 11, queueMax: 10) == .gap(missing: 1))
        #expect(state.decide(epoch: 0, sequence: 12, queueMax: 10) == .tooFarAhead(missing: 1))
        #expect(state.oldestKeptSequence == nil)
    }

    static let retries: [(UInt64, EntryID?)] = [
        (10, EntryID(milliseconds: 110, sequence: 0)), (7, EntryID(milliseconds: 107, sequence: 0)), (6, nil), (1, nil),
    ]

    @Test(arguments: retries)
    func retriesWithinTheWindowGetTheirId(sequence: UInt64, expected: EntryID?) {
        let state = committed(10)
        if let expected {
            #expect(state.decide(epoch: 0, sequence: sequence, queueMax: 10) == .duplicate(expected))
        } else {
            #expect(state.decide(epoch: 0, sequence: sequence, queueMax: 10) == .belowWindow)
        }
        #expect(state.oldestKeptSequence == 7)
    }

    @Test func theNextSequenceAndGapsAreMeasuredFromTheHighWaterMark() {
        let state = committed(10)
        #expect(state.decide(epoch: 0, sequence: 11, queueMax: 3) == .next)
        #expect(state.decide(epoch: 0, sequence: 13, queueMax: 3) == .gap(missing: 11))
        #expect(state.decide(epoch: 0, sequence: 14, queueMax: 3) == .gap(missing: 11))
        #expect(state.decide(epoch: 0, sequence: 15, queueMax: 3) == .tooFarAhead(missing: 11))
        #expect(state.decide(epoch: 0, sequence: .max, queueMax: 3) == .tooFarAhead(missing: 11))
    }

    @Test func olderEpochsAreFencedNewerOnesDecideAlike() {
        var state = committed(3, epoch: 2)
        #expect(state.decide(epoch: 1, sequence: 4, queueMax: 10) == .fenced(by: 2))
        #expect(state.decide(epoch: 1, sequence: 2, queueMax: 10) == .fenced(by: 2))
        #expect(state.decide(epoch: 5, sequence: 4, queueMax: 10) == .next)
        #expect(state.decide(epoch: 5, sequence: 3, queueMax: 10) == .duplicate(id(103)))
        state.claim(5)
        #expect(state.decide(epoch: 2, sequence: 4, queueMax: 10) == .fenced(by: 5))
    }

    @Test func theWindowIsARingOfTheNewestIds() {
        var ids = RecentIDs(capacity: 3)
        for ms: UInt64 in 1...7 { ids.append(id(ms)) }
        #expect(Array(ids) == [id(5), id(6), id(7)])
        #expect(ids == RecentIDs(capacity: 3, ids: [id(1), id(5), id(6), id(7)]))
        #expect(ids == RecentIDs(capacity: 4, ids: [id(5), id(6), id(7)]))
        #expect(ids != RecentIDs(capacity: 3, ids: [id(6), id(7)]))
    }

    @Test func idleness() {
        let state = committed(1)
        #expect(!state.isIdle(nowMilliseconds: 500, expiryMilliseconds: 1000))
        #expect(state.isIdle(nowMilliseconds: 1001, expiryMilliseconds: 1000))
        // A clock that went backwards is not idleness.
        #expect(!state.isIdle(nowMilliseconds: 0, expiryMilliseconds: 0))
    }
}
