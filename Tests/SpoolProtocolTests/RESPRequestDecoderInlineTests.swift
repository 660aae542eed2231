import SpoolProtocol
import Testing

/// An inline command line and the arguments `sdssplitargs` makes of it.
struct InlineVector: Sendable, CustomTestStringConvertible {
    let line: [UInt8]
    let arguments: [[UInt8]]

    init(_ line: String, _ arguments: [String]) {
        self.line = bytes(line)
        self.arguments = arguments.map(bytes)
    }

    init(_ line: [UInt8], _ arguments: [[UInt8]]) {
        self.line = line
        self.arguments = arguments
    }

    var testDescription: String { String(reflecting: String(decoding: line, as: UTF8.self)) }
}

let inlineVectors: [InlineVector] = [
    .init("PING\r\n", ["PING"]),
    .init("PING\n", ["PING"]),
    .init("SET key value\r\n", ["SET", "key", "value"]),
    .init("  SET\t key \u{0B}\u{0C}  value  \r\n", ["SET", "key", "value"]),
    .init("SET k \"hello world\"\r\n", ["SET", "k", "hello world"]),
    .init("SET k \"a\\nb\\r\\t\\\"\\\\\"\n", ["SET", "k", "a\nb\r\t\"\\"]),
    .init("SET k \"\\b\\a\\q\"\n", ["SET", "k", "\u{08}\u{07}q"]),
    .init("SET k \"\\x41\\x6a\\x4A\"\n", ["SET", "k", "AjJ"]),
    .init("SET k \"\\xZZ\\x4\"\n", ["SET", "k", "xZZx4"]),
    .init(bytes("SET k \"\\xff\\x00\"\n"), [bytes("SET"), bytes("k"), [0xFF, 0x00]]),
    .init("SET k 'it\\'s'\n", ["SET", "k", "it's"]),
    .init("SET k 'a\\nb \"c\"'\n", ["SET", "k", "a\\nb \"c\""]),
    .init("SET k \"\" ''\n", ["SET", "k", "", ""]),
    .init("SET k a\"b c\"\n", ["SET", "k", "ab c"]),
    .init("SET k a'b c'\n", ["SET", "k", "ab c"]),
    .init("SET k \"a\"\t'b'\n", ["SET", "k", "a", "b"]),
    .init("SET k \"a\"\r\n", ["SET", "k", "a"]),
    .init("a\u{0B}b\n", ["a\u{0B}b"]),
    .init("PING\r\r\n", ["PING"]),
    .init("ECHO \"é\"\n", ["ECHO", "é"]),
]

@Suite struct RESPRequestDecoderInlineTests {
    @Test(arguments: inlineVectors)
    func decoderSplitsInlineCommandLikeRedis(_ vector: InlineVector) {
        for feeding in Feeding.all {
            let outcome = decodeRequests(vector.line, feeding: feeding)
            #expect(outcome == RequestOutcome(commands: [vector.arguments]), "\(feeding)")
        }
    }

    @Test(arguments: ["\r\n", "\n", "   \r\n", "\t\n"])
    func decoderSkipsBlankInlineLines(_ line: String) {
        let outcome = decodeRequests(bytes(line + "PING\r\n" + line))
        #expect(outcome == RequestOutcome(commands: [command("PING")]))
    }

    @Test func decoderWaitsForInlineLineFeed() throws {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("PING\r"))
        #expect(try decoder.next()?.arrays == nil)
        #expect(decoder.bufferedByteCount == 5)
        decoder.append(bytes("\n"))
        #expect(try decoder.next()?.arrays == command("PING"))
    }
}
