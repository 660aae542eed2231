/// Incremental reply decoder for clients: append bytes as they arrive, pull complete replies.
///
/// Reads RESP2 and RESP3: `+ - : $ *` and `_ , # ! = ( % ~ > |`. RESP2's `$-1` and `*-1`
/// decode to `.null`, blob errors (`!`) to `.error`. Attributes (`|`) are read and dropped,
/// leaving the value they annotate. Streamed strings and aggregates (`$?`, `*?`) are not
/// supported; Redis never sends them.
///
/// Aggregates under construction live on an explicit stack, so a reply that arrives in pieces
/// is parsed once and deep nesting costs no native stack; `nestingDepthMax` still bounds it,
/// because the finished `RESPValue` is destroyed and compared recursively.
///
/// Limits: blob lengths against `bulkLengthMax`, aggregate counts (pairs, for maps) against
/// `multibulkCountMax`, and every line (simple strings, errors, numbers, headers) against
/// `inlineLengthMax`. After `next()` throws, it keeps throwing the same error.
public struct RESPReplyDecoder: Sendable {
    private let limits: RESPLimits
    private let nestingDepthMax: Int
    private var input = ByteInput()
    /// Open aggregates, innermost last.
    private var stack: [Frame] = []
    /// A blob (`$`, `!`, `=`) whose header has been read but whose payload has not arrived.
    private var pendingBlob: (type: UInt8, length: Int)?
    private var failure: RESPProtocolError?

    private static let elementsReservationMax = 1024

    public init(limits: RESPLimits = RESPLimits(), nestingDepthMax: Int = 128) {
        precondition(nestingDepthMax > 0, "nestingDepthMax must be positive")
        self.limits = limits
        self.nestingDepthMax = nestingDepthMax
    }

    /// Bytes received and not yet consumed (payloads already decoded into a partial aggregate
    /// are not counted).
    public var bufferedByteCount: Int { input.unreadCount }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        input.append(bytes)
    }

    /// Returns the next complete reply, nil if more bytes are needed.
    public mutating func next() throws(RESPProtocolError) -> RESPValue? {
        if let failure { throw failure }
        do {
            return try decodeNext()
        } catch {
            failure = error
            throw error
        }
    }

    private enum Kind {
        case array, set, push, map, attribute
    }

    private struct Frame {
        var kind: Kind
        /// Elements still to read; twice the pair count for maps and attributes.
        var remaining: Int
        var elements: [RESPValue]

        /// nil for an attribute, which annotates the next value instead of being one.
        var value: RESPValue? {
            switch kind {
            case .array: return .array(elements)
            case .set: return .set(elements)
            case .push: return .push(elements)
            case .map: return .map(Self.pairs(elements))
            case .attribute: return nil
            }
        }

        private static func pairs(_ flat: [RESPValue]) -> [RESPValue.Pair] {
            var pairs: [RESPValue.Pair] = []
            pairs.reserveCapacity(flat.count / 2)
            var index = 0
            while index + 1 < flat.count {
                pairs.append(RESPValue.Pair(flat[index], flat[index + 1]))
                index += 2
            }
            return pairs
        }
    }

    private enum Item {
        case value(RESPValue)
        case aggregate(Kind, count: Int)
    }

    private mutating func decodeNext() throws(RESPProtocolError) -> RESPValue? {
        while true {
            guard let item = try readItem() else { return nil }
            var finished: RESPValue
            switch item {
            case .value(let value):
                finished = value
            case .aggregate(let kind, let count):
                let elementCount = kind == .map || kind == .attribute ? count * 2 : count
                if elementCount > 0 {
                    guard stack.count < nestingDepthMax else { throw .nestedTooDeeply }
                    var elements: [RESPValue] = []
                    elements.reserveCapacity(min(elementCount, Self.elementsReservationMax))
                    stack.append(Frame(kind: kind, remaining: elementCount, elements: elements))
                    continue
                }
                guard let empty = Frame(kind: kind, remaining: 0, elements: []).value else {
                    continue
                }
                finished = empty
            }
            // Hand the finished value to its parent, closing every aggregate it completes.
            while true {
                guard let top = stack.indices.last else { return finished }
                stack[top].elements.append(finished)
                stack[top].remaining -= 1
                if stack[top].remaining > 0 { break }
                guard let closed = stack.removeLast().value else { break }
                finished = closed
            }
        }
    }

    /// Reads one scalar or one aggregate header; nil, consuming nothing more, until it is
    /// complete.
    private mutating func readItem() throws(RESPProtocolError) -> Item? {
        if let blob = pendingBlob {
            guard let value = try readBlobPayload(type: blob.type, length: blob.length) else {
                return nil
            }
            pendingBlob = nil
            return .value(value)
        }
        guard input.unreadCount > 0 else { return nil }
        switch input.findLineEnd(ASCII.cr, lengthMax: limits.inlineLengthMax) {
        case .needsMoreBytes:
            return nil
        case .tooLong:
            throw .replyLineTooLong
        case .found(let crIndex):
            guard crIndex + 1 < input.bytes.count else { return nil }
            guard input.bytes[crIndex + 1] == ASCII.lf else { throw .missingLineFeed }
            let type = input.bytes[input.readIndex]
            let start = input.readIndex + 1
            let meaning = try decodeLine(type: type, from: start, to: crIndex)
            input.readIndex = crIndex + 2
            switch meaning {
            case .item(let item):
                return item
            case .blob(let type, let length):
                guard let value = try readBlobPayload(type: type, length: length) else {
                    pendingBlob = (type, length)
                    return nil
                }
                return .value(value)
            }
        }
    }

    private enum LineMeaning {
        case item(Item)
        case blob(type: UInt8, length: Int)
    }

    private func decodeLine(
        type: UInt8, from start: Int, to end: Int
    ) throws(RESPProtocolError) -> LineMeaning {
        let bytes = input.bytes
        func text() -> String {
            String(decoding: bytes[start..<end], as: UTF8.self)
        }
        switch type {
        case ASCII.plus:
            return .item(.value(.simpleString(text())))
        case ASCII.minus:
            return .item(.value(.error(text())))
        case ASCII.colon:
            guard let n = DecimalText.parseLenient(bytes, from: start, to: end) else {
                throw .invalidInteger
            }
            return .item(.value(.integer(n)))
        case 0x5F:  // '_'
            guard start == end else { throw .invalidNull }
            return .item(.value(.null))
        case 0x2C:  // ','
            guard let d = Double(text()) else { throw .invalidDouble }
            return .item(.value(.double(d)))
        case 0x23:  // '#'
            guard end - start == 1 else { throw .invalidBoolean }
            switch bytes[start] {
            case 0x74: return .item(.value(.boolean(true)))  // 't'
            case 0x66: return .item(.value(.boolean(false)))  // 'f'
            default: throw .invalidBoolean
            }
        case 0x28:  // '('
            var digitsStart = start
            if digitsStart < end
                && (bytes[digitsStart] == ASCII.minus || bytes[digitsStart] == ASCII.plus)
            {
                digitsStart += 1
            }
            guard digitsStart < end,
                bytes[digitsStart..<end].allSatisfy({ $0 >= ASCII.zero && $0 <= ASCII.nine })
            else { throw .invalidBigNumber }
            return .item(.value(.bigNumber(text())))
        case ASCII.dollar, 0x21, 0x3D:  // '$', '!', '='
            guard let length = DecimalText.parseLenient(bytes, from: start, to: end) else {
                throw .invalidBulkLength
            }
            if length == -1 && type == ASCII.dollar { return .item(.value(.null)) }
            guard length >= 0, length <= limits.bulkLengthMax else { throw .invalidBulkLength }
            if type == 0x3D && length < 4 { throw .invalidVerbatim }
            return .blob(type: type, length: Int(length))
        case ASCII.star, 0x25, 0x7E, 0x3E, 0x7C:  // '*', '%', '~', '>', '|'
            guard let count = DecimalText.parseLenient(bytes, from: start, to: end) else {
                throw .invalidMultibulkLength
            }
            if count == -1 && type == ASCII.star { return .item(.value(.null)) }
            // Maps and attributes hold two elements per counted pair, and that must fit an Int.
            let isPaired = type == 0x25 || type == 0x7C
            guard count >= 0, count <= limits.multibulkCountMax,
                !isPaired || count <= Int64(Int.max / 2)
            else { throw .invalidMultibulkLength }
            let kind: Kind
            switch type {
            case ASCII.star: kind = .array
            case 0x25: kind = .map
            case 0x7E: kind = .set
            case 0x3E: kind = .push
            default: kind = .attribute
            }
            return .item(.aggregate(kind, count: Int(count)))
        default:
            throw .unexpectedReplyType(type)
        }
    }

    /// Reads a blob's payload and its CRLF; nil until all of it is buffered.
    private mutating func readBlobPayload(
        type: UInt8, length: Int
    ) throws(RESPProtocolError) -> RESPValue? {
        // Subtracting rather than adding: with bulkLengthMax near Int.max, `+ 2` traps.
        guard input.unreadCount - 2 >= length else { return nil }
        guard input.isCRLF(at: input.readIndex + length) else { throw .missingBulkTerminator }
        let payload = input.copyBytes(count: length)
        input.readIndex += length + 2
        switch type {
        case ASCII.dollar:
            return .bulkString(payload)
        case 0x21:  // '!'
            return .error(String(decoding: payload, as: UTF8.self))
        default:  // '=': "fmt:" then the text
            // An ASCII format keeps `format` three bytes long as a String, which the writer
            // requires; RESP3 only defines "txt" and "mkd".
            guard payload[3] == ASCII.colon, payload[..<3].allSatisfy({ $0 < 0x80 }) else {
                throw .invalidVerbatim
            }
            return .verbatim(
                format: String(decoding: payload[..<3], as: UTF8.self),
                text: Array(payload[4...]))
        }
    }
}
