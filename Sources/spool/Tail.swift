import ArgumentParser
import SpoolClient

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow a stream: print entries as they are added.",
        discussion: """
            Starts after the current last entry unless --from says otherwise, and keeps following \
            (reconnecting if the server restarts) until interrupted or --count entries were shown.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    @Argument(help: "The stream.")
    var stream: String

    @Option(help: "Start at this entry id, time (ISO 8601, ms since epoch, or an age like 10m), '0' (the beginning) or '$' (new entries only).")
    var from = "$"

    @Option(help: "Stop after this many entries.")
    var count: Int?

    func validate() throws {
        guard TimeParsing.position(from) != nil else { throw ValidationError("--from: not an id, a time, '0' or '$': \(from)") }
        if let count, count <= 0 { throw ValidationError("--count must be positive") }
    }

    func run() async throws {
        try await withClient(connection) { client in
            var shown = 0
            let output = Output.standardOutput
            for try await entry in client.tail(stream, from: TimeParsing.position(from)!) {
                output.writeLine(format.json ? entry.json().text : entry.line)
                output.flush()
                shown += 1
                if let count, shown >= count { break }
            }
        }
    }
}
