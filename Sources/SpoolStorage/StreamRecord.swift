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
///     then tagged fields in tag order, each a tag byte and its value; a reader keeps tags it does
///     not know:
///       1  backfill gap  4×UInt64  filledThrough (ms, seq), through (ms, seq): `BackfillGap`
///       2  bytes         UInt64    the size of the entries present (`EntrySize`); every row has
///                                  it since schema 3
///     extension      rest     opaque bytes (no tag is defined after an unknown one)
public struct StreamRecord: Sendable, Equatable {
    public var streamNumber: UInt64
    public var lastID: EntryID
    public var maxDeletedID: EntryID
    public var entriesAdded: UInt64
    public var length: UInt64
    /// The size of the entries present (`EntrySize.of`): what the stream holds, in bytes.
    public var bytes: UInt64
    /// History being copied in below the live entries (XBACKFILL), while it is.
    public var backfillGap: BackfillGap?
    public var extensionBytes: [UInt8]

    static let version: UInt8 = 1
    static let backfillGapTag: UInt8 = 1
    static let bytesTag: UInt8 = 2

    public init(streamNumber: UInt64) {
        self.streamNumber = streamNumber
        self.lastID = .zero
        self.maxDeletedID = .zero
        self.entriesAdded = 0
        self.length = 0
        self.bytes = 0
        self.backfillGap = nil
        self.extensionBytes = []
    }

    func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(57 + 33 + 9 + extensionBytes.count)
        out.append(Self.version)
        appendLittleEndian(streamNumber, to: &out)
        appendLittleEndian(lastID.milliseconds, to: &out)
        appendLittleEndian(lastID.sequence, to: &out)
        appendLittleEndian(maxDeletedID.milliseconds, to: &out)
        appendLittleEndian(maxDeletedID.sequence, to: &out)
        appendLittleEndian(entriesAdded, to: &out)
        appendLittleEndian(length, to: &out)
        if let gap = backfillGap {
            out.append(Self.backfillGapTag)
            appendLittleEndian(gap.filledThrough.milliseconds, to: &out)
            appendLittleEndian(gap.filledThrough.sequence, to: &out)
            appendLittleEndian(gap.through.milliseconds, to: &out)
            appendLittleEndian(gap.through.sequence, to: &out)
        }
        out.append(Self.bytesTag)
        appendLittleEndian(bytes, to: &out)
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
        var offset = 57
        backfillGap = nil
        if bytes.count >= offset + 33, bytes[offset] == Self.backfillGapTag {
            backfillGap = BackfillGap(
                filledThrough: EntryID(
                    milliseconds: readLittleEndian(UInt64.self, bytes, at: offset + 1),
                    sequence: readLittleEndian(UInt64.self, bytes, at: offset + 9)),
                through: EntryID(
                    milliseconds: readLittleEndian(UInt64.self, bytes, at: offset + 17),
                    sequence: readLittleEndian(UInt64.self, bytes, at: offset + 25)))
            offset += 33
        }
        // (Absent only in a row written before schema 3, which the upgrade rewrites.)
        self.bytes = 0
        if bytes.count >= offset + 9, bytes[offset] == Self.bytesTag {
            self.bytes = readLittleEndian(UInt64.self, bytes, at: offset + 1)
            offset += 9
        }
        extensionBytes = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[offset...]))
    }
}

/// History a stream is being given below its live entries (XBACKFILL, e.g. a mirror of a Redis
/// stream copying what was there before it started tailing): entries with ids above
/// `filledThrough` and up to `through` may not be here yet. It is filled oldest first, so what is
/// at or below `filledThrough` is complete.
public struct BackfillGap: Sendable, Equatable {
    public var filledThrough: EntryID
    public var through: EntryID

    public init(filledThrough: EntryID, through: EntryID) {
        self.filledThrough = filledThrough
        self.through = through
    }

    /// Whether ids from `low` to `high` (both included) reach into what may still be missing.
    public func overlaps(from low: EntryID, to high: EntryID) -> Bool {
        low <= through && high > filledThrough && filledThrough < through
    }
}
