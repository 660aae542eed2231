import ArgumentParser

@main
struct Spool: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Publish, follow, replay and administer Spool streams; benchmark any RESP server.",
        discussion: """
            Talks to spoold (or any Redis-compatible server) over RESP. Human-readable tables by \
            default; --json for machines (one JSON object per line for entries).

            Exit codes: 0 success, 1 the server answered with an error, 2 no such stream or group, \
            3 cannot connect or the connection was lost, 4 authentication failed, 64 bad usage.
            """,
        version: "0.1.0",
        subcommands: [
            Publish.self, Tail.self, Replay.self, Group.self, Streams.self, Stats.self, Bench.self, Mirror.self, Cluster.self,
        ])
}
