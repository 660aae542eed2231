import SpoolCore

/// The encodings of `table:spool-producers`, one row per (stream, producer).
///
/// Key: the stream's table number (UInt64 big-endian, so one stream's producers are adjacent and a
/// prefix walk finds them all) followed by the producer id's bytes.
///
/// Value:
///
///     version              UInt8    1
///     epoch                UInt64   the highest EPOCH presented; older instances are fenced
///     lastSequence         UInt64   the highest committed SEQ (every lower one is committed too)
///     lastActivity         UInt64   wall-clock ms of the last request, for idle expiry
///     idCount              UInt32   ids that follow, at most lastSequence
///     ids                  idCount × (UInt64 ms, UInt64 seq), oldest first; the last is lastSequence's
///
/// Integers are little-endian, as in `StreamRecord`.
enum ProducerRecord {
    static let version: UInt8 = 1
    static let headerByteCount = 1 + 8 + 8 + 8 + 4

    static func key(table: UInt64, producer: [UInt8]) -> [UInt8] {
        var key = tablePrefix(table)
        key.append(contentsOf: producer)
        return key
    }

    static func tablePrefix(_ table: UInt64) -> [UInt8] {
        var prefix = [UInt8]()
        prefix.reserveCapacity(8 + ProducerState.producerIDLengthMax)
        withUnsafeBytes(of: table.bigEndian) { prefix.append(contentsOf: $0) }
        return prefix
    }

    static func encode(_ state: ProducerState) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerByteCount + 16 * state.recentIDs.count)
        out.append(version)
        appendLittleEndian(state.epoch, to: &out)
        appendLittleEndian(state.lastSequence, to: &out)
        appendLittleEndian(state.lastActivityMilliseconds, to: &out)
        appendLittleEndian(UInt32(state.recentIDs.count), to: &out)
        for id in state.recentIDs {
            appendLittleEndian(id.milliseconds, to: &out)
            appendLittleEndian(id.sequence, to: &out)
        }
        return out
    }

    /// nil for bytes this version did not write. A window larger than `windowMax` (the
    /// configuration shrank) keeps its newest ids.
    static func decode(_ bytes: UnsafeRawBufferPointer, windowMax: Int) -> ProducerState? {
        guard bytes.count >= headerByteCount, bytes[0] == version else { return nil }
        let epoch = readLittleEndian(UInt64.self, bytes, at: 1)
        let lastSequence = readLittleEndian(UInt64.self, bytes, at: 9)
        let lastActivity = readLittleEndian(UInt64.self, bytes, at: 17)
        let count = Int(readLittleEndian(UInt32.self, bytes, at: 25))
        guard bytes.count == headerByteCount + 16 * count, UInt64(count) <= lastSequence else { return nil }
        var ids = RecentIDs(capacity: windowMax)
        for index in 0..<count {
            let offset = headerByteCount + 16 * index
            ids.append(
                EntryID(
                    milliseconds: readLittleEndian(UInt64.self, bytes, at: offset),
                    sequence: readLittleEndian(UInt64.self, bytes, at: offset + 8)))
        }
        return ProducerState(
            epoch: epoch, lastSequence: lastSequence, recentIDs: ids, lastActivityMilliseconds: lastActivity)
    }
}
