import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load generator: closed-loop and open-loop publishing, end-to-end publish→consume latency.",
        discussion: """
            Points at any RESP server (--host/--port), so the same run can measure spoold and \
            redis-server. Latency percentiles come from an HdrHistogram (p50, p90, p99, p99.9, \
            max); --json prints the result as one object; --plot FILE.svg draws the latency \
            distribution.
            """,
        subcommands: [ClosedLoopBench.self, OpenLoopBench.self, EndToEndBench.self])
}
