import ArgumentParser
import Foundation
import SpoolClient

/// `spool mirror redis://host:port stream…`: moves live Redis streams to Spool without stopping
/// their producers. Per stream, two tasks run side by side:
/// - the tail follows the Redis stream (XREAD BLOCK) from the entry that was newest when the
///   mirror first started, and appends what comes into Spool's stream with the same ids;
/// - the backfill copies the history up to that entry, oldest first, into the stream's backfill
///   table (XBACKFILL BEGIN / ADD / END), below the live entries, while readers of the Spool
///   stream that would see the missing part get TRYAGAIN instead of a hole.
/// When the history is complete and the tail has caught up, the stream is reported as met: from
/// then on consumers can switch to Spool by id. Stopping and starting the mirror again resumes
/// both halves where Spool's stream says they were.
struct Mirror: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy live Redis streams into Spool: their history and, at the same time, new entries.",
        discussion: """
            Ids are kept, so a consumer can switch from Redis to Spool at the id it had reached. \
            The history goes into Spool's backfill table while new entries are appended as they \
            come; until the two meet, a Spool reader whose range reaches the part not copied yet \
            gets TRYAGAIN. A stream is reported once its history is complete and its tail caught \
            up; with --until-met the mirror then stops (after copying the stream's counters with \
            XSETID when Redis has nothing newer). Run it again to resume. Consumer groups, and \
            deletions and trims made in Redis after an entry was copied, are not mirrored.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Argument(help: ArgumentHelp("The Redis server: redis://[[user]:password@]host[:port]", valueName: "source"))
    var source: String

    @Argument(help: "The streams to mirror (same names in Spool).")
    var streams: [String]

    @Option(help: "Entries per request, each way.")
    var batch = 1000

    @Flag(help: "Stop once every stream's history and tail have met.")
    var untilMet = false

    func validate() throws {
        if Self.parseSource(source) == nil { throw ValidationError("not a redis:// address: \(source)") }
        if streams.isEmpty { throw ValidationError("name at least one stream") }
        if batch <= 0 || batch > 100_000 { throw ValidationError("--batch must be from 1 to 100000") }
    }

    struct Source: Sendable {
        var host: String
        var port: Int
        var user: String?
        var password: String?
    }

    static func parseSource(_ text: String) -> Source? {
        guard let url = URLComponents(string: text), url.scheme == "redis", let host = url.host, !host.isEmpty else { return nil }
        let user = url.user.flatMap { $0.isEmpty ? nil : $0 }
        return Source(host: host, port: url.port ?? 6379, user: user, password: url.password)
    }

    func run() async throws {
        let source = Self.parseSource(source)!
        let sourceConfiguration = SpoolClientConfiguration(
            host: source.host, port: source.port, username: source.user, password: source.password, clientName: "spool-mirror",
            reconnect: ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(2), attemptsMax: 30))
        var target = connection.configuration
        target.reconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .seconds(2), attemptsMax: 30)
        let settings = StreamMirror.Settings(
            source: sourceConfiguration, target: target, batch: batch, untilMet: untilMet, json: format.json)
        try await reportingFailures {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for stream in streams {
                    group.addTask { try await StreamMirror(stream: stream, settings: settings).run() }
                }
                try await group.waitForAll()
            }
        }
    }
}

/// One stream's mirror: its tail and its backfill.
struct StreamMirror: Sendable {
    struct Settings: Sendable {
        var source: SpoolClientConfiguration
        var target: SpoolClientConfiguration
        var batch: Int
        var untilMet: Bool
        var json: Bool
    }

    let stream: String
    let settings: Settings

    private func say(_ text: String) {
        Output.standardError.writeLine("spool mirror: \(stream): \(text)")
    }

    /// Where the two halves start: the history's end (nil: nothing to copy) and the tail's start.
    private func plan(source: SpoolClient, target: SpoolClient) async throws -> (through: EntryID?, tailAfter: EntryID) {
        let status = try await target.executeReturningErrors(RESPCommand("XBACKFILL", "STATUS", stream))
        if case .error(let message) = status, !message.contains("no such key") {
            throw CLIFailure(message: "\(stream): the Spool server refused XBACKFILL (\(message)); is it spoold?", code: CLIFailure.serverError)
        }
        if let fields = status.fieldMap, let through = fields["through"]?.entryID {
            // Resuming: the history up to `through` is still being copied; the tail went as far
            // as Spool's newest entry above it (a read that stays above the gap).
            let newest = try await target.reverseRange(stream, from: .end, to: .after(through), count: 1).first?.id
            let after = newest ?? through
            say("resuming: history through \(through) (copied through \(fields["filled-through"]?.entryID ?? .zero)), tail after \(after)")
            return (through, after)
        }
        if let spoolLast = try await target.lastEntryID(stream) {
            say("the Spool stream exists with no backfill open: its history is taken as complete; tailing after \(spoolLast)")
            return (nil, spoolLast)
        }
        guard let redisLast = try await source.lastEntryID(stream) else {
            say("empty or missing in Redis: tailing from the start")
            return (nil, .zero)
        }
        try await target.execute(RESPCommand("XBACKFILL", "BEGIN", stream, redisLast.description))
        say("started: history through \(redisLast) goes to the backfill table, newer entries to the live one")
        return (redisLast, redisLast)
    }

    func run() async throws {
        let source = try await connect(settings.source, "Redis")
        defer { source.close() }
        let target = try await connect(settings.target, "Spool")
        defer { target.close() }
        let (through, tailAfter) = try await plan(source: source, target: target)
        let met = Met()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let copied = try await backfill(through: through)
                await met.historyDone(copied)
            }
            group.addTask { try await tail(after: tailAfter, met: met) }
            try await group.waitForAll()
        }
    }

    private func connect(_ configuration: SpoolClientConfiguration, _ what: String) async throws -> SpoolClient {
        do {
            return try await SpoolClient.connect(configuration)
        } catch {
            throw CLIFailure(message: "cannot reach \(what) at \(configuration.host):\(configuration.port): \(error)", code: CLIFailure.connection)
        }
    }

    /// Copies the history up to `through`, oldest first, and closes the backfill. Returns how
    /// many entries it copied.
    private func backfill(through: EntryID?) async throws -> Int {
        guard let through else { return 0 }
        let source = try await connect(settings.source, "Redis")
        defer { source.close() }
        let target = try await connect(settings.target, "Spool")
        defer { target.close() }
        var copied = 0
        let status = try await target.execute(RESPCommand("XBACKFILL", "STATUS", stream))
        var after = status.fieldMap?["filled-through"]?.entryID ?? .zero
        while true {
            let page = try await source.range(stream, from: after == .zero ? .start : .after(after), to: .id(through), count: settings.batch)
            if page.isEmpty { break }
            try await write(page, to: target, as: ["XBACKFILL", "ADD", stream])
            copied += page.count
            after = page.last!.id
            if page.count < settings.batch { break }
        }
        try await target.execute(RESPCommand("XBACKFILL", "END", stream))
        return copied
    }

    /// Sends `entries` to Spool in one pipeline, each as `command` + its id and fields; the
    /// first error ends the mirror with it.
    private func write(_ entries: [Entry], to target: SpoolClient, as command: [String]) async throws {
        var commands: [RESPCommand] = []
        for entry in entries {
            var request = RESPCommand(arguments: command.map { Array($0.utf8) })
            request.append(entry.id)
            for field in entry.fields { request.append(field) }
            commands.append(request)
        }
        for (entry, reply) in zip(entries, try await target.pipeline(commands)) {
            if case .error(let message) = reply {
                let name = command.prefix(command.count - 1).joined(separator: " ")
                throw CLIFailure(message: "\(stream): \(name) \(entry.id) failed: \(message)", code: CLIFailure.serverError)
            }
        }
    }

    /// Appends what Redis gets after `after` to Spool with the same ids, for ever (or, with
    /// --until-met, until the history is done and the tail has caught up).
    private func tail(after start: EntryID, met: Met) async throws {
        let source = try await connect(settings.source, "Redis")
        defer { source.close() }
        let target = try await connect(settings.target, "Spool")
        defer { target.close() }
        var after = start
        var appended = 0
        while true {
            var read = RESPCommand("XREAD", "COUNT", String(settings.batch), "BLOCK", "500", "STREAMS", stream, after.description)
            if await met.isHistoryDone, settings.untilMet { read = RESPCommand("XREAD", "COUNT", String(settings.batch), "STREAMS", stream, after.description) }
            let reply = try await source.execute(read)
            let entries = reply.streamEntries?.first?.entries ?? []
            if !entries.isEmpty {
                try await write(entries, to: target, as: ["XADD", stream])
                appended += entries.count
                after = entries.last!.id
            }
            guard entries.count < settings.batch, let history = await met.history else { continue }
            // The history is complete and the tail has caught up with Redis.
            if await met.report() {
                let line =
                    settings.json
                    ? JSON.object([("stream", .string(stream)), ("history", .int(history)), ("live", .int(appended)), ("last_id", .string(after.description))]).text
                    : "\(stream): met at \(after): \(history) history entries copied, \(appended) live entries appended"
                Output.standardOutput.writeLine(line)
                Output.standardOutput.flush()
            }
            if settings.untilMet {
                try await copyCounters(source: source, target: target, last: after)
                return
            }
        }
    }

    /// XSETID with Redis's counters (entries-added, max-deleted-entry-id), when Redis has nothing
    /// newer than what Spool has, so XINFO STREAM reads the same on both.
    private func copyCounters(source: SpoolClient, target: SpoolClient, last: EntryID) async throws {
        let info = try await source.execute(RESPCommand("XINFO", "STREAM", stream))
        guard let fields = info.fieldMap, let lastGenerated = fields["last-generated-id"]?.entryID,
            let entriesAdded = fields["entries-added"]?.integer, let maxDeleted = fields["max-deleted-entry-id"]?.entryID
        else { return }
        guard lastGenerated == last || last == .zero else {
            say("Redis took new entries meanwhile: counters not copied (run again to catch up)")
            return
        }
        try await target.execute(
            RESPCommand("XSETID", stream, lastGenerated.description, "ENTRIESADDED", String(entriesAdded), "MAXDELETEDID", maxDeleted.description))
    }
}

/// Whether a stream's history is done, and whether its meeting was reported.
actor Met {
    private(set) var history: Int?
    private var reported = false

    var isHistoryDone: Bool { history != nil }

    func historyDone(_ copied: Int) { history = copied }

    /// True the first time it is asked.
    func report() -> Bool {
        defer { reported = true }
        return !reported
    }
}
