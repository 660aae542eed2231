import Foundation

/// Buffered writes to a file descriptor, flushed explicitly: `print` is line-buffered only on a
/// terminal, and followers (tail, consume) must show each batch as it arrives.
final class Output: @unchecked Sendable {
    // Sendable because each Output is used by one task at a time (the command's), never shared.
    static let standardOutput = Output(fd: 1)
    static let standardError = Output(fd: 2)

    private let fd: Int32
    private var buffer: [UInt8] = []
    private static let flushThreshold = 64 << 10

    init(fd: Int32) {
        self.fd = fd
    }

    var isTerminal: Bool { isatty(fd) == 1 }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= Self.flushThreshold { flush() }
    }

    func writeLine(_ text: String) {
        write(text)
        write("\n")
        if fd == 2 { flush() }
    }

    func flush() {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                break  // EPIPE (reader gone): drop the rest
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}
