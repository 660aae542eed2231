/// Incremental request decoder: the server appends whatever bytes arrive from the socket and
/// pulls complete commands. A command is its arguments, in one buffer (`RequestArguments`).
///
/// Follows Redis's `processMultibulkBuffer` and `processInlineBuffer`: a command that starts with
/// '*' is a multibulk (`*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`); anything else is an inline
/// command line split like `sdssplitargs`. Empty commands (`*0`, `*-1`, blank lines) are skipped.
///
/// Every declared length is checked against `RESPLimits` when its header arrives, so a hostile
/// header can make the decoder wait for at most `bulkLengthMax + 2` bytes.
///
/// The result never depends on how the bytes were split across `append` calls. Where Redis's
/// answer does (it checks line lengths only while still waiting for the terminator), a line
/// longer than `inlineLengthMax` is rejected even when its terminator came in the same read.
///
/// Three checks Redis does not make: the two bytes after a bulk payload must be CRLF, and the CR
/// ending a header line must be followed by LF (both turn a silent desynchronisation into an
/// error); and an inline line must not contain NUL (Redis stalls on one, see
/// `RESPProtocolError.nulInInlineRequest`).
///
/// After `next()` throws, the decoder keeps throwing the same error; close the connection.
public struct RESPRequestDecoder: Sendable {
    private let limits: RESPLimits
    private var input = ByteInput()
    /// Bulks still to read for the multibulk in progress; 0 between commands.
    private var bulksRemaining = 0
    /// Declared length of the bulk whose header has been read, or -1 before its header.
    private var bulkLength = -1
    /// Arguments of the multibulk in progress, kept across `next()` calls so that a command
    /// arriving in pieces is parsed once.
    private var argumentBytes: [UInt8] = []
    private var argumentEnds: [Int] = []
    private var argumentsByteCount: Int { argumentBytes.count }
    private var failure: RESPProtocolError?

    /// Caps the up-front reservation for a multibulk's argument list, because the declared count
    /// is the peer's claim, not bytes we have.
    private static let argumentsReservationMax = 1024
    /// The first reservation for a request's argument bytes (see `decodeNext`).
    private static let argumentBytesReservation = 256

    public init(limits: RESPLimits = RESPLimits()) {
        self.limits = limits
    }

    /// Bytes buffered but not yet returned as a command, including the arguments already
    /// decoded for a command still in progress (as Redis counts `argv_len_sum` against
    /// `client-query-buffer-limit`), so a limit on it bounds the connection's memory.
    public var bufferedByteCount: Int {
        input.unreadCount + argumentsByteCount
    }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        input.append(bytes)
    }

    /// Returns the next complete command, nil if more bytes are needed. Throws on malformed input
    /// (after which the decoder is unusable and the connection should be closed).
    public mutating func next() throws(RESPProtocolError) -> RequestArguments? {
        if let failure { throw failure }
        do {
            return try decodeNext()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decodeNext() throws(RESPProtocolError) -> RequestArguments? {
        while true {
            if bulksRemaining == 0 {
                guard input.unreadCount > 0 else { return nil }
                if input.bytes[input.readIndex] == ASCII.star {
                    guard let count = try readMultibulkCount() else { return nil }
                    // Redis treats `*0` and negative counts as an empty command and ignores it.
                    if count <= 0 { continue }
                    bulksRemaining = count
                    argumentEnds.reserveCapacity(min(count, Self.argumentsReservationMax))
                } else {
                    guard let inline = try readInlineCommand() else { return nil }
                    if inline.isEmpty { continue }
                    return RequestArguments(inline)
                }
            }
            while bulksRemaining > 0 {
                if bulkLength < 0 {
                    guard let length = try readBulkLength() else { return nil }
                    bulkLength = length
                }
                // Subtracting rather than adding: with bulkLengthMax near Int.max, `+ 2` traps.
                guard input.unreadCount - 2 >= bulkLength else { return nil }
                guard input.isCRLF(at: input.readIndex + bulkLength) else {
                    throw .missingBulkTerminator
                }
                if argumentEnds.isEmpty {
                    // Room for a typical request's arguments at once, without holding more than a
                    // small one needs for as long as its reply is pending.
                    argumentBytes.reserveCapacity(max(bulkLength, min(input.unreadCount, Self.argumentBytesReservation)))
                }
                input.copyBytes(count: bulkLength, to: &argumentBytes)
                argumentEnds.append(argumentBytes.count)
                input.readIndex += bulkLength + 2
                bulkLength = -1
                bulksRemaining -= 1
            }
            let command = RequestArguments(buffer: argumentBytes, ends: argumentEnds)
            argumentBytes = []
            argumentEnds = []
            return command
        }
    }

    /// Reads `*<n>\r\n`; nil until the whole line is buffered.
    private mutating func readMultibulkCount() throws(RESPProtocolError) -> Int? {
        switch input.findLineEnd(ASCII.cr, lengthMax: limits.inlineLengthMax) {
        case .needsMoreBytes:
            return nil
        case .tooLong:
            throw .tooBigMultibulkCountString
        case .found(let crIndex):
            guard crIndex + 1 < input.bytes.count else { return nil }
            guard input.bytes[crIndex + 1] == ASCII.lf,
                let count = DecimalText.parseStrict(
                    input.bytes, from: input.readIndex + 1, to: crIndex),
                count <= limits.multibulkCountMax
            else { throw .invalidMultibulkLength }
            input.readIndex = crIndex + 2
            return Int(count)
        }
    }

    /// Reads `$<len>\r\n`; nil until the whole line is buffered. Like Redis, looks at the type
    /// byte only once the line is complete.
    private mutating func readBulkLength() throws(RESPProtocolError) -> Int? {
        switch input.findLineEnd(ASCII.cr, lengthMax: limits.inlineLengthMax) {
        case .needsMoreBytes:
            return nil
        case .tooLong:
            throw .tooBigBulkCountString
        case .found(let crIndex):
            guard crIndex + 1 < input.bytes.count else { return nil }
            let type = input.bytes[input.readIndex]
            guard type == ASCII.dollar else { throw .expectedDollar(got: type) }
            guard input.bytes[crIndex + 1] == ASCII.lf,
                let length = DecimalText.parseStrict(
                    input.bytes, from: input.readIndex + 1, to: crIndex),
                length >= 0, length <= limits.bulkLengthMax
            else { throw .invalidBulkLength }
            input.readIndex = crIndex + 2
            return Int(length)
        }
    }

    /// Reads one inline line (ending in LF, with an optional CR before it) and splits it.
    private mutating func readInlineCommand() throws(RESPProtocolError) -> [[UInt8]]? {
        switch input.findLineEnd(ASCII.lf, lengthMax: limits.inlineLengthMax) {
        case .needsMoreBytes:
            return nil
        case .tooLong:
            throw .tooBigInlineRequest
        case .found(let lfIndex):
            var end = lfIndex
            if end > input.readIndex && input.bytes[end - 1] == ASCII.cr { end -= 1 }
            if input.bytes[input.readIndex..<end].contains(ASCII.nul) {
                throw .nulInInlineRequest
            }
            let command = try Self.splitInlineArguments(
                input.bytes, from: input.readIndex, to: end)
            input.readIndex = lfIndex + 1
            return command
        }
    }
}
