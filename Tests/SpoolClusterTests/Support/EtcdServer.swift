import Foundation
import SpoolCluster
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real etcd (Debian's /usr/bin/etcd) on 127.0.0.1 with free ports and a temporary data
/// directory, for one test. It can be killed, paused and started again on the same directory
/// and ports, which is how the tests take etcd away from a coordinator.
///
/// The process is ours: it is only ever signalled by its pid, and `remove()` (called from a
/// `defer`) kills it and deletes the directory.
final class EtcdServer: Sendable {
    static let binary = "/usr/bin/etcd"

    let directory: String
    let clientPort: Int
    let peerPort: Int
    /// Guarded by its Mutex: the running process, nil while stopped.
    private let pid = Mutex<pid_t?>(nil)

    var endpoint: String { "http://127.0.0.1:\(clientPort)" }
    var logPath: String { directory + "/etcd.log" }

    private init(directory: String, clientPort: Int, peerPort: Int) {
        self.directory = directory
        self.clientPort = clientPort
        self.peerPort = peerPort
    }

    /// Starts a fresh etcd and returns once it answers.
    static func start() async throws -> EtcdServer {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw EtcdServerError(
                description: "\(binary) is missing: these tests need a real etcd (Debian's etcd-server 3.4)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "spool-etcd-\(getpid())-\(UUID().uuidString.prefix(8))"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ports = try freePorts(2)
        let server = EtcdServer(directory: directory, clientPort: ports[0], peerPort: ports[1])
        try await server.launch()
        return server
    }

    /// Starts etcd (again) on this directory and these ports and waits until it answers.
    func launch() async throws {
        precondition(pid.withLock { $0 } == nil, "etcd is already running")
        let client = "http://127.0.0.1:\(clientPort)"
        let peer = "http://127.0.0.1:\(peerPort)"
        let arguments = [
            Self.binary, "--name", "t", "--data-dir", directory + "/data",
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", "t=\(peer)",
            // 5.10a: a 1 s minimum lease TTL.
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        let spawned = try spawn(arguments, logPath: logPath)
        pid.withLock { $0 = spawned }
        try await waitUntilAnswering()
    }

    /// Polls a range until etcd answers (a fresh member elects itself within a second or two).
    private func waitUntilAnswering() async throws {
        let client = EtcdClient(configuration: .init(endpoints: [endpoint], requestTimeout: .milliseconds(500)))
        let deadline = ContinuousClock.now + .seconds(20)
        var isAnswering = false
        while !isAnswering && ContinuousClock.now < deadline {
            isAnswering = (try? await client.range(key: "/ready")) != nil
            if !isAnswering { try? await Task.sleep(for: .milliseconds(25)) }
        }
        try? await client.shutdown()
        guard isAnswering else {
            throw EtcdServerError(description: "etcd did not answer within 20 s; log:\n\(logTail())")
        }
    }

    /// SIGKILL, then reaps the process.
    func kill() {
        guard let running = pid.withLock({ value -> pid_t? in
            defer { value = nil }
            return value
        }) else { return }
        _ = Glibc.kill(running, SIGKILL)
        var status: Int32 = 0
        while waitpid(running, &status, 0) == -1 && errno == EINTR {}
    }

    /// SIGSTOP: etcd keeps its sockets but answers nothing. Returns once every one of its threads
    /// is stopped: the signal is only queued when kill returns, and a thread running on the other
    /// core can still answer a request sent right after.
    func pause() {
        guard let running = pid.withLock({ $0 }) else { return }
        _ = Glibc.kill(running, SIGSTOP)
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while ContinuousClock.now < deadline, !Self.everyThreadStopped(running) {
            usleep(1_000)
        }
    }

    private static func everyThreadStopped(_ pid: pid_t) -> Bool {
        let tasks = "/proc/\(pid)/task"
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks), !threads.isEmpty else {
            return true
        }
        return threads.allSatisfy { thread in
            guard let stat = try? String(contentsOfFile: "\(tasks)/\(thread)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return true }
            let state = stat[stat.index(after: close)...].drop(while: { $0 == " " }).first
            return state == "T" || state == "t"
        }
    }

    func resume() {
        if let running = pid.withLock({ $0 }) { _ = Glibc.kill(running, SIGCONT) }
    }

    /// Kills etcd and deletes its directory.
    func remove() {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func logTail() -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n").suffix(20).joined(separator: "\n")
    }
}

struct EtcdServerError: Error, CustomStringConvertible {
    var description: String
}

/// Ports the kernel hands out for port 0 on 127.0.0.1, all distinct. Another process could take
/// one before etcd binds it; with ephemeral ports handed out in sequence that is unlikely.
private func freePorts(_ count: Int) throws -> [Int] {
    var sockets: [Int32] = []
    defer { for socket in sockets { close(socket) } }
    var ports: [Int] = []
    for _ in 0..<count {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw EtcdServerError(description: "socket: errno \(errno)") }
        sockets.append(socket)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw EtcdServerError(description: "bind: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        guard named == 0 else { throw EtcdServerError(description: "getsockname: errno \(errno)") }
        ports.append(Int(UInt16(bigEndian: address.sin_port)))
    }
    return ports
}

/// posix_spawn with stdin from /dev/null and stdout and stderr appended to `logPath`.
private func spawn(_ arguments: [String], logPath: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for argument in argv { free(argument) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
    guard result == 0 else {
        throw EtcdServerError(description: "posix_spawn \(arguments[0]): \(String(cString: strerror(result)))")
    }
    return pid
}

/// Polls `condition` every 20 ms until it holds; records an issue naming `what` if it does not
/// within `timeout`.
func eventually(
    _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out after \(timeout) waiting until \(what)", sourceLocation: sourceLocation)
    throw EtcdServerError(description: "timed out waiting until \(what)")
}
