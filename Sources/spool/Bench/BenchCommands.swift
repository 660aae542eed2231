import ArgumentParser
import Foundation
import SpoolClient

/// Connects, names the server, empties the stream.
private func prepare(_ connection: ConnectionOptions, _ options: BenchOptions) async throws -> (SpoolClient, String) {
    let client = try await connection.connect()
    let info = try await client.info(["server"])
    let server = info.isSpool ? "spool \(info["spool_version"] ?? "")" : "redis \(info["redis_version"] ?? "")"
    if !options.keep { try await client.delete(streams: [options.stream]) }
    return (client, server)
}

/// Runs `work` while a progress bar (if wanted) shows how much of `seconds` has passed.
private func withProgress<T: Sendable>(
    _ label: String, seconds: Double, show: Bool, count: @escaping @Sendable () -> Int, _ work: @escaping @Sendable () async -> T
) async -> T {
    let bar = ProgressBar(label: label, force: show ? true : nil)
    let done = Completion()
    let task = Task {
        let result = await work()
        done.signal()
        return result
    }
    let started = Date()
    while !done.isDone {
        try? await Task.sleep(for: .milliseconds(200))
        let elapsed = Date().timeIntervalSince(started)
        bar.update(fraction: min(elapsed / seconds, 1), count: count(), unit: "ops")
    }
    let result = await task.value
    bar.finish()
    return result
}

private func emit(_ report: BenchReport, json: Bool, plot: String?, title: String) throws {
    if let plot {
        let svg = LatencyPlot.svg(title: title, series: report.latencies)
        do {
            try svg.write(toFile: plot, atomically: true, encoding: .utf8)
        } catch {
            throw CLIFailure(message: "cannot write \(plot): \(error.localizedDescription)", code: 1)
        }
    }
    Output.standardOutput.writeLine(json ? report.json.text : report.text)
    Output.standardOutput.flush()
}

struct ClosedLoopBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "closed",
        abstract: "Maximum durable publish throughput: N connections × D XADDs in flight, each reply triggering the next.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var bench: BenchOptions
    @OptionGroup var format: FormatOptions

    @Option(name: .shortAndLong, help: "Connections.")
    var connections = 4

    @Option(name: .shortAndLong, help: "Requests in flight per connection (pipeline depth).")
    var depth = 64

    func validate() throws {
        guard (1...1024).contains(connections) else { throw ValidationError("--connections: 1 … 1024") }
        guard (1...100_000).contains(depth) else { throw ValidationError("--depth: 1 … 100000") }
    }

    func run() async throws {
        try await reportingFailures {
            let (client, server) = try await prepare(connection, bench)
            defer { client.close() }
            var sockets: [RESPConnection] = []
            for _ in 0..<connections { sockets.append(try await client.makeDedicatedConnection()) }
            let run = ClosedLoopRun(
                connections: sockets, depth: depth, command: XAddTemplate.constant(stream: bench.stream, payload: bench.payload))
            let (warmup, duration) = (bench.warmupNanoseconds, bench.durationNanoseconds)
            let result = await withProgress(
                "bench closed", seconds: bench.warmup + bench.duration, show: bench.progress,
                count: { run.completed.load(ordering: .relaxed) }
            ) { await run.run(warmup: warmup, duration: duration) }
            let report = BenchReport(
                workload: "closed-loop publish", server: server,
                parameters: [("connections", .int(connections)), ("depth", .int(depth)), ("size", .int(bench.size))],
                seconds: bench.duration, completed: result.completed, errors: result.errors,
                latencies: [("publish→ack", result.latency)])
            try emit(report, json: format.json, plot: bench.plot, title: "closed-loop publish, \(server), \(connections)×\(depth)")
        }
    }
}

struct OpenLoopBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open",
        abstract: "Publish latency at a fixed rate, measured from each entry's intended send time (coordinated omission corrected).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var bench: BenchOptions
    @OptionGroup var format: FormatOptions

    @Option(name: .shortAndLong, help: "Entries per second.")
    var rate = 5000.0

    @Option(name: .shortAndLong, help: "Connections the schedule is spread over.")
    var connections = 1

    func validate() throws {
        guard rate > 0 && rate <= 10_000_000 else { throw ValidationError("--rate: 0 < entries/s ≤ 10000000") }
        guard (1...1024).contains(connections) else { throw ValidationError("--connections: 1 … 1024") }
    }

    func run() async throws {
        try await reportingFailures {
            let (client, server) = try await prepare(connection, bench)
            defer { client.close() }
            var sockets: [RESPConnection] = []
            for _ in 0..<connections { sockets.append(try await client.makeDedicatedConnection()) }
            let run = OpenLoopRun(connections: sockets, rate: rate, stream: bench.stream, payload: bench.payload, timestamped: false)
            Pacer.raisePriorityOfAllThreads()
            let (warmup, duration) = (bench.warmupNanoseconds, bench.durationNanoseconds)
            await withProgress(
                "bench open", seconds: bench.warmup + bench.duration, show: bench.progress,
                count: { run.acknowledged.load(ordering: .relaxed) }
            ) { await run.run(start: monotonicNanoseconds() + 5_000_000, warmup: warmup, duration: duration) }
            let report = BenchReport(
                workload: "open-loop publish", server: server,
                parameters: [("rate", .double(rate)), ("connections", .int(connections)), ("size", .int(bench.size))],
                seconds: bench.duration, completed: run.completedInWindow.load(ordering: .relaxed),
                errors: run.errors.load(ordering: .relaxed),
                latencies: [
                    ("publish→ack", LatencySummary(run.recorder.snapshot)),
                    ("send lag", LatencySummary(run.lagRecorder.snapshot)),
                ])
            try emit(report, json: format.json, plot: bench.plot, title: "open-loop publish at \(Int(rate))/s, \(server)")
        }
    }
}

struct EndToEndBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "e2e",
        abstract: "Publish→deliver latency: a fixed-rate producer and a consumer-group reader (XREADGROUP BLOCK, XACK).",
        discussion: """
            Each entry carries its intended send time; the reader records delivery time minus \
            that, so a stall anywhere counts against everything scheduled during it. --via xread \
            reads with plain XREAD BLOCK instead of a group (for servers without groups).
            """)

    enum Via: String, ExpressibleByArgument, CaseIterable {
        case group, xread
    }

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var bench: BenchOptions
    @OptionGroup var format: FormatOptions

    @Option(name: .shortAndLong, help: "Entries per second.")
    var rate = 5000.0

    @Option(help: "How the reader reads: group (XREADGROUP + XACK) or xread.")
    var via = Via.group

    @Option(help: "Consumer group name.")
    var group = "spool-bench"

    @Option(help: "Seconds to wait, after the last publish, for the reader to catch up.")
    var drainTimeout = 10.0

    func validate() throws {
        guard rate > 0 && rate <= 10_000_000 else { throw ValidationError("--rate: 0 < entries/s ≤ 10000000") }
    }

    func run() async throws {
        try await reportingFailures {
            let (client, server) = try await prepare(connection, bench)
            defer { client.close() }
            let mode: DeliveryReader.Mode
            switch via {
            case .group:
                guard try await client.supportsCommand("xreadgroup") else {
                    throw CLIFailure(message: "the server has no XREADGROUP; try --via xread", code: CLIFailure.serverError)
                }
                try await client.createGroup(group, on: bench.stream, startingAt: .newEntries, makeStream: true, ifNotExists: true)
                mode = .group(name: group, consumer: "bench-reader", acknowledge: true)
            case .xread:
                mode = .read
            }
            let after = try await client.lastEntryID(bench.stream) ?? .zero
            let publisher = OpenLoopRun(
                connections: [try await client.makeDedicatedConnection()], rate: rate, stream: bench.stream,
                payload: bench.payload, timestamped: true)
            let reader = DeliveryReader(
                connection: try await client.makeDedicatedConnection(),
                ackConnection: via == .group ? try await client.makeDedicatedConnection() : nil, stream: bench.stream, mode: mode)
            Pacer.raisePriorityOfAllThreads()
            let start = monotonicNanoseconds() + 20_000_000
            let (warmup, duration) = (bench.warmupNanoseconds, bench.durationNanoseconds)
            reader.start(measuringFrom: start + warmup, after: after)
            await withProgress(
                "bench e2e", seconds: bench.warmup + bench.duration, show: bench.progress,
                count: { reader.delivered.load(ordering: .relaxed) }
            ) { await publisher.run(start: start, warmup: warmup, duration: duration) }
            // Let the reader catch up with everything acknowledged.
            let deadline = Date().addingTimeInterval(drainTimeout)
            while reader.delivered.load(ordering: .relaxed) < publisher.acknowledged.load(ordering: .relaxed), Date() < deadline {
                try await Task.sleep(for: .milliseconds(10))
            }
            reader.stop()
            let missing = max(0, publisher.acknowledged.load(ordering: .relaxed) - reader.delivered.load(ordering: .relaxed))
            let report = BenchReport(
                workload: "end-to-end publish→deliver (\(via == .group ? "XREADGROUP" : "XREAD"))", server: server,
                parameters: [("rate", .double(rate)), ("size", .int(bench.size)), ("via", .string(via.rawValue))],
                seconds: bench.duration, completed: publisher.completedInWindow.load(ordering: .relaxed),
                errors: publisher.errors.load(ordering: .relaxed) + reader.errors.load(ordering: .relaxed) + missing,
                latencies: [
                    ("publish→deliver", LatencySummary(reader.recorder.snapshot)),
                    ("publish→ack", LatencySummary(publisher.recorder.snapshot)),
                    ("send lag", LatencySummary(publisher.lagRecorder.snapshot)),
                ])
            try emit(report, json: format.json, plot: bench.plot, title: "publish→deliver at \(Int(rate))/s, \(server)")
        }
    }
}
