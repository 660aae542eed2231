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
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a thread to be joined.
    public init(_ body: @escaping @Sendable () -> Void) {
        handle = Self.start(body)
    }

    /// Starts a thread nobody joins.
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        pthread_detach(start(body))
    }

    private static func start(_ body: @escaping @Sendable () -> Void) -> pthread_t {
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
        return thread
    }

    public func join() {
        pthread_join(handle, nil)
    }
}
