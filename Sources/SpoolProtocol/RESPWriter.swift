import SpoolCore

/// Appends RESP replies to a byte buffer that the server hands to the socket as is.
///
/// The writer is told the connection's protocol version and encodes RESP3-only types down for
/// RESP2 connections, the way Redis does, so command code writes each reply once:
///
/// | RESP3 type | RESP2 encoding            |
/// |------------|---------------------------|
/// | map        | flat array of 2n elements |
/// | set, push  | array                     |
/// | null       | `$-1` (`nullBulk`) or `*-1` (`nullArray`) |
/// | double, verbatim, big number | bulk string |
/// | boolean    | integer 1 or 0            |
///
/// Aggregate headers only announce a count; the caller must write exactly that many elements
/// (twice as many for a map) after them.
public struct RESPWriter: Sendable {
    public var version: RESPVersion
    public private(set) var bytes: [UInt8]

    public init(version: RESPVersion, reservingCapacity: Int = 0) {
        self.version = version
        self.bytes = []
        if reservingCapacity > 0 { bytes.reserveCapacity(reservingCapacity) }
    }

    /// `+OK`. A CR or LF in `s` would end the line early and desynchronise the client, so each
    /// becomes a space.
    public mutating func simpleString(_ s: String) {
        bytes.append(ASCII.plus)
        appendLine(s)
    }

    /// `-ERR unknown command`: `message` starts with the error code and has no leading '-'.
    /// CR and LF become spaces, as in Redis's `addReplyErrorLength`.
    public mutating func error(_ message: String) {
        bytes.append(ASCII.minus)
        appendLine(message)
    }

    /// `-ERR Protocol error: …`, as Redis replies before closing a connection that sent
    /// malformed input.
    public mutating func error(_ protocolError: RESPProtocolError) {
        error("ERR " + protocolError.message)
    }

    public mutating func integer(_ n: Int64) {
        bytes.append(ASCII.colon)
        DecimalText.append(n, to: &bytes)
        appendCRLF()
    }

    public mutating func bulk(_ b: [UInt8]) {
        bulkHeader(b.count)
        bytes.append(contentsOf: b)
        appendCRLF()
    }

    public mutating func bulk(_ s: String) {
        var s = s
        // Contiguous UTF-8 gives the length without a second pass and a single memcpy.
        s.withUTF8 { utf8 in bulk(UnsafeRawBufferPointer(utf8)) }
    }

    public mutating func bulk(_ b: UnsafeRawBufferPointer) {
        bulkHeader(b.count)
        bytes.append(contentsOf: b)
        appendCRLF()
    }

    /// An entry id as a bulk string, without building its text in an array.
    public mutating func bulk(_ id: EntryID) {
        id.withText { bulk($0) }
    }

    /// The "no such key" reply: RESP2 `$-1`, RESP3 `_`.
    public mutating func nullBulk() {
        switch version {
        case .resp2: appendASCII("$-1\r\n")
        case .resp3: appendASCII("_\r\n")
        }
    }

    /// The "no such aggregate" reply (for example a timed-out blocking read): RESP2 `*-1`,
    /// RESP3 `_`.
    public mutating func nullArray() {
        switch version {
        case .resp2: appendASCII("*-1\r\n")
        case .resp3: appendASCII("_\r\n")
        }
    }

    public mutating func arrayHeader(_ count: Int) {
        aggregateHeader(ASCII.star, count)
    }

    /// `count` is the number of key-value pairs; 2 × `count` elements must follow.
    public mutating func mapHeader(_ count: Int) {
        switch version {
        case .resp2: aggregateHeader(ASCII.star, count * 2)
        case .resp3: aggregateHeader(0x25, count)  // '%'
        }
    }

    public mutating func setHeader(_ count: Int) {
        switch version {
        case .resp2: aggregateHeader(ASCII.star, count)
        case .resp3: aggregateHeader(0x7E, count)  // '~'
        }
    }

    /// Out-of-band messages (keyspace notifications, pub/sub). RESP2 has no push type, so there
    /// it is an array, which is how Redis sends pub/sub messages to RESP2 clients.
    public mutating func pushHeader(_ count: Int) {
        switch version {
        case .resp2: aggregateHeader(ASCII.star, count)
        case .resp3: aggregateHeader(0x3E, count)  // '>'
        }
    }

    /// Spelled as Redis spells it ("1.5", "3", "inf", "-inf", "nan", "1e+300"), as a RESP3 double
    /// or a RESP2 bulk string.
    public mutating func double(_ d: Double) {
        let text = DecimalText.redisSpelling(of: d)
        switch version {
        case .resp2:
            bulk(text)
        case .resp3:
            bytes.append(0x2C)  // ','
            bytes.append(contentsOf: text.utf8)
            appendCRLF()
        }
    }

    public mutating func boolean(_ b: Bool) {
        switch version {
        case .resp2: appendASCII(b ? ":1\r\n" : ":0\r\n")
        case .resp3: appendASCII(b ? "#t\r\n" : "#f\r\n")
        }
    }

    /// Text meant for humans (INFO, CLIENT LIST). `format` is RESP3's three-byte type hint,
    /// "txt" or "mkd"; RESP2 gets the text alone as a bulk string.
    public mutating func verbatim(_ text: String, format: String = "txt") {
        verbatim(Array(text.utf8), format: format)
    }

    public mutating func verbatim(_ text: [UInt8], format: String = "txt") {
        precondition(format.utf8.count == 3, "a verbatim format is exactly three bytes")
        switch version {
        case .resp2:
            bulk(text)
        case .resp3:
            bytes.append(0x3D)  // '='
            DecimalText.append(text.count + 4, to: &bytes)
            appendCRLF()
            bytes.append(contentsOf: format.utf8)
            bytes.append(ASCII.colon)
            bytes.append(contentsOf: text)
            appendCRLF()
        }
    }

    /// An integer too large for `integer(_:)`, given as its decimal digits with an optional '-'.
    /// RESP2 has no such type, so there it is a bulk string, as in Redis.
    public mutating func bigNumber(_ digits: String) {
        switch version {
        case .resp2:
            bulk(digits)
        case .resp3:
            bytes.append(0x28)  // '('
            appendLine(digits)
        }
    }

    public mutating func removeAll(keepingCapacity: Bool) {
        bytes.removeAll(keepingCapacity: keepingCapacity)
    }

    /// Concatenates raw bytes: `other` is not re-encoded, so it should have been written for the
    /// same protocol version.
    public mutating func append(contentsOf other: RESPWriter) {
        bytes.append(contentsOf: other.bytes)
    }

    /// Appends bytes that are already RESP (a reply recorded earlier, for the same version).
    public mutating func append(encoded: [UInt8]) {
        bytes.append(contentsOf: encoded)
    }

    // MARK: - Encoding pieces

    @inline(__always)
    private mutating func appendCRLF() {
        bytes.append(ASCII.cr)
        bytes.append(ASCII.lf)
    }

    @inline(__always)
    private mutating func appendASCII(_ literal: StaticString) {
        literal.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func bulkHeader(_ count: Int) {
        bytes.append(ASCII.dollar)
        DecimalText.append(count, to: &bytes)
        appendCRLF()
    }

    private mutating func aggregateHeader(_ type: UInt8, _ count: Int) {
        precondition(count >= 0, "an aggregate count is not negative; use nullArray() for none")
        bytes.append(type)
        DecimalText.append(count, to: &bytes)
        appendCRLF()
    }

    /// Appends `text` and CRLF, with any CR or LF inside `text` turned into a space.
    private mutating func appendLine(_ text: String) {
        let start = bytes.count
        bytes.append(contentsOf: text.utf8)
        for index in start..<bytes.count where bytes[index] == ASCII.cr || bytes[index] == ASCII.lf
        {
            bytes[index] = ASCII.space
        }
        appendCRLF()
    }
}
