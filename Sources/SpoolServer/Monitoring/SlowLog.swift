import SpoolProtocol

/// SLOWLOG: the latest commands that ran for at least `slowlog-log-slower-than` microseconds,
/// newest first, at most `slowlog-max-len` of them, as Redis keeps them. What counts is the time
/// the command itself ran (on the storage thread for stream commands), not the wait for the
/// fsync that makes its reply durable: that is the `aof-fsync-always` latency event. Loop
/// thread only.
struct SlowLog {
    struct Entry {
        let id: Int64
        /// Unix seconds.
        let timestamp: Int64
        let microseconds: Int64
        /// At most `argumentsMax` arguments, each at most `argumentBytesMax` bytes, as Redis trims them.
        let arguments: [[UInt8]]
        let clientAddress: String
        let clientName: [UInt8]
    }

    static let argumentsMax = 32
    static let argumentBytesMax = 128

    private(set) var entries: [Entry] = []
    private var nextID: Int64 = 0

    /// Redis's slowlogPushEntryIfNeeded: `thresholdMicroseconds` < 0 or `capacity` 0 turn it off.
    mutating func record(
        _ arguments: RequestArguments, microseconds: Int64, thresholdMicroseconds: Int, capacity: Int,
        clientAddress: String, clientName: [UInt8], now: Int64
    ) {
        guard thresholdMicroseconds >= 0, capacity > 0, microseconds >= thresholdMicroseconds else { return }
        entries.insert(
            Entry(
                id: nextID, timestamp: now / 1000, microseconds: microseconds, arguments: Self.trimmed(arguments),
                clientAddress: clientAddress, clientName: clientName),
            at: 0)
        nextID += 1
        if entries.count > capacity { entries.removeLast(entries.count - capacity) }
    }

    /// Redis's slowlogCreateEntry: 31 arguments and "... (N more arguments)" past 32; an argument
    /// past 128 bytes cut there with "... (N more bytes)". Passwords are never kept: AUTH, HELLO
    /// AUTH and ACL SETUSER arguments become "(redacted)" before they get here.
    static func trimmed(_ arguments: RequestArguments) -> [[UInt8]] {
        let kept = arguments.count > argumentsMax ? argumentsMax - 1 : arguments.count
        var out: [[UInt8]] = []
        out.reserveCapacity(min(arguments.count, argumentsMax))
        for index in 0..<kept {
            let bytes = arguments[index].bytes
            if bytes.count > argumentBytesMax {
                out.append(Array(bytes.prefix(argumentBytesMax)) + Array("... (\(bytes.count - argumentBytesMax) more bytes)".utf8))
            } else {
                out.append(bytes)
            }
        }
        if arguments.count > argumentsMax {
            out.append(Array("... (\(arguments.count - kept) more arguments)".utf8))
        }
        return out
    }

    mutating func reset() {
        entries = []
    }
}
