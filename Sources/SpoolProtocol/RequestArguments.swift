import SpoolCore

/// One request's arguments as the decoder found them: every argument's bytes back to back in one
/// buffer, and where each one ends. Two allocations per request whatever its number of arguments
/// (an array per argument cost one each, allocated on the loop thread and freed after the reply),
/// and a command value keeps views into the buffer instead of copies.
public struct RequestArguments: Sendable, ByteStrings, Equatable,
    ExpressibleByArrayLiteral, CustomStringConvertible
{
    /// Every argument's bytes, back to back.
    public let buffer: [UInt8]
    /// Where argument `i` ends in `buffer`; it starts where argument `i - 1` ends.
    @usableFromInline let ends: [Int]

    public init<Arguments: Sequence>(_ arguments: Arguments) where Arguments.Element: Collection<UInt8> {
        var buffer: [UInt8] = []
        var ends: [Int] = []
        for argument in arguments {
            buffer.append(contentsOf: argument)
            ends.append(buffer.count)
        }
        self.init(buffer: buffer, ends: ends)
    }

    public init(arrayLiteral elements: [UInt8]...) { self.init(elements) }

    /// The decoder's builder: `buffer` and `ends` as described above.
    init(buffer: [UInt8], ends: [Int]) {
        self.buffer = buffer
        self.ends = ends
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.count }

    public subscript(index: Int) -> RequestArgument {
        let start = index == 0 ? 0 : ends[index - 1]
        return RequestArgument(buffer, start: start, count: ends[index] - start)
    }

    /// Calls `body` with argument `index`'s bytes in place (no view, no copy, no reference
    /// taken): for checks on the hot path.
    @inlinable
    public func withBytes<R>(ofArgument index: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let start = index == 0 ? 0 : ends[index - 1]
        let end = ends[index]
        return buffer.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    /// Every argument as an array of its own, for code that keeps arguments apart from the request.
    public var arrays: [[UInt8]] { map(\.bytes) }

    public static func == (lhs: RequestArguments, rhs: RequestArguments) -> Bool {
        lhs.ends == rhs.ends && lhs.buffer == rhs.buffer
    }

    public var description: String { arrays.description }
}

/// One argument: a zero-based view of its bytes in the request's buffer (index 0 is its first byte,
/// as with an array of its own). Keeps the buffer alive; copy it out (`bytes`) to keep it longer
/// than the request without the rest.
public struct RequestArgument: Sendable, ByteString, Hashable, CustomStringConvertible {
    private let base: [UInt8]
    private let start: Int
    public let count: Int

    public init(_ base: [UInt8], start: Int, count: Int) {
        precondition(start >= 0 && count >= 0 && start + count <= base.count, "argument outside its buffer")
        self.base = base
        self.start = start
        self.count = count
    }

    public init(_ bytes: [UInt8]) { self.init(bytes, start: 0, count: bytes.count) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    @inline(__always)
    public subscript(index: Int) -> UInt8 {
        precondition(index >= 0 && index < count, "index outside the argument")
        return base[start &+ index]
    }

    /// The bytes as an array of their own.
    public var bytes: [UInt8] { Array(base[start..<start + count]) }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try base.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<start + count])) }
    }

    public static func == (lhs: RequestArgument, rhs: RequestArgument) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }

    public static func == (lhs: RequestArgument, rhs: [UInt8]) -> Bool {
        lhs.count == rhs.count && lhs.elementsEqual(rhs)
    }

    public func hash(into hasher: inout Hasher) {
        withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    public var description: String { String(decoding: self, as: UTF8.self) }
}

/// An entry's fields as XADD gave them: views into its request.
extension Slice: ByteStrings where Base == RequestArguments {}
