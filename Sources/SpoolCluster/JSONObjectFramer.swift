/// Splits the body of a streaming gateway call (`/v3/watch`, `/v3/lease/keepalive`) into whole
/// top-level JSON objects, whatever the chunk boundaries.
///
/// grpc-gateway v1 writes one object per message followed by a newline, but HTTP chunks need not
/// line up with messages, and the newline is a marshaller detail; counting braces outside strings
/// depends on neither. Only the framing is checked here (JSONDecoder parses each object); bytes
/// between objects other than whitespace are a protocol error.
struct JSONObjectFramer: Sendable {
    enum FramingError: Error, Equatable, CustomStringConvertible {
        case objectTooLarge(limit: Int)
        case unexpectedByte(UInt8)

        var description: String {
            switch self {
            case .objectTooLarge(let limit): "a streamed JSON object exceeds \(limit) bytes"
            case .unexpectedByte(let byte): "unexpected byte 0x\(String(byte, radix: 16)) between streamed JSON objects"
            }
        }
    }

    /// Limit on one object, so a gateway that never closes a brace cannot grow memory unbounded.
    let objectBytesMax: Int

    private var pending: [UInt8] = []
    private var depth = 0
    private var isInString = false
    private var isEscaped = false

    init(objectBytesMax: Int) {
        precondition(objectBytesMax > 0)
        self.objectBytesMax = objectBytesMax
    }

    /// Feeds `bytes` and returns the objects they completed, in order.
    mutating func append(_ bytes: some Sequence<UInt8>) throws(FramingError) -> [[UInt8]] {
        var objects: [[UInt8]] = []
        for byte in bytes {
            if depth == 0 {
                switch byte {
                case UInt8(ascii: "{"):
                    depth = 1
                    pending.append(byte)
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    continue
                default:
                    throw .unexpectedByte(byte)
                }
                continue
            }
            pending.append(byte)
            if pending.count > objectBytesMax { throw .objectTooLarge(limit: objectBytesMax) }
            if isInString {
                if isEscaped {
                    isEscaped = false
                } else if byte == UInt8(ascii: "\\") {
                    isEscaped = true
                } else if byte == UInt8(ascii: "\"") {
                    isInString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): isInString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    objects.append(pending)
                    pending.removeAll(keepingCapacity: true)
                }
            default: break
            }
        }
        return objects
    }

    /// True when no object is half-read: a body that ends otherwise was cut off.
    var isAtObjectBoundary: Bool { depth == 0 }
}
