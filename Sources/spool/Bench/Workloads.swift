import Foundation
import SpoolClient
import Synchronization

/// Waits on a dedicated thread until the monotonic clock reaches a deadline; the scheduler of an
/// open-loop run sleeps here (never on Swift's pool).
enum Pacer {
    /// Asks the kernel for precise wake-ups on this thread (the default 50 µs of timer slack
    /// would be added to every measured latency). Best effort.
    static func tightenTimerSlack() {
        // prctl(PR_SET_TIMERSLACK) is variadic, so out of Swift's reach; /proc/<tid> takes the
        // same setting.
        guard let tid = currentThreadID else { return }
        let fd = open("/proc/\(tid)/timerslack_ns", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "1", 1)
        close(fd)
    }

    /// Raises this thread's scheduling weight (nice -10) where permitted, so that on a machine
    /// shared with the server the pacer wakes on time rather than queueing behind the server's
    /// threads: its lateness would otherwise be charged to the server. Best effort.
    static func raisePriority() {
        guard let tid = currentThreadID, let id = UInt32(tid) else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id, -10)
    }

    /// `raisePriority` for every thread of this process (the connections' I/O threads that record
    /// delivery times included). Used by the latency workloads only, whose load is light: the
    /// closed loop would take CPU from the server it measures.
    static func raisePriorityOfAllThreads() {
        guard let directory = opendir("/proc/self/task") else { return }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let tid = UInt32(name) { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, -10) }
        }
    }

    /// gettid(2), read from /proc/thread-self ("<pid>/task/<tid>"): glibc's wrapper is not
    /// visible to Swift.
    private static var currentThreadID: Substring? {
        var link = [CChar](repeating: 0, count: 64)
        let length = readlink("/proc/thread-self", &link, link.count - 1)
        guard length > 0 else { return nil }
        let target = String(decoding: link[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.split(separator: "/").last
    }

    static func sleep(untilMonotonicNanoseconds deadline: UInt64) {
        var spec = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &spec, nil) == EINTR {}
    }
}

/// The bytes of `XADD stream * <fields>` built once, or with one field value filled in per
/// entry (the send time of an end-to-end run).
struct XAddTemplate {
    private let prefix: [UInt8]
    private let suffix: [UInt8]

    /// `XADD stream * t <value> p <payload>` with <value> given per entry.
    init(stream: String, payload: String) {
        var head = RESPWriter(version: .resp2)
        head.arrayHeader(7)
        for part in ["XADD", stream, "*", "t"] { head.bulk(part) }
        prefix = head.bytes
        var tail = RESPWriter(version: .resp2)
        tail.bulk("p")
        tail.bulk(payload)
        suffix = tail.bytes
    }

    func encoded(value: String) -> [UInt8] {
        var writer = RESPWriter(version: .resp2, reservingCapacity: prefix.count + suffix.count + 32)
        writer.bulk(value)
        return prefix + writer.bytes + suffix
    }

    /// `XADD stream * p <payload>`, the same bytes every time.
    static func constant(stream: String, payload: String) -> [UInt8] {
        RESPCommand("XADD", stream, "*", "p", payload).encoded
    }
}

/// Resumes one waiter once, whoever gets there first.
final class Completion: Sendable {
    private let state = Mutex<(done: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func wait() async {
        await withCheckedContinuation { continuation in
            let already = state.withLock { state -> Bool in
                if state.done { return true }
                state.waiter = continuation
                return false
            }
            if already { continuation.resume() }
        }
    }

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.done else { return nil }
            state.done = true
            let waiter = state.waiter
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    var isDone: Bool { state.withLock { $0.done } }
}

/// Closed loop: every connection keeps `depth` XADDs in flight and sends the next the moment a
/// reply arrives, for maximum throughput. Latency is reply time minus send time.
final class ClosedLoopRun: Sendable {
    private let connections: [RESPConnection]
    private let depth: Int
    private let command: [UInt8]
    private let recorders: [LatencyRecorder]
    private let inFlight = Atomic<Int>(0)
    let completed = Atomic<Int>(0)
    private let errors = Atomic<Int>(0)
    private let window: Mutex<(start: UInt64, end: UInt64)> = Mutex((0, 0))
    private let finished = Completion()

    init(connections: [RESPConnection], depth: Int, command: [UInt8]) {
        self.connections = connections
        self.depth = depth
        self.command = command
        recorders = connections.map { _ in LatencyRecorder() }
    }

    func run(warmup: UInt64, duration: UInt64) async -> (completed: Int, errors: Int, latency: LatencySummary) {
        let start = monotonicNanoseconds()
        window.withLock { $0 = (start + warmup, start + warmup + duration) }
        for index in connections.indices {
            for _ in 0..<depth { send(on: index) }
        }
        await finished.wait()
        var merged = LatencyRecorder.makeHistogram()
        for recorder in recorders { merged.add(recorder.snapshot) }
        return (completed.load(ordering: .relaxed), errors.load(ordering: .relaxed), LatencySummary(merged))
    }

    private func send(on index: Int) {
        let sent = monotonicNanoseconds()
        inFlight.add(1, ordering: .relaxed)
        do {
            try connections[index].send(encoded: command) { [self] result in
                complete(index: index, sent: sent, result: result)
            }
        } catch {
            errors.add(1, ordering: .relaxed)
            if inFlight.subtract(1, ordering: .relaxed).newValue == 0 { finished.signal() }
        }
    }

    private func complete(index: Int, sent: UInt64, result: Result<RESPValue, SpoolClientError>) {
        let now = monotonicNanoseconds()
        let (start, end) = window.withLock { $0 }
        switch result {
        case .success(.error), .failure:
            errors.add(1, ordering: .relaxed)
        case .success:
            if sent >= start { recorders[index].record(nanoseconds: now - sent) }
            if now >= start && now <= end { completed.add(1, ordering: .relaxed) }
        }
        let remaining = inFlight.subtract(1, ordering: .relaxed).newValue
        if case .success = result, now < end {
            send(on: index)
        } else if remaining == 0 {
            finished.signal()
        }
    }
}

/// Open loop: entries are sent on a fixed schedule (`rate` per second, round-robin over the
/// connections) whatever the server does, and latency is measured from each entry's *intended*
/// send time, so a stall delays the measurement of everything scheduled during it (coordinated
/// omission corrected). With `timestamped`, each entry carries its intended time in field `t`
/// (monotonic nanoseconds) for an end-to-end reader.
final class OpenLoopRun: Sendable {
    private let connections: [RESPConnection]
    private let rate: Double
    private let template: XAddTemplate
    private let constant: [UInt8]
    private let timestamped: Bool
    let recorder = LatencyRecorder()
    /// How late the scheduler sent each entry (actual minus intended send time): the part of
    /// every latency that is the load generator's own, shown so it can be told apart.
    let lagRecorder = LatencyRecorder()
    private let inFlight = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let acknowledged = Atomic<Int>(0)
    let completedInWindow = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    private let sendingDone = Atomic<Bool>(false)
    private let finished = Completion()
    private let window: Mutex<(start: UInt64, end: UInt64)> = Mutex((0, 0))

    init(connections: [RESPConnection], rate: Double, stream: String, payload: String, timestamped: Bool) {
        self.connections = connections
        self.rate = rate
        self.timestamped = timestamped
        template = XAddTemplate(stream: stream, payload: payload)
        constant = XAddTemplate.constant(stream: stream, payload: payload)
    }

    var windowStart: UInt64 { window.withLock { $0.start } }

    /// Runs the schedule from `start` (monotonic ns); returns when every reply is in.
    func run(start: UInt64, warmup: UInt64, duration: UInt64) async {
        let end = start + warmup + duration
        window.withLock { $0 = (start + warmup, end) }
        let interval = 1e9 / rate
        let thread = Thread { [self] in
            Pacer.tightenTimerSlack()
            Pacer.raisePriority()
            var index: UInt64 = 0
            while true {
                let intended = start + UInt64((Double(index) * interval).rounded())
                if intended >= end { break }
                if monotonicNanoseconds() < intended { Pacer.sleep(untilMonotonicNanoseconds: intended) }
                send(index: Int(index % UInt64(connections.count)), intended: intended)
                index += 1
            }
            sendingDone.store(true, ordering: .sequentiallyConsistent)
            if inFlight.load(ordering: .sequentiallyConsistent) == 0 { finished.signal() }
        }
        thread.start()
        await finished.wait()
    }

    private func send(index: Int, intended: UInt64) {
        let bytes = timestamped ? template.encoded(value: String(intended)) : constant
        let now = monotonicNanoseconds()
        if intended >= windowStart { lagRecorder.record(nanoseconds: now > intended ? now - intended : 0) }
        inFlight.add(1, ordering: .sequentiallyConsistent)
        sent.add(1, ordering: .relaxed)
        do {
            try connections[index].send(encoded: bytes) { [self] result in complete(intended: intended, result: result) }
        } catch {
            errors.add(1, ordering: .relaxed)
            inFlight.subtract(1, ordering: .sequentiallyConsistent)
        }
    }

    private func complete(intended: UInt64, result: Result<RESPValue, SpoolClientError>) {
        let now = monotonicNanoseconds()
        let (start, end) = window.withLock { $0 }
        switch result {
        case .success(.error), .failure:
            errors.add(1, ordering: .relaxed)
        case .success:
            acknowledged.add(1, ordering: .relaxed)
            if intended >= start {
                recorder.record(nanoseconds: now - intended)
                if intended < end { completedInWindow.add(1, ordering: .relaxed) }
            }
        }
        let remaining = inFlight.subtract(1, ordering: .sequentiallyConsistent).newValue
        if remaining == 0 && sendingDone.load(ordering: .sequentiallyConsistent) { finished.signal() }
    }
}

/// The reading half of an end-to-end run: one connection looping XREADGROUP … BLOCK or XREAD
/// BLOCK, recording for every entry delivery time minus the intended send time carried in its `t`
/// field. Group reads are acknowledged with XACK on a second connection, as `GroupConsumer` does
/// (blocking reads and acks on separate connections, so an ack never waits behind a blocked read
/// nor a read behind an ack's fsync).
final class DeliveryReader: Sendable {
    enum Mode: Sendable {
        case group(name: String, consumer: String, acknowledge: Bool)
        case read
    }

    private let connection: RESPConnection
    private let ackConnection: RESPConnection?
    private let stream: String
    private let mode: Mode
    let recorder = LatencyRecorder()
    let delivered = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    private let lastID = Mutex(EntryID.zero)
    private let windowStart = Atomic<UInt64>(UInt64.max)
    private let stopped = Atomic<Bool>(false)

    init(connection: RESPConnection, ackConnection: RESPConnection?, stream: String, mode: Mode) {
        self.connection = connection
        self.ackConnection = ackConnection
        self.stream = stream
        self.mode = mode
    }

    func start(measuringFrom start: UInt64, after id: EntryID) {
        windowStart.store(start, ordering: .relaxed)
        lastID.withLock { $0 = id }
        read(acknowledging: [])
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        connection.close()
        ackConnection?.close()
    }

    private func read(acknowledging ids: [EntryID]) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let read: RESPCommand
        switch mode {
        case .group(let group, let consumer, let acknowledge):
            if acknowledge, !ids.isEmpty, let ackConnection {
                var ack = RESPCommand("XACK", stream, group)
                for id in ids { ack.append(id) }
                do {
                    try ackConnection.send(ack) { [self] result in
                        switch result {
                        case .success(.error), .failure: errors.add(1, ordering: .relaxed)
                        case .success: break
                        }
                    }
                } catch {
                    errors.add(1, ordering: .relaxed)
                }
            }
            read = RESPCommand("XREADGROUP", "GROUP", group, consumer, "COUNT", "1000", "BLOCK", "0", "STREAMS", stream, ">")
        case .read:
            let after = lastID.withLock { $0 }
            read = RESPCommand("XREAD", "COUNT", "1000", "BLOCK", "0", "STREAMS", stream, after.description)
        }
        do {
            try connection.send(read) { [self] result in received(result) }
        } catch {
            if !stopped.load(ordering: .relaxed) { errors.add(1, ordering: .relaxed) }
        }
    }

    private func received(_ result: Result<RESPValue, SpoolClientError>) {
        let now = monotonicNanoseconds()
        guard case .success(let reply) = result, let streams = reply.streamEntries else {
            if !stopped.load(ordering: .relaxed) { errors.add(1, ordering: .relaxed) }
            return
        }
        let start = windowStart.load(ordering: .relaxed)
        var ids: [EntryID] = []
        for entry in streams.first?.entries ?? [] {
            ids.append(entry.id)
            if let text = entry[field: "t"], let intended = UInt64(text), intended >= start {
                recorder.record(nanoseconds: now > intended ? now - intended : 0)
            }
        }
        if let last = ids.last { lastID.withLock { $0 = last } }
        // Read again first: the next entry may already be on its way.
        read(acknowledging: ids)
        delivered.add(ids.count, ordering: .relaxed)
    }
}
