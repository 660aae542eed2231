import ArgumentParser
import Foundation
import SpoolClient

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Append entries to a stream.",
        discussion: """
            One entry from field/value arguments:      spool publish orders item book qty 1
            One entry per line of standard input:      tail -f app.log | spool publish logs
            (without field-value pairs or --file, piped standard input is read; --stdin reads it \
            from a terminal too)
            One entry per line of a file:              spool publish logs --file app.log
            Lines are stored in the field named by --field (default "data"); with --json-input \
            each line is a JSON object whose members become the fields. Entries from stdin or a \
            file are pipelined (--in-flight at a time) and appended in line order.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Argument(help: "The stream.")
    var stream: String

    @Argument(help: "Field-value pairs of one entry.")
    var fieldsAndValues: [String] = []

    @Flag(help: "Read entries from standard input, one per line.")
    var stdin = false

    @Option(help: "Read entries from this file, one per line.")
    var file: String?

    @Option(help: "The field lines are stored in.")
    var field = "data"

    @Flag(help: "Each input line is a JSON object of fields.")
    var jsonInput = false

    @Option(help: "Entry id for a single entry (default: * — the server picks).")
    var id = "*"

    @Option(help: "Trim the stream to at most this many entries.")
    var maxlen: Int?

    @Flag(help: "Trim approximately (MAXLEN ~), which is cheaper.")
    var approximate = false

    @Flag(help: "Tag entries with PRODUCER/SEQ (Spool) so a resend after a reconnect is not appended twice.")
    var idempotent = false

    @Option(help: "Producer id for --idempotent (default: a random one).")
    var producerID: String?

    @Option(help: "Publishes in flight at once when reading stdin or a file.")
    var inFlight = 256

    @Flag(help: "Print every id (stdin/file mode prints a summary otherwise).")
    var ids = false

    @Flag(inversion: .prefixedNo, help: "Show a progress bar for --file (default: when stderr is a terminal).")
    var progress: Bool?

    mutating func validate() throws {
        // Nothing to publish named and standard input is a pipe or a file: read it, as the help says.
        if fieldsAndValues.isEmpty && file == nil && !stdin && isatty(STDIN_FILENO) == 0 { stdin = true }
        let sources = (fieldsAndValues.isEmpty ? 0 : 1) + (stdin ? 1 : 0) + (file == nil ? 0 : 1)
        guard sources == 1 else {
            throw ValidationError("give field-value pairs, --stdin or --file (exactly one)")
        }
        guard fieldsAndValues.count % 2 == 0 else { throw ValidationError("fields and values come in pairs") }
        guard inFlight > 0 else { throw ValidationError("--in-flight must be positive") }
        if id != "*" && fieldsAndValues.isEmpty { throw ValidationError("--id only applies to a single entry") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            let trim = maxlen.map { Trim.maxLength($0, approximate: approximate) }
            if !fieldsAndValues.isEmpty {
                try await publishOne(client, trim: trim)
            } else {
                try await publishLines(client, trim: trim)
            }
        }
    }

    private func publishOne(_ client: SpoolClient, trim: Trim?) async throws {
        var fields: [Field] = []
        for index in stride(from: 0, to: fieldsAndValues.count, by: 2) {
            fields.append(Field(fieldsAndValues[index], fieldsAndValues[index + 1]))
        }
        let entryID: EntryID
        if idempotent {
            let producer = client.producer(
                for: stream, options: ProducerOptions(trim: trim, idempotence: .init(producerID: producerID)))
            defer { producer.close() }
            entryID = try await producer.publish(fields)
        } else {
            guard let id = try await client.publish(to: stream, fields, options: PublishOptions(id: id, trim: trim)) else {
                throw CLIFailure(message: "the stream does not exist", code: CLIFailure.notFound)
            }
            entryID = id
        }
        if format.json {
            Output.standardOutput.writeLine(JSON.object([("stream", .string(stream)), ("id", .string(entryID.description))]).text)
        } else {
            Output.standardOutput.writeLine(entryID.description)
        }
        Output.standardOutput.flush()
    }

    private func publishLines(_ client: SpoolClient, trim: Trim?) async throws {
        var fd: Int32 = 0
        var totalBytes: Int?
        if let file {
            fd = open(file, O_RDONLY)
            guard fd >= 0 else {
                throw CLIFailure(message: "cannot open \(file): \(String(cString: strerror(errno)))", code: ExitCode.validationFailure.rawValue)
            }
            totalBytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        }
        defer { if fd != 0 { close(fd) } }
        let counter = LineReader.ByteCounter()
        let producer = client.producer(
            for: stream,
            options: ProducerOptions(
                inFlightMax: inFlight, trim: trim, idempotence: idempotent ? .init(producerID: producerID) : nil))
        defer { producer.close() }
        let bar = ProgressBar(label: "publish \(stream)", force: file == nil ? false : progress)
        let started = Date()
        var pending: [PublishReceipt] = []
        var first: EntryID?
        var last: EntryID?
        var count = 0

        func settle(keeping limit: Int) async throws {
            // Receipts resolve in order; collect the oldest ones to report ids and surface errors.
            while pending.count > limit {
                let id = try await pending.removeFirst().entryID()
                if first == nil { first = id }
                last = id
                if ids { Output.standardOutput.writeLine(format.json ? JSON.string(id.description).text : id.description) }
            }
        }

        for await lines in LineReader(fd: fd, progress: counter) {
            for line in lines {
                let fields = try fieldsOf(line)
                guard !fields.isEmpty else { continue }
                pending.append(try await producer.send(fields))
                count += 1
                try await settle(keeping: inFlight)
            }
            bar.update(fraction: totalBytes.map { Double(counter.bytes) / Double(max($0, 1)) }, count: count, unit: "entries")
        }
        try await settle(keeping: 0)
        bar.update(fraction: totalBytes == nil ? nil : 1, count: count, unit: "entries", force: true)
        bar.finish()
        let seconds = Date().timeIntervalSince(started)
        if !ids {
            if format.json {
                Output.standardOutput.writeLine(
                    JSON.object([
                        ("stream", .string(stream)), ("published", .int(count)), ("first_id", .optional(first?.description)),
                        ("last_id", .optional(last?.description)), ("seconds", .double(seconds)),
                        ("entries_per_second", .double(seconds > 0 ? Double(count) / seconds : 0)),
                    ]).text)
            } else {
                var text = "published \(count.grouped) entries to \(stream)"
                if let first, let last { text += " (\(first) … \(last))" }
                text += " in \(seconds.fixed(2)) s"
                Output.standardOutput.writeLine(text)
            }
        }
        Output.standardOutput.flush()
    }

    private func fieldsOf(_ line: String) throws -> [Field] {
        if line.isEmpty { return [] }
        guard jsonInput else { return [Field(field, line)] }
        guard let data = line.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw CLIFailure(message: "not a JSON object: \(line.prefix(80))", code: ExitCode.validationFailure.rawValue)
        }
        // An entry from `spool replay --json` carries its fields under "fields".
        let members = (object["fields"] as? [String: Any]) ?? object
        return members.keys.sorted().map { key in
            let value = members[key]
            let text: String
            switch value {
            case let string as String: text = string
            case let number as NSNumber: text = number.stringValue
            case .none: text = ""
            default:
                let data = (try? JSONSerialization.data(withJSONObject: value!, options: [.fragmentsAllowed])) ?? Data()
                text = String(decoding: data, as: UTF8.self)
            }
            return Field(key, text)
        }
    }
}
