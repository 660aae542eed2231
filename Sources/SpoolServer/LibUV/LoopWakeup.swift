import CLibUV
import Synchronization

/// Carries outcomes from the storage and flush threads to the loop thread: a locked queue plus
/// uv_async_send. Many sends coalesce into one callback, which drains the whole queue.
// Sendable because the queue is behind a Mutex and uv_async_send is the one libuv call documented
// safe from any thread; the handle is created and closed on the loop thread.
final class LoopWakeup: @unchecked Sendable {
    let handle: UnsafeMutablePointer<uv_async_t>
    private let queue = Mutex<Queued>(Queued())

    private struct Queued {
        var outcomes: [ServerOutcome] = []
        /// What the storage engine is done with (commands the loop thread parsed), freed on the
        /// loop thread: memory freed by the thread that allocated it goes back to that thread's
        /// allocator cache instead of contending for its arena's lock from another thread.
        var garbage: [any Sendable] = []
    }

    init(handle: UnsafeMutablePointer<uv_async_t>) {
        self.handle = handle
    }

    /// Any thread.
    func post(_ outcomes: [ServerOutcome]) {
        let wasEmpty = queue.withLock { queue in
            let empty = queue.outcomes.isEmpty
            queue.outcomes.append(contentsOf: outcomes)
            return empty
        }
        if wasEmpty { uv_async_send(handle) }
    }

    /// Any thread: hands `garbage` to the loop thread to be dropped there. Wakes nobody: the
    /// storage engine releases a batch just before delivering its outcomes, whose `post` wakes the
    /// loop thread for both (waking it here too would often cost a second wake-up per fsync).
    func release(_ garbage: [any Sendable]) {
        queue.withLock { queue in queue.garbage.append(contentsOf: garbage) }
    }

    /// Loop thread: the outcomes posted so far, and the garbage, which the caller drops once it
    /// has written the replies.
    func drain() -> (outcomes: [ServerOutcome], garbage: [any Sendable]) {
        queue.withLock { queue in
            var taken = Queued()
            swap(&taken, &queue)
            return (taken.outcomes, taken.garbage)
        }
    }
}

/// A libuv error as a Swift error, with libuv's name and message for the code.
public struct UVError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public var description: String {
        "\(call): \(String(cString: uv_strerror(code))) (\(String(cString: uv_err_name(code))))"
    }
}

@inline(__always)
func checkUV(_ code: Int32, _ call: @autoclosure () -> String) throws(UVError) {
    if code < 0 { throw UVError(call: call(), code: code) }
}
