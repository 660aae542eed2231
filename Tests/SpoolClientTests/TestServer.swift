import Foundation
@testable import SpoolClient
import Testing

/// A real server process for one test: spoold (default) or redis-server
/// (`SPOOL_TEST_TARGET=redis`, to check that the client's expectations are Redis's), on a free
/// port with its own data directory, killed when the test is done.
///
/// spoold is `$SPOOLD` or `.build/debug/spoold` under the package root.
final class TestServer: @unchecked Sendable {
    // Sendable because `pid` is only touched by the test that owns the server, one call at a
    // time (start, restart, stop).
    enum Kind: String {
        case spool, redis
    }

    static var kind: Kind {
        Kind(rawValue: ProcessInfo.processInfo.environment["SPOOL_TEST_TARGET"] ?? "spool") ?? .spool
    }

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var spooldPath: String {
        ProcessInfo.processInfo.environment["SPOOLD"] ?? packageRoot.appendingPathComponent(".build/debug/spoold").path
    }

    let kind: Kind
    let port: Int
    let directory: URL
    let extraArguments: [String]
    private var pid: pid_t?

    var isSpool: Bool { kind == .spool }

    private init(kind: Kind, port: Int, directory: URL, extraArguments: [String]) {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.extraArguments = extraArguments
    }

    deinit {
        kill9()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Starts a server and waits until it answers PING.
    static func start(_ extraArguments: [String] = []) async throws -> TestServer {
        var lastError: Error?
        for _ in 0..<3 {
            // A directory per attempt: a failed attempt's server removes its own when it goes.
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spool-client-test-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let server = TestServer(kind: kind, port: freePort(), directory: directory, extraArguments: extraArguments)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error  // possibly lost a race for the port: try another
            }
        }
        throw lastError!
    }

    /// A client for this server.
    func client(
        protocolVersion: RESPVersionChoice = .resp2, password: String? = nil,
        reconnect: ReconnectPolicy = ReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(500), attemptsMax: 60)
    ) -> SpoolClient {
        SpoolClient(
            SpoolClientConfiguration(
                host: "127.0.0.1", port: port, password: password, protocolVersion: protocolVersion.version,
                clientName: "spool-client-tests", reconnect: reconnect))
    }

    func launch() async throws {
        var arguments: [String]
        let executable: String
        switch kind {
        case .spool:
            executable = Self.spooldPath
            arguments = ["--port", String(port), "--data-dir", directory.appendingPathComponent("data").path]
        case .redis:
            executable = "/usr/bin/redis-server"
            arguments = [
                "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path, "--appendonly", "yes",
                "--appendfsync", "always", "--save", "", "--daemonize", "no",
            ]
        }
        let log = directory.appendingPathComponent("server.log").path
        let pid = try spawn(executable, arguments + extraArguments, log: log)
        self.pid = pid
        // Readiness: poll until a connection is accepted (bounded; not a timing assertion).
        for _ in 0..<400 {
            if reap(pid, wait: false) {
                self.pid = nil
                throw StartError.exited(log: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
            }
            if let connection = try? await RESPConnection.connect(host: "127.0.0.1", port: port, timeout: .seconds(1)) {
                let reply = try? await connection.request(RESPCommand("PING"))
                connection.close()
                if reply != nil { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw StartError.notAnswering
    }

    /// SIGKILL: no clean shutdown.
    func kill9() {
        guard let pid else { return }
        kill(pid, SIGKILL)
        _ = reap(pid, wait: true)
        self.pid = nil
    }

    /// SIGTERM, and wait for the exit.
    func stop() {
        guard let pid else { return }
        kill(pid, SIGTERM)
        _ = reap(pid, wait: true)
        self.pid = nil
    }

    /// Starts again on the same port with the same data.
    func restart() async throws {
        stop()
        try await launch()
    }

    /// posix_spawn with an empty signal mask and default handlers: Foundation's Process spawns
    /// from whatever thread it runs on, and a dispatch worker's mask blocks SIGTERM, which the
    /// child would inherit and so never stop.
    private func spawn(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else { throw StartError.spawnFailed(result) }
        return pid
    }

    /// Collects the exit of `pid`; true if it has exited.
    private func reap(_ pid: pid_t, wait: Bool) -> Bool {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, wait ? 0 : WNOHANG)
            if result == pid { return true }
            if result == 0 { return false }
            if errno == EINTR { continue }
            return true
        }
    }

    enum StartError: Error {
        case spawnFailed(Int32)
        case exited(log: String)
        case notAnswering
    }

    private static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// RESP versions as a test argument.
enum RESPVersionChoice: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case resp2, resp3

    var version: RESPVersion { self == .resp2 ? .resp2 : .resp3 }
    var testDescription: String { rawValue }
}

/// Unique stream names per test.
func uniqueName(_ prefix: String = "s") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8))"
}
