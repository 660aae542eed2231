// Decoder and writer throughput, release mode: `swift run -c release spool-protocol-bench`.
// A benchmark, not a test: timing is meaningless in debug builds and on a busy machine.
import SpoolProtocol

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let one = Array("*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$5\r\nfield\r\n$5\r\nvalue\r\n".utf8)
var input: [UInt8] = []
for _ in 0..<200_000 { input += one }
var rates: [Double] = []
for _ in 0..<5 {
    var decoder = RESPRequestDecoder()
    var count = 0
    let elapsed = ContinuousClock().measure {
        var offset = 0
        while offset < input.count {
            let end = min(offset + 16384, input.count)
            input[offset..<end].withUnsafeBytes { decoder.append($0) }
            offset = end
            while (try? decoder.next()) ?? nil != nil { count += 1 }
        }
    }
    precondition(count == 200_000)
    rates.append(200_000 / seconds(elapsed))
}
rates.sort()
print("RESPRequestDecoder: median \(Int(rates[2])) XADD commands/s over 5 runs")

var writerRates: [Double] = []
for _ in 0..<5 {
    var writer = RESPWriter(version: .resp3, reservingCapacity: 1 << 20)
    let value = Array("value".utf8)
    let elapsed = ContinuousClock().measure {
        for i in 0..<1_000_000 {
            if i % 1000 == 0 { writer.removeAll(keepingCapacity: true) }
            writer.bulk(value)
            writer.integer(Int64(i))
        }
    }
    writerRates.append(1_000_000 / seconds(elapsed))
}
writerRates.sort()
print("RESPWriter: median \(Int(writerRates[2])) bulk+integer replies/s over 5 runs")
