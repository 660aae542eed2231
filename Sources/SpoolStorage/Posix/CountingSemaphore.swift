#if canImport(Glibc)
    import Glibc
#endif

/// A POSIX semaphore: bounds how many requests a tool keeps in flight.
// Sendable because sem_t is made for use from many threads; all access goes through sem_* calls.
public final class CountingSemaphore: @unchecked Sendable {
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    public init(value: Int) {
        precondition(value >= 0 && sem_init(semaphore, 0, UInt32(value)) == 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    public func wait() {
        while sem_wait(semaphore) != 0 {}  // EINTR: retry
    }

    public func signal() {
        sem_post(semaphore)
    }
}

/// Writes a whole string to a file descriptor, unbuffered (stdout and stderr of tools).
public func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
