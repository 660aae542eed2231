import SpoolProtocol

/// One record of a shard's replicated log: the client's commands as it sent them, and the time
/// the leader gave them. Every replica applies the same records in the same order at the same
/// time through the same executor, so ids, pending lists and producers come out the same
/// everywhere; the record, not its effects, is what is replicated (ARCHITECTURE.md, "Replication").
///
///     record := version (u8 = 1) now (u64 LE, ms) resp (u8) flags (u8: 1 = EXEC) count (u32 LE) item*
///     item   := 0 argc (u32 LE) (length (u32 LE) bytes)*   a storage command as sent
///             | 1 length (u32 LE) bytes                    a reply EXEC answered on the loop
struct ReplicatedRecord: Sendable {
    enum Item: Sendable, Equatable {
        case request(RequestArguments)
        case answered([UInt8])
    }

    var nowMilliseconds: UInt64
    var version: RESPVersion
    var isTransaction: Bool
    var items: [Item]

    /// The commands without the header the leader adds when it appends (its clock).
    static func encodeBody(version: RESPVersion, isTransaction: Bool, items: [Item]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        out.append(version == .resp3 ? 3 : 2)
        out.append(isTransaction ? 1 : 0)
        put(UInt32(items.count), &out)
        for item in items {
            switch item {
            case .request(let args):
                out.append(0)
                put(UInt32(args.count), &out)
                for arg in args {
                    put(UInt32(arg.count), &out)
                    out.append(contentsOf: arg)
                }
            case .answered(let bytes):
                out.append(1)
                put(UInt32(bytes.count), &out)
                out.append(contentsOf: bytes)
            }
        }
        return out
    }

    /// The whole record: header and body.
    static func encode(nowMilliseconds: UInt64, body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [1]
        out.reserveCapacity(9 + body.count)
        put(nowMilliseconds, &out)
        out.append(contentsOf: body)
        return out
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ out: inout [UInt8]) {
        var v = value.littleEndian
        withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
    }

    /// nil for bytes that are not a record (a damaged entry passed its checksum only if it was
    /// written damaged: a bug).
    static func decode(_ bytes: [UInt8]) -> ReplicatedRecord? {
        bytes.withUnsafeBytes { raw -> ReplicatedRecord? in
            var offset = 0
            func take<T: FixedWidthInteger>(_: T.Type) -> T? {
                guard offset + MemoryLayout<T>.size <= raw.count else { return nil }
                defer { offset += MemoryLayout<T>.size }
                return T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            func bytes(_ count: Int) -> [UInt8]? {
                guard count >= 0, offset + count <= raw.count else { return nil }
                defer { offset += count }
                return Array(raw[offset..<offset + count])
            }
            guard take(UInt8.self) == 1, let now = take(UInt64.self), let resp = take(UInt8.self),
                let flags = take(UInt8.self), let count = take(UInt32.self), Int(count) <= raw.count
            else { return nil }
            var items: [Item] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<count {
                switch take(UInt8.self) {
                case 0:
                    guard let argc = take(UInt32.self), Int(argc) <= raw.count else { return nil }
                    var args: [[UInt8]] = []
                    args.reserveCapacity(Int(argc))
                    for _ in 0..<argc {
                        guard let length = take(UInt32.self), let arg = bytes(Int(length)) else { return nil }
                        args.append(arg)
                    }
                    items.append(.request(RequestArguments(args)))
                case 1:
                    guard let length = take(UInt32.self), let reply = bytes(Int(length)) else { return nil }
                    items.append(.answered(reply))
                default: return nil
                }
            }
            guard offset == raw.count else { return nil }
            return ReplicatedRecord(nowMilliseconds: now, version: resp == 3 ? .resp3 : .resp2, isTransaction: flags & 1 != 0, items: items)
        }
    }
}
