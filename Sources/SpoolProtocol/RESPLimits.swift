/// Bounds on what a peer may make us buffer. Every length the peer declares is checked against
/// these before any memory is committed to it, so a hostile header cannot make us wait for
/// (or allocate) more than the limit.
public struct RESPLimits: Sendable {
    /// Largest bulk string accepted; Redis's `proto-max-bulk-len`.
    public var bulkLengthMax: Int
    /// Largest multibulk (and, for replies, aggregate) element count accepted.
    public var multibulkCountMax: Int
    /// Longest line accepted without its terminator: inline commands, and also the `*<n>` and
    /// `$<len>` header lines (Redis uses one constant, PROTO_INLINE_MAX_SIZE, for all three).
    public var inlineLengthMax: Int

    public init(
        bulkLengthMax: Int = 512 << 20,
        multibulkCountMax: Int = 1 << 20,
        inlineLengthMax: Int = 64 << 10
    ) {
        precondition(bulkLengthMax >= 0, "bulkLengthMax must not be negative")
        precondition(multibulkCountMax >= 0, "multibulkCountMax must not be negative")
        precondition(inlineLengthMax >= 0, "inlineLengthMax must not be negative")
        self.bulkLengthMax = bulkLengthMax
        self.multibulkCountMax = multibulkCountMax
        self.inlineLengthMax = inlineLengthMax
    }
}
