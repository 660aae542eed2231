/// A server's log payload: the bytes of one replicated record.
extension Array: ReplicaPayload where Element == UInt8 {
    public static var empty: [UInt8] { [] }
    public init(incarnation: UInt64) { self = Swift.withUnsafeBytes(of: incarnation.littleEndian) { Array($0) } }
    public var incarnation: UInt64? {
        guard count == 8 else { return nil }
        return withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
    public func mix(into sum: inout ChainSum) { sum.mix(bytes: self) }
}

/// The cluster's internal protocol between nodes: length-prefixed binary frames on the cluster
/// port, never RESP, never seen by a client (docs/protocol.md, "Cluster bus").
///
///     frame   := length (u32 BE, of what follows) version (u8 = 1) kind (u8) body
///     hello   := cluster name (u16 BE length + UTF-8), node index (u16 BE)     kind 0
///     message := shard (u32 BE) from (u16 BE) then per message kind 1…8:
///       beginEpoch epoch | epochState epoch seq epoch sum | fetch epoch from
///       fetchReply epoch prevSeq prevSum entries | replicate epoch prevSeq prevSum commitSeq entries
///       replicateAck epoch synced sum | replicateNack epoch hint | reject epoch maxEpochSeen
///       and 9…12: installGap epoch probeSeq probeSum seq epoch sum commitSeq | gapRefused epoch
///       backfill from | backfillReply prevSeq entries, and 13: learner epoch incarnation
///     entries := count (u32 BE), each: seq epoch sum (u64 BE) kind (u8) length (u32 BE) payload
///
/// A frame that does not decode is the peer's bug or another program on the port: the connection
/// is closed, nothing it sent is used.
public enum ReplicationWire {
    public static let version: UInt8 = 1
    /// The largest frame accepted (a replicate of `entriesPerMessageMax` large records fits).
    public static let frameBytesMax = 256 << 20

    public enum Frame: Sendable {
        case hello(cluster: String, node: Int)
        case message(shard: Int, Envelope<[UInt8]>)
    }

    // MARK: Encoding

    public static func encodeHello(cluster: String, node: Int, into out: inout [UInt8]) {
        let start = beginFrame(kind: 0, into: &out)
        let name = Array(cluster.utf8.prefix(1024))
        put(UInt16(name.count), &out)
        out.append(contentsOf: name)
        put(UInt16(node), &out)
        endFrame(start, &out)
    }

    public static func encode(shard: Int, _ envelope: Envelope<[UInt8]>, into out: inout [UInt8]) {
        let kind: UInt8
        switch envelope.message {
        case .beginEpoch: kind = 1
        case .epochState: kind = 2
        case .fetch: kind = 3
        case .fetchReply: kind = 4
        case .replicate: kind = 5
        case .replicateAck: kind = 6
        case .replicateNack: kind = 7
        case .reject: kind = 8
        case .installGap: kind = 9
        case .gapRefused: kind = 10
        case .backfill: kind = 11
        case .backfillReply: kind = 12
        case .learner: kind = 13
        }
        let start = beginFrame(kind: kind, into: &out)
        put(UInt32(shard), &out)
        put(UInt16(envelope.from), &out)
        switch envelope.message {
        case .beginEpoch(let epoch): put(epoch, &out)
        case .epochState(let epoch, let tail):
            put(epoch, &out)
            put(tail.seq, &out)
            put(tail.epoch, &out)
            put(tail.sum, &out)
        case .fetch(let epoch, let from):
            put(epoch, &out)
            put(from, &out)
        case .fetchReply(let epoch, let prevSeq, let prevSum, let entries):
            put(epoch, &out)
            put(prevSeq, &out)
            put(prevSum, &out)
            put(entries, &out)
        case .replicate(let epoch, let prevSeq, let prevSum, let entries, let commitSeq):
            put(epoch, &out)
            put(prevSeq, &out)
            put(prevSum, &out)
            put(commitSeq, &out)
            put(entries, &out)
        case .replicateAck(let epoch, let synced, let sum):
            put(epoch, &out)
            put(synced, &out)
            put(sum, &out)
        case .replicateNack(let epoch, let hint):
            put(epoch, &out)
            put(hint, &out)
        case .reject(let epoch, let maxEpochSeen):
            put(epoch, &out)
            put(maxEpochSeen, &out)
        case .installGap(let epoch, let probeSeq, let probeSum, let end, let commitSeq):
            put(epoch, &out)
            put(probeSeq, &out)
            put(probeSum, &out)
            put(end.seq, &out)
            put(end.epoch, &out)
            put(end.sum, &out)
            put(commitSeq, &out)
        case .gapRefused(let epoch): put(epoch, &out)
        case .backfill(let from): put(from, &out)
        case .backfillReply(let prevSeq, let entries):
            put(prevSeq, &out)
            put(entries, &out)
        case .learner(let epoch, let incarnation):
            put(epoch, &out)
            put(incarnation, &out)
        }
        endFrame(start, &out)
    }

    private static func beginFrame(kind: UInt8, into out: inout [UInt8]) -> Int {
        let start = out.count
        out.append(contentsOf: [0, 0, 0, 0, version, kind])
        return start
    }

    private static func endFrame(_ start: Int, _ out: inout [UInt8]) {
        let length = UInt32(out.count - start - 4)
        out[start] = UInt8(length >> 24)
        out[start + 1] = UInt8((length >> 16) & 0xff)
        out[start + 2] = UInt8((length >> 8) & 0xff)
        out[start + 3] = UInt8(length & 0xff)
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        var v = value.bigEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    private static func put(_ entries: [ReplicatedEntry<[UInt8]>], _ out: inout [UInt8]) {
        put(UInt32(entries.count), &out)
        for entry in entries {
            put(entry.seq, &out)
            put(entry.epoch, &out)
            put(entry.sum, &out)
            out.append(entry.kind.rawValue)
            put(UInt32(entry.payload.count), &out)
            out.append(contentsOf: entry.payload)
        }
    }

    // MARK: Decoding

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case frameTooLarge(Int)
        case unsupportedVersion(UInt8)
        case malformed(String)

        public var description: String {
            switch self {
            case .frameTooLarge(let size): "cluster frame of \(size) bytes is over the limit of \(ReplicationWire.frameBytesMax)"
            case .unsupportedVersion(let version): "cluster frame version \(version) is not \(ReplicationWire.version)"
            case .malformed(let what): "malformed cluster frame: \(what)"
            }
        }
    }

    /// The length of the first frame in `bytes` if it is complete, nil if more bytes are needed.
    public static func completeFrameLength(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Int? {
        guard bytes.count >= 4 else { return nil }
        let length = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
        guard length <= frameBytesMax else { throw .frameTooLarge(length) }
        guard length >= 2 else { throw .malformed("frame of \(length) bytes") }
        return bytes.count >= 4 + length ? 4 + length : nil
    }

    /// Decodes one whole frame (as `completeFrameLength` measured it).
    public static func decode(_ frame: UnsafeRawBufferPointer) throws(DecodeError) -> Frame {
        var reader = Reader(bytes: frame, offset: 4)
        let frameVersion = try reader.byte()
        guard frameVersion == version else { throw .unsupportedVersion(frameVersion) }
        let kind = try reader.byte()
        if kind == 0 {
            let length = Int(try reader.u16())
            let name = try reader.bytes(length)
            let node = Int(try reader.u16())
            try reader.finish()
            return .hello(cluster: String(decoding: name, as: UTF8.self), node: node)
        }
        let shard = Int(try reader.u32())
        let from = Int(try reader.u16())
        let message: Message<[UInt8]>
        switch kind {
        case 1: message = .beginEpoch(epoch: try reader.u64())
        case 2:
            let epoch = try reader.u64()
            message = .epochState(epoch: epoch, tail: LogTail(seq: try reader.u64(), epoch: try reader.u64(), sum: try reader.u64()))
        case 3: message = .fetch(epoch: try reader.u64(), from: try reader.u64())
        case 4:
            message = .fetchReply(epoch: try reader.u64(), prevSeq: try reader.u64(), prevSum: try reader.u64(), entries: try reader.entries())
        case 5:
            let epoch = try reader.u64()
            let prevSeq = try reader.u64()
            let prevSum = try reader.u64()
            let commitSeq = try reader.u64()
            message = .replicate(epoch: epoch, prevSeq: prevSeq, prevSum: prevSum, entries: try reader.entries(), commitSeq: commitSeq)
        case 6: message = .replicateAck(epoch: try reader.u64(), syncedSeq: try reader.u64(), sum: try reader.u64())
        case 7: message = .replicateNack(epoch: try reader.u64(), hint: try reader.u64())
        case 8: message = .reject(epoch: try reader.u64(), maxEpochSeen: try reader.u64())
        case 9:
            let epoch = try reader.u64()
            let probeSeq = try reader.u64()
            let probeSum = try reader.u64()
            let end = LogTail(seq: try reader.u64(), epoch: try reader.u64(), sum: try reader.u64())
            message = .installGap(epoch: epoch, probeSeq: probeSeq, probeSum: probeSum, end: end, commitSeq: try reader.u64())
        case 10: message = .gapRefused(epoch: try reader.u64())
        case 11: message = .backfill(from: try reader.u64())
        case 12: message = .backfillReply(prevSeq: try reader.u64(), entries: try reader.entries())
        case 13: message = .learner(epoch: try reader.u64(), incarnation: try reader.u64())
        default: throw .malformed("unknown message kind \(kind)")
        }
        try reader.finish()
        return .message(shard: shard, Envelope(from: from, to: -1, message: message))
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset: Int

        mutating func need(_ count: Int) throws(DecodeError) {
            guard count >= 0, offset + count <= bytes.count else { throw .malformed("truncated at byte \(offset)") }
        }

        mutating func byte() throws(DecodeError) -> UInt8 {
            try need(1)
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(DecodeError) -> T {
            try need(MemoryLayout<T>.size)
            defer { offset += MemoryLayout<T>.size }
            return T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }

        mutating func u16() throws(DecodeError) -> UInt16 { try integer(UInt16.self) }
        mutating func u32() throws(DecodeError) -> UInt32 { try integer(UInt32.self) }
        mutating func u64() throws(DecodeError) -> UInt64 { try integer(UInt64.self) }

        mutating func bytes(_ count: Int) throws(DecodeError) -> [UInt8] {
            try need(count)
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        mutating func entries() throws(DecodeError) -> [ReplicatedEntry<[UInt8]>] {
            let count = Int(try u32())
            // Each entry takes at least 29 bytes: a count the frame cannot hold is a lie.
            guard count <= (bytes.count - offset) / 29 else { throw .malformed("\(count) entries in \(bytes.count - offset) bytes") }
            var entries: [ReplicatedEntry<[UInt8]>] = []
            entries.reserveCapacity(count)
            for _ in 0..<count {
                let seq = try u64()
                let epoch = try u64()
                let sum = try u64()
                guard let kind = ReplicatedEntry<[UInt8]>.Kind(rawValue: try byte()) else { throw .malformed("entry kind") }
                let payload = try self.bytes(Int(try u32()))
                entries.append(ReplicatedEntry(seq: seq, epoch: epoch, payload: payload, kind: kind, storedSum: sum))
            }
            return entries
        }

        func finish() throws(DecodeError) {
            guard offset == bytes.count else { throw .malformed("\(bytes.count - offset) bytes after the message") }
        }
    }
}
