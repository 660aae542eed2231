/// One reply as a tree, for tests, clients and replies that are easier to build than to stream.
/// The server's hot paths write with `RESPWriter` directly instead.
///
/// Maps are arrays of `Pair` because tuples are neither `Equatable` nor `Hashable`, and keep
/// the wire order (a RESP3 map is ordered on the wire, and Redis's replies depend on it).
///
/// Equality is the synthesised one, so `.double(.nan) != .double(.nan)`; compare NaNs with
/// `isNaN`.
public indirect enum RESPValue: Sendable, Equatable, Hashable {
    case simpleString(String)
    /// The full message including its code, without the leading '-': "ERR unknown command".
    /// RESP3 blob errors (`!`) decode to this too.
    case error(String)
    case integer(Int64)
    case bulkString([UInt8])
    /// RESP3 `_`; also what RESP2's `$-1` and `*-1` decode to.
    case null
    case array([RESPValue])
    case map([Pair])
    case set([RESPValue])
    case double(Double)
    case boolean(Bool)
    /// `format` is the three-byte type hint, "txt" or "mkd".
    case verbatim(format: String, text: [UInt8])
    /// Decimal digits with an optional leading '-'.
    case bigNumber(String)
    case push([RESPValue])

    public struct Pair: Sendable, Equatable, Hashable {
        public var key: RESPValue
        public var value: RESPValue

        public init(_ key: RESPValue, _ value: RESPValue) {
            self.key = key
            self.value = value
        }
    }

    /// A bulk string from text, the common case in tests.
    public static func bulkString(_ text: String) -> RESPValue {
        .bulkString(Array(text.utf8))
    }
}
