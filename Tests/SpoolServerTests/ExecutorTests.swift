import Testing
import SpoolProtocol
@testable import SpoolServer
@testable import SpoolStorage

/// Command execution on the storage thread, over a real store and no sockets: what a group of
/// commands replies, how blocked readers are woken and forgotten, and streams that leave memory.
@Suite struct ExecutorTests {
    @Test func appendsAndRangesReplyAsRedisDoes() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        #expect(await harness.send("XADD", "s", "1-1", "f", "a").text == "1-1")
        #expect(await harness.send("XADD", "s", "1-1", "f", "b").text
            == "ERR The ID specified in XADD is equal or smaller than the target stream top item")
        let slot = harness.submit([["XADD", "s", "2-0", "f", "b"], ["XLEN", "s"], ["XRANGE", "s", "-", "+", "COUNT", "1"]])
        let replies = await harness.replies(slot)
        #expect(replies.count == 3)
        #expect(replies[0].text == "2-0")
        #expect(replies[1].integerValue == 2)
        let first = replies[2].elements.first?.elements ?? []
        #expect(first.first?.text == "1-1")
        #expect(first.last?.elements.map(\.text) == ["f", "a"])
    }

    /// Options decoded on the loop thread whose errors Redis reports only once the stream or group
    /// is found: the missing stream or group comes first, then the option error.
    @Test func deferredOptionErrorsComeAfterTheStreamAndGroupChecks() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        #expect(await harness.send("XNACK", "s", "g", "LOUDLY", "IDS", "1", "1-1").text?.hasPrefix("NOGROUP") == true)
        #expect(await harness.send("XCFGSET", "s", "BOGUS", "1").text == CommandError.noSuchKey)
        #expect(await harness.send("XINFO", "GROUPS", "s", "x").text == CommandError.noSuchKey)
        #expect(await harness.send("XGROUP", "CREATE", "s", "g", "bad-id").text?.hasPrefix("ERR The XGROUP subcommand requires the key to exist") == true)
        #expect(await harness.send("XCLAIM", "s", "g", "c", "x", "1-1").text?.hasPrefix("NOGROUP") == true)
        _ = await harness.send("XADD", "s", "1-1", "f", "v")
        #expect(await harness.send("XCFGSET", "s", "BOGUS", "1").text == CommandError.syntax)
        #expect(await harness.send("XINFO", "GROUPS", "s", "x").text == CommandError.arity("xinfo|groups"))
        #expect(await harness.send("XGROUP", "CREATE", "s", "g", "bad-id").text == CommandError.invalidStreamID)
        #expect(await harness.send("XGROUP", "SETID", "s", "g", "0", "x").text == CommandError.subcommandSyntax(
            [Array("XGROUP".utf8), Array("SETID".utf8)]))
        #expect(await harness.send("XGROUP", "SETID", "s", "g", "0").text?.hasPrefix("NOGROUP") == true)
        #expect(await harness.send("XGROUP", "CREATE", "s", "g", "$").text == "OK")
        #expect(await harness.send("XGROUP", "SETID", "s", "g", "0", "ENTRIESREAD").text == CommandError.subcommandSyntax(
            [Array("XGROUP".utf8), Array("SETID".utf8)]))
        #expect(await harness.send("XNACK", "s", "g", "LOUDLY", "IDS", "1", "1-1").text == "ERR mode must be SILENT, FAIL, or FATAL")
        #expect(await harness.send("XCLAIM", "s", "g", "c", "x", "1-1").text == "ERR Invalid min-idle-time argument for XCLAIM")
        #expect(await harness.send("XGROUP", "SETID", "s", "g", "-").text == "OK")
    }

    @Test func aFailedIfVersionInsideATransactionKeepsNothing() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        _ = await harness.send("XADD", "order", "*", "e", "created")
        let slot = harness.submit(
            [["XADD", "audit", "*", "e", "x"], ["XADD", "order", "IFVERSION", "0", "*", "e", "late"]], transaction: true)
        let reply = await harness.replies(slot)
        #expect(reply.first?.text == "EXECABORT Transaction discarded: IFVERSION the stream's version is 1")
        #expect(await harness.send("EXISTS", "audit").integerValue == 0)
        #expect(await harness.send("XADD", "order", "IFVERSION", "1", "*", "e", "paid").text != nil)
        #expect(await harness.send("XLEN", "order").integerValue == 2)
    }

    @Test func aBlockedReaderIsServedByTheAppendThatWakesIt() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        _ = await harness.send("XADD", "s", "1-0", "f", "old")
        let reader = harness.submit([["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]], connection: 2)
        // Nothing for it yet: a later group on another connection runs before it is answered.
        #expect(await harness.send("XLEN", "s").integerValue == 1)
        #expect(!harness.isDelivered(reader))
        _ = await harness.send("XADD", "s", "2-0", "f", "new")
        let reply = await harness.replies(reader)
        let entries = reply.first?.elements.first?.elements.last?.elements ?? []
        #expect(entries.map { $0.elements.first?.text } == ["2-0"])
    }

    @Test func aClosedConnectionsBlockedGroupReaderTakesNothing() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        _ = await harness.send("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        let reader = harness.submit([["XREADGROUP", "GROUP", "g", "gone", "BLOCK", "0", "STREAMS", "s", ">"]], connection: 7)
        harness.control(.connectionClosed(7))
        _ = await harness.send("XADD", "s", "1-0", "f", "v")
        let pending = await harness.send("XPENDING", "s", "g")
        #expect(pending.elements.first?.integerValue == 0)
        let read = await harness.send("XREADGROUP", "GROUP", "g", "here", "COUNT", "5", "STREAMS", "s", ">")
        #expect(read.elements.first?.elements.last?.elements.count == 1)
        // Asked after two more round trips: a reply for it would have come with the append's.
        #expect(!harness.isDelivered(reader))
    }

    @Test func streamsLetGoByTheCacheAnswerAsBefore() async throws {
        let harness = try ExecutorHarness(limits: Executor.Limits(readCountMax: 1_000_000, streamCacheMax: 3))
        defer { harness.shutdown() }
        for n in 0..<30 {
            #expect(await harness.send("XADD", "s\(n)", "\(n + 1)-0", "n", "\(n)").text == "\(n + 1)-0")
            _ = await harness.send("XGROUP", "CREATE", "s\(n)", "g", "0")
        }
        for n in 0..<30 {
            let read = await harness.send("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s\(n)", ">")
            let entry = read.elements.first?.elements.last?.elements.first?.elements ?? []
            #expect(entry.first?.text == "\(n + 1)-0")
            #expect(await harness.send("XADD", "s\(n)", "IFVERSION", "1", "*", "n", "again").text != nil)
        }
        let info = await harness.send("INFO", "streams")
        #expect(info.text?.contains("spool_stream_loads:") == true)
        #expect(await harness.send("DBSIZE").integerValue == 30)
    }
}
