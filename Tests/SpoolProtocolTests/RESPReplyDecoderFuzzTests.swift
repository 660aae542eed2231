import SpoolProtocol
import Testing

@Suite struct RESPReplyDecoderFuzzTests {
    private static let tokens: [[UInt8]] =
        [
            "*", "$", "%", "~", ">", "|", "_", ",", "#", "!", "=", "(", "+", ":", "-", "\r\n", "\r",
            "0", "1", "2", "4", "-1", "t", "nan", "inf", "1.5", "txt:", "*1\r\n", "%1\r\n+a\r\n",
            "$3\r\nfoo\r\n", "|1\r\n+k\r\n+v\r\n",
        ].map { Array($0.utf8) } + [[0], [0xFF]]

    @Test func replyFuzzEntrySurvivesTenThousandRandomInputs() {
        var generator = SeededGenerator(seed: 0xBEEF)
        for index in 0..<10_000 {
            let data: [UInt8]
            if index % 2 == 0 {
                let count = Int.random(in: 0...128, using: &generator)
                data = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                let count = Int.random(in: 0...40, using: &generator)
                data = (0..<count).flatMap { _ in Self.tokens.randomElement(using: &generator)! }
            }
            data.withUnsafeBytes { RESPReplyDecoder.fuzzOne($0) }
        }
    }
}
