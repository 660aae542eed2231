import SpoolCore

/// How XADD / XTRIM trim a stream.
public enum Trim: Sendable, Hashable {
    /// Keep at most this many entries. `approximate` (`~`) lets the server trim in whole nodes.
    case maxLength(Int, approximate: Bool = false)
    /// Drop entries with ids below this one.
    case minimumID(EntryID, approximate: Bool = false)

    func append(to command: inout RESPCommand, limit: Int?) {
        switch self {
        case .maxLength(let n, let approximate):
            command.append("MAXLEN")
            command.append(approximate ? "~" : "=")
            command.append(n)
        case .minimumID(let id, let approximate):
            command.append("MINID")
            command.append(approximate ? "~" : "=")
            command.append(id)
        }
        if let limit {
            command.append("LIMIT")
            command.append(limit)
        }
    }
}

/// Spool's idempotent-producer tag on an XADD: a retry of a committed `sequence` returns the id
/// the first attempt got instead of appending again.
public struct ProducerTag: Sendable, Hashable {
    public var producerID: String
    public var sequence: UInt64
    public var epoch: UInt64?

    public init(producerID: String, sequence: UInt64, epoch: UInt64? = nil) {
        self.producerID = producerID
        self.sequence = sequence
        self.epoch = epoch
    }
}

/// The options of one XADD.
public struct PublishOptions: Sendable, Hashable {
    /// "*" (the server picks), "ms-*", or an explicit "ms-seq".
    public var id: String
    /// Fail with a nil id instead of creating a missing stream.
    public var noMakeStream: Bool
    public var trim: Trim?
    /// Spool: `PRODUCER id SEQ n [EPOCH e]`.
    public var producer: ProducerTag?
    /// Spool: append only if the stream's last id is this one (`IFLAST id`), else fail.
    public var ifLast: EntryID?
    /// Spool: append only if this many entries were ever added to the stream (`IFVERSION n`, its
    /// entries-added; 0 when it does not exist), else fail: event sourcing's expected version.
    public var ifVersion: UInt64?

    public init(
        id: String = "*", noMakeStream: Bool = false, trim: Trim? = nil, producer: ProducerTag? = nil,
        ifLast: EntryID? = nil, ifVersion: UInt64? = nil
    ) {
        self.id = id
        self.noMakeStream = noMakeStream
        self.trim = trim
        self.producer = producer
        self.ifLast = ifLast
        self.ifVersion = ifVersion
    }

    /// The whole XADD command.
    func command(stream: [UInt8], fields: [Field]) -> RESPCommand {
        var command = RESPCommand(arguments: [Array("XADD".utf8), stream])
        if let producer {
            command.append("PRODUCER")
            command.append(producer.producerID)
            command.append("SEQ")
            command.append(producer.sequence)
            if let epoch = producer.epoch {
                command.append("EPOCH")
                command.append(epoch)
            }
        }
        if let ifLast {
            command.append("IFLAST")
            command.append(ifLast)
        }
        if let ifVersion {
            command.append("IFVERSION")
            command.append(ifVersion)
        }
        if noMakeStream { command.append("NOMKSTREAM") }
        trim?.append(to: &command, limit: nil)
        command.append(id)
        for field in fields {
            command.append(field.name)
            command.append(field.value)
        }
        return command
    }
}

/// A position in a stream for replay and range reads.
public enum StreamPosition: Sendable, Hashable {
    /// The first entry.
    case start
    /// The last entry (as an end bound: everything).
    case end
    /// This id, inclusive.
    case id(EntryID)
    /// The first id after this one (exclusive).
    case after(EntryID)
    /// Milliseconds since the epoch: as a start, the first entry of that millisecond; as an end,
    /// the last one (ids begin with the time they were added).
    case time(milliseconds: UInt64)

    /// XRANGE start argument.
    var startArgument: String {
        switch self {
        case .start: return "-"
        case .end: return "+"
        case .id(let id): return id.description
        case .after(let id): return "(" + id.description
        case .time(let ms): return "\(ms)-0"
        }
    }

    /// XRANGE end argument.
    var endArgument: String {
        switch self {
        case .start: return "-"
        case .end: return "+"
        case .id(let id): return id.description
        case .after(let id): return "(" + id.description
        case .time(let ms): return "\(ms)-\(UInt64.max)"
        }
    }
}
