/// The receive buffer behind both decoders: one growing array with a read index, compacted
/// occasionally rather than after every message, plus a resumable search for line ends.
struct ByteInput: Sendable {
    /// Bytes before `readIndex` are consumed and are dropped by the next worthwhile compaction.
    private(set) var bytes: [UInt8] = []
    /// Advanced by the decoder as it consumes; never past `bytes.count`.
    var readIndex = 0 {
        didSet { assert(readIndex >= 0 && readIndex <= bytes.count) }
    }
    /// Where the search for the current line's terminator resumes, so a line that arrives a byte
    /// at a time is scanned once rather than once per byte.
    private var scanIndex = 0

    /// Consumed bytes are left in place until at least this many pile up, so a pipeline of small
    /// messages costs no copying.
    private static let compactionThreshold = 16 << 10
    /// An emptied buffer keeps its allocation up to this size; beyond it the memory goes back,
    /// so one large value does not pin a large buffer on an idle connection.
    private static let retainedCapacityMax = 1 << 20

    var unreadCount: Int { bytes.count - readIndex }

    mutating func append(_ newBytes: UnsafeRawBufferPointer) {
        compactIfWorthwhile()
        bytes.append(contentsOf: newBytes)
    }

    mutating func append(_ newBytes: [UInt8]) {
        compactIfWorthwhile()
        bytes.append(contentsOf: newBytes)
    }

    enum LineSearch {
        case found(Int)
        case needsMoreBytes
        case tooLong
    }

    /// Finds `terminator` in the line starting at `readIndex`, looking no further than
    /// `lengthMax` bytes in. Reports `tooLong` once more than `lengthMax` bytes are buffered with
    /// no terminator among them, so an endless line fails as soon as it passes the limit and the
    /// verdict does not depend on how the bytes were split into reads.
    mutating func findLineEnd(_ terminator: UInt8, lengthMax: Int) -> LineSearch {
        let available = unreadCount
        let searchEnd = available > lengthMax ? readIndex + lengthMax + 1 : bytes.count
        let searchStart = max(scanIndex, readIndex)
        let found: Int? = bytes.withUnsafeBufferPointer { buffer in
            var index = searchStart
            while index < searchEnd {
                if buffer[index] == terminator { return index }
                index += 1
            }
            return nil
        }
        if let found {
            scanIndex = found
            return .found(found)
        }
        scanIndex = searchEnd
        return available > lengthMax ? .tooLong : .needsMoreBytes
    }

    /// Copies `count` bytes from `readIndex` without consuming them.
    func copyBytes(count: Int) -> [UInt8] {
        count == 0 ? [] : Array(bytes[readIndex..<readIndex + count])
    }

    /// Appends the next `count` bytes to `target` (the read index stays).
    func copyBytes(count: Int, to target: inout [UInt8]) {
        if count > 0 { target.append(contentsOf: bytes[readIndex..<readIndex + count]) }
    }

    /// True when the two bytes at `index` are CR LF; the caller has checked they are buffered.
    func isCRLF(at index: Int) -> Bool {
        bytes[index] == ASCII.cr && bytes[index + 1] == ASCII.lf
    }

    private mutating func compactIfWorthwhile() {
        guard readIndex > 0 else { return }
        if readIndex == bytes.count {
            bytes.removeAll(keepingCapacity: bytes.capacity <= Self.retainedCapacityMax)
            scanIndex = 0
            readIndex = 0
        } else if readIndex >= Self.compactionThreshold && readIndex >= bytes.count - readIndex {
            // Moving no more bytes than were consumed keeps compaction amortised O(1) per byte.
            bytes.removeSubrange(..<readIndex)
            scanIndex = max(scanIndex - readIndex, 0)
            readIndex = 0
        }
    }
}
