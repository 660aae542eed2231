import ArgumentParser
import SpoolClient

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a stream's entries from an id or a time, oldest first.",
        discussion: """
            Times are ISO 8601 ("2024-05-01T12:00:00Z"), milliseconds since the epoch, or an age \
            ("90s", "15m", "2h", "1d"); entry ids begin with the millisecond they were added. A \
            progress bar is drawn on stderr when it is a terminal.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Argument(help: "The stream.")
    var stream: String

    @Option(help: "First entry id (inclusive); default: the beginning.")
    var from: String?

    @Option(help: "Start at this time instead of an id.")
    var since: String?

    @Option(help: "Last entry id or time (inclusive); default: the end.")
    var until: String?

    @Option(help: "Stop after this many entries.")
    var count: Int?

    @Option(help: "Entries fetched per request.")
    var batch = 1000

    @Flag(inversion: .prefixedNo, help: "Show a progress bar (default: when stderr is a terminal).")
    var progress: Bool?

    func validate() throws {
        if from != nil && since != nil { throw ValidationError("give --from or --since, not both") }
        if let from, EntryID(from, missingSequence: .zero) == nil, from != "-" {
            throw ValidationError("--from: not an entry id: \(from)")
        }
        if let since, TimeParsing.milliseconds(since) == nil { throw ValidationError("--since: not a time: \(since)") }
        if let until, untilPosition(until) == nil { throw ValidationError("--until: not an id or a time: \(until)") }
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
        if batch <= 0 { throw ValidationError("--batch must be positive") }
    }

    private func untilPosition(_ text: String) -> StreamPosition? {
        if text == "+" { return .end }
        if text.contains("-"), let id = EntryID(text, missingSequence: .reject) { return .id(id) }
        return TimeParsing.milliseconds(text).map { .time(milliseconds: $0) }
    }

    func run() async throws {
        try await withClient(connection) { client in
            var start = StreamPosition.start
            if let from, from != "-" { start = .id(EntryID(from, missingSequence: .zero)!) }
            if let since { start = .time(milliseconds: TimeParsing.milliseconds(since)!) }
            let end = until.flatMap(untilPosition) ?? .end

            // The id range being replayed, for the bar: from the first entry's time to the last's.
            let bar = ProgressBar(label: "replay \(stream)", force: progress)
            var span: (UInt64, UInt64)?
            if progress ?? Output.standardError.isTerminal {
                let first = try await client.range(stream, from: start, to: end, count: 1).first
                let last = try await client.reverseRange(stream, from: end, to: start, count: 1).first
                if let first, let last { span = (first.id.milliseconds, last.id.milliseconds) }
            }
            let output = Output.standardOutput
            var shown = 0
            replay: for try await entries in client.replay(stream, from: start, until: end, batchSize: batch).batches {
                for entry in entries {
                    output.writeLine(format.json ? entry.json().text : entry.line)
                    shown += 1
                    if let count, shown >= count { break replay }
                }
                if let (low, high) = span, let last = entries.last {
                    let fraction = high > low ? Double(last.id.milliseconds - low) / Double(high - low) : 1
                    bar.update(fraction: fraction, count: shown, unit: "entries")
                } else {
                    bar.update(fraction: nil, count: shown, unit: "entries")
                }
            }
            output.flush()
            bar.update(fraction: span == nil ? nil : 1, count: shown, unit: "entries", force: true)
            bar.finish()
        }
    }
}
