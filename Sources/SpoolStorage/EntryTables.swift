import CWiredTiger
import SpoolCore

/// An entry's key in the shared entry tables: the stream's number, then the entry id, each as a
/// big-endian UInt64 pair, so one stream's entries are one contiguous key range in id order and
/// appends go to its end. Built on the stack; never allocated.
struct EntryKey {
    static let byteCount = 24

    var stream: UInt64
    var id: EntryID

    /// The key a cursor sits on, or nil when it is not an entry key.
    init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count == Self.byteCount else { return nil }
        stream = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        id = EntryID(
            milliseconds: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            sequence: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }

    init(stream: UInt64, id: EntryID) {
        self.stream = stream
        self.id = id
    }
}

extension EntryKey {
    /// The key's bytes, valid only inside `body`: WiredTiger keeps a pointer to a key it is given
    /// until the operation that uses it, so every operation runs inside this.
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        var raw = (stream.bigEndian, id.milliseconds.bigEndian, id.sequence.bigEndian)
        return withUnsafeBytes(of: &raw) { body($0) }
    }

    var bytes: [UInt8] { withBytes { Array($0) } }
}

extension WiredTigerCursor {
    /// Sets an entry key (from the stack) and runs one operation with it.
    private func withKey(_ key: EntryKey, _ operation: (UnsafeMutablePointer<WT_CURSOR>) -> Int32) -> Int32 {
        key.withBytes { withKey($0, operation) }
    }

    func insert(key: EntryKey, value: [UInt8]) throws(WiredTigerError) {
        try insert(value: value) { operation in withKey(key, operation) }
    }

    func search(key: EntryKey) throws(WiredTigerError) -> Bool {
        try Self.found(withKey(key) { $0.pointee.search($0) }, "cursor search")
    }

    func remove(key: EntryKey) throws(WiredTigerError) -> Bool {
        try Self.found(withKey(key) { $0.pointee.remove($0) }, "cursor remove")
    }

    func searchNear(key: EntryKey) throws(WiredTigerError) -> NearMatch? {
        var exact: Int32 = 0
        let code = withKey(key) { $0.pointee.search_near($0, &exact) }
        return try Self.nearMatch(code, exact: exact)
    }

    /// The entry key the cursor sits on.
    var entryKey: EntryKey {
        get throws(WiredTigerError) {
            let key = try withKey { EntryKey($0) }
            guard let key else { throw WiredTigerError.corrupt("an entry table key is not (stream, id)") }
            return key
        }
    }
}

/// `table:spool-live` and `table:spool-backfill`: the entries of every stream, keyed by
/// `EntryKey`, so the number of streams costs no tables, files or descriptors. Live appends go to
/// the end of their stream's range; the backfill table holds entries that arrive from elsewhere
/// below it. Storage thread only.
///
/// Cursors are per table, not per stream: `live` and `backfill` serve writes and point lookups;
/// merged cursors borrow a reader pair (a second pair is opened only while one is already lent,
/// i.e. when a read nests inside another); two more per table mark the ends of range truncates.
final class EntryTables {
    static let liveURI = "table:spool-live"
    static let backfillURI = "table:spool-backfill"

    /// A live and a backfill cursor that walk together (`MergedCursor`).
    final class ReaderPair {
        let live: WiredTigerCursor
        let backfill: WiredTigerCursor
        fileprivate weak var owner: EntryTables?

        fileprivate init(session: WiredTigerSession) throws(WiredTigerError) {
            live = try session.openCursor(EntryTables.liveURI, config: "overwrite=false")
            backfill = try session.openCursor(EntryTables.backfillURI, config: "overwrite=false")
        }

        /// Called when the merged cursor that borrowed the pair goes away.
        func giveBack() {
            live.reset()
            backfill.reset()
            owner?.idleReaders.append(self)
        }
    }

    private let session: WiredTigerSession
    let live: WiredTigerCursor
    let backfill: WiredTigerCursor
    fileprivate var idleReaders: [ReaderPair] = []
    private var truncateEnds: [String: (WiredTigerCursor, WiredTigerCursor)] = [:]

    init(session: WiredTigerSession) throws(WiredTigerError) {
        self.session = session
        try session.create(Self.liveURI, config: WiredTigerConfiguration.entryTable)
        try session.create(Self.backfillURI, config: WiredTigerConfiguration.entryTable)
        live = try session.openCursor(Self.liveURI, config: "overwrite=false")
        backfill = try session.openCursor(Self.backfillURI, config: "overwrite=false")
    }

    /// A reader pair for one merged cursor; it comes back with `ReaderPair.giveBack()`.
    func borrowReaders() throws(WiredTigerError) -> ReaderPair {
        if let pair = idleReaders.popLast() { return pair }
        let pair = try ReaderPair(session: session)
        pair.owner = self
        return pair
    }

    /// Removes the keys of one stream from `lower` to `upper` (inclusive) in both tables, in the
    /// transaction in progress: one range truncate per table, not a remove per entry.
    func truncate(stream: UInt64, from lower: EntryID, to upper: EntryID) throws(WiredTigerError) {
        guard lower <= upper else { return }
        for uri in [Self.liveURI, Self.backfillURI] {
            let (start, stop) = try ends(uri)
            try session.truncate(
                start: start, from: EntryKey(stream: stream, id: lower).bytes,
                stop: stop, to: EntryKey(stream: stream, id: upper).bytes)
        }
    }

    private func ends(_ uri: String) throws(WiredTigerError) -> (WiredTigerCursor, WiredTigerCursor) {
        if let ends = truncateEnds[uri] { return ends }
        let ends = (try session.openCursor(uri, config: nil), try session.openCursor(uri, config: nil))
        truncateEnds[uri] = ends
        return ends
    }

    /// A stream's newest live entry: its id and its dense number (the top bit, a node start, cleared).
    func lastLive(stream: UInt64) throws(WiredTigerError) -> (id: EntryID, number: UInt64)? {
        defer { live.reset() }
        guard let near = try live.searchNear(key: EntryKey(stream: stream, id: .max)) else { return nil }
        if near == .after { guard try live.previous() else { return nil } }
        let key = try live.entryKey
        guard key.stream == stream else { return nil }
        let number = try live.withValue { $0.count >= 8 ? readLittleEndian(UInt64.self, $0, at: 0) : nil }
        guard let number else { throw WiredTigerError.corrupt("entry \(key.id) of stream \(stream) has no number") }
        return (key.id, number & ~LogStore.nodeStartFlag)
    }

    /// The size (`EntrySize`) of a stream's `count` newest live entries.
    func newestLiveBytes(stream: UInt64, count: UInt64) throws(WiredTigerError) -> UInt64 {
        defer { live.reset() }
        guard count > 0, let near = try live.searchNear(key: EntryKey(stream: stream, id: .max)) else { return 0 }
        var positioned = near == .after ? try live.previous() : true
        var bytes: UInt64 = 0
        var seen: UInt64 = 0
        while positioned, seen < count, try live.entryKey.stream == stream {
            bytes += try live.withValue { EntrySize.of(storedValue: $0.count) }
            seen += 1
            positioned = try live.previous()
        }
        guard seen == count else {
            throw WiredTigerError.corrupt("stream \(stream) has \(seen) live entries newer than its catalog row, not \(count)")
        }
        return bytes
    }

    /// The first live id of a stream.
    func firstLiveID(stream: UInt64) throws(WiredTigerError) -> EntryID? {
        defer { live.reset() }
        guard let near = try live.searchNear(key: EntryKey(stream: stream, id: .min)) else { return nil }
        if near == .before { guard try live.next() else { return nil } }
        let key = try live.entryKey
        return key.stream == stream ? key.id : nil
    }
}
