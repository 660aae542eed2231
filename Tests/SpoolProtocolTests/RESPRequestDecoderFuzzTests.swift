import SpoolProtocol
import Testing

@Suite struct RESPRequestDecoderFuzzTests {
    private static let tokens: [[UInt8]] =
        [
            "*", "$", "\r\n", "\r", "\n", "0", "1", "2", "3", "-1", "16", "17", "-0", "01",
            "99999999999999999999", "\"", "'", "\\", "\\x4", "\\xff", "x", " ", "\t", "PING",
            "SET k v", "*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        ].map { Array($0.utf8) } + [[0], [0xFF], [0x80]]

    /// Three kinds of input so the decoder's deeper states get reached: raw noise, a soup of
    /// protocol tokens, and valid pipelines with a few bytes changed.
    private static func input(_ index: Int, using generator: inout SeededGenerator) -> [UInt8] {
        switch index % 3 {
        case 0:
            let count = Int.random(in: 0...128, using: &generator)
            return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case 1:
            let count = Int.random(in: 0...40, using: &generator)
            return (0..<count).flatMap { _ in tokens.randomElement(using: &generator)! }
        default:
            var input: [UInt8] = []
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                input += Array(
                    "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\nPING \"a b\"\r\n".utf8)
            }
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<input.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: input[at] = UInt8.random(in: 0...255, using: &generator)
                case 1: input.remove(at: at)
                default: input.insert(contentsOf: tokens.randomElement(using: &generator)!, at: at)
                }
            }
            return input
        }
    }

    @Test func fuzzEntrySurvivesTenThousandRandomInputs() {
        var generator = SeededGenerator(seed: 0x5EED)
        for index in 0..<10_000 {
            let data = Self.input(index, using: &generator)
            data.withUnsafeBytes { RESPRequestDecoder.fuzzOne($0) }
        }
    }

    @Test func fuzzEntryAcceptsEmptyInput() {
        [UInt8]().withUnsafeBytes { RESPRequestDecoder.fuzzOne($0) }
    }

    @Test func fuzzEntryAcceptsOversizedDeclarations() {
        let data = Array("*1048577\r\n*1\r\n$999999999999\r\n".utf8)
        data.withUnsafeBytes { RESPRequestDecoder.fuzzOne($0) }
    }
}
