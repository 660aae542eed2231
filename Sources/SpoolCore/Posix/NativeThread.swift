#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A dedicated OS thread, for work that blocks and so must never run on Swift's cooperative pool:
/// the storage and flush threads (WiredTiger, fsync) and the client's connections (poll, connect).
public final class NativeThread: @unchecked Sendable {
    // Sendable because the pthread handle is only joined once, by the thread that owns this object.
    private var handle: pthread_t

    private final class Box {
        let name: String?
        let body: @Sendable () -> Void
        init(_ name: String?, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts a thread to be joined. `name` (at most 15 bytes are kept) is what `top -H`, `perf`
    /// and /proc/<pid>/task/<tid>/comm show for it.
    public init(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        handle = Self.start(name, body)
    }

    /// Starts a thread nobody joins.
    public static func detach(name: String? = nil, _ body: @escaping @Sendable () -> Void) {
        pthread_detach(start(name, body))
    }

    private static func start(_ name: String?, _ body: @escaping @Sendable () -> Void) -> pthread_t {
        let box = Unmanaged.passRetained(Box(name, body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                if let name = box.name { nameCurrentThread(name) }
                box.body()
                return nil
            }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        return thread
    }

    public func join() {
        pthread_join(handle, nil)
    }
}

/// Names the calling thread (Linux keeps 15 bytes). Glibc's pthread_setname_np is not visible to
/// Swift, so this writes the thread's own comm file; elsewhere it does nothing.
private func nameCurrentThread(_ name: String) {
    #if os(Linux)
        let file = open("/proc/thread-self/comm", O_WRONLY)
        guard file >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        close(file)
    #endif
}
