/// Bytes indexed from 0: an array of their own, or a view into a buffer shared with others (a
/// request's argument). Code over `ByteString` never copies the bytes to read them.
public protocol ByteString: RandomAccessCollection where Element == UInt8, Index == Int {}
extension Array: ByteString where Element == UInt8 {}

extension Array where Element == UInt8 {
    /// Appends `bytes` with one copy whatever they are (`append(contentsOf:)` copies a view that
    /// is not an array byte by byte).
    @inlinable
    public mutating func append(bytes: some ByteString) {
        if bytes.withContiguousStorageIfAvailable({ append(contentsOf: $0) }) == nil { append(contentsOf: bytes) }
    }
}

/// A run of byte strings, such as an entry's fields and values: arrays of their own, or views
/// into one request's buffer.
public protocol ByteStrings: RandomAccessCollection where Index == Int, Element: ByteString {}
extension Array: ByteStrings where Element == [UInt8] {}
extension ArraySlice: ByteStrings where Element == [UInt8] {}
