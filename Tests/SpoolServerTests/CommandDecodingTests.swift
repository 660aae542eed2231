import Testing
import SpoolCore
import SpoolProtocol
@testable import SpoolServer

/// Requests decoded once on the loop thread: options parsed and checked there, errors in Redis's
/// order, and what the storage thread then runs.
@Suite struct CommandDecodingTests {
    private func decode(_ words: String...) -> Result<Command, CommandErrorText> {
        let args = RequestArguments(words.map { Array($0.utf8) })
        guard case .success(let found) = CommandTable.resolve(args), let name = found.top.storageName else {
            Issue.record("not a storage command: \(words)")
            return .failure(CommandErrorText("not a storage command"))
        }
        return Command.decode(name, args, databases: 16)
    }

    private func error(_ result: Result<Command, CommandErrorText>) -> String? {
        if case .failure(let error) = result { return error.text }
        return nil
    }

    @Test func xaddOptionsAreParsedOnceAndChecked() {
        guard case .success(.xadd(let add)) = decode("XADD", "s", "MAXLEN", "~", "10", "*", "f", "v") else {
            Issue.record("XADD did not decode")
            return
        }
        #expect(add.key == Array("s".utf8))
        #expect(add.fields.map { String(decoding: $0, as: UTF8.self) } == ["f", "v"])
        #expect(add.options.trim?.approximate == true)
        #expect(error(decode("XADD", "s", "*", "f")) == CommandError.arity("xadd"))
        #expect(error(decode("XADD", "s", "0-0", "f", "v")) == CommandError.xaddZeroID)
        #expect(error(decode("XADD", "s", "MAXLEN", "x", "*", "f", "v")) == CommandError.notInteger)
        #expect(error(decode("XADD", "s", "IDMP", "p", "1", "1-1", "f", "v"))
            == "ERR syntax error, IDMP/IDMPAUTO can be used only with auto-generated IDs")
    }

    /// Keyspace commands answer their syntax, cursor and database-index errors before the store.
    @Test func keyspaceCommandsAreCheckedWhenDecoded() throws {
        guard case .keys(.scan(let scan)) = try decode("SCAN", "7", "MATCH", "a*", "COUNT", "3", "TYPE", "Stream").get() else {
            Issue.record("SCAN did not decode")
            return
        }
        #expect(scan.cursor == 7 && scan.pattern == Array("a*".utf8) && scan.count == 3 && !scan.onlyOtherTypes)
        guard case .keys(.scan(let other)) = try decode("SCAN", "0", "TYPE", "string").get() else { return }
        #expect(other.onlyOtherTypes)
        #expect(error(decode("SCAN", "-1")) == "ERR invalid cursor")
        #expect(error(decode("SCAN", "0", "COUNT", "0")) == CommandError.syntax)
        #expect(error(decode("SCAN", "0", "COUNT")) == CommandError.syntax)
        #expect(error(decode("FLUSHALL", "LATER")) == CommandError.syntax)
        #expect(try decode("flushdb", "async").get().name == .flushdb)
        #expect(error(decode("SWAPDB", "x", "1")) == "ERR invalid first DB index")
        #expect(error(decode("SWAPDB", "0", "16")) == "ERR DB index is out of range")
        #expect(error(decode("MOVE", "s", "y")) == CommandError.notInteger)
        guard case .keys(.move(let key, let target)) = try decode("MOVE", "s", "3").get() else {
            Issue.record("MOVE did not decode")
            return
        }
        #expect(key == Array("s".utf8) && target == 3)
        #expect(try decode("UNLINK", "a", "b").get().name == .del)
    }

    /// XPENDING and XAUTOCLAIM answer option errors before looking for their group; XCLAIM carries
    /// its option errors to where the group is found (Redis checks the group first).
    @Test func claimsAndPendingListsAreCheckedInRedisOrder() throws {
        guard case .xpending(let pending) = try decode("XPENDING", "s", "g", "IDLE", "5", "-", "+", "10", "c").get(),
            let range = pending.range
        else {
            Issue.record("XPENDING did not decode")
            return
        }
        #expect(range.minIdle == 5 && range.count == 10 && range.consumer == Array("c".utf8))
        #expect(try decode("XPENDING", "s", "g").get().name == .xpending)
        #expect(error(decode("XPENDING", "s", "g", "-", "+")) == CommandError.syntax)
        #expect(error(decode("XPENDING", "s", "g", "-", "+", "x")) == CommandError.notInteger)
        #expect(error(decode("XAUTOCLAIM", "s", "g", "c", "x", "0")) == "ERR Invalid min-idle-time argument for XAUTOCLAIM")
        #expect(error(decode("XAUTOCLAIM", "s", "g", "c", "0", "0", "COUNT", "0")) == "ERR COUNT must be > 0")
        guard case .xclaim(let claim) = try decode("XCLAIM", "s", "g", "c", "0", "1-1", "BOGUS").get() else {
            Issue.record("XCLAIM did not decode")
            return
        }
        guard case .failure(let deferred) = claim.options else {
            Issue.record("XCLAIM's option error was not carried")
            return
        }
        #expect(deferred.text == "ERR Unrecognized XCLAIM option 'BOGUS'")
        guard case .xclaim(let good) = try decode("XCLAIM", "s", "g", "c", "-5", "1-1", "2", "TIME", "7", "IDLE", "3").get(),
            case .success(let options) = good.options, case .idle(3) = options.deliveryTime
        else {
            Issue.record("XCLAIM's options did not parse")
            return
        }
        #expect(options.minIdle == 0 && options.ids.count == 2)
    }

    /// A field or value spelled like an option is data: only options make an append conditional.
    @Test func onlyRealOptionsMakeAnAppendConditional() throws {
        let plain = try decode("XADD", "s", "*", "IFLAST", "PRODUCER").get()
        #expect(!plain.isConditionalAppend)
        let conditional = try decode("XADD", "s", "IFLAST", "1-1", "*", "f", "v").get()
        #expect(conditional.isConditionalAppend)
    }

    @Test func onlyReadsWithBlockMayBlock() throws {
        #expect(try decode("XREAD", "BLOCK", "0", "STREAMS", "s", "$").get().mayBlock)
        #expect(try !decode("XREAD", "COUNT", "1", "STREAMS", "s", "0").get().mayBlock)
        #expect(try decode("XREADGROUP", "GROUP", "g", "BLOCK", "STREAMS", "s", ">").get().mayBlock == false)
        #expect(try decode("XREADGROUP", "GROUP", "g", "c", "BLOCK", "5", "STREAMS", "s", ">").get().mayBlock)
        #expect(error(decode("XREAD", "BLOCK", "-1", "STREAMS", "s", "$")) == "ERR timeout is negative")
        #expect(error(decode("XREAD", "STREAMS", "s", ">"))
            == "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")
    }

    @Test func rangeBoundsAreResolvedWhenDecoded() throws {
        guard case .xrange(let range) = try decode("XREVRANGE", "s", "(5-0", "-", "COUNT", "2").get() else {
            Issue.record("XREVRANGE did not decode")
            return
        }
        #expect(range.reverse)
        #expect(range.end == EntryID(milliseconds: 4, sequence: .max))
        #expect(range.start == .min)
        #expect(range.count == 2)
        #expect(error(decode("XRANGE", "s", "-", "+", "COUNT")) == CommandError.syntax)
    }

    /// The storage thread answers what needs the store (no such group) before a bad id of the
    /// same stream, as Redis does; option errors inside MULTI are answered in place at EXEC and
    /// the rest of the transaction runs.
    @Test func errorsComeInRedisOrder() async throws {
        let harness = try ExecutorHarness()
        defer { harness.shutdown() }
        let missing = await harness.send("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$")
        #expect(missing.text?.hasPrefix("NOGROUP") == true)
        _ = await harness.send("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM")
        let bad = await harness.send("XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", "$")
        #expect(bad.text?.hasPrefix("ERR The $ ID is meaningless in the context of XREADGROUP") == true)
        // XACK: no such group answers 0 whatever the ids; with the group, a bad id is an error.
        #expect(await harness.send("XACK", "nothing", "g", "bad").integerValue == 0)
        #expect(await harness.send("XACK", "s", "g", "1-1", "bad").text == CommandError.invalidStreamID)
        // XDEL checks its ids first; XDELEX answers -1 per id for a missing stream, ids unchecked.
        #expect(await harness.send("XDEL", "nothing", "bad").text == CommandError.invalidStreamID)
        #expect(await harness.send("XDELEX", "nothing", "IDS", "1", "bad").elements.map(\.integerValue) == [-1])
        #expect(await harness.send("XDELEX", "s", "IDS", "1", "bad").text == CommandError.invalidStreamID)
        #expect(await harness.send("XACKDEL", "s", "g", "IDS", "2", "1-1").text
            == "ERR The `numids` parameter must match the number of arguments")
        let slot = harness.submit(
            [["XADD", "s", "MAXLEN", "-1", "*", "f", "v"], ["XADD", "s", "*", "f", "v"], ["XLEN", "s"]], transaction: true)
        let replies = await harness.replies(slot).first?.elements ?? []
        #expect(replies.count == 3)
        #expect(replies.first?.text == CommandError.maxLengthNegative)
        #expect(replies.last?.integerValue == 1)
    }
}
