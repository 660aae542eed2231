import SpoolCore

/// Reads one stream's key range of the live and backfill tables as one sequence in id order, never
/// yielding an id twice (if both tables held one, live wins), between two inclusive bounds, forward
/// or backward.
///
/// It borrows a reader pair from `EntryTables` and gives it back (reset, releasing the pages it
/// pinned) when it goes away; reads that nest get a pair of their own.
public struct MergedCursor: ~Copyable {
    public enum Direction: Sendable { case forward, backward }
    private enum Side { case live, backfill }

    private let readers: EntryTables.ReaderPair
    private let live: WiredTigerCursor
    private let backfill: WiredTigerCursor
    private let stream: UInt64
    private let direction: Direction
    private let lower: EntryID
    private let upper: EntryID
    /// Each table's head: the id its cursor is positioned on, nil when exhausted.
    private var liveHead: EntryID?
    private var backfillHead: EntryID?
    /// The side returned last; its cursor still sits on that entry and steps on the next call.
    private var returned: Side?
    private var started = false

    init(
        readers: EntryTables.ReaderPair, stream: UInt64, direction: Direction,
        from lower: EntryID, to upper: EntryID
    ) {
        self.readers = readers
        self.live = readers.live
        self.backfill = readers.backfill
        self.stream = stream
        self.direction = direction
        self.lower = lower
        self.upper = upper
    }

    deinit {
        readers.giveBack()
    }

    /// The next entry's id without decoding its fields (trimming and counting walk with this).
    public mutating func nextID() throws(WiredTigerError) -> EntryID? {
        try advance()
    }

    /// The next entry, or nil past the bound.
    public mutating func next() throws(WiredTigerError) -> Entry? {
        guard let id = try advance() else { return nil }
        let cursor = returned == .live ? live : backfill
        let decoded = try cursor.withValue { EntryCodec.decode($0) }
        guard let decoded else { throw WiredTigerError.corrupt("entry \(id) does not decode") }
        return Entry(id: id, fields: decoded.fields)
    }

    /// The next entry as its id and its stored bytes (see `EntryBytes`), valid only inside `body`:
    /// readers that write replies straight from storage skip building an `Entry`.
    public mutating func nextRaw<R>(_ body: (EntryID, UnsafeRawBufferPointer) -> R) throws(WiredTigerError) -> R? {
        guard let id = try advance() else { return nil }
        let cursor = returned == .live ? live : backfill
        return try cursor.withValue { body(id, $0) }
    }

    private mutating func advance() throws(WiredTigerError) -> EntryID? {
        if !started {
            started = true
            if lower > upper { return nil }
            liveHead = try position(live)
            backfillHead = try position(backfill)
        } else {
            switch returned {
            case .live: liveHead = try step(live)
            case .backfill: backfillHead = try step(backfill)
            case nil: break
            }
        }
        if let l = liveHead, let b = backfillHead, l == b {
            // Never twice: skip the backfill copy and keep live's.
            backfillHead = try step(backfill)
        }
        switch (liveHead, backfillHead) {
        case (nil, nil):
            returned = nil
            return nil
        case (let l?, nil):
            returned = .live
            return l
        case (nil, let b?):
            returned = .backfill
            return b
        case (let l?, let b?):
            let liveFirst = direction == .forward ? l < b : l > b
            returned = liveFirst ? .live : .backfill
            return liveFirst ? l : b
        }
    }

    private func position(_ cursor: WiredTigerCursor) throws(WiredTigerError) -> EntryID? {
        let start = direction == .forward ? lower : upper
        guard let near = try cursor.searchNear(key: EntryKey(stream: stream, id: start)) else { return nil }
        switch (direction, near) {
        case (.forward, .before):
            guard try cursor.next() else { return nil }
        case (.backward, .after):
            guard try cursor.previous() else { return nil }
        default:
            break
        }
        return try currentID(cursor)
    }

    private func step(_ cursor: WiredTigerCursor) throws(WiredTigerError) -> EntryID? {
        let moved = direction == .forward ? try cursor.next() : try cursor.previous()
        return moved ? try currentID(cursor) : nil
    }

    private func currentID(_ cursor: WiredTigerCursor) throws(WiredTigerError) -> EntryID? {
        let key = try cursor.entryKey
        return key.stream == stream && key.id >= lower && key.id <= upper ? key.id : nil
    }
}
