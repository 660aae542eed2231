import CLibUV
import SpoolCluster
import SpoolCore
import SpoolProtocol
import SpoolStorage
import Synchronization
import SpoolTLS

#if canImport(Glibc)
    import Glibc
#endif

public let spoolVersion = "0.1.0"
/// The Redis version whose commands, replies and errors Spool follows (INFO, HELLO).
public let redisCompatibleVersion = "8.8.0"

/// The broker: one libuv loop thread owns every connection and all protocol work; storage jobs go
/// to the storage engine and come back, once durable, through `LoopWakeup`.
///
/// Everything here is loop-thread only, except `wakeup` and `engine` (thread-safe by design).
public final class Server {
    public internal(set) var config: ServerConfig
    let loop: UnsafeMutablePointer<uv_loop_t>
    /// The plain port's listener; nil with `port 0` (TLS only, as in Redis).
    private let listener: UnsafeMutablePointer<uv_tcp_t>?
    /// The TLS port's listener (tls-port), if there is one.
    private let tlsListener: UnsafeMutablePointer<uv_tcp_t>?
    /// What TLS connections accepted from now on use; CONFIG SET of a tls-* key replaces it.
    var tlsContext: TLSContext?
    private let asyncHandle: UnsafeMutablePointer<uv_async_t>
    /// Runs after each poll phase: hands the iteration's storage jobs over in one batch.
    private let checkHandle: UnsafeMutablePointer<uv_check_t>
    /// With `admin-port`: publishes the loop's figures four times a second, busy or idle.
    private let metricsTimer = UnsafeMutablePointer<uv_timer_t>.allocate(capacity: 1)
    var pendingJobs: [(job: StorageEngine<Executor>.Job, onFailure: StorageEngine<Executor>.Failure, commands: Int)] = []
    private var signalHandles: [UnsafeMutablePointer<uv_signal_t>] = []
    let wakeup: LoopWakeup
    let engine: StorageEngine<Executor>
    /// Slow stream commands, reported by the storage thread (SLOWLOG, LATENCY).
    let slowCommands = SlowCommandReports()
    /// The admin port's registry and server (nil without `admin-port`).
    let metrics: ServerMetrics?
    private(set) var adminServer: AdminServer?
    var publishedStatistics: (connections: UInt64, commands: UInt64, tlsRefusals: UInt64, aclDenials: UInt64) = (0, 0, 0, 0)
    /// SLOWLOG and LATENCY's records.
    var slowLog = SlowLog()
    var latencyMonitor = LatencyMonitor()
    /// Cluster mode: the link to peers and etcd, and what the loop routes by. Loop thread.
    let clusterLink: ClusterLink?
    var topology: ClusterTopology?
    /// `topology` with TLS clients' addresses (the nodes' TLS ports), when any node has one.
    var tlsTopology: ClusterTopology?
    /// Cluster mode: the last view from etcd, and the shards whose log has a gap here.
    var lastClusterView: ClusterView?
    var localGaps: Set<Int> = []

    /// ACL users, the ACL LOG and the ACL file.
    let accessControl: AccessControl
    var connections: [UInt64: Connection] = [:]
    private var nextConnectionID: UInt64 = 1
    private var flushQueue: [Connection] = []
    /// Connections whose blocking XREAD was answered; their buffered commands run next.
    private var resumeQueue: [Connection] = []
    var isShuttingDown = false
    let startedAt = monotonicNanoseconds()
    /// 40 random hex digits naming this run of the server (INFO's run_id and master_replid).
    let runID: String = {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef")
        return String((0..<40).map { _ in digits[Int(generator.next() % 16)] })
    }()
    let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    var statistics = ServerStatistics()

    public var boundPort: Int = 0
    public var boundTLSPort: Int = 0

    /// Descriptors kept for everything but clients: WiredTiger's files (a fixed set: its tables
    /// and log, however many streams there are), the listening socket, libuv's own, stdio.
    static let reservedDescriptors = 64
    /// The open-file limit after start-up raised it to the hard limit.
    public let descriptorLimit: Int
    /// Clients the descriptor limit allows; maxclients is kept at or below it, so accepting a
    /// client never takes a descriptor WiredTiger needs.
    let clientLimit: Int
    /// What start-up changed and the operator should know (printed by spoold).
    public let startupNotes: [String]

    /// Opens the store (recovering it) and binds the listening socket.
    public init(config: ServerConfig) throws {
        self.config = config
        descriptorLimit = DescriptorLimit.raiseToHard()
        clientLimit = max(1, descriptorLimit - Self.reservedDescriptors)
        var notes: [String] = []
        if config.maxclients > clientLimit {
            notes.append(
                "maxclients \(config.maxclients) needs more than the open-file limit of \(descriptorLimit) allows; maxclients is \(clientLimit)")
            self.config.maxclients = clientLimit
        }
        accessControl = try Self.makeAccessControl(config: config, notes: &notes)
        startupNotes = notes
        loop = UnsafeMutablePointer<uv_loop_t>.allocate(capacity: 1)
        try checkUV(uv_loop_init(loop), "uv_loop_init")
        // `port 0` turns the plain port off, as in Redis; something must still listen.
        guard config.port > 0 || config.tlsPort > 0 else {
            throw ServerStartError("port 0 turns the plain port off and there is no tls-port: configured to listen nowhere")
        }
        guard config.port > 0 || !config.clusterEnabled else {
            throw ServerStartError("cluster mode needs the plain port (port 0 turns it off): its members are named by host:port")
        }
        listener = config.port > 0 ? UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1) : nil
        if config.tlsPort > 0 {
            do {
                tlsContext = try TLSContext(config.tlsSettings)
            } catch {
                throw ServerStartError("TLS: \(error)")
            }
            tlsListener = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        } else {
            tlsListener = nil
        }
        asyncHandle = UnsafeMutablePointer<uv_async_t>.allocate(capacity: 1)
        checkHandle = UnsafeMutablePointer<uv_check_t>.allocate(capacity: 1)
        let wakeup = LoopWakeup(handle: asyncHandle)
        self.wakeup = wakeup
        let metrics = config.adminPort > 0 ? ServerMetrics() : nil
        self.metrics = metrics
        var options = StorageOptions(directory: config.dir)
        options.metrics = metrics?.storage
        options.cacheSizeMiB = max(1, config.wiredtigerCacheSize >> 20)
        options.batchCommandsMax = config.transactionCommandsMax
        options.checkpointIntervalSeconds = config.checkpointInterval
        options.checkpointWritesMax = config.checkpointWrites
        let limits = Executor.Limits(
            readCountMax: config.streamReadCountMax, producers: ProducerLimits(config), nodes: config.streamNodeLimits,
            idempotency: config.idempotencyDefaults, databases: config.databases, streamCacheMax: config.streamCacheMax)
        let link: ClusterLink?
        if config.clusterEnabled {
            guard let members = ClusterMember.parse(config.clusterMembers), !members.isEmpty else {
                throw ServerStartError("cluster-enabled needs cluster-members: name=host:port,…")
            }
            guard let myIndex = members.firstIndex(where: { $0.name == config.clusterNodeID }) else {
                throw ServerStartError("cluster-node-id '\(config.clusterNodeID)' is not one of cluster-members")
            }
            link = try ClusterLink(config: config, members: members, myIndex: myIndex, wakeup: wakeup)
            topology = Self.initialTopology(config: config, members: members)
        } else {
            link = nil
        }
        clusterLink = link
        do {
            engine = try StorageEngine<Executor>(
                options: options,
                makeContext: { [slowCommands] in Executor(store: $0, limits: limits, slowCommands: slowCommands) },
                deliver: { outcomes in
                    if let link { link.deliver(outcomes) } else { wakeup.post(outcomes) }
                },
                release: { wakeup.release($0) })
            loop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
            try checkUV(
                uv_async_init(loop, asyncHandle) { handle in
                    Server.from(handle!.pointee.loop).drainOutcomes()
                }, "uv_async_init")
            try checkUV(uv_check_init(loop, checkHandle), "uv_check_init")
            try checkUV(
                uv_check_start(checkHandle) { handle in
                    let server = Server.from(handle!.pointee.loop)
                    server.submitPendingJobs()
                    server.statistics.sample(nowNanoseconds: monotonicNanoseconds())
                }, "uv_check_start")
            try bind()
            if let metrics {
                adminServer = try Self.startAdmin(config: config, engine: engine, metrics: metrics)
                try checkUV(uv_timer_init(loop, metricsTimer), "uv_timer_init")
                try checkUV(
                    uv_timer_start(metricsTimer, { handle in
                        Server.from(handle!.pointee.loop).publishLoopMetrics(nowNanoseconds: monotonicNanoseconds())
                    }, 250, 250), "uv_timer_start")
            }
            for signal in [SIGTERM, SIGINT] { try watch(signal) }
            if let link { try startCluster(link) }
        } catch {
            // The coordinator's HTTP client and the bus must be shut down, not just dropped (a
            // start that fails, e.g. on a damaged data directory, then exits with its message).
            link?.stop()
            throw error
        }
    }

    /// Installs the replicator on the storage thread (it reads every shard's log and state), then
    /// starts taking part in elections.
    private func startCluster(_ link: ClusterLink) throws {
        link.attach(engine)
        let settings = link.settings
        let installed = Handoff<Result<Void, StorageError>>()
        engine.submit(
            { executor throws(WiredTigerError) in
                executor.cluster = try ClusterReplicator(settings: settings, executor: executor)
                installed.put(.success(()))
                return .nothing
            },
            onFailure: { error in
                installed.put(.failure(error))
                return .nothing
            })
        if case .failure(let error) = installed.wait() {
            throw ServerStartError("cannot open the cluster's replication log: \(error)")
        }
        link.coordinator.start(
            mayCampaign: { link.mayCampaign($0) }, hears: { link.hears($0) }, onChange: { view in link.viewChanged(view) })
        link.registerHistory()
    }

    static func from(_ loop: UnsafeMutablePointer<uv_loop_t>?) -> Server {
        Unmanaged<Server>.fromOpaque(loop!.pointee.data!).takeUnretainedValue()
    }

    private func bind() throws {
        if let listener { boundPort = try listen(listener, port: config.port) }
        if let tlsListener { boundTLSPort = try listen(tlsListener, port: config.tlsPort) }
    }

    /// Binds and listens on `port` of the bind address; returns the port bound.
    private func listen(_ listener: UnsafeMutablePointer<uv_tcp_t>, port: Int) throws -> Int {
        try checkUV(uv_tcp_init(loop, listener), "uv_tcp_init")
        var address = sockaddr_storage()
        let isIPv6 = config.bind.contains(":")
        let code = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                isIPv6
                    ? uv_ip6_addr(config.bind, Int32(port), v6)
                    : v6.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                        uv_ip4_addr(config.bind, Int32(port), $0)
                    }
            }
        }
        try checkUV(code, "parse bind address \(config.bind)")
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                try checkUV(uv_tcp_bind(listener, sockaddr, 0), "bind \(config.bind):\(port)")
            }
        }
        let stream = UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_stream_t.self)
        try checkUV(
            uv_listen(stream, 511) { listener, status in
                guard status >= 0 else { return }
                Server.from(listener!.pointee.loop).accept(from: listener!)
            }, "listen on \(config.bind):\(port)")
        var bound = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutablePointer(to: &bound) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = uv_tcp_getsockname(listener, $0, &length) }
        }
        return withUnsafePointer(to: &bound) { pointer in
            pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    private func watch(_ signal: Int32) throws {
        let handle = UnsafeMutablePointer<uv_signal_t>.allocate(capacity: 1)
        try checkUV(uv_signal_init(loop, handle), "uv_signal_init")
        try checkUV(
            uv_signal_start(handle, { handle, _ in
                Server.from(handle!.pointee.loop).beginShutdown()
            }, signal), "uv_signal_start")
        uv_unref(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self))
        signalHandles.append(handle)
    }

    /// Runs the loop until shutdown completes.
    public func run() {
        applyMonitoringSettings()
        uv_run(loop, UV_RUN_DEFAULT)
        uv_loop_close(loop)
    }

    // MARK: Accepting and reading

    private func accept(from listenerStream: UnsafeMutablePointer<uv_stream_t>) {
        let isTLS = tlsListener.map { UnsafeMutableRawPointer($0) == UnsafeMutableRawPointer(listenerStream) } ?? false
        let handle = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        guard (try? checkUV(uv_tcp_init(loop, handle), "uv_tcp_init")) != nil else {
            // It fails only for flags Spool does not pass; there is no handle to accept into.
            handle.deallocate()
            return
        }
        let stream = UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
        guard uv_accept(listenerStream, stream) == 0 else {
            uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self)) { $0?.deallocate() }
            return
        }
        // Without it replies still arrive, only later (Nagle): not worth refusing the client.
        _ = try? checkUV(uv_tcp_nodelay(handle, 1), "uv_tcp_nodelay")
        let id = nextConnectionID
        nextConnectionID += 1
        let limits = RESPLimits(
            bulkLengthMax: config.protoMaxBulkLen, multibulkCountMax: config.protoMaxMultibulkLen)
        let connection = Connection(
            id: id, handle: handle, address: peerAddress(handle), limits: limits,
            user: accessControl.defaultUser, isAuthenticated: accessControl.defaultUser.noPass && accessControl.defaultUser.isEnabled,
            now: monotonicNanoseconds())
        handle.pointee.data = Unmanaged.passRetained(connection).toOpaque()
        if isTLS, let tlsContext {
            guard let session = try? TLSSession(context: tlsContext) else {
                // Out of memory in OpenSSL: nothing was read yet, so nothing is lost.
                connections[id] = connection
                close(connection)
                return
            }
            connection.tls = session
        }
        statistics.totalConnections += 1
        if connections.count >= config.maxclients || isShuttingDown {
            statistics.rejectedConnections += 1
            var out = RESPWriter(version: .resp2)
            out.error("ERR max number of clients reached")
            connection.outbox = out.bytes
            connection.closeAfterWrite = true
            connections[id] = connection
            scheduleFlush(connection)
            flushAll()
            return
        }
        connections[id] = connection
        startReading(connection)
    }

    /// Reads into one shared buffer (the loop thread consumes it before the next read), decodes
    /// and runs what arrived.
    private func startReading(_ connection: Connection) {
        let code = uv_read_start(
            connection.stream,
            { handle, _, buffer in
                let server = Server.from(handle!.pointee.loop)
                buffer!.pointee = uv_buf_init(server.readBuffer.assumingMemoryBound(to: CChar.self), 64 * 1024)
            },
            { stream, count, buffer in
                let connection = Unmanaged<Connection>.fromOpaque(stream!.pointee.data!).takeUnretainedValue()
                let server = Server.from(stream!.pointee.loop)
                if count < 0 {
                    server.close(connection)
                    return
                }
                guard count > 0 else { return }
                server.statistics.netInputBytes += UInt64(count)
                let received = UnsafeRawBufferPointer(start: buffer!.pointee.base, count: count)
                if let tls = connection.tls {
                    guard server.receiveTLS(received, tls, connection) else { return server.flushAll() }
                } else {
                    connection.decoder.append(received)
                }
                server.process(connection)
                server.flushAll()
            })
        // A stream libuv cannot read from (closed under it) ends the connection.
        if (try? checkUV(code, "uv_read_start")) == nil { close(connection) }
    }

    private func peerAddress(_ handle: UnsafeMutablePointer<uv_tcp_t>) -> String {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { uv_tcp_getpeername(handle, $0, &length) == 0 }
        }
        guard ok else { return "?" }
        return Self.addressText(storage)
    }

    /// "host:port" for IPv4, "[host]:port" for IPv6, as Redis writes a client's addr.
    static func addressText(_ storage: sockaddr_storage) -> String {
        var storage = storage
        var name = [CChar](repeating: 0, count: 64)
        let isIPv6 = Int32(storage.ss_family) == AF_INET6
        return withUnsafePointer(to: &storage) { pointer in
            let port: UInt16
            if isIPv6 {
                port = pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    uv_ip6_name(v6, &name, 64)
                    return UInt16(bigEndian: v6.pointee.sin6_port)
                }
            } else {
                port = pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                    uv_ip4_name(v4, &name, 64)
                    return UInt16(bigEndian: v4.pointee.sin_port)
                }
            }
            return hostAndPort(String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port)
        }
    }

    /// "host:port", with an IPv6 host in brackets ("[::1]:6379"), as Redis writes addresses.
    static func hostAndPort(_ host: String, _ port: some BinaryInteger) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Runs every complete command buffered for the connection, grouping consecutive storage
    /// commands into one job.
    func process(_ connection: Connection) {
        var group: CommandGroup?
        while !connection.isClosing && connection.blockedSlot == nil && !connection.closeAfterWrite {
            if connection.pendingSlotCount >= config.clientPendingRepliesMax {
                pauseReading(connection)
                break
            }
            let args: RequestArguments?
            do {
                args = try connection.decoder.next()
            } catch {
                submit(&group)
                statistics.protocolErrors += 1
                var out = RESPWriter(version: connection.version)
                out.error("ERR \(error.message)")
                connection.enqueueReady(out.bytes)
                connection.closeAfterWrite = true
                break
            }
            guard let args else { break }
            statistics.totalCommands += 1
            dispatch(args, connection, &group)
        }
        flushProposal(connection)
        submit(&group)
        if connection.decoder.bufferedByteCount > config.clientQueryBufferLimit && !connection.closeAfterWrite {
            var out = RESPWriter(version: connection.version)
            out.error("ERR Protocol error: client query buffer limit exceeded")
            connection.enqueueReady(out.bytes)
            connection.closeAfterWrite = true
        }
        scheduleFlush(connection)
    }

    /// Sends a group of storage commands to the storage thread.
    func submit(_ group: inout CommandGroup?) {
        guard let ready = group else { return }
        group = nil
        let failure = Executor.failure(
            connection: ready.connection, slot: ready.slot, version: ready.version, replies: ready.replyCount)
        pendingJobs.append(
            ({ (executor: Executor) throws(WiredTigerError) -> ServerOutcome in try executor.run(ready) }, failure,
             ready.commands.count))
    }

    /// Queues a message for the storage thread that is not a command; it replies to no one.
    func submit(_ control: StorageControl) {
        let failure: StorageEngine<Executor>.Failure = { _ in
            ServerOutcome(kind: .nothing, connection: 0, slot: 0, bytes: [])
        }
        pendingJobs.append(({ (executor: Executor) throws(WiredTigerError) -> ServerOutcome in executor.handle(control) }, failure, 1))
    }

    /// Every storage job this loop iteration produced, in one hand-over: one lock and at most one
    /// wake-up of the storage thread, however many clients were read.
    func submitPendingJobs() {
        guard !pendingJobs.isEmpty else { return }
        engine.submit(contentsOf: pendingJobs)
        pendingJobs.removeAll(keepingCapacity: true)
    }

    /// Adds a storage command to the connection's current group, starting one if needed.
    func appendToGroup(_ command: Command, _ args: RequestArguments, _ connection: Connection, _ group: inout CommandGroup?) {
        if group == nil {
            flushProposal(connection)
            group = CommandGroup(
                connection: connection.id, slot: connection.reserveSlot(), version: connection.version,
                database: connection.database, commands: [])
        }
        group!.commands.append(command)
        group!.arguments.append(args)
    }

    // MARK: Outcomes and writing

    private func drainOutcomes() {
        collectMonitoringReports()
        let (outcomes, garbage) = wakeup.drain()
        for outcome in outcomes {
            if outcome.kind == .cluster, case .view(let view)? = outcome.action {
                apply(view)
                continue
            }
            if outcome.kind == .cluster, case .catchingUp(let shards, _)? = outcome.action {
                localGaps = shards
                if let view = lastClusterView { apply(view) }
                continue
            }
            guard let connection = connections[outcome.connection], !connection.isClosing else { continue }
            guard outcome.kind == .reply else { continue }
            if !connection.proposalSlots.isEmpty { connection.proposalSlots.remove(outcome.slot) }
            connection.fill(outcome.slot, outcome.bytes)
            if connection.blockedSlot == outcome.slot {
                connection.blockedSlot = nil
                connection.isUnblocking = false
                resumeQueue.append(connection)
            }
            scheduleFlush(connection)
        }
        resumeBlocked()
        flushAll()
        withExtendedLifetime(garbage) {}  // freed here, after the replies went out
    }

    private func resumeBlocked() {
        while !resumeQueue.isEmpty {
            let ready = resumeQueue
            resumeQueue.removeAll()
            for connection in ready where !connection.isClosing { process(connection) }
        }
    }

    func scheduleFlush(_ connection: Connection) {
        if !connection.isQueuedForFlush {
            connection.isQueuedForFlush = true
            flushQueue.append(connection)
        }
    }

    /// Writes every connection's ready replies: uv_try_write first (no copy, no allocation when
    /// the socket has room), uv_write for the rest.
    func flushAll() {
        let queue = flushQueue
        flushQueue.removeAll(keepingCapacity: true)
        for connection in queue {
            connection.isQueuedForFlush = false
            flush(connection)
        }
    }

    private func flush(_ connection: Connection) {
        guard !connection.isClosing else { return }
        let stream = connection.stream
        if let tls = connection.tls {
            // Replies become TLS records; what goes to the socket is the ciphertext.
            if !connection.outbox.isEmpty {
                guard tls.send(connection.outbox) else { return close(connection) }
                connection.outbox.removeAll(keepingCapacity: true)
            }
            if tls.hasOutgoing { connection.outbox = tls.takeOutgoing() }
        }
        if !connection.outbox.isEmpty {
            statistics.netOutputBytes += UInt64(connection.outbox.count)
            var written = 0
            if uv_stream_get_write_queue_size(stream) == 0 {
                written = connection.outbox.withUnsafeMutableBytes { bytes in
                    var buffer = uv_buf_init(bytes.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
                    return Int(max(0, uv_try_write(stream, &buffer, 1)))
                }
            }
            if written < connection.outbox.count {
                let remaining = connection.outbox.count - written
                let request = UnsafeMutableRawPointer.allocate(
                    byteCount: MemoryLayout<uv_write_t>.stride + remaining, alignment: 16)
                let data = request + MemoryLayout<uv_write_t>.stride
                connection.outbox.withUnsafeBytes { bytes in
                    data.copyMemory(from: bytes.baseAddress! + written, byteCount: remaining)
                }
                var buffer = uv_buf_init(data.assumingMemoryBound(to: CChar.self), UInt32(remaining))
                let writeRequest = request.assumingMemoryBound(to: uv_write_t.self)
                let code = uv_write(writeRequest, stream, &buffer, 1) { request, status in
                    let stream = request!.pointee.handle!
                    UnsafeMutableRawPointer(request!).deallocate()
                    guard status >= 0 else { return }
                    let connection = Unmanaged<Connection>.fromOpaque(stream.pointee.data!).takeUnretainedValue()
                    let server = Server.from(stream.pointee.loop)
                    server.writeDrained(connection)
                }
                if code < 0 {
                    request.deallocate()
                    close(connection)
                    return
                }
            }
            connection.outbox.removeAll(keepingCapacity: connection.outbox.capacity <= 1 << 16)
        }
        let unsent = Int(uv_stream_get_write_queue_size(stream)) + connection.heldBytes
        if unsent > config.clientOutputBufferLimit {
            statistics.outputLimitDisconnections += 1
            close(connection)
            return
        }
        if connection.closeAfterWrite && connection.pendingSlotCount == 0 {
            shutdownAndClose(connection)
            return
        }
        if connection.isReadingPaused && connection.pendingSlotCount < config.clientPendingRepliesMax / 2
            && unsent < config.clientOutputBufferLimit / 2
        {
            resumeReading(connection)
        }
    }

    private func writeDrained(_ connection: Connection) {
        guard !connection.isClosing else { return }
        if connection.isReadingPaused { flush(connection) }
    }

    private func pauseReading(_ connection: Connection) {
        guard !connection.isReadingPaused else { return }
        connection.isReadingPaused = true
        uv_read_stop(connection.stream)
    }

    private func resumeReading(_ connection: Connection) {
        connection.isReadingPaused = false
        startReading(connection)
        // Commands may already be buffered from before the pause.
        process(connection)
    }

    // MARK: Closing

    /// Waits for queued writes to reach the socket, then closes.
    private func shutdownAndClose(_ connection: Connection) {
        guard !connection.isClosing else { return }
        connection.isClosing = true
        forget(connection)
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        let code = uv_shutdown(request, connection.stream) { request, _ in
            let stream = request!.pointee.handle!
            request!.deallocate()
            uv_close(UnsafeMutableRawPointer(stream).assumingMemoryBound(to: uv_handle_t.self), Server.closed)
        }
        if code < 0 {
            request.deallocate()
            uv_close(UnsafeMutableRawPointer(connection.handle).assumingMemoryBound(to: uv_handle_t.self), Server.closed)
        }
    }

    func close(_ connection: Connection) {
        guard !connection.isClosing else { return }
        connection.isClosing = true
        forget(connection)
        uv_close(UnsafeMutableRawPointer(connection.handle).assumingMemoryBound(to: uv_handle_t.self), Server.closed)
    }

    private func forget(_ connection: Connection) {
        connections[connection.id] = nil
        if connection.blockedSlot != nil && !isShuttingDown {
            // Its reader is still registered on the storage thread; drop it there.
            submit(.connectionClosed(connection.id))
        }
    }

    private static let closed: uv_close_cb = { handle in
        Unmanaged<Connection>.fromOpaque(handle!.pointee.data!).release()
        UnsafeMutableRawPointer(handle!).deallocate()
    }

    // MARK: Shutdown

    /// Stops accepting, lets the storage thread finish and flush everything queued, sends every
    /// reply that became durable, checkpoints, closes connections and ends the loop.
    func beginShutdown() {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        if let listener { uv_close(UnsafeMutableRawPointer(listener).assumingMemoryBound(to: uv_handle_t.self), nil) }
        if let tlsListener { uv_close(UnsafeMutableRawPointer(tlsListener).assumingMemoryBound(to: uv_handle_t.self), nil) }
        clusterLink?.stop()
        if adminServer != nil {
            adminServer?.shutdown()
            uv_close(UnsafeMutableRawPointer(metricsTimer).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
        submitPendingJobs()
        engine.shutdown()
        drainOutcomes()
        for connection in Array(connections.values) {
            connection.closeAfterWrite = true
            connection.blockedSlot = nil
            shutdownAndClose(connection)
        }
        uv_close(UnsafeMutableRawPointer(asyncHandle).assumingMemoryBound(to: uv_handle_t.self), nil)
        uv_close(UnsafeMutableRawPointer(checkHandle).assumingMemoryBound(to: uv_handle_t.self), nil)
        for handle in signalHandles {
            uv_close(UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_handle_t.self), nil)
        }
    }
}

/// Start-up failed for a reason the operator must fix (printed by spoold).
public struct ServerStartError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
