import ArgumentParser
import SpoolClient

/// Options every workload takes.
struct BenchOptions: ParsableArguments {
    @Option(help: "Stream to publish to (deleted first unless --keep).")
    var stream = "spool-bench"

    @Flag(help: "Keep what the stream already holds.")
    var keep = false

    @Option(help: "Payload bytes per entry.")
    var size = 100

    @Option(help: "Seconds measured.")
    var duration = 10.0

    @Option(help: "Seconds run before measuring (not counted).")
    var warmup = 1.0

    @Option(help: "Write the latency distribution as an SVG plot to this file.")
    var plot: String?

    @Flag(help: "Show a progress bar on stderr (default: when stderr is a terminal).")
    var progress = false

    func validate() throws {
        guard size >= 1 && size <= 1 << 20 else { throw ValidationError("--size: 1 … 1048576 bytes") }
        guard duration > 0 && duration <= 86400 else { throw ValidationError("--duration: 0 < seconds ≤ 86400") }
        guard warmup >= 0 && warmup <= 3600 else { throw ValidationError("--warmup: 0 ≤ seconds ≤ 3600") }
    }

    var payload: String { String(repeating: "x", count: size) }
    var durationNanoseconds: UInt64 { UInt64(duration * 1e9) }
    var warmupNanoseconds: UInt64 { UInt64(warmup * 1e9) }
}

/// What a run measured.
struct BenchReport {
    var workload: String
    var server: String
    var parameters: [(String, JSON)]
    var seconds: Double
    var completed: Int
    var errors: Int
    /// Per series: name and latency.
    var latencies: [(String, LatencySummary)]

    var throughput: Double { seconds > 0 ? Double(completed) / seconds : 0 }

    var json: JSON {
        .object(
            [("workload", .string(workload)), ("server", .string(server))] + parameters + [
                ("seconds", .double(seconds)), ("completed", .int(completed)), ("errors", .int(errors)),
                ("throughput_per_second", .double(throughput)),
                ("latency", .object(latencies.map { ($0.0, $0.1.json) })),
            ])
    }

    var text: String {
        var lines: [String] = []
        let parameterText = parameters.map { "\($0.0)=\($0.1.text)" }.joined(separator: " ")
        lines.append("\(workload) against \(server): \(parameterText)")
        lines.append(
            "\(completed.grouped) completed in \(seconds.fixed(2)) s: \(Int(throughput).grouped)/s, \(errors) errors")
        var table = Table("LATENCY (µs)", "COUNT", "P50", "P90", "P99", "P99.9", "MAX")
        for (name, summary) in latencies {
            table.add([
                name, Int(summary.count).grouped, summary.p50.fixed(1), summary.p90.fixed(1), summary.p99.fixed(1),
                summary.p999.fixed(1), summary.max.fixed(1),
            ])
        }
        lines.append(table.text)
        return lines.joined(separator: "\n")
    }
}
