// The store's benchmark: durable appends per second and submit→durable latency percentiles with
// one synced commit per entry versus group commit, for 1 and 4 concurrent appenders, in one run.
import ArgumentParser
import Foundation
import Histogram
import SpoolCore
import SpoolStorage
import Synchronization

@main
struct StoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool-store-bench",
        abstract: "Measures durable append throughput and latency of the WiredTiger log store.")

    @Option(help: "Seconds each configuration runs.") var seconds: Double = 3
    @Option(help: "Bytes per entry value.") var valueSize: Int = 100
    @Option(help: "Appends each appender keeps in flight.") var inFlight: Int = 64
    @Option(help: "Comma-separated appender counts.") var appenders: String = "1,4"
    @Option(help: "Directory for the temporary databases.") var directory: String = NSTemporaryDirectory()
    @Flag(help: "Also measure restart time after kill -9 with 1M entries.") var restart = false

    func run() throws {
        let counts = appenders.split(separator: ",").compactMap { Int($0) }
        var rows: [[String]] = []
        var perMode: [String: Double] = [:]
        for count in counts {
            for mode in [StorageOptions.CommitMode.syncEachJob, .groupCommit] {
                let result = try measure(mode: mode, appenders: count)
                let name = mode == .groupCommit ? "group commit" : "sync per entry"
                perMode["\(name)/\(count)"] = result.rate
                rows.append([
                    name, String(count), String(inFlight), format(result.rate), String(format: "%.1f", result.perFsync),
                    String(result.p50), String(result.p99), String(result.p999),
                ])
            }
        }
        print("100-byte entries, \(inFlight) in flight per appender, \(seconds) s per row")
        printTable(
            header: ["mode", "appenders", "in flight", "durable appends/s", "entries/fsync", "p50 µs", "p99 µs", "p99.9 µs"],
            rows: rows)
        for count in counts {
            if let g = perMode["group commit/\(count)"], let s = perMode["sync per entry/\(count)"], s > 0 {
                print("group commit / sync per entry, \(count) appender(s): \(String(format: "%.1f", g / s))x")
            }
        }
    }

    struct Result { var rate: Double; var perFsync: Double; var p50: UInt64; var p99: UInt64; var p999: UInt64 }

    func measure(mode: StorageOptions.CommitMode, appenders: Int) throws -> Result {
        let path = directory + "/spool-bench-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: path) }
        var options = StorageOptions(directory: path)
        options.commitMode = mode
        let store = try Store.open(options)
        let value = [UInt8](repeating: 0x61, count: valueSize)
        let stop = Atomic<Bool>(false)
        let completed = Atomic<UInt64>(0)
        let started = Date()
        let threads = (0..<appenders).map { _ in
            NativeThread(name: "appender") {
                let slots = CountingSemaphore(value: inFlight)
                while !stop.load(ordering: .relaxed) {
                    slots.wait()
                    store.append(stream: Array("bench".utf8), fields: [Array("v".utf8), value]) { _ in
                        completed.add(1, ordering: .relaxed)
                        slots.signal()
                    }
                }
                // Drain this appender's in-flight appends before leaving.
                for _ in 0..<inFlight { slots.wait() }
            }
        }
        Thread.sleep(forTimeInterval: seconds)
        stop.store(true, ordering: .relaxed)
        threads.forEach { $0.join() }
        let elapsed = Date().timeIntervalSince(started)
        let stats = store.statisticsSnapshot
        store.shutdown()
        return Result(
            rate: Double(completed.load(ordering: .relaxed)) / elapsed, perFsync: stats.entriesPerFsync,
            p50: stats.durableLatencyMicrosecondsP50, p99: stats.durableLatencyMicrosecondsP99,
            p999: stats.durableLatencyMicrosecondsP999)
    }

    func format(_ rate: Double) -> String {
        rate >= 1000 ? String(format: "%.0fk", rate / 1000) : String(format: "%.0f", rate)
    }

    func printTable(header: [String], rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max()! }
        for (n, row) in all.enumerated() {
            print(row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | "))
            if n == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-")) }
        }
    }
}
