import SpoolProtocol
import Testing

/// A malformed request and the exact error Redis (or, where Redis has none, Spool) gives.
struct MalformedRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let message: String
    let limits: RESPLimits

    init(_ name: String, _ input: [UInt8], _ message: String, limits: RESPLimits = RESPLimits()) {
        self.name = name
        self.input = input
        self.message = message
        self.limits = limits
    }

    init(_ name: String, _ input: String, _ message: String, limits: RESPLimits = RESPLimits()) {
        self.init(name, bytes(input), message, limits: limits)
    }

    var testDescription: String { name }
}

private let invalidMultibulkLength = "Protocol error: invalid multibulk length"
private let invalidBulkLength = "Protocol error: invalid bulk length"

let malformedRequests: [MalformedRequest] = [
    .init("multibulk count not a number", "*abc\r\n", invalidMultibulkLength),
    .init("multibulk count empty", "*\r\n", invalidMultibulkLength),
    .init("multibulk count with leading zero", "*01\r\n", invalidMultibulkLength),
    .init("multibulk count with plus sign", "*+1\r\n", invalidMultibulkLength),
    .init("multibulk count minus zero", "*-0\r\n", invalidMultibulkLength),
    .init("multibulk count with trailing space", "*1 \r\n", invalidMultibulkLength),
    .init("multibulk count overflowing", "*99999999999999999999\r\n", invalidMultibulkLength),
    .init("multibulk count over default limit", "*1048577\r\n", invalidMultibulkLength),
    .init(
        "multibulk count over configured limit", "*3\r\n", invalidMultibulkLength,
        limits: RESPLimits(multibulkCountMax: 2)),
    .init("multibulk CR without LF", "*1\rX$4\r\nPING\r\n", invalidMultibulkLength),
    .init("bulk length negative", "*1\r\n$-1\r\n", invalidBulkLength),
    .init("bulk length not a number", "*1\r\n$abc\r\n", invalidBulkLength),
    .init("bulk length empty", "*1\r\n$\r\n", invalidBulkLength),
    .init("bulk length with leading zero", "*1\r\n$03\r\nfoo\r\n", invalidBulkLength),
    .init("bulk length over default limit", "*1\r\n$536870913\r\n", invalidBulkLength),
    .init(
        "bulk length over configured limit", "*1\r\n$5\r\nhello\r\n", invalidBulkLength,
        limits: RESPLimits(bulkLengthMax: 4)),
    .init("bulk length CR without LF", "*1\r\n$3\rXfoo\r\n", invalidBulkLength),
    .init("letter where bulk expected", "*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"),
    .init(
        "integer where second bulk expected", "*2\r\n$3\r\nfoo\r\n:1\r\n",
        "Protocol error: expected '$', got ':'"),
    .init(
        "blank line where bulk expected", "*1\r\n\r\n", "Protocol error: expected '$', got '\r'"),
    .init(
        "bulk payload longer than declared", "*1\r\n$3\r\nfooXY\r\n",
        "Protocol error: expected CRLF after bulk string"),
    .init(
        "multibulk count line without CR", "*" + String(repeating: "1", count: 64 << 10),
        "Protocol error: too big mbulk count string"),
    .init(
        "bulk length line without CR", "*1\r\n$" + String(repeating: "1", count: 64 << 10),
        "Protocol error: too big bulk count string"),
    .init(
        "bulk length line of garbage without CR",
        "*1\r\n" + String(repeating: "x", count: (64 << 10) + 1),
        "Protocol error: too big bulk count string"),
    .init(
        "multibulk count line over configured limit", "*123456789",
        "Protocol error: too big mbulk count string",
        limits: RESPLimits(inlineLengthMax: 8)),
    .init(
        "inline line without LF", String(repeating: "A", count: (64 << 10) + 1),
        "Protocol error: too big inline request"),
    .init(
        "inline line with LF past the limit",
        "PING " + String(repeating: "A", count: 64 << 10) + "\n",
        "Protocol error: too big inline request"),
    .init(
        "inline line over configured limit", "GET abcdefgh\r\n",
        "Protocol error: too big inline request", limits: RESPLimits(inlineLengthMax: 8)),
    .init(
        "unterminated double quote", "SET k \"abc\r\n",
        "Protocol error: unbalanced quotes in request"),
    .init(
        "unterminated single quote", "SET k 'abc\n",
        "Protocol error: unbalanced quotes in request"),
    .init(
        "text right after closing double quote", "SET k \"a\"b\n",
        "Protocol error: unbalanced quotes in request"),
    .init(
        "text right after closing single quote", "SET k 'a'b\n",
        "Protocol error: unbalanced quotes in request"),
    .init(
        "backslash at end of quoted text", "SET k \"abc\\\n",
        "Protocol error: unbalanced quotes in request"),
    // Spool's own: Redis stalls on these (its strchr stops at the NUL) until the inline limit.
    .init(
        "NUL inside quotes", bytes("SET k \"a") + [0] + bytes("b\"\n"),
        "Protocol error: NUL byte in inline request"),
    .init(
        "NUL in inline argument", bytes("GET a") + [0] + bytes("b c\r\n"),
        "Protocol error: NUL byte in inline request"),
]

@Suite struct RESPRequestDecoderErrorTests {
    @Test(arguments: malformedRequests, Feeding.all)
    func decoderRejectsMalformedRequestWithRedisMessage(
        _ request: MalformedRequest, _ feeding: Feeding
    ) {
        let outcome = decodeRequests(request.input, feeding: feeding, limits: request.limits)
        #expect(outcome.failure == RESPProtocolError(message: request.message))
    }

    @Test func decoderAcceptsLinesExactlyAtInlineLimit() {
        let limits = RESPLimits(inlineLengthMax: 8)
        // 8 bytes before the LF, CR included, is still within the limit.
        let outcome = decodeRequests(bytes("GET abc\r\n"), feeding: .dripped, limits: limits)
        #expect(outcome == RequestOutcome(commands: [command("GET", "abc")]))
    }

    @Test func decoderWaitsForLineFeedAfterCarriageReturn() throws {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*1\r"))
        #expect(try decoder.next()?.arrays == nil)
        decoder.append(bytes("\n$4\r"))
        #expect(try decoder.next()?.arrays == nil)
        decoder.append(bytes("\nPING\r"))
        #expect(try decoder.next()?.arrays == nil)
        decoder.append(bytes("\n"))
        #expect(try decoder.next()?.arrays == command("PING"))
    }

    @Test func decoderWaitsForBadTypeByteUntilLineIsComplete() throws {
        // Redis looks at the type byte only once the length line is in; so do we.
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*1\r\nfoo"))
        #expect(try decoder.next()?.arrays == nil)
        decoder.append(bytes("\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: expected '$', got 'f'")) {
            try decoder.next()?.arrays
        }
    }

    @Test func protocolErrorNamesNonASCIITypeByteWithoutBreakingTheMessage() {
        let outcome = decodeRequests([0x2A, 0x31, 13, 10, 0xFF, 13, 10])
        #expect(
            outcome.failure == RESPProtocolError(message: "Protocol error: expected '$', got 'ÿ'"))
    }
}
