import SpoolProtocol
import Testing

/// Inputs whose decoding must not depend on how they are split into reads.
let splitIndependenceCorpus: [[UInt8]] = [
    bytes("*1\r\n$4\r\nPING\r\n"),
    bytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"),
    bytes("PING\r\nSET a \"b c\"\nGET 'x y'\r\n"),
    bytes("*0\r\n*-1\r\n\r\n   \r\n*1\r\n$0\r\n\r\nPING\n"),
    bytes("*2\r\n$4\r\nECHO\r\n$6\r\n\r\n\0\r\n\n\r\n"),
    bytes("*1\r\n$3\r\nfoo\r\n*1\r\n$3\r\nbarXY"),
    bytes("*1\r\n$3\r\nfoo\r\n*1\r\nx\r\n"),
    bytes("GET \"unterminated\r\n"),
]

@Suite struct RESPRequestDecoderTests {
    @Test(arguments: splitIndependenceCorpus.indices, Feeding.all)
    func decoderGivesSameResultWhateverTheSplit(_ index: Int, _ feeding: Feeding) {
        let input = splitIndependenceCorpus[index]
        #expect(decodeRequests(input, feeding: feeding) == decodeRequests(input, feeding: .whole))
    }

    @Test(arguments: Feeding.all)
    func decoderDecodesPipelinedCommandsInOrder(_ feeding: Feeding) {
        var input: [UInt8] = []
        var expected: [[[UInt8]]] = []
        for i in 0..<200 {
            let key = "key:\(i)"
            input += bytes("*3\r\n$3\r\nSET\r\n$\(key.utf8.count)\r\n\(key)\r\n$1\r\n\(i % 10)\r\n")
            expected.append(command("SET", key, "\(i % 10)"))
            if i % 7 == 0 {
                input += bytes("PING \(i)\r\n")
                expected.append(command("PING", "\(i)"))
            }
        }
        let outcome = decodeRequests(input, feeding: feeding)
        #expect(outcome.failure == nil)
        #expect(outcome.commands == expected)
    }

    @Test(arguments: Feeding.all)
    func decoderSkipsEmptyMultibulks(_ feeding: Feeding) {
        let input = bytes("*0\r\n*-1\r\n*-100\r\n*1\r\n$4\r\nPING\r\n*0\r\n")
        let outcome = decodeRequests(input, feeding: feeding)
        #expect(outcome == RequestOutcome(commands: [command("PING")]))
    }

    @Test(arguments: Feeding.all)
    func decoderKeepsBulkPayloadsBinarySafe(_ feeding: Feeding) {
        let payload: [UInt8] = [13, 10, 0, 0xFF, 0x2A, 0x24, 13, 10, 13]
        let input = bytes("*2\r\n$3\r\nSET\r\n$9\r\n") + payload + bytes("\r\n")
        let outcome = decodeRequests(input, feeding: feeding)
        #expect(outcome == RequestOutcome(commands: [[bytes("SET"), payload]]))
    }

    @Test func decoderAcceptsEmptyBulkArgument() {
        let outcome = decodeRequests(bytes("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"))
        #expect(outcome == RequestOutcome(commands: [[bytes("ECHO"), []]]))
    }

    @Test func decoderReturnsNilUntilCommandIsComplete() throws {
        var decoder = RESPRequestDecoder()
        let input = bytes("*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n")
        for byte in input.dropLast() {
            decoder.append([byte])
            #expect(try decoder.next()?.arrays == nil)
        }
        decoder.append([input.last!])
        #expect(try decoder.next()?.arrays == command("ECHO", "hello"))
        #expect(try decoder.next()?.arrays == nil)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func bufferedByteCountIncludesArgumentsOfUnfinishedCommand() throws {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nval"))
        #expect(try decoder.next()?.arrays == nil)
        // "SET" and "key" are decoded (6), the "$5" header is parsed, "val" is still raw (3).
        #expect(decoder.bufferedByteCount == 9)
        decoder.append(bytes("ue\r\nPI"))
        #expect(try decoder.next()?.arrays == command("SET", "key", "value"))
        #expect(try decoder.next()?.arrays == nil)
        #expect(decoder.bufferedByteCount == 2)
    }

    @Test func decoderRejectsBulkStringLongerThanLimitAtHeaderTime() {
        var decoder = RESPRequestDecoder(limits: RESPLimits(bulkLengthMax: 1024))
        // Only the header is sent: the decoder must refuse now, not wait for 1025 bytes.
        decoder.append(bytes("*2\r\n$3\r\nSET\r\n$1025\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: invalid bulk length")) {
            try decoder.next()?.arrays
        }
    }

    @Test func decoderRejectsDefaultOversizedBulkAtHeaderTime() {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*1\r\n$\(512 << 20 + 1)\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: invalid bulk length")) {
            try decoder.next()?.arrays
        }
    }

    @Test func decoderAcceptsBulkStringExactlyAtLimit() {
        let limits = RESPLimits(bulkLengthMax: 8)
        let outcome = decodeRequests(bytes("*1\r\n$8\r\n12345678\r\n"), limits: limits)
        #expect(outcome == RequestOutcome(commands: [command("12345678")]))
    }

    @Test func decoderRejectsMultibulkCountAboveLimitAtHeaderTime() {
        var decoder = RESPRequestDecoder(limits: RESPLimits(multibulkCountMax: 4))
        decoder.append(bytes("*5\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: invalid multibulk length")) {
            try decoder.next()?.arrays
        }
    }

    @Test func decoderRejectsDefaultOversizedMultibulkAtHeaderTime() {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*1048577\r\n"))
        #expect(throws: RESPProtocolError(message: "Protocol error: invalid multibulk length")) {
            try decoder.next()?.arrays
        }
    }

    @Test func decoderAcceptsMultibulkCountExactlyAtLimit() {
        let limits = RESPLimits(multibulkCountMax: 2)
        let outcome = decodeRequests(bytes("*2\r\n$1\r\na\r\n$1\r\nb\r\n"), limits: limits)
        #expect(outcome == RequestOutcome(commands: [command("a", "b")]))
    }

    @Test func decoderWithoutPracticalBulkLimitWaitsInsteadOfOverflowing() throws {
        var decoder = RESPRequestDecoder(limits: RESPLimits(bulkLengthMax: .max))
        decoder.append(bytes("*1\r\n$9223372036854775807\r\nabc"))
        #expect(try decoder.next()?.arrays == nil)
    }

    @Test func decoderKeepsFailingAfterAnError() {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*x\r\n"))
        let expected = RESPProtocolError(message: "Protocol error: invalid multibulk length")
        #expect(throws: expected) { try decoder.next()?.arrays }
        decoder.append(bytes("*1\r\n$4\r\nPING\r\n"))
        #expect(throws: expected) { try decoder.next()?.arrays }
    }

    @Test func decoderDecodesLargeBulkArrivingInChunks() throws {
        var generator = SeededGenerator(seed: 42)
        let payload = (0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let input =
            bytes("*2\r\n$3\r\nSET\r\n$\(payload.count)\r\n") + payload
            + bytes("\r\n*1\r\n$4\r\nPING\r\n")
        var decoder = RESPRequestDecoder()
        var commands: [[[UInt8]]] = []
        var offset = 0
        while offset < input.count {
            let end = min(offset + 4000, input.count)
            decoder.append(Array(input[offset..<end]))
            offset = end
            while let next = try decoder.next()?.arrays { commands.append(next) }
        }
        #expect(commands == [[bytes("SET"), payload], command("PING")])
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func decoderDecodesLongPipelineAcrossCompactions() throws {
        let one = bytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n")
        var input: [UInt8] = []
        for _ in 0..<20_000 { input += one }
        var decoder = RESPRequestDecoder()
        var count = 0
        var offset = 0
        while offset < input.count {
            // 4093 is prime, so command boundaries fall at every offset within a chunk.
            let end = min(offset + 4093, input.count)
            decoder.append(Array(input[offset..<end]))
            offset = end
            while let next = try decoder.next()?.arrays {
                #expect(next == command("SET", "key", "value"))
                count += 1
            }
        }
        #expect(count == 20_000)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func decoderAcceptsInlineAndMultibulkCommandsInOneStream() {
        let input = bytes("PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO there\n")
        let outcome = decodeRequests(input, feeding: .dripped)
        #expect(
            outcome
                == RequestOutcome(commands: [
                    command("PING"), command("ECHO", "hi"), command("ECHO", "there"),
                ]))
    }

    @Test func decoderAcceptsRawBufferAppends() throws {
        var decoder = RESPRequestDecoder()
        bytes("*1\r\n$4\r\nPING\r\n").withUnsafeBytes { decoder.append($0) }
        #expect(try decoder.next()?.arrays == command("PING"))
    }
}
