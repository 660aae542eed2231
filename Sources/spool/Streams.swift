import ArgumentParser
import SpoolClient

struct Streams: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List streams, show one, trim or delete them.",
        subcommands: [StreamsList.self, StreamsInfo.self, StreamsTrim.self, StreamsDelete.self])
}

struct StreamsList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List streams with their length, size and last id.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Option(help: "Glob pattern of names.")
    var pattern = "*"

    func run() async throws {
        try await withClient(connection) { client in
            let names = try await client.streams(matching: pattern)
            // One pipelined XINFO STREAM and MEMORY USAGE per stream.
            let replies = try await client.pipeline(
                names.flatMap { [RESPCommand("XINFO", "STREAM", $0), RESPCommand("MEMORY", "USAGE", $0)] })
            var rows: [(String, StreamInfo?, Int64?)] = []
            for (index, name) in names.enumerated() {
                // Deleted between SCAN and XINFO: nil.
                rows.append((name, try? StreamInfo(replies[2 * index]), replies[2 * index + 1].integer))
            }
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.array(
                        rows.compactMap { name, info, bytes in
                            guard let info else { return nil }
                            return .object([
                                ("name", .string(name)), ("length", .int(info.length)), ("bytes", .optional(bytes.map(Int.init))),
                                ("last_id", .string(info.lastGeneratedID.description)), ("groups", .int(info.groups)),
                            ])
                        }
                    ).text)
            } else {
                var table = Table("STREAM", "LENGTH", "BYTES", "LAST-ID", "GROUPS")
                for (name, info, bytes) in rows {
                    guard let info else { continue }
                    table.add([name, String(info.length), bytes.map { String($0) } ?? "-", info.lastGeneratedID.description, String(info.groups)])
                }
                Output.standardOutput.writeLine(table.text)
            }
            Output.standardOutput.flush()
        }
    }
}

struct StreamsInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "info", abstract: "Show one stream (XINFO STREAM).")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String

    func run() async throws {
        try await withClient(connection) { client in
            let info = try await client.streamInfo(stream)
            let bytes = try await client.size(stream)
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.object([
                        ("name", .string(stream)), ("length", .int(info.length)), ("bytes", .optional(bytes)),
                        ("last_generated_id", .string(info.lastGeneratedID.description)),
                        ("max_deleted_entry_id", .optional(info.maxDeletedEntryID?.description)),
                        ("entries_added", .optional(info.entriesAdded)), ("groups", .int(info.groups)),
                        ("first_entry", info.firstEntry?.json() ?? .null), ("last_entry", info.lastEntry?.json() ?? .null),
                    ]).text)
            } else {
                var table = Table("FIELD", "VALUE")
                table.add(["name", stream])
                table.add(["length", String(info.length)])
                table.add(["bytes", bytes.map(String.init) ?? "-"])
                table.add(["last-generated-id", info.lastGeneratedID.description])
                table.add(["max-deleted-entry-id", info.maxDeletedEntryID?.description ?? "-"])
                table.add(["entries-added", info.entriesAdded.map(String.init) ?? "-"])
                table.add(["groups", String(info.groups)])
                table.add(["first-entry", info.firstEntry?.line ?? "-"])
                table.add(["last-entry", info.lastEntry?.line ?? "-"])
                Output.standardOutput.writeLine(table.text)
            }
            Output.standardOutput.flush()
        }
    }
}

struct StreamsTrim: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "trim", abstract: "Trim a stream (XTRIM); prints how many entries went.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var stream: String

    @Option(help: "Keep at most this many entries.")
    var maxlen: Int?

    @Option(help: "Drop entries with ids below this one.")
    var minid: String?

    @Flag(help: "Trim approximately (~): cheaper, may keep a few more.")
    var approximate = false

    func validate() throws {
        guard (maxlen == nil) != (minid == nil) else { throw ValidationError("give --maxlen or --minid (one of them)") }
        if let minid, EntryID(minid, missingSequence: .zero) == nil { throw ValidationError("--minid: not an entry id") }
        if let maxlen, maxlen < 0 { throw ValidationError("--maxlen must not be negative") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let trim: Trim =
                maxlen.map { .maxLength($0, approximate: approximate) }
                ?? .minimumID(EntryID(minid!, missingSequence: .zero)!, approximate: approximate)
            let removed = try await client.trim(stream, trim)
            format.printCount(removed, as: "removed")
        }
    }
}

struct StreamsDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete streams (DEL); prints how many existed.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions
    @Argument var streams: [String]

    func validate() throws {
        guard !streams.isEmpty else { throw ValidationError("give at least one stream") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let deleted = try await client.delete(streams: streams)
            format.printCount(deleted, as: "deleted")
        }
    }
}
