import SpoolProtocol
import Testing

/// SplitMix64: a fixed seed makes every random test reproducible, and a failure message that
/// names the seed is enough to replay it.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func bytes(_ text: String) -> [UInt8] {
    Array(text.utf8)
}

func command(_ arguments: String...) -> [[UInt8]] {
    arguments.map { Array($0.utf8) }
}

/// How a test hands bytes to a decoder: all at once, a byte at a time, or cut at random points.
enum Feeding: Sendable, CustomTestStringConvertible {
    case whole
    case dripped
    case randomSplits(seed: UInt64)

    static let all: [Feeding] = [.whole, .dripped, .randomSplits(seed: 1), .randomSplits(seed: 2)]

    var testDescription: String {
        switch self {
        case .whole: "whole"
        case .dripped: "byte by byte"
        case .randomSplits(let seed): "random splits (seed \(seed))"
        }
    }

    func chunks(of input: [UInt8]) -> [ArraySlice<UInt8>] {
        switch self {
        case .whole:
            return [input[...]]
        case .dripped:
            return input.indices.map { input[$0...$0] }
        case .randomSplits(let seed):
            var generator = SeededGenerator(seed: seed)
            var chunks: [ArraySlice<UInt8>] = []
            var start = 0
            while start < input.count {
                let end = min(input.count, start + Int.random(in: 1...64, using: &generator))
                chunks.append(input[start..<end])
                start = end
            }
            return chunks
        }
    }
}

/// Everything a request decoder produced from one input.
struct RequestOutcome: Equatable, CustomStringConvertible {
    var commands: [[[UInt8]]] = []
    var failure: RESPProtocolError?

    var description: String {
        let rendered = commands.map { $0.map { String(decoding: $0, as: UTF8.self) } }
        return "commands \(rendered), failure \(failure?.message ?? "none")"
    }
}

/// Feeds `input` as `feeding` says, draining commands after each chunk, and stops at the first
/// error, as the server does.
func decodeRequests(
    _ input: [UInt8], feeding: Feeding = .whole, limits: RESPLimits = RESPLimits()
) -> RequestOutcome {
    var decoder = RESPRequestDecoder(limits: limits)
    var outcome = RequestOutcome()
    for chunk in feeding.chunks(of: input) {
        chunk.withUnsafeBytes { decoder.append($0) }
        do {
            while let next = try decoder.next()?.arrays { outcome.commands.append(next) }
        } catch {
            outcome.failure = error
            return outcome
        }
    }
    return outcome
}

/// Everything a reply decoder produced from one input.
struct ReplyOutcome: Equatable {
    var values: [RESPValue] = []
    var failure: RESPProtocolError?
}

func decodeReplies(
    _ input: [UInt8], feeding: Feeding = .whole, limits: RESPLimits = RESPLimits(),
    nestingDepthMax: Int = 128
) -> ReplyOutcome {
    var decoder = RESPReplyDecoder(limits: limits, nestingDepthMax: nestingDepthMax)
    var outcome = ReplyOutcome()
    for chunk in feeding.chunks(of: input) {
        decoder.append(Array(chunk))
        do {
            while let next = try decoder.next() { outcome.values.append(next) }
        } catch {
            outcome.failure = error
            return outcome
        }
    }
    return outcome
}

func written(_ version: RESPVersion, _ write: (inout RESPWriter) -> Void) -> String {
    var writer = RESPWriter(version: version)
    write(&writer)
    return String(decoding: writer.bytes, as: UTF8.self)
}
