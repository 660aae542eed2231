#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed system call: its name and errno, rendered as "connect: Connection refused".
struct SystemCallError: Error, Sendable, CustomStringConvertible {
    var call: String
    var code: Int32

    var description: String { "\(call): \(String(cString: strerror(code)))" }

    /// errnos that only a bug in this file can cause; they stop the process instead of being
    /// reported as a network problem.
    static func checkNotABug(_ call: String, _ code: Int32) {
        precondition(code != EBADF && code != EFAULT && code != ENOTSOCK, "\(call) failed with errno \(code): a bug")
    }
}

/// The thin layer over the socket calls a client connection makes. Every function either retries
/// EINTR, crashes on errnos that only a bug causes, or throws `SystemCallError`.
enum Socket {
    /// Resolves `host` and connects a non-blocking TCP socket (with TCP_NODELAY) to the first
    /// address that accepts within `timeoutMilliseconds`. Blocks: call it on a dedicated thread.
    static func connect(host: String, port: Int, timeoutMilliseconds: Int32) throws(SystemCallError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
            hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SystemCallError(call: "getaddrinfo(\(host)): \(String(cString: gai_strerror(status)))", code: 0)
        }
        defer { freeaddrinfo(first) }
        var lastError = SystemCallError(call: "connect", code: ECONNREFUSED)
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            do {
                return try connect(info.pointee, timeoutMilliseconds: timeoutMilliseconds)
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    private static func connect(_ info: addrinfo, timeoutMilliseconds: Int32) throws(SystemCallError) -> Int32 {
        #if canImport(Glibc)
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
            let type = SOCK_STREAM
        #endif
        let fd = socket(info.ai_family, type, 0)
        guard fd >= 0 else { throw SystemCallError(call: "socket", code: errno) }
        var success = false
        defer { if !success { close(fd) } }
        var one: Int32 = 1
        // Small requests and replies: Nagle's delay would be pure latency.
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var result: Int32
        repeat {
            result = Glibc.connect(fd, info.ai_addr, info.ai_addrlen)
        } while result != 0 && errno == EINTR
        if result != 0 {
            guard errno == EINPROGRESS else { throw SystemCallError(call: "connect", code: errno) }
            var pollFD = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat {
                ready = poll(&pollFD, 1, timeoutMilliseconds)
            } while ready < 0 && errno == EINTR
            guard ready > 0 else {
                throw SystemCallError(call: "connect", code: ready == 0 ? ETIMEDOUT : errno)
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard socketError == 0 else { throw SystemCallError(call: "connect", code: socketError) }
        }
        success = true
        return fd
    }

    enum Transfer {
        case bytes(Int)
        case wouldBlock
        /// recv: the peer closed its side.
        case closed
        case failed(SystemCallError)
    }

    /// One non-blocking send; never raises SIGPIPE.
    static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Transfer {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if n >= 0 { return .bytes(n) }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default:
                SystemCallError.checkNotABug("send", code)
                return .failed(SystemCallError(call: "send", code: code))
            }
        }
    }

    /// One non-blocking receive.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default:
                SystemCallError.checkNotABug("recv", code)
                return .failed(SystemCallError(call: "recv", code: code))
            }
        }
    }
}

/// A non-blocking pipe that wakes a thread blocked in poll(2) from any other thread.
struct Wakeup {
    /// Polled by the sleeping thread.
    let readFD: Int32
    let writeFD: Int32

    init() throws(SystemCallError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw SystemCallError(call: "pipe", code: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func signal() {
        var one: UInt8 = 1
        // EAGAIN means the pipe is full of earlier signals: the sleeper will wake anyway.
        _ = write(writeFD, &one, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, 64) == 64 {}
    }

    func close() {
        Glibc.close(readFD)
        Glibc.close(writeFD)
    }
}
