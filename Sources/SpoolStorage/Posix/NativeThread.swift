#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A dedicated OS thread: the storage and flush threads block in WiredTiger and fsync, which must
/// never happen on Swift's cooperative thread pool.
public final class NativeThread: @unchecked Sendable {
    // Sendable because the pthread handle is only joined once, by the thread that owns this object.
    private var handle: pthread_t

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    public init(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { raw in
                let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        precondition(result == 0, "pthread_create failed: \(result)")
        handle = thread
    }

    public func join() {
        pthread_join(handle, nil)
    }
}
