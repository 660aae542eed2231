import SpoolCore
import SpoolProtocol

/// SLOWLOG and LATENCY, as Redis has them: slow commands (the time a command itself ran, on the
/// loop thread or the storage thread) and latency events (slow commands, slow fsyncs).
extension Server {
    /// Tells the storage thread and the storage engine which durations to report, from
    /// slowlog-log-slower-than and latency-monitor-threshold.
    func applyMonitoringSettings() {
        var threshold = Int.max
        if config.slowlogLogSlowerThan >= 0 && config.slowlogMaxLen > 0 { threshold = config.slowlogLogSlowerThan }
        if config.latencyMonitorThreshold > 0 { threshold = min(threshold, config.latencyMonitorThreshold * 1000) }
        slowCommands.thresholdMicroseconds.store(threshold == Int.max ? -1 : threshold, ordering: .relaxed)
        engine.setFsyncStallThreshold(nanoseconds: UInt64(max(0, config.latencyMonitorThreshold)) * 1_000_000)
    }

    /// Whether loop commands should be timed.
    var isTimingCommands: Bool { slowCommands.thresholdMicroseconds.load(ordering: .relaxed) >= 0 }

    /// A command (`spec`, as resolved) that ran `microseconds`: into SLOWLOG and LATENCY if it
    /// was that slow. A quick one costs two comparisons.
    func noteCommand(_ spec: CommandSpec, _ args: RequestArguments, microseconds: Int64, connection: Connection?) {
        let logsSlowly = config.slowlogLogSlowerThan >= 0 && config.slowlogMaxLen > 0 && microseconds >= config.slowlogLogSlowerThan
        let milliseconds = microseconds / 1000
        let isLatencyEvent = config.latencyMonitorThreshold > 0 && milliseconds >= config.latencyMonitorThreshold
        guard logsSlowly || isLatencyEvent else { return }
        let now = Int64(wallClockMilliseconds())
        if logsSlowly && !spec.flags.contains("skip_slowlog") {
            slowLog.record(
                Self.redactedForLogs(spec, args), microseconds: microseconds,
                thresholdMicroseconds: config.slowlogLogSlowerThan, capacity: config.slowlogMaxLen,
                clientAddress: connection?.address ?? "", clientName: connection?.name ?? [], now: now)
        }
        if isLatencyEvent {
            latencyMonitor.add(spec.flags.contains("fast") ? "fast-command" : "command", milliseconds: milliseconds, at: now / 1000)
        }
    }

    /// Takes what the storage thread and the flush thread reported since last time.
    func collectMonitoringReports() {
        for report in slowCommands.take() {
            // The storage thread reports only commands the loop resolved and sent it.
            guard case .success(let found) = CommandTable.resolve(report.arguments) else { continue }
            noteCommand(found.command, report.arguments, microseconds: report.microseconds, connection: connections[report.connection])
        }
        for stall in engine.takeFsyncStalls() {
            latencyMonitor.add(
                Self.fsyncEvent, milliseconds: Int64(stall.nanoseconds / 1_000_000), at: Int64(stall.endedAtMilliseconds / 1000))
        }
    }

    /// Redis's name for a write's fsync taking long when every write is synced (appendfsync
    /// always), which is what every Spool write is.
    static let fsyncEvent = "aof-fsync-always"

    /// Passwords and user rules never reach SLOWLOG: Redis's redactions.
    static func redactedForLogs(_ spec: CommandSpec, _ args: RequestArguments) -> RequestArguments {
        let redacted: Range<Int>
        switch spec.name {
        case "auth": redacted = 1..<args.count
        case "acl|setuser", "acl|getuser", "acl|deluser", "acl|dryrun": redacted = min(2, args.count)..<args.count
        case "hello":
            // HELLO … AUTH user password …: the two arguments after AUTH.
            guard let index = args.indices.first(where: { args[$0].isKeyword("AUTH") }) else { return args }
            redacted = (index + 1)..<min(index + 3, args.count)
        default: return args
        }
        guard !redacted.isEmpty else { return args }
        var parts = args.arrays
        for position in redacted { parts[position] = Array("(redacted)".utf8) }
        return RequestArguments(parts)
    }

    // MARK: SLOWLOG

    func slowlog(_ args: [[UInt8]], into out: inout RESPWriter) {
        collectMonitoringReports()
        let sub = args[1]
        if sub.isKeyword("GET") {
            var count = 10
            if args.count == 3 {
                guard let value = args[2].asInt64, value >= -1 else {
                    return out.error("ERR count should be greater than or equal to -1")
                }
                count = value == -1 ? Int.max : Int(min(value, Int64(Int.max)))
            }
            let entries = slowLog.entries.prefix(count)
            out.arrayHeader(entries.count)
            for entry in entries {
                out.arrayHeader(6)
                out.integer(entry.id)
                out.integer(entry.timestamp)
                out.integer(entry.microseconds)
                out.arrayHeader(entry.arguments.count)
                for argument in entry.arguments { out.bulk(argument) }
                out.bulk(entry.clientAddress)
                out.bulk(entry.clientName)
            }
        } else if sub.isKeyword("LEN") {
            out.integer(Int64(slowLog.entries.count))
        } else if sub.isKeyword("RESET") {
            slowLog.reset()
            out.simpleString("OK")
        } else {
            CommandHelp.write(args, Self.slowlogHelp, into: &out)
        }
    }

    static let slowlogHelp = [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ]

    // MARK: LATENCY

    func latency(_ args: [[UInt8]], into out: inout RESPWriter) {
        collectMonitoringReports()
        let sub = args[1]
        if sub.isKeyword("LATEST") {
            out.arrayHeader(latencyMonitor.events.count)
            for event in latencyMonitor.events {
                let last = event.series.samples.last
                out.arrayHeader(4)
                out.bulk(event.name)
                out.integer(last?.time ?? 0)
                out.integer(last?.milliseconds ?? 0)
                out.integer(event.series.max)
            }
        } else if sub.isKeyword("HISTORY") {
            let samples = latencyMonitor.series(named: args[2])?.samples ?? []
            out.arrayHeader(samples.count)
            for sample in samples {
                out.arrayHeader(2)
                out.integer(sample.time)
                out.integer(sample.milliseconds)
            }
        } else if sub.isKeyword("RESET") {
            out.integer(Int64(latencyMonitor.reset(Array(args[2...]))))
        } else if sub.isKeyword("GRAPH") {
            guard let series = latencyMonitor.series(named: args[2]), !series.samples.isEmpty else {
                return out.error("ERR No samples available for event '\(String(decoding: args[2], as: UTF8.self))'")
            }
            out.verbatim(Self.graph(String(decoding: args[2], as: UTF8.self).lowercased(), series))
        } else if sub.isKeyword("DOCTOR") {
            out.verbatim(doctorReport())
        } else if sub.isKeyword("HISTOGRAM") {
            out.error(
                "ERR LATENCY HISTOGRAM is not supported: Spool keeps no per-command latency histograms (INFO persistence has the append-to-durable and fsync percentiles)")
        } else {
            CommandHelp.write(args, Self.latencyHelp, into: &out)
        }
    }

    /// Redis's LATENCY GRAPH layout, simplified: the header, then one column per sample, the
    /// highest sample reaching the top of four rows.
    static func graph(_ name: String, _ series: LatencyMonitor.Series) -> String {
        let values = series.samples.map(\.milliseconds)
        let high = values.max() ?? 0
        let low = values.min() ?? 0
        var text = "\(name) - high \(high) ms, low \(low) ms (all time high \(series.max) ms)\n"
        text += String(repeating: "-", count: 80) + "\n"
        let rows = 4
        for row in (1...rows).reversed() {
            var line = ""
            for value in values {
                let filled = high == 0 ? 0 : Int((Double(value) / Double(high) * Double(rows)).rounded(.up))
                line += filled >= row ? "#" : (row == 1 ? "_" : " ")
            }
            text += line + "\n"
        }
        return text
    }

    func doctorReport() -> String {
        guard config.latencyMonitorThreshold > 0 || !latencyMonitor.events.isEmpty else {
            return
                "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
        }
        guard !latencyMonitor.events.isEmpty else {
            return
                "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
        }
        var text = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n"
        for (number, event) in latencyMonitor.events.enumerated() {
            let values = event.series.samples.map(\.milliseconds)
            let average = values.isEmpty ? 0 : values.reduce(0, +) / Int64(values.count)
            let deviation = values.isEmpty ? 0 : values.map { abs($0 - average) }.reduce(0, +) / Int64(values.count)
            let first = event.series.samples.first?.time ?? 0
            let last = event.series.samples.last?.time ?? 0
            let period = values.count > 1 ? Double(last - first) / Double(values.count - 1) : 0
            text +=
                "\(number + 1). \(event.name): \(values.count) latency spikes (average \(average)ms, mean deviation \(deviation)ms, period \(String(format2: period)) sec). Worst all time event \(event.series.max)ms.\n"
        }
        text += "\nI have a few advices for you:\n\n"
        if latencyMonitor.events.contains(where: { $0.name == Self.fsyncEvent }) {
            text +=
                "- Every write waits for an fsync of the write-ahead log, and some took long: the disk is slow or shared. Put the data directory (dir) on a faster or less busy disk; replies to writes cannot come before their fsync.\n"
        }
        if latencyMonitor.events.contains(where: { $0.name == "command" || $0.name == "fast-command" }) {
            text +=
                "- Some commands took long to run. SLOWLOG GET lists them; long XRANGE/XREAD COUNT reads, XTRIM and FLUSHALL of large streams, and XAUTOCLAIM scans are the usual ones. Read in smaller pages (COUNT).\n"
        }
        return text
    }

    static let latencyHelp = [
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Not supported by Spool (no per-command histograms are kept).",
    ]
}
