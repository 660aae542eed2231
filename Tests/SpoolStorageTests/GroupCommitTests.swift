import Foundation
import Synchronization
import Testing
import SpoolCore
@testable import SpoolStorage

@Suite struct GroupCommitTests {
    /// Each completion checks that the durable watermark already covers the generation its entry
    /// committed in, and each appender's completions arrive in the order it submitted them.
    @Test func concurrentAppendersCompleteOnlyAfterTheirFlushInOrder() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let appenders = 8
        let perAppender = 2000
        let violations = Locked<[String]>([])
        let lastSeen = Locked<[Int]>(Array(repeating: -1, count: appenders))
        await withTaskGroup(of: Void.self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        let remaining = Locked(perAppender)
                        for n in 0..<perAppender {
                            store.perform({ (log: LogStore) throws(WiredTigerError) -> UInt64 in
                                let name = Array("gc".utf8)
                                let s = try log.streamForWriting(creating: name)
                                let next = EntryID.generated(after: s.lastID, nowMilliseconds: wallClockMilliseconds())!
                                try log.append(s, id: next, fields: [Array("a".utf8), Array(String(appender).utf8)])
                                return log.currentGeneration
                            }) { result in
                                let durable = store.durableGeneration
                                switch result {
                                case .success(let generation) where generation > durable:
                                    violations.withLock { $0.append("generation \(generation) completed with watermark \(durable)") }
                                case .failure(let error):
                                    violations.withLock { $0.append("failed: \(error)") }
                                default: break
                                }
                                lastSeen.withLock {
                                    if $0[appender] != n - 1 { let previous = $0[appender]; violations.withLock { $0.append("appender \(appender) saw \(n) after \(previous)") } }
                                    $0[appender] = n
                                }
                                if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
                            }
                        }
                    }
                }
            }
        }
        #expect(violations.withLock { $0 }.isEmpty)
        let stats = store.statisticsSnapshot
        #expect(stats.appends == UInt64(appenders * perAppender))
        #expect(stats.fsyncs > 0)
        // Under concurrent load, one fsync must cover many entries.
        #expect(stats.entriesPerFsync > 1)
        #expect(stats.entriesPerFsyncMax > 1)
        let count = try await store.run { (log: LogStore) throws(WiredTigerError) -> UInt64 in try log.streamForReading(Array("gc".utf8))!.length }
        #expect(count == UInt64(appenders * perAppender))
    }

    @Test func readsOfUnflushedEntriesWaitForTheirFlush() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        // A write and a read of it queued back to back land in one batch; the read's reply must
        // not arrive before the write is durable.
        let order = Locked<[String]>([])
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let remaining = Locked(2)
            let finish: @Sendable (String) -> Void = { label in
                let durable = store.durableGeneration
                order.withLock { $0.append("\(label)@\(durable > 0)") }
                if remaining.withLock({ $0 -= 1; return $0 }) == 0 { done.resume() }
            }
            store.append(stream: Array("r".utf8), fields: [Array("k".utf8), Array("v".utf8)]) { _ in finish("write") }
            store.perform({ (log: LogStore) throws(WiredTigerError) -> Int in
                try log.streamForReading(Array("r".utf8)).map { _ in 1 } ?? 0
            }) { _ in finish("read") }
        }
        #expect(order.withLock { $0 } == ["write@true", "read@true"])
    }

    /// A batch that wrote is freed by the flush thread after its fsync: what its jobs hold must
    /// still be freed, every time (nothing kept for ever), and only once the job has run.
    @Test func jobsOfWrittenBatchesAreFreedAfterTheirFlush() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        let freed = FreeCounter()
        let jobs = 40
        for n in 0..<jobs {
            let token = FreeToken(freed)
            let ran = try await store.run { (log: LogStore) throws(WiredTigerError) -> Bool in
                let name = Array("freed".utf8)
                let stream = try log.streamForWriting(creating: name)
                let next = EntryID.generated(after: stream.lastID, nowMilliseconds: wallClockMilliseconds())!
                try log.append(stream, id: next, fields: [Array("n".utf8), Array(String(n).utf8)])
                return token.isAlive
            }
            #expect(ran)
        }
        // The last batch is freed after its fsync, which may end just after its reply went out.
        let deadline = monotonicNanoseconds() + 5_000_000_000
        while freed.count.load(ordering: .acquiring) < jobs && monotonicNanoseconds() < deadline {
            try await Task.sleep(nanoseconds: 1_000_000)
        }
        #expect(freed.count.load(ordering: .acquiring) == jobs)
    }

    /// Jobs submitted together run in transactions of at most `batchCommandsMax` commands (a
    /// bigger job alone), in submission order, each outcome after its fsync.
    @Test func aBacklogBecomesTransactionsOfBoundedCommands() async throws {
        let dir = TemporaryDirectory()
        var options = StorageOptions(directory: dir.path)
        options.batchCommandsMax = 300
        let store = try Store.open(options)
        defer { store.shutdown() }
        let finished = Mutex<[Int]>([])
        let sizes = Array(repeating: 100, count: 10) + [1000, 100]
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let jobs = sizes.enumerated().map { (n, commands) in
                (job: { (context: StoreContext) throws(WiredTigerError) -> StoreContext.Outcome in
                    let log = context.store
                    let stream = try log.streamForWriting(creating: Array("bounded".utf8))
                    let next = EntryID.generated(after: stream.lastID, nowMilliseconds: wallClockMilliseconds())!
                    try log.append(stream, id: next, fields: [Array("n".utf8), Array(String(n).utf8)])
                    return StoreContext.Outcome(complete: {
                        let count = finished.withLock { $0.append(n); return $0.count }
                        if count == sizes.count { done.resume() }
                    })
                } as Store.Job,
                 onFailure: { (_: StorageError) in StoreContext.Outcome(complete: {}) } as Store.Failure,
                 commands: commands)
            }
            store.submit(contentsOf: jobs)
        }
        #expect(finished.withLock { $0 } == Array(sizes.indices))
        // 3 × 300, 100, then the 1000-command job alone, then the last one.
        let stats = store.statisticsSnapshot
        #expect(stats.commits == 6)
        #expect(stats.appends == UInt64(sizes.count))
        #expect(stats.fsyncs >= 1 && stats.fsyncs <= 6)
    }

    /// A batch that wrote goes to `release` after its fsync, just before its outcomes are
    /// delivered; what its jobs captured lives until the receiver drops it (the server drops it on
    /// the loop thread, woken by the delivery).
    @Test func aBatchThatWroteIsReleasedWithItsOutcomesAndFreedByTheReceiver() async throws {
        let dir = TemporaryDirectory()
        let events = Mutex<[String]>([])
        let received = Mutex<[any Sendable]>([])
        let freed = Mutex(false)
        let store = try Store(
            options: StorageOptions(directory: dir.path),
            makeContext: { StoreContext(store: $0) },
            deliver: { outcomes in for outcome in outcomes { outcome.complete() } },
            release: { garbage in
                events.withLock { $0.append("released") }
                received.withLock { $0.append(contentsOf: garbage) }
            })
        defer { store.shutdown() }
        do {
            let canary = Canary { freed.withLock { $0 = true } }
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                store.submit({ (context: StoreContext) throws(WiredTigerError) -> StoreContext.Outcome in
                    withExtendedLifetime(canary) {}
                    let log = context.store
                    let stream = try log.streamForWriting(creating: Array("released".utf8))
                    let next = EntryID.generated(after: stream.lastID, nowMilliseconds: wallClockMilliseconds())!
                    try log.append(stream, id: next, fields: [Array("a".utf8), Array("b".utf8)])
                    return StoreContext.Outcome(complete: {
                        events.withLock { $0.append("delivered") }
                        done.resume()
                    })
                }, onFailure: { _ in StoreContext.Outcome(complete: {}) })
            }
        }
        #expect(await eventually { events.withLock { $0.count } == 2 })
        #expect(events.withLock { $0 } == ["released", "delivered"])
        #expect(!freed.withLock { $0 }, "the job was freed before the receiver let go of it")
        received.withLock { $0.removeAll() }
        #expect(await eventually { freed.withLock { $0 } })
    }

    @Test func syncEachJobModeCommitsEveryJobWithItsOwnFsync() async throws {
        let dir = TemporaryDirectory()
        var options = StorageOptions(directory: dir.path)
        options.commitMode = .syncEachJob
        let store = try Store.open(options)
        defer { store.shutdown() }
        for n in 0..<20 { _ = try await store.append("one", ["n", String(n)]) }
        let stats = store.statisticsSnapshot
        #expect(stats.fsyncs == 20)
        #expect(stats.entriesPerFsyncMax == 1)
        #expect(try await store.ids("one").count == 20)
    }

    @Test func appendBelowTheLastIdIsRejectedAndChangesNothing() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        defer { store.shutdown() }
        _ = try await store.append("x", id: id(10), ["a", "b"])
        await #expect(throws: StorageError.self) { try await store.append("x", id: id(10), ["a", "c"]) }
        await #expect(throws: StorageError.self) { try await store.append("x", id: id(9), ["a", "c"]) }
        #expect(try await store.ids("x") == [id(10)])
    }

    @Test func jobsSubmittedAfterShutdownFailCleanly() async throws {
        let dir = TemporaryDirectory()
        let store = try Store.open(StorageOptions(directory: dir.path))
        _ = try await store.append("s", ["a", "b"])
        store.shutdown()
        await #expect(throws: StorageError.self) { try await store.append("s", ["a", "b"]) }
    }
}

final class FreeCounter: Sendable {
    let count = Atomic<Int>(0)
}

/// Counts its own deinit.
final class FreeToken: Sendable {
    let counter: FreeCounter
    var isAlive: Bool { true }
    init(_ counter: FreeCounter) { self.counter = counter }
    deinit { counter.count.add(1, ordering: .releasing) }
}

/// Reports its own deinit.
private final class Canary: Sendable {
    let onFree: @Sendable () -> Void
    init(onFree: @escaping @Sendable () -> Void) { self.onFree = onFree }
    deinit { onFree() }
}

/// Polls `condition` every millisecond for up to five seconds.
private func eventually(_ condition: () -> Bool) async -> Bool {
    for _ in 0..<5000 {
        if condition() { return true }
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
    return condition()
}

@Suite struct DerivedWriteTests {
    private func derivedAppend(_ store: Store, _ stream: String) async throws -> UInt64 {
        try await store.run { (log: LogStore) throws(WiredTigerError) -> UInt64 in
            log.writesAreDerived = true
            defer { log.writesAreDerived = false }
            let s = try log.streamForWriting(creating: Array(stream.utf8))
            let next = EntryID.generated(after: s.lastID, nowMilliseconds: wallClockMilliseconds())!
            try log.append(s, id: next, fields: [Array("f".utf8), Array("v".utf8)])
            return log.currentGeneration
        }
    }

    /// Derived writes (a cluster node applying records a majority synced) commit and are read
    /// back without an fsync of their own; the next write that needs one covers them.
    @Test func derivedWritesCommitWithoutTheirOwnFsync() async throws {
        let dir = TemporaryDirectory()
        var options = StorageOptions(directory: dir.path)
        options.lazySyncMilliseconds = 600_000  // nothing but a needed sync covers them here
        let store = try Store.open(options)
        defer { store.shutdown() }
        _ = try await store.append("plain", ["a", "1"])
        let fsyncs = store.statisticsSnapshot.fsyncs
        var generation: UInt64 = 0
        for _ in 0..<5 { generation = try await derivedAppend(store, "derived") }
        #expect(store.durableGeneration < generation)
        #expect(try await store.ids("derived").count == 5, "a reader waits for no fsync of derived writes")
        #expect(store.statisticsSnapshot.fsyncs == fsyncs)
        _ = try await store.append("plain", ["a", "2"])
        #expect(store.durableGeneration > generation)
        #expect(store.statisticsSnapshot.fsyncs > fsyncs)
    }

    /// With nothing else to sync them, derived writes are synced after `lazySyncMilliseconds`.
    @Test func loneDerivedWritesAreSyncedAfterTheLazyDelay() async throws {
        let dir = TemporaryDirectory()
        var options = StorageOptions(directory: dir.path)
        options.lazySyncMilliseconds = 20
        let store = try Store.open(options)
        defer { store.shutdown() }
        let generation = try await derivedAppend(store, "derived")
        #expect(await eventually { store.durableGeneration >= generation })
    }
}
