/// A stream entry id as Redis Streams defines it: milliseconds since the epoch, then a sequence
/// number within that millisecond. Ids are strictly increasing within a stream.
public struct EntryID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64

    public static let zero = EntryID(milliseconds: 0, sequence: 0)
    public static let min = EntryID.zero
    public static let max = EntryID(milliseconds: .max, sequence: .max)

    /// Byte length of `keyBytes`: two big-endian UInt64 so that byte order is id order.
    public static let keyByteCount = 16

    @inlinable
    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    public static func < (lhs: EntryID, rhs: EntryID) -> Bool {
        lhs.milliseconds != rhs.milliseconds
            ? lhs.milliseconds < rhs.milliseconds : lhs.sequence < rhs.sequence
    }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// The id right after this one, or nil at the very end of the id space.
    public var successor: EntryID? {
        if sequence < .max { return EntryID(milliseconds: milliseconds, sequence: sequence + 1) }
        if milliseconds < .max { return EntryID(milliseconds: milliseconds + 1, sequence: 0) }
        return nil
    }

    /// The id right before this one, or nil for 0-0.
    public var predecessor: EntryID? {
        if sequence > 0 { return EntryID(milliseconds: milliseconds, sequence: sequence - 1) }
        if milliseconds > 0 { return EntryID(milliseconds: milliseconds - 1, sequence: .max) }
        return nil
    }

    /// Big-endian (milliseconds, sequence): a WiredTiger B-tree over these keys walks in id order.
    public var keyBytes: [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Self.keyByteCount)
        Self.storeBigEndian(milliseconds, into: &bytes, at: 0)
        Self.storeBigEndian(sequence, into: &bytes, at: 8)
        return bytes
    }

    public init?(keyBytes: UnsafeRawBufferPointer) {
        guard keyBytes.count == Self.keyByteCount else { return nil }
        var ms: UInt64 = 0
        var seq: UInt64 = 0
        for i in 0..<8 { ms = ms << 8 | UInt64(keyBytes[i]) }
        for i in 8..<16 { seq = seq << 8 | UInt64(keyBytes[i]) }
        self.init(milliseconds: ms, sequence: seq)
    }

    private static func storeBigEndian(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(i))) }
    }
}

extension EntryID {
    /// How a missing sequence part is filled in when parsing "ms" without "-seq".
    public enum MissingSequence: Sendable {
        /// Range starts: "5" means 5-0.
        case zero
        /// Range ends: "5" means 5-18446744073709551615.
        case max
        /// Not allowed (XADD ids, XSETID).
        case reject
    }

    /// Parses "ms-seq" or "ms" (digits only, no sign, no spaces), as Redis's streamParseID does.
    /// Inlinable so that each caller's collection type gets its own specialised loop.
    @inlinable
    public init?(parsing text: some Collection<UInt8>, missingSequence: MissingSequence) {
        var ms: UInt64 = 0
        var seq: UInt64 = 0
        var sawDash = false
        var digitsInPart = 0
        for byte in text {
            if byte == UInt8(ascii: "-") {
                if sawDash || digitsInPart == 0 { return nil }
                sawDash = true
                digitsInPart = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            if sawDash {
                let (m, o1) = seq.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(digit)
                if o1 || o2 { return nil }
                seq = a
            } else {
                let (m, o1) = ms.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(digit)
                if o1 || o2 { return nil }
                ms = a
            }
            digitsInPart += 1
        }
        if digitsInPart == 0 { return nil }
        if !sawDash {
            switch missingSequence {
            case .zero: seq = 0
            case .max: seq = .max
            case .reject: return nil
            }
        }
        self.init(milliseconds: ms, sequence: seq)
    }

    public init?(_ text: String, missingSequence: MissingSequence = .zero) {
        self.init(parsing: Array(text.utf8), missingSequence: missingSequence)
    }

    /// Calls `body` with the textual form, formatted on the stack (replies write one per entry).
    @inlinable
    public func withText<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        // 20 digits, a dash, 20 digits: 41 bytes; 48 of scratch.
        var scratch: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &scratch) { buffer in
            var end = 48
            func put(_ value: UInt64) {
                var v = value
                repeat {
                    end -= 1
                    buffer[end] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: v % 10)
                    v /= 10
                } while v > 0
            }
            put(sequence)
            end -= 1
            buffer[end] = UInt8(ascii: "-")
            put(milliseconds)
            return body(UnsafeRawBufferPointer(rebasing: buffer[end..<48]))
        }
    }

    /// The textual form as bytes.
    public var bytes: [UInt8] { withText { Array($0) } }
}

extension EntryID {
    /// The id XADD * gives: the current millisecond with sequence 0, or — when the clock has not
    /// moved past the last id (same millisecond, or the clock went backwards) — the last id's
    /// successor. nil when the id space is exhausted.
    public static func generated(after last: EntryID, nowMilliseconds: UInt64) -> EntryID? {
        if nowMilliseconds > last.milliseconds {
            return EntryID(milliseconds: nowMilliseconds, sequence: 0)
        }
        return last.successor
    }

    /// The id XADD ms-* gives: sequence 0 in a fresh millisecond, otherwise one past the last
    /// id's sequence. nil when that would not be above the last id.
    public static func generated(milliseconds: UInt64, after last: EntryID) -> EntryID? {
        if milliseconds > last.milliseconds { return EntryID(milliseconds: milliseconds, sequence: 0) }
        if milliseconds == last.milliseconds, last.sequence < .max {
            return EntryID(milliseconds: milliseconds, sequence: last.sequence + 1)
        }
        return nil
    }
}
