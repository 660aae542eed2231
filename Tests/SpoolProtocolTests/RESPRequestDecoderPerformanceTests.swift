import Foundation
import SpoolProtocol
import Testing

/// Opt-in (SPOOL_PERF_TESTS=1) because timing means little in a debug build or on a busy
/// machine; run with `swift test -c release --filter Performance`.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SPOOL_PERF_TESTS"] != nil))
struct RESPRequestDecoderPerformanceTests {
    @Test func decoderDecodesOverAMillionSmallCommandsPerSecond() throws {
        let one = Array("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n".utf8)
        var input: [UInt8] = []
        for _ in 0..<200_000 { input += one }
        let chunkSize = 16 << 10
        var best = Duration.seconds(1000)
        for _ in 0..<5 {
            var decoder = RESPRequestDecoder()
            var count = 0
            let elapsed = try ContinuousClock().measure {
                var offset = 0
                while offset < input.count {
                    let end = min(offset + chunkSize, input.count)
                    input[offset..<end].withUnsafeBytes { decoder.append($0) }
                    offset = end
                    while try decoder.next() != nil { count += 1 }
                }
            }
            #expect(count == 200_000)
            best = min(best, elapsed)
        }
        let seconds = Double(best.components.attoseconds) / 1e18 + Double(best.components.seconds)
        let rate = 200_000 / seconds
        print("RESPRequestDecoder: \(Int(rate)) commands/s")
        #expect(rate > 1_000_000)
    }

    @Test func writerWritesOverAMillionRepliesPerSecond() {
        var writer = RESPWriter(version: .resp3, reservingCapacity: 1 << 20)
        let value = Array("value".utf8)
        let start = ContinuousClock.now
        for i in 0..<1_000_000 {
            if i % 1000 == 0 { writer.removeAll(keepingCapacity: true) }
            writer.bulk(value)
            writer.integer(Int64(i))
        }
        let elapsed = ContinuousClock.now - start
        let seconds =
            Double(elapsed.components.attoseconds) / 1e18 + Double(elapsed.components.seconds)
        print("RESPWriter: \(Int(1_000_000 / seconds)) bulk+integer pairs/s")
        #expect(seconds < 1)
    }
}
