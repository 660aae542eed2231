/// A peer sent bytes that are not valid RESP. The connection cannot be resynchronised after
/// this, so the server replies with `message` as an error and closes.
///
/// Messages match Redis's text where Redis has one (for example
/// "Protocol error: invalid multibulk length") so clients and tests written against Redis see
/// the same thing.
public struct RESPProtocolError: Error, Sendable, Equatable {
    /// Starts with "Protocol error"; on the wire Redis puts the `ERR` code in front
    /// ("-ERR Protocol error: …"), which `RESPWriter.error(_: RESPProtocolError)` does too.
    public let message: String

    public init(message: String) {
        self.message = message
    }
}

extension RESPProtocolError {
    // Redis's wording, collected here so the decoders and the tests agree on one spelling.
    static let invalidMultibulkLength = RESPProtocolError(
        message: "Protocol error: invalid multibulk length")
    static let invalidBulkLength = RESPProtocolError(
        message: "Protocol error: invalid bulk length")
    static let tooBigInlineRequest = RESPProtocolError(
        message: "Protocol error: too big inline request")
    static let unbalancedQuotes = RESPProtocolError(
        message: "Protocol error: unbalanced quotes in request")
    static let tooBigMultibulkCountString = RESPProtocolError(
        message: "Protocol error: too big mbulk count string")
    static let tooBigBulkCountString = RESPProtocolError(
        message: "Protocol error: too big bulk count string")

    // Spool's own, where Redis accepts or stalls instead of answering.

    /// Redis skips the two bytes after a bulk payload without looking at them; we check them,
    /// because a wrong declared length otherwise turns the rest of the stream into garbage
    /// commands instead of one clear error.
    static let missingBulkTerminator = RESPProtocolError(
        message: "Protocol error: expected CRLF after bulk string")
    /// Redis never executes an inline line with a NUL before its LF: it looks for the LF with
    /// `strchr`, which stops at the NUL, so the connection stalls until the inline limit. We
    /// refuse the line at once instead.
    static let nulInInlineRequest = RESPProtocolError(
        message: "Protocol error: NUL byte in inline request")

    static func expectedDollar(got byte: UInt8) -> RESPProtocolError {
        // Latin-1 keeps the message a valid String for any byte; Redis prints the raw byte.
        RESPProtocolError(
            message: "Protocol error: expected '$', got '\(Character(Unicode.Scalar(byte)))'")
    }
}

extension RESPProtocolError {
    // Reply decoding: Redis has no wording to match; these follow hiredis where it has one.
    static let replyLineTooLong = RESPProtocolError(message: "Protocol error: reply line too long")
    static let missingLineFeed = RESPProtocolError(message: "Protocol error: expected LF after CR")
    static let nestedTooDeeply = RESPProtocolError(
        message: "Protocol error: reply nested too deeply")
    static let invalidInteger = RESPProtocolError(message: "Protocol error: invalid integer")
    static let invalidNull = RESPProtocolError(message: "Protocol error: invalid null")
    static let invalidDouble = RESPProtocolError(message: "Protocol error: invalid double")
    static let invalidBoolean = RESPProtocolError(message: "Protocol error: invalid boolean")
    static let invalidBigNumber = RESPProtocolError(message: "Protocol error: invalid big number")
    static let invalidVerbatim = RESPProtocolError(
        message: "Protocol error: invalid verbatim string")

    static func unexpectedReplyType(_ byte: UInt8) -> RESPProtocolError {
        RESPProtocolError(
            message: "Protocol error, got '\(Character(Unicode.Scalar(byte)))' as reply type byte")
    }
}
