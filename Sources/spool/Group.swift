import ArgumentParser
import SpoolClient

struct Group: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Consumer groups: create, list with lag, consume, acknowledge, inspect pending entries, reset.",
        subcommands: [
            GroupCreate.self, GroupList.self, GroupConsumers.self, GroupConsume.self, GroupAck.self, GroupNack.self,
            GroupPending.self, GroupReset.self, GroupDelete.self,
        ])
}

/// Parses a group start: '$' (new entries), '0' (the beginning) or an entry id.
private func groupStart(_ text: String) -> GroupStart? {
    switch text {
    case "$": return .newEntries
    case "0", "-": return .beginning
    default: return EntryID(text, missingSequence: .zero).map { .after($0) }
    }
}

struct GroupCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a consumer group (XGROUP CREATE).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String

    @Option(help: "Where the group starts: '$' (new entries), '0' (every entry) or an entry id.")
    var start = "$"

    @Flag(help: "Create the stream if it does not exist.")
    var mkstream = false

    @Option(help: "Spool: after this many deliveries without an ack an entry leaves the group…")
    var maxDeliveries: Int?

    @Option(help: "Spool: …and is appended to this stream.")
    var deadLetter: String?

    func validate() throws {
        guard groupStart(start) != nil else { throw ValidationError("--start: '$', '0' or an entry id") }
        if deadLetter != nil && maxDeliveries == nil { throw ValidationError("--dead-letter needs --max-deliveries") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            try await client.createGroup(
                group, on: stream, startingAt: groupStart(start)!, makeStream: mkstream,
                deadLetter: maxDeliveries.map { DeadLetterPolicy(maxDeliveries: $0, deadLetterStream: deadLetter) })
            Output.standardOutput.writeLine(
                format.json ? JSON.object([("stream", .string(stream)), ("group", .string(group)), ("created", .bool(true))]).text : "OK")
            Output.standardOutput.flush()
        }
    }
}

struct GroupList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List a stream's groups with their lag (XINFO GROUPS).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String

    func run() async throws {
        try await withClient(connection) { client in
            let groups = try await client.groups(on: stream)
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.array(
                        groups.map {
                            .object([
                                ("name", .string($0.name)), ("consumers", .int($0.consumers)), ("pending", .int($0.pending)),
                                ("last_delivered_id", .string($0.lastDeliveredID.description)),
                                ("entries_read", .optional($0.entriesRead)), ("lag", .optional($0.lag)),
                            ])
                        }
                    ).text)
            } else {
                var table = Table("GROUP", "CONSUMERS", "PENDING", "LAST-DELIVERED", "ENTRIES-READ", "LAG")
                for group in groups {
                    table.add([
                        group.name, String(group.consumers), String(group.pending), group.lastDeliveredID.description,
                        group.entriesRead.map(String.init) ?? "-", group.lag.map(String.init) ?? "-",
                    ])
                }
                Output.standardOutput.writeLine(table.text)
            }
            Output.standardOutput.flush()
        }
    }
}

struct GroupConsumers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "consumers", abstract: "List a group's consumers (XINFO CONSUMERS).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String

    func run() async throws {
        try await withClient(connection) { client in
            let consumers = try await client.consumers(of: group, on: stream)
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.array(
                        consumers.map {
                            .object([
                                ("name", .string($0.name)), ("pending", .int($0.pending)), ("idle_ms", .int($0.idleMilliseconds)),
                                ("inactive_ms", .optional($0.inactiveMilliseconds)),
                            ])
                        }
                    ).text)
            } else {
                var table = Table("CONSUMER", "PENDING", "IDLE-MS", "INACTIVE-MS")
                for consumer in consumers {
                    table.add([
                        consumer.name, String(consumer.pending), String(consumer.idleMilliseconds),
                        consumer.inactiveMilliseconds.map(String.init) ?? "-",
                    ])
                }
                Output.standardOutput.writeLine(table.text)
            }
            Output.standardOutput.flush()
        }
    }
}

struct GroupConsume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Read entries as a group consumer, print them, and acknowledge each after printing.",
        discussion: """
            Delivers this consumer's unacknowledged entries first, then new ones. Runs until \
            interrupted or --count entries were shown.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String
    @Argument var consumer: String

    @Option(help: "Stop after this many entries.")
    var count: Int?

    @Flag(help: "Do not acknowledge (entries stay pending for this consumer).")
    var noAck = false

    @Option(help: "Also claim entries other consumers have left unacknowledged for this many milliseconds.")
    var claimIdle: Int?

    @Option(help: "Entries per read.")
    var batch = 100

    @Option(help: "Create the group if it does not exist, starting here ('$', '0' or an id).")
    var create: String?

    func validate() throws {
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        if let create, groupStart(create) == nil { throw ValidationError("--create: '$', '0' or an entry id") }
        if batch <= 0 { throw ValidationError("--batch must be positive") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let options = ConsumerOptions(
                batchSize: batch, claimIdle: claimIdle.map { .milliseconds($0) },
                createGroup: create.flatMap(groupStart), messagesMax: count)
            let output = Output.standardOutput
            for try await message in client.consumer(group: group, on: stream, name: consumer, options: options) {
                let extra: [(String, JSON)] = [("redelivery", .bool(message.isRedelivery))]
                output.writeLine(format.json ? message.entry.json(extra: extra).text : message.entry.line)
                output.flush()
                if !noAck { try await message.acknowledge() }
            }
        }
    }
}

struct GroupAck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ack", abstract: "Acknowledge entries (XACK); prints how many were pending.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String
    @Argument(help: "Entry ids.") var ids: [String]

    func validate() throws {
        _ = try entryIDs(ids)
    }

    func run() async throws {
        try await withClient(connection) { client in
            let n = try await client.acknowledge(try entryIDs(ids), group: group, on: stream)
            format.printCount(n, as: "acknowledged")
        }
    }
}

struct GroupNack: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nack", abstract: "Give entries back for redelivery (XNACK); prints how many.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String
    @Argument(help: "Entry ids.") var ids: [String]

    @Option(help: "Deliver again to the group's readers after this many milliseconds (Spool).")
    var delay = 0

    @Option(help: "silent (the delivery does not count), fail (it counts) or fatal (never deliver again).")
    var mode = "fail"

    func validate() throws {
        _ = try entryIDs(ids)
        if delay < 0 { throw ValidationError("--delay must not be negative") }
        if NackMode(rawValue: mode.uppercased()) == nil { throw ValidationError("--mode must be silent, fail or fatal") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let n = try await client.negativeAcknowledge(
                try entryIDs(ids), group: group, on: stream, mode: NackMode(rawValue: mode.uppercased())!,
                redeliverAfter: .milliseconds(delay))
            format.printCount(n, as: "given_back")
        }
    }
}

struct GroupPending: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pending", abstract: "Show a group's pending entries: summary and the oldest ones (XPENDING).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String

    @Option(help: "Only this consumer's entries.")
    var consumer: String?

    @Option(help: "How many entries to list.")
    var count = 20

    @Option(help: "Only entries idle at least this many milliseconds.")
    var minIdle: Int?

    func run() async throws {
        try await withClient(connection) { client in
            let summary = try await client.pendingSummary(group: group, on: stream)
            let entries = try await client.pending(
                group: group, on: stream, count: count, consumer: consumer, minimumIdle: minIdle.map { .milliseconds($0) })
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.object([
                        ("count", .int(summary.count)), ("lowest_id", .optional(summary.lowestID?.description)),
                        ("highest_id", .optional(summary.highestID?.description)),
                        ("consumers", .object(summary.consumers.sorted { $0.key < $1.key }.map { ($0.key, .int($0.value)) })),
                        (
                            "entries",
                            .array(
                                entries.map {
                                    .object([
                                        ("id", .string($0.id.description)), ("consumer", .string($0.consumer)),
                                        ("idle_ms", .int($0.idleMilliseconds)), ("deliveries", .int($0.deliveryCount)),
                                    ])
                                })
                        ),
                    ]).text)
            } else {
                var text = "\(summary.count) pending"
                if let low = summary.lowestID, let high = summary.highestID { text += ", ids \(low) … \(high)" }
                Output.standardOutput.writeLine(text)
                var perConsumer = Table("CONSUMER", "PENDING")
                for (name, n) in summary.consumers.sorted(by: { $0.key < $1.key }) { perConsumer.add([name, String(n)]) }
                if !summary.consumers.isEmpty { Output.standardOutput.writeLine("\n" + perConsumer.text) }
                if !entries.isEmpty {
                    var table = Table("ID", "CONSUMER", "IDLE-MS", "DELIVERIES")
                    for entry in entries {
                        table.add([entry.id.description, entry.consumer, String(entry.idleMilliseconds), String(entry.deliveryCount)])
                    }
                    Output.standardOutput.writeLine("\n" + table.text)
                }
            }
            Output.standardOutput.flush()
        }
    }
}

struct GroupReset: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset", abstract: "Move a group's position (XGROUP SETID): replay from the start, or skip ahead.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String

    @Option(help: "New position: '0' (the beginning), '$' (the end) or an entry id.")
    var to = "0"

    @Option(help: "The group's entries-read counter after the move (makes lag exact).")
    var entriesRead: Int?

    func validate() throws {
        guard groupStart(to) != nil else { throw ValidationError("--to: '$', '0' or an entry id") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let start = groupStart(to)!
            try await client.setGroupPosition(
                group, on: stream, to: start, entriesRead: entriesRead ?? (start == .beginning ? 0 : nil))
            Output.standardOutput.writeLine(
                format.json ? JSON.object([("group", .string(group)), ("position", .string(to))]).text : "OK")
            Output.standardOutput.flush()
        }
    }
}

struct GroupDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Destroy a group (XGROUP DESTROY).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String
    @Argument var group: String

    func run() async throws {
        try await withClient(connection) { client in
            guard try await client.destroyGroup(group, on: stream) else {
                throw CLIFailure(message: "no group \(group) on \(stream)", code: CLIFailure.notFound)
            }
            Output.standardOutput.writeLine(format.json ? JSON.object([("destroyed", .bool(true))]).text : "OK")
            Output.standardOutput.flush()
        }
    }
}

/// The entry ids of `group ack` and `group nack`: at least one, each complete (`ms-seq`).
private func entryIDs(_ texts: [String]) throws -> [EntryID] {
    guard !texts.isEmpty else { throw ValidationError("give at least one entry id") }
    return try texts.map { text in
        guard let id = EntryID(text, missingSequence: .reject) else { throw ValidationError("not an entry id: \(text)") }
        return id
    }
}
