import Foundation

/// Lines of a file or of standard input, read on a thread of its own (reads block; the tasks that
/// publish must not) and handed over in batches, at most `batchesAhead` batches ahead of the
/// consumer so that a large file is never all in memory.
struct LineReader: AsyncSequence {
    typealias Element = [String]

    let fd: Int32
    let progress: ByteCounter
    var batchLines = 1024
    var batchesAhead = 4

    /// Bytes read so far, for progress bars.
    final class ByteCounter: @unchecked Sendable {
        // Sendable because the count is only read approximately, for display.
        var bytes = 0
    }

    init(fd: Int32, progress: ByteCounter = ByteCounter()) {
        self.fd = fd
        self.progress = progress
    }

    struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<[String]>.Iterator
        let credits: DispatchSemaphore

        mutating func next() async -> [String]? {
            let batch = await base.next()
            if batch != nil { credits.signal() }
            return batch
        }
    }

    func makeAsyncIterator() -> Iterator {
        let (stream, continuation) = AsyncStream<[String]>.makeStream(bufferingPolicy: .unbounded)
        let credits = DispatchSemaphore(value: batchesAhead)
        let (fd, batchLines, progress) = (fd, batchLines, progress)
        let thread = Thread {
            var pending: [UInt8] = []
            var batch: [String] = []
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            func emit() {
                guard !batch.isEmpty else { return }
                credits.wait()
                continuation.yield(batch)
                batch = []
            }
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                progress.bytes += n
                var start = 0
                for index in 0..<n where buffer[index] == 0x0A {
                    pending.append(contentsOf: buffer[start..<index])
                    if pending.last == 0x0D { pending.removeLast() }
                    batch.append(String(decoding: pending, as: UTF8.self))
                    pending.removeAll(keepingCapacity: true)
                    start = index + 1
                    if batch.count >= batchLines { emit() }
                }
                pending.append(contentsOf: buffer[start..<n])
            }
            if !pending.isEmpty { batch.append(String(decoding: pending, as: UTF8.self)) }
            emit()
            continuation.finish()
        }
        thread.start()
        return Iterator(base: stream.makeAsyncIterator(), credits: credits)
    }
}
