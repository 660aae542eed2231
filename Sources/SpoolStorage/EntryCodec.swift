import SpoolCore

/// The byte layout of an entry's value in a live or backfill table:
///
///     number   UInt64 little-endian   the entry's dense per-stream number (1, 2, 3 …); the top
///                                     bit marks an entry that starts a node (LogStore+Nodes.swift)
///     count    UInt32 little-endian   number of field/value strings (even)
///     count × (length UInt32 little-endian, bytes)
///
/// The id is the key, so it is not repeated here.
enum EntryCodec {
    static func encode(number: UInt64, fields: some ByteStrings) -> [UInt8] {
        // Specialized for each caller's type (arrays, or views into a request), so it compiles to
        // plain loops: it runs once per append.
        var size = 12
        for field in fields { size += 4 + field.count }
        var out = [UInt8]()
        out.reserveCapacity(size)
        appendLittleEndian(number, to: &out)
        appendLittleEndian(UInt32(fields.count), to: &out)
        for field in fields {
            appendLittleEndian(UInt32(field.count), to: &out)
            out.append(bytes: field)
        }
        return out
    }

    /// nil when the bytes are not an entry Spool wrote (a corrupt or foreign table).
    static func decode(_ bytes: UnsafeRawBufferPointer) -> (number: UInt64, fields: [[UInt8]])? {
        guard bytes.count >= 12 else { return nil }
        let number = readLittleEndian(UInt64.self, bytes, at: 0)
        let count = Int(readLittleEndian(UInt32.self, bytes, at: 8))
        guard count % 2 == 0, count <= (bytes.count - 12) / 4 else { return nil }
        var fields = [[UInt8]]()
        fields.reserveCapacity(count)
        var offset = 12
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { return nil }
            let length = Int(readLittleEndian(UInt32.self, bytes, at: offset))
            offset += 4
            guard length <= bytes.count - offset else { return nil }
            fields.append([UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length])))
            offset += length
        }
        guard offset == bytes.count else { return nil }
        return (number, fields)
    }
}

/// What an entry counts towards its stream's size (`StreamRecord.bytes`): its 16-byte id and its
/// stored value (the 12-byte header, then each field and value string with its 4-byte length).
/// The size before WiredTiger compresses the page it is on.
public enum EntrySize {
    public static let idBytes: UInt64 = 16

    @inline(__always)
    static func of(storedValue count: Int) -> UInt64 { UInt64(count) + idBytes }
}

/// Reading an entry's stored bytes in place (`MergedCursor.nextRaw`).
public enum EntryBytes {
    /// Calls `count` with the number of field and value strings, then `string` with each in
    /// order; false (possibly after some calls) when the bytes are not an entry Spool wrote.
    @inline(__always)
    public static func visit(
        _ bytes: UnsafeRawBufferPointer, count: (Int) -> Void, string: (UnsafeRawBufferPointer) -> Void
    ) -> Bool {
        guard bytes.count >= 12 else { return false }
        let total = Int(readLittleEndian(UInt32.self, bytes, at: 8))
        guard total % 2 == 0, total <= (bytes.count - 12) / 4 else { return false }
        count(total)
        var offset = 12
        for _ in 0..<total {
            guard offset + 4 <= bytes.count else { return false }
            let length = Int(readLittleEndian(UInt32.self, bytes, at: offset))
            offset += 4
            guard length <= bytes.count - offset else { return false }
            string(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + length]))
            offset += length
        }
        return offset == bytes.count
    }
}

@inline(__always)
func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    var v = value.littleEndian
    withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
}

@inline(__always)
func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int)
    -> T
{
    var value = T.zero
    withUnsafeMutableBytes(of: &value) { dst in
        dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + MemoryLayout<T>.size]))
    }
    return T(littleEndian: value)
}

@inline(__always)
func appendBigEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    var v = value.bigEndian
    withUnsafeBytes(of: &v) { out.append(contentsOf: $0) }
}

@inline(__always)
func readBigEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, at offset: Int) -> T {
    T(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
}
