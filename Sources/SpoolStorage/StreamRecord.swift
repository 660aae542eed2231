import SpoolCore

/// A stream's row in the catalog (`table:spool-meta`, key "stream:" + name). Written in the same
/// transaction as every change but a live append; appends since are found by their dense numbers
/// when the stream is loaded (`LogStore.catchUp`), so after recovery it always agrees with the
/// tables.
///
///     version        UInt8    1
///     streamNumber   UInt64   the first 8 bytes (big-endian) of the stream's keys in every shared
///                             table (schema 1: named its own tables, table:s<N>.live/.backfill)
///     lastID         2×UInt64 the greatest id ever added (XADD * must go above it, even after XDEL)
///     maxDeletedID   2×UInt64 the greatest id removed by XDEL (Redis's max-deleted-entry-id; trimming leaves it)
///     entriesAdded   UInt64   every entry ever added; also the dense number of the newest entry
///     length         UInt64   entries present now
///     extension      rest     opaque bytes owned by the server layer (consumer groups etc.)
public struct StreamRecord: Sendable, Equatable {
    public var streamNumber: UInt64
    public var lastID: EntryID
    public var maxDeletedID: EntryID
    public var entriesAdded: UInt64
    public var length: UInt64
    public var extensionBytes: [UInt8]

    static let version: UInt8 = 1

    public init(streamNumber: UInt64) {
        self.streamNumber = streamNumber
        self.lastID = .zero
        self.maxDeletedID = .zero
        self.entriesAdded = 0
        self.length = 0
        self.extensionBytes = []
    }

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(57 + extensionBytes.count)
        out.append(Self.version)
        appendLittleEndian(streamNumber, to: &out)
        appendLittleEndian(lastID.milliseconds, to: &out)
        appendLittleEndian(lastID.sequence, to: &out)
        appendLittleEndian(maxDeletedID.milliseconds, to: &out)
        appendLittleEndian(maxDeletedID.sequence, to: &out)
        appendLittleEndian(entriesAdded, to: &out)
        appendLittleEndian(length, to: &out)
        out.append(contentsOf: extensionBytes)
        return out
    }

    init?(decoding bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 57, bytes[0] == Self.version else { return nil }
        streamNumber = readLittleEndian(UInt64.self, bytes, at: 1)
        lastID = EntryID(
            milliseconds: readLittleEndian(UInt64.self, bytes, at: 9),
            sequence: readLittleEndian(UInt64.self, bytes, at: 17))
        maxDeletedID = EntryID(
            milliseconds: readLittleEndian(UInt64.self, bytes, at: 25),
            sequence: readLittleEndian(UInt64.self, bytes, at: 33))
        entriesAdded = readLittleEndian(UInt64.self, bytes, at: 41)
        length = readLittleEndian(UInt64.self, bytes, at: 49)
        extensionBytes = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[57...]))
    }
}
