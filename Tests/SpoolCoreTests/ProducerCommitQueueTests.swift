import Testing
import SpoolCore

/// The producer's commit queue and the plan for an append, without I/O: what arrives, what
/// waits, what commits in which order, what fails and why.
@Suite struct ProducerCommitQueueTests {
    typealias Queue = ProducerCommitQueue<String>

    @Test func aGapWaitsInAGroupAndIsRefusedInATransaction() {
        let gap = ProducerState.Decision.gap(missing: 3)
        #expect(ProducerAppendAction.plan(gap, at: .group(maySetAside: true)) == .setAside)
        #expect(ProducerAppendAction.plan(gap, at: .group(maySetAside: false)) == .park(missing: 3))
        #expect(ProducerAppendAction.plan(gap, at: .transaction) == .refuse(.gapInTransaction(missing: 3)))
        // Too far ahead to wait anywhere; a transaction names it as a gap it cannot wait for.
        let far = ProducerState.Decision.tooFarAhead(missing: 3)
        #expect(ProducerAppendAction.plan(far, at: .group(maySetAside: true)) == .refuse(.tooFarAhead(missing: 3)))
        #expect(ProducerAppendAction.plan(far, at: .transaction) == .refuse(.gapInTransaction(missing: 3)))
    }

    @Test func everyOtherDecisionPlansTheSameWherever() {
        let id = EntryID(milliseconds: 5, sequence: 1)
        for site in [ProducerAppendSite.transaction, .group(maySetAside: true), .group(maySetAside: false)] {
            #expect(ProducerAppendAction.plan(.next, at: site) == .commit)
            #expect(ProducerAppendAction.plan(.duplicate(id), at: site) == .replyWithID(id))
            #expect(ProducerAppendAction.plan(.belowWindow, at: site) == .refuse(.belowWindow))
            #expect(ProducerAppendAction.plan(.fenced(by: 4), at: site) == .refuse(.fenced(by: 4)))
        }
    }

    /// Appends that arrived out of order commit in SEQ order, each when its predecessor has; the
    /// walk stops at the first gap.
    @Test func parkedAppendsComeOutInSequenceOrderUpToAGap() {
        var queue = Queue(waitingSince: 100)
        #expect(queue.arrive(sequence: 4, epoch: 0, append: "four") == .parked)
        #expect(queue.arrive(sequence: 2, epoch: 0, append: "two") == .parked)
        #expect(queue.arrive(sequence: 3, epoch: 0, append: "three") == .parked)
        #expect(queue.arrive(sequence: 6, epoch: 0, append: "six") == .parked)
        #expect(queue.takeNext(lastSequence: 0, producerEpoch: 0) == nil)  // SEQ 1 has not arrived
        var committed: [String] = []
        var last: UInt64 = 1
        while case .commit(let next)? = queue.takeNext(lastSequence: last, producerEpoch: 0) {
            committed.append(next.append)
            last = next.sequence
        }
        #expect(committed == ["two", "three", "four"])
        #expect(queue.count == 1)
        #expect(queue.parked[6]?.append == "six")
    }

    @Test func aRetryOfAWaitingSequenceAttachesToIt() {
        var queue = Queue(waitingSince: 0)
        #expect(queue.arrive(sequence: 2, epoch: 1, append: "first") == .parked)
        #expect(queue.arrive(sequence: 2, epoch: 1, append: "retry") == .attachedAsRetry)
        #expect(queue.count == 1)
        guard case .commit(let next)? = queue.takeNext(lastSequence: 1, producerEpoch: 1) else {
            Issue.record("SEQ 2 should commit")
            return
        }
        #expect(next.append == "first")
        #expect(next.retries == ["retry"])
        #expect(queue.isEmpty)
    }

    /// A newer instance's claim fails what older instances parked, and an append whose turn comes
    /// after a claim it did not see is fenced instead of committed.
    @Test func aClaimFencesOlderInstances() {
        var queue = Queue(waitingSince: 0)
        _ = queue.arrive(sequence: 2, epoch: 1, append: "old-2")
        _ = queue.arrive(sequence: 3, epoch: 2, append: "new-3")
        _ = queue.arrive(sequence: 5, epoch: 1, append: "old-5")
        let fenced = queue.fence(below: 2)
        #expect(fenced.map(\.append) == ["old-2", "old-5"])
        #expect(queue.epoch == 2)
        #expect(queue.count == 1)
        var other = Queue(waitingSince: 0)
        _ = other.arrive(sequence: 2, epoch: 1, append: "late")
        guard case .fenced(let append, let by)? = other.takeNext(lastSequence: 1, producerEpoch: 3) else {
            Issue.record("an older epoch's append should be fenced")
            return
        }
        #expect(append.append == "late")
        #expect(by == 3)
    }

    @Test func aQueueTimesOutOnlyWithoutProgress() {
        var queue = Queue(waitingSince: 1_000)
        _ = queue.arrive(sequence: 3, epoch: 0, append: "three")
        #expect(!queue.isTimedOut(now: 5_999, timeout: 5_000))
        #expect(queue.isTimedOut(now: 6_000, timeout: 5_000))
        queue.advanced(now: 5_500)
        #expect(!queue.isTimedOut(now: 6_000, timeout: 5_000))
        #expect(queue.deadline(timeout: 5_000) == 10_500)
        _ = queue.arrive(sequence: 5, epoch: 0, append: "five")
        #expect(queue.drain().map(\.sequence) == [3, 5])
        #expect(queue.isEmpty)
    }
}
