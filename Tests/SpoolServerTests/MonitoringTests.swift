import SpoolProtocol
import Testing

@testable import SpoolServer

@Suite struct MonitoringTests {
    private static func arguments(_ words: [String]) -> RequestArguments {
        RequestArguments(words.map { Array($0.utf8) })
    }

    @Test func theSlowlogKeepsTheNewestFirstUpToItsLength() {
        var log = SlowLog()
        for index in 0..<5 {
            log.record(
                Self.arguments(["XLEN", "s\(index)"]), microseconds: 20, thresholdMicroseconds: 10, capacity: 3,
                clientAddress: "127.0.0.1:1", clientName: [], now: 1_000_000)
        }
        #expect(log.entries.map(\.id) == [4, 3, 2])
        #expect(log.entries[0].arguments == [Array("XLEN".utf8), Array("s4".utf8)])
        #expect(log.entries[0].timestamp == 1000)
    }

    @Test func theSlowlogTakesOnlyCommandsAtTheThresholdOrAbove() {
        var log = SlowLog()
        log.record(Self.arguments(["A"]), microseconds: 9, thresholdMicroseconds: 10, capacity: 10, clientAddress: "", clientName: [], now: 0)
        log.record(Self.arguments(["B"]), microseconds: 10, thresholdMicroseconds: 10, capacity: 10, clientAddress: "", clientName: [], now: 0)
        log.record(Self.arguments(["C"]), microseconds: 99, thresholdMicroseconds: -1, capacity: 10, clientAddress: "", clientName: [], now: 0)
        log.record(Self.arguments(["D"]), microseconds: 99, thresholdMicroseconds: 0, capacity: 0, clientAddress: "", clientName: [], now: 0)
        #expect(log.entries.map { $0.arguments[0] } == [Array("B".utf8)])
    }

    @Test func longArgumentsAndLongCommandLinesAreTrimmedAsRedisTrimsThem() {
        let many = SlowLog.trimmed(Self.arguments((0..<40).map { "a\($0)" }))
        #expect(many.count == 32)
        #expect(many[30] == Array("a30".utf8))
        #expect(many[31] == Array("... (9 more arguments)".utf8))
        let exactly32 = SlowLog.trimmed(Self.arguments((0..<32).map { "a\($0)" }))
        #expect(exactly32.count == 32 && exactly32[31] == Array("a31".utf8))
        let long = SlowLog.trimmed(Self.arguments(["XADD", String(repeating: "x", count: 130)]))
        #expect(long[1] == Array((String(repeating: "x", count: 128) + "... (2 more bytes)").utf8))
    }

    @Test func passwordsAreRedactedBeforeLogging() throws {
        let auth = try #require(CommandTable.lookup(fullName: Array("auth".utf8)))
        #expect(Server.redactedForLogs(auth, Self.arguments(["AUTH", "bob", "pw"])).arrays == [Array("AUTH".utf8), Array("(redacted)".utf8), Array("(redacted)".utf8)])
        let hello = try #require(CommandTable.lookup(fullName: Array("hello".utf8)))
        let redacted = Server.redactedForLogs(hello, Self.arguments(["HELLO", "3", "AUTH", "bob", "pw", "SETNAME", "x"])).arrays
        #expect(redacted.map { String(decoding: $0, as: UTF8.self) } == ["HELLO", "3", "AUTH", "(redacted)", "(redacted)", "SETNAME", "x"])
        let setuser = try #require(CommandTable.lookup(fullName: Array("acl|setuser".utf8)))
        #expect(Server.redactedForLogs(setuser, Self.arguments(["ACL", "SETUSER", "bob", ">pw"])).arrays.suffix(2).allSatisfy { $0 == Array("(redacted)".utf8) })
    }

    @Test func latencySamplesKeepOnePerSecondTheLargest() {
        var monitor = LatencyMonitor()
        monitor.add("command", milliseconds: 5, at: 100)
        monitor.add("command", milliseconds: 9, at: 100)
        monitor.add("command", milliseconds: 3, at: 100)
        monitor.add("command", milliseconds: 2, at: 101)
        let series = monitor.series(named: Array("COMMAND".utf8))
        #expect(series?.samples.map(\.milliseconds) == [9, 2])
        #expect(series?.max == 9)
    }

    @Test func latencyHistoryKeeps160SamplesAndResetCounts() {
        var monitor = LatencyMonitor()
        for second in 0..<200 { monitor.add("aof-fsync-always", milliseconds: Int64(second), at: Int64(second)) }
        monitor.add("command", milliseconds: 1, at: 0)
        let series = monitor.series(named: Array("aof-fsync-always".utf8))
        #expect(series?.samples.count == 160)
        #expect(series?.samples.first?.time == 40)
        #expect(series?.max == 199)
        #expect(monitor.reset([Array("COMMAND".utf8), Array("nothing".utf8)]) == 1)
        #expect(monitor.reset([]) == 1)
        #expect(monitor.events.isEmpty)
    }
}
