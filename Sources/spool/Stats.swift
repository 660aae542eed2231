import ArgumentParser
import SpoolClient

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Server throughput, fsync batching and append→durable latency percentiles (from INFO).",
        discussion: """
            Reads INFO twice, --interval apart, and reports rates over that interval plus the \
            server's own latency percentiles. Against Redis the Spool-only figures show as '-'.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Option(help: "Seconds between the two samples.")
    var interval = 1.0

    func validate() throws {
        guard interval > 0 && interval <= 3600 else { throw ValidationError("--interval: 0 < seconds ≤ 3600") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let before = try await client.info(["all"])
            let started = ContinuousClock.now
            try await Task.sleep(for: .seconds(interval))
            let after = try await client.info(["all"])
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18

            func rate(_ key: String) -> Double? {
                guard let a = before.integer(key), let b = after.integer(key) else { return nil }
                return Double(b - a) / seconds
            }
            let appends = rate("spool_appends")
            let fsyncs = rate("spool_fsyncs")
            let batching: Double? = {
                guard let appends, let fsyncs, fsyncs > 0 else { return nil }
                return appends / fsyncs
            }()
            let commands = rate("total_commands_processed")
            let server = after.isSpool ? "spool" : "redis"
            let latency: [(String, Int64?)] = [
                ("p50", after.integer("spool_durable_latency_p50_us")), ("p99", after.integer("spool_durable_latency_p99_us")),
                ("p999", after.integer("spool_durable_latency_p999_us")), ("max", after.integer("spool_durable_latency_max_us")),
            ]
            let fsyncLatency: [(String, Int64?)] = [
                ("p50", after.integer("spool_fsync_p50_us")), ("p99", after.integer("spool_fsync_p99_us")),
            ]

            if format.json {
                func number(_ value: Double?) -> JSON { value.map { .double($0) } ?? .null }
                func number(_ value: Int64?) -> JSON { value.map { .int($0) } ?? .null }
                Output.standardOutput.writeLine(
                    JSON.object([
                        ("server", .string(server)), ("version", .optional(after["spool_version"] ?? after["redis_version"])),
                        ("interval_seconds", .double(seconds)), ("commands_per_second", number(commands)),
                        ("appends_per_second", number(appends)), ("fsyncs_per_second", number(fsyncs)),
                        ("entries_per_fsync", number(batching)), ("entries_per_fsync_total", number(after.double("spool_entries_per_fsync"))),
                        ("entries_per_fsync_max", number(after.integer("spool_entries_per_fsync_max"))),
                        ("durable_latency_us", .object(latency.map { ($0.0, number($0.1)) })),
                        ("fsync_latency_us", .object(fsyncLatency.map { ($0.0, number($0.1)) })),
                        ("connected_clients", number(after.integer("connected_clients"))),
                        ("used_memory_rss", number(after.integer("used_memory_rss"))),
                    ]).text)
            } else {
                func show(_ value: Double?, _ decimals: Int = 0) -> String { value.map { $0.fixed(decimals) } ?? "-" }
                func show(_ value: Int64?) -> String { value.map { Int($0).grouped } ?? "-" }
                var table = Table("METRIC", "VALUE")
                table.add(["server", "\(server) \(after["spool_version"] ?? after["redis_version"] ?? "")"])
                table.add(["interval (s)", seconds.fixed(2)])
                table.add(["commands/s", show(commands)])
                table.add(["appends/s", show(appends)])
                table.add(["fsyncs/s", show(fsyncs)])
                table.add(["entries per fsync (interval)", show(batching, 1)])
                table.add(["entries per fsync (since start)", show(after.double("spool_entries_per_fsync"), 2)])
                table.add(["entries per fsync (max)", show(after.integer("spool_entries_per_fsync_max"))])
                for (name, value) in latency { table.add(["append→durable \(name) (µs)", show(value)]) }
                for (name, value) in fsyncLatency { table.add(["fsync \(name) (µs)", show(value)]) }
                table.add(["connected clients", show(after.integer("connected_clients"))])
                table.add(["resident memory (bytes)", show(after.integer("used_memory_rss"))])
                Output.standardOutput.writeLine(table.text)
            }
            Output.standardOutput.flush()
        }
    }
}
