import SpoolProtocol

/// Random reply trees for round-trip property tests. Strings that the writer would sanitise
/// (CR or LF in simple strings and errors) and NaN (which never equals itself) are left out;
/// both have golden tests of their own.
struct RandomValues {
    var generator: SeededGenerator

    init(seed: UInt64) {
        generator = SeededGenerator(seed: seed)
    }

    mutating func value(depth: Int = 0) -> RESPValue {
        let kinds = depth >= 4 ? 10 : 14
        switch Int.random(in: 0..<kinds, using: &generator) {
        case 0: return .simpleString(line())
        case 1: return .error("ERR " + line())
        case 2: return .integer(integer())
        case 3: return .bulkString(blob())
        case 4: return .null
        case 5: return .double(double())
        case 6: return .boolean(Bool.random(using: &generator))
        case 7:
            return .verbatim(format: Bool.random(using: &generator) ? "txt" : "mkd", text: blob())
        case 8: return .bigNumber(bigNumber())
        case 9: return .bulkString([])
        case 10: return .array(elements(depth: depth))
        case 11:
            let count = Int.random(in: 0...4, using: &generator)
            return .map(
                (0..<count).map { _ in .init(value(depth: depth + 1), value(depth: depth + 1)) })
        case 12: return .set(elements(depth: depth))
        default: return .push(elements(depth: depth))
        }
    }

    private mutating func elements(depth: Int) -> [RESPValue] {
        let count = Int.random(in: 0...5, using: &generator)
        return (0..<count).map { _ in value(depth: depth + 1) }
    }

    private static let lineCharacters = Array("abcXYZ019 :+-$*_,#!=(%~>|\"'\\\t\u{0}é日🙂")

    private mutating func line() -> String {
        let count = Int.random(in: 0...20, using: &generator)
        return String(
            (0..<count).map { _ in Self.lineCharacters.randomElement(using: &generator)! })
    }

    private mutating func blob() -> [UInt8] {
        let count = Int.random(in: 0...40, using: &generator)
        return (0..<count).map { _ in
            // Bias towards the bytes that matter to the framing.
            Bool.random(using: &generator)
                ? [13, 10, 0, 0x24, 0x2A].randomElement(using: &generator)!
                : UInt8.random(in: 0...255, using: &generator)
        }
    }

    private mutating func integer() -> Int64 {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0: return Int64.random(in: -10...10, using: &generator)
        case 1: return [Int64.min, Int64.max, 0, -1].randomElement(using: &generator)!
        default: return Int64.random(in: .min ... .max, using: &generator)
        }
    }

    private mutating func double() -> Double {
        switch Int.random(in: 0..<4, using: &generator) {
        case 0:
            return [
                0, -0.0, .infinity, -.infinity, 0.1, 1e-7, 1e300, .leastNonzeroMagnitude,
                .greatestFiniteMagnitude,
            ]
            .randomElement(using: &generator)!
        case 1:
            return Double(Int64.random(in: -1_000_000...1_000_000, using: &generator)) / 64
        default:
            while true {
                let candidate = Double(bitPattern: generator.next())
                if candidate.isFinite { return candidate }
            }
        }
    }

    private mutating func bigNumber() -> String {
        let digits = (0..<Int.random(in: 1...50, using: &generator)).map { _ in
            String(Int.random(in: 0...9, using: &generator))
        }
        return (Bool.random(using: &generator) ? "-" : "") + digits.joined()
    }
}

/// What a RESP2 client reads back for `value`: the writer's downgrades, seen from the other end.
func resp2Form(of value: RESPValue) -> RESPValue {
    switch value {
    case .simpleString, .error, .integer, .bulkString, .null:
        return value
    case .array(let elements), .set(let elements), .push(let elements):
        return .array(elements.map(resp2Form))
    case .map(let pairs):
        return .array(pairs.flatMap { [resp2Form(of: $0.key), resp2Form(of: $0.value)] })
    case .double(let d):
        // RESP2 carries the same spelling as RESP3, minus the ',' and CRLF.
        var writer = RESPWriter(version: .resp3)
        writer.double(d)
        return .bulkString(Array(writer.bytes.dropFirst().dropLast(2)))
    case .boolean(let b):
        return .integer(b ? 1 : 0)
    case .verbatim(_, let text):
        return .bulkString(text)
    case .bigNumber(let digits):
        return .bulkString(Array(digits.utf8))
    }
}
