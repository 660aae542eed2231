import SpoolProtocol
import Testing

/// A malformed reply and the error the reply decoder gives for it.
struct MalformedReply: Sendable, CustomTestStringConvertible {
    let input: String
    let message: String
    var limits = RESPLimits()

    var testDescription: String { String(reflecting: input) }
}

let malformedReplies: [MalformedReply] = [
    .init(input: "?\r\n", message: "Protocol error, got '?' as reply type byte"),
    .init(input: "\r\n", message: "Protocol error, got '\r' as reply type byte"),
    .init(input: ":abc\r\n", message: "Protocol error: invalid integer"),
    .init(input: ":\r\n", message: "Protocol error: invalid integer"),
    .init(input: ":99999999999999999999\r\n", message: "Protocol error: invalid integer"),
    .init(input: ",abc\r\n", message: "Protocol error: invalid double"),
    .init(input: ",\r\n", message: "Protocol error: invalid double"),
    .init(input: "#x\r\n", message: "Protocol error: invalid boolean"),
    .init(input: "#tt\r\n", message: "Protocol error: invalid boolean"),
    .init(input: "_x\r\n", message: "Protocol error: invalid null"),
    .init(input: "(12a\r\n", message: "Protocol error: invalid big number"),
    .init(input: "(\r\n", message: "Protocol error: invalid big number"),
    .init(input: "$-2\r\n", message: "Protocol error: invalid bulk length"),
    .init(input: "$x\r\n", message: "Protocol error: invalid bulk length"),
    .init(input: "$?\r\n", message: "Protocol error: invalid bulk length"),
    .init(input: "!-1\r\n", message: "Protocol error: invalid bulk length"),
    .init(input: "$3\r\nabcXY", message: "Protocol error: expected CRLF after bulk string"),
    .init(input: "=2\r\nab\r\n", message: "Protocol error: invalid verbatim string"),
    .init(input: "=5\r\ntxtxa\r\n", message: "Protocol error: invalid verbatim string"),
    .init(input: "=5\r\ntxé:\r\n", message: "Protocol error: invalid verbatim string"),
    .init(input: "*-2\r\n", message: "Protocol error: invalid multibulk length"),
    .init(input: "%-1\r\n", message: "Protocol error: invalid multibulk length"),
    .init(input: "*x\r\n", message: "Protocol error: invalid multibulk length"),
    .init(input: "+OK\rX", message: "Protocol error: expected LF after CR"),
    .init(
        input: "$9\r\n", message: "Protocol error: invalid bulk length",
        limits: RESPLimits(bulkLengthMax: 8)),
    .init(
        input: "*9\r\n", message: "Protocol error: invalid multibulk length",
        limits: RESPLimits(multibulkCountMax: 8)),
    .init(
        input: "%5\r\n", message: "Protocol error: invalid multibulk length",
        limits: RESPLimits(multibulkCountMax: 4)),
    .init(
        input: "+" + String(repeating: "a", count: 9),
        message: "Protocol error: reply line too long",
        limits: RESPLimits(inlineLengthMax: 8)),
]

@Suite struct RESPReplyDecoderTests {
    @Test(arguments: [UInt64(1), 2, 3], Feeding.all)
    func replyDecoderRoundTripsRandomValuesWrittenForRESP3(_ seed: UInt64, _ feeding: Feeding) {
        var random = RandomValues(seed: seed)
        let values = (0..<150).map { _ in random.value() }
        var writer = RESPWriter(version: .resp3)
        for value in values { writer.write(value) }
        let outcome = decodeReplies(writer.bytes, feeding: feeding)
        #expect(outcome.failure == nil)
        #expect(outcome.values.count == values.count)
        for (decoded, original) in zip(outcome.values, values) {
            #expect(decoded == original)
        }
    }

    @Test(arguments: [UInt64(4), 5, 6], Feeding.all)
    func replyDecoderReadsRESP2WritesAsTheirRESP2Forms(_ seed: UInt64, _ feeding: Feeding) {
        var random = RandomValues(seed: seed)
        let values = (0..<150).map { _ in random.value() }
        var writer = RESPWriter(version: .resp2)
        for value in values { writer.write(value) }
        let outcome = decodeReplies(writer.bytes, feeding: feeding)
        #expect(outcome.failure == nil)
        #expect(outcome.values == values.map(resp2Form))
    }

    @Test(
        arguments: [
            ("+OK\r\n", RESPValue.simpleString("OK")),
            ("-ERR no\r\n", .error("ERR no")),
            ("!8\r\nERR a\r\nb\r\n", .error("ERR a\r\nb")),
            (":+5\r\n", .integer(5)),
            (":-9223372036854775808\r\n", .integer(.min)),
            (":007\r\n", .integer(7)),
            ("$-1\r\n", .null),
            ("*-1\r\n", .null),
            ("_\r\n", .null),
            ("$0\r\n\r\n", .bulkString([])),
            (",1e3\r\n", .double(1000)),
            (",-inf\r\n", .double(-.infinity)),
            (",inf\r\n", .double(.infinity)),
            ("#t\r\n", .boolean(true)),
            ("#f\r\n", .boolean(false)),
            ("(-123456789012345678901234567890\r\n", .bigNumber("-123456789012345678901234567890")),
            ("=8\r\nmkd:# hi\r\n", .verbatim(format: "mkd", text: bytes("# hi"))),
            ("%0\r\n", .map([])),
            ("~2\r\n:1\r\n:2\r\n", .set([.integer(1), .integer(2)])),
            (
                ">2\r\n+message\r\n$2\r\nhi\r\n",
                .push([.simpleString("message"), .bulkString("hi")])
            ),
            ("%1\r\n+a\r\n*1\r\n_\r\n", .map([.init(.simpleString("a"), .array([.null]))])),
        ] as [(String, RESPValue)])
    func replyDecoderReadsEveryType(_ input: String, _ expected: RESPValue) {
        for feeding in Feeding.all {
            #expect(
                decodeReplies(bytes(input), feeding: feeding) == ReplyOutcome(values: [expected]))
        }
    }

    @Test func replyDecoderReadsNaN() throws {
        var decoder = RESPReplyDecoder()
        decoder.append(bytes(",nan\r\n"))
        guard case .double(let d) = try decoder.next() else {
            Issue.record("expected a double")
            return
        }
        #expect(d.isNaN)
    }

    @Test(arguments: Feeding.all)
    func replyDecoderSkipsAttributes(_ feeding: Feeding) {
        let input = bytes(
            "|1\r\n+ttl\r\n:3600\r\n:42\r\n"  // annotates a top-level integer
                + "*3\r\n:1\r\n|2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n:2\r\n:3\r\n"  // inside an array
                + "|0\r\n+OK\r\n"  // empty
                + "|1\r\n+nested\r\n|1\r\n+x\r\n+y\r\n%1\r\n+k\r\n+v\r\n+after\r\n")
        let outcome = decodeReplies(input, feeding: feeding)
        #expect(
            outcome
                == ReplyOutcome(values: [
                    .integer(42), .array([.integer(1), .integer(2), .integer(3)]),
                    .simpleString("OK"), .simpleString("after"),
                ]))
    }

    @Test(arguments: malformedReplies, Feeding.all)
    func replyDecoderRejectsMalformedReply(_ reply: MalformedReply, _ feeding: Feeding) {
        let outcome = decodeReplies(bytes(reply.input), feeding: feeding, limits: reply.limits)
        #expect(outcome.failure == RESPProtocolError(message: reply.message))
    }

    @Test func replyDecoderRejectsNestingDeeperThanLimit() {
        let input = bytes(String(repeating: "*1\r\n", count: 9) + ":1\r\n")
        #expect(
            decodeReplies(input, nestingDepthMax: 8).failure
                == RESPProtocolError(message: "Protocol error: reply nested too deeply"))
        var expected = RESPValue.integer(1)
        for _ in 0..<9 { expected = .array([expected]) }
        #expect(decodeReplies(input, nestingDepthMax: 9) == ReplyOutcome(values: [expected]))
    }

    @Test func replyDecoderReturnsNilUntilReplyIsComplete() throws {
        var decoder = RESPReplyDecoder()
        let input = bytes("*2\r\n$5\r\nhello\r\n%1\r\n+a\r\n:1\r\n")
        for byte in input.dropLast() {
            decoder.append([byte])
            #expect(try decoder.next() == nil)
        }
        decoder.append([input.last!])
        #expect(
            try decoder.next()
                == .array([.bulkString("hello"), .map([.init(.simpleString("a"), .integer(1))])]))
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func replyDecoderWithoutPracticalLimitsWaitsInsteadOfOverflowing() throws {
        let limits = RESPLimits(bulkLengthMax: .max, multibulkCountMax: .max)
        var decoder = RESPReplyDecoder(limits: limits)
        decoder.append(bytes("*9223372036854775807\r\n$9223372036854775807\r\nabc"))
        #expect(try decoder.next() == nil)
        var mapDecoder = RESPReplyDecoder(limits: limits)
        mapDecoder.append(bytes("%9223372036854775807\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: invalid multibulk length")) {
            try mapDecoder.next()
        }
    }

    @Test func replyDecoderKeepsFailingAfterAnError() {
        var decoder = RESPReplyDecoder()
        decoder.append(bytes("?\r\n+OK\r\n"))
        let expected = RESPProtocolError(message: "Protocol error, got '?' as reply type byte")
        #expect(throws: expected) { try decoder.next() }
        #expect(throws: expected) { try decoder.next() }
    }
}
