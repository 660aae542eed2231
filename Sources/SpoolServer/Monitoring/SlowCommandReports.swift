import SpoolProtocol
import Synchronization

/// Stream commands the storage thread found slow, handed to the loop thread for SLOWLOG and
/// LATENCY (which know the clients and the settings). Reports are rare, so a lock is cheap; the
/// loop checks a counter before taking it.
final class SlowCommandReports: Sendable {
    struct Report: Sendable {
        let connection: UInt64
        let arguments: RequestArguments
        let microseconds: Int64
    }

    /// Commands that ran at least this many microseconds are reported (-1: none; the loop sets
    /// it from slowlog-log-slower-than and latency-monitor-threshold).
    let thresholdMicroseconds = Atomic<Int>(-1)
    private let reports = Mutex<[Report]>([])
    private let count = Atomic<Int>(0)
    /// Reports kept between two takes at most (SLOWLOG keeps 128 by default).
    static let reportsMax = 1024

    func report(_ report: Report) {
        reports.withLock { reports in
            if reports.count < Self.reportsMax { reports.append(report) }
            count.store(reports.count, ordering: .relaxed)
        }
    }

    /// What was reported since the last take, oldest first.
    func take() -> [Report] {
        guard count.load(ordering: .relaxed) > 0 else { return [] }
        return reports.withLock { reports in
            count.store(0, ordering: .relaxed)
            defer { reports = [] }
            return reports
        }
    }
}
