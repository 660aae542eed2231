import SpoolCore
import SpoolProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The sections an `INFO [section …]` asks for, as Redis reads them: none, `default`, `all` or
/// `everything` mean every section; names are case-insensitive.
struct InfoSections {
    private let names: Set<String>
    private let everything: Bool

    init(_ args: [[UInt8]]) {
        let names = Set(args.dropFirst().map { $0.asString.lowercased() })
        self.names = names
        everything = names.isEmpty || !names.isDisjoint(with: ["all", "default", "everything"])
    }

    /// Spool's own sections are in every full listing too; Redis's tools skip sections they do not
    /// know.
    func wants(_ name: String, spoolOnly: Bool = false) -> Bool { everything || names.contains(name) }
}

extension Server {
    /// The INFO sections the loop thread knows, in Redis's order (server, clients, memory,
    /// persistence, stats, replication, cpu, modules, errorstats, cluster); the storage thread
    /// appends keyspace and Spool's producers section. Fields are Redis 8's names; where Spool has no
    /// such thing (forks, replicas, RDB files) the field has the value Redis gives when that thing
    /// is idle or absent, so tools that read it see a healthy standalone server.
    func infoText(sections: InfoSections) -> String {
        var text = ""
        let uptime = (monotonicNanoseconds() - startedAt) / 1_000_000_000
        if sections.wants("server") {
            text += "# Server\r\nredis_version:\(redisCompatibleVersion)\r\nspool_version:\(spoolVersion)\r\n"
            text += "redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\n"
            text += "os:\(operatingSystem)\r\narch_bits:\(MemoryLayout<Int>.size * 8)\r\n"
            text += "monotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:libuv\r\n"
            text += "process_id:\(getpid())\r\nprocess_supervised:no\r\nrun_id:\(runID)\r\n"
            // (Redis shows the TLS port when the plain one is off.)
            text += "tcp_port:\(boundPort > 0 ? boundPort : boundTLSPort)\r\nserver_time_usec:\(wallClockMilliseconds() * 1000)\r\n"
            text += "uptime_in_seconds:\(uptime)\r\nuptime_in_days:\(uptime / 86400)\r\n"
            text += "hz:10\r\nconfigured_hz:10\r\nexecutable:\(executablePath)\r\nconfig_file:\(config.configFile)\r\n"
            text += "io_threads_active:0\r\n"
            // Redis's listener lines: one per port listened on (`port 0` has none for tcp).
            var listeners: [String] = []
            if boundPort > 0 { listeners.append("name=tcp,bind=\(config.bind),port=\(boundPort)") }
            if boundTLSPort > 0 { listeners.append("name=tls,bind=\(config.bind),port=\(boundTLSPort)") }
            for (index, listener) in listeners.enumerated() { text += "listener\(index):\(listener)\r\n" }
            text += "\r\n"
        }
        if sections.wants("clients") {
            let blocked = connections.values.filter { $0.blockedSlot != nil }.count
            text += "# Clients\r\nconnected_clients:\(connections.count)\r\ncluster_connections:0\r\n"
            text += "maxclients:\(config.maxclients)\r\nblocked_clients:\(blocked)\r\n"
            text += "tracking_clients:0\r\npubsub_clients:0\r\nwatching_clients:0\r\ntotal_watched_keys:0\r\n\r\n"
        }
        if sections.wants("memory") {
            // used_memory is what the allocator holds for Spool (WiredTiger's cache included), as
            // in Redis; the resident set if the allocator cannot say.
            let rss = residentSetBytes()
            let used = Allocator.allocatedBytes() ?? rss
            text += "# Memory\r\nused_memory:\(used)\r\nused_memory_human:\(String(humanBytes: used))\r\n"
            text += "used_memory_rss:\(rss)\r\nused_memory_rss_human:\(String(humanBytes: rss))\r\n"
            let peak = max(used, rss, peakResidentSetBytes)
            text += "used_memory_peak:\(peak)\r\nused_memory_peak_human:\(String(humanBytes: peak))\r\n"
            text += "maxmemory:0\r\nmaxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n"
            text += "mem_allocator:\(Allocator.name)\r\nspool_wiredtiger_cache_size:\(config.wiredtigerCacheSize)\r\n\r\n"
        }
        if sections.wants("persistence") {
            // A WiredTiger checkpoint is Spool's "save": what it covers needs no log replay.
            let stats = engine.statisticsSnapshot
            let changes = stats.writeCommands - stats.writeCommandsAtLastCheckpoint
            text += "# Persistence\r\nloading:0\r\nasync_loading:0\r\n"
            text += "rdb_changes_since_last_save:\(changes)\r\n"
            text += "rdb_bgsave_in_progress:\(stats.checkpointInProgress ? 1 : 0)\r\n"
            text += "rdb_last_save_time:\(stats.lastCheckpointWallMilliseconds / 1000)\r\n"
            text += "rdb_last_bgsave_status:\(stats.lastCheckpointSucceeded ? "ok" : "err")\r\n"
            text += "rdb_saves:\(stats.checkpoints)\r\n"
            text += "aof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n"
            text += "aof_last_bgrewrite_status:ok\r\naof_rewrites:0\r\n"
            text += "aof_last_write_status:\(stats.flushFailed ? "err" : "ok")\r\n"
            text += "spool_appends:\(stats.appends)\r\nspool_commits:\(stats.commits)\r\nspool_fsyncs:\(stats.fsyncs)\r\n"
            text += "spool_entries_per_fsync:\(String(format2: stats.entriesPerFsync))\r\n"
            text += "spool_entries_per_fsync_max:\(stats.entriesPerFsyncMax)\r\n"
            text += "spool_durable_latency_p50_us:\(stats.durableLatencyMicrosecondsP50)\r\n"
            text += "spool_durable_latency_p99_us:\(stats.durableLatencyMicrosecondsP99)\r\n"
            text += "spool_durable_latency_p999_us:\(stats.durableLatencyMicrosecondsP999)\r\n"
            text += "spool_durable_latency_max_us:\(stats.durableLatencyMicrosecondsMax)\r\n"
            text += "spool_fsync_p50_us:\(stats.fsyncMicrosecondsP50)\r\nspool_fsync_p99_us:\(stats.fsyncMicrosecondsP99)\r\n"
            text += "spool_durable_generation:\(stats.durableGeneration)\r\nspool_checkpoints:\(stats.checkpoints)\r\n\r\n"
        }
        if sections.wants("stats") {
            text += "# Stats\r\ntotal_connections_received:\(statistics.totalConnections)\r\n"
            text += "total_commands_processed:\(statistics.totalCommands)\r\n"
            text += "instantaneous_ops_per_sec:\(statistics.instantaneousOpsPerSecond)\r\n"
            text += "total_net_input_bytes:\(statistics.netInputBytes)\r\ntotal_net_output_bytes:\(statistics.netOutputBytes)\r\n"
            text += "rejected_connections:\(statistics.rejectedConnections)\r\n"
            text += "sync_full:0\r\nsync_partial_ok:0\r\nsync_partial_err:0\r\n"
            text += "expired_keys:0\r\nevicted_keys:0\r\nkeyspace_hits:0\r\nkeyspace_misses:0\r\n"
            text += "pubsub_channels:0\r\npubsub_patterns:0\r\nlatest_fork_usec:0\r\n"
            text += "total_error_replies:\(statistics.protocolErrors)\r\n"
            text += "client_output_buffer_limit_disconnections:\(statistics.outputLimitDisconnections)\r\n"
            text += "spool_tls_refusals:\(statistics.tlsRefusals)\r\n"
            let denied = accessControl.deniedCounts
            text += "acl_access_denied_auth:\(denied.auth)\r\nacl_access_denied_cmd:\(denied.command)\r\n"
            text += "acl_access_denied_key:\(denied.key)\r\nacl_access_denied_channel:\(denied.channel)\r\n\r\n"
        }
        if sections.wants("replication") {
            // One node, no replicas: what a Redis primary without replicas reports.
            text += "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\n"
            text += "master_replid:\(runID)\r\nmaster_replid2:0000000000000000000000000000000000000000\r\n"
            text += "master_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\n"
            text += "repl_backlog_size:0\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n\r\n"
        }
        if sections.wants("cpu") {
            let process = resourceUsage(RUSAGE_SELF.rawValue)
            let children = resourceUsage(RUSAGE_CHILDREN.rawValue)
            let loop = resourceUsage(1)  // RUSAGE_THREAD: INFO runs on the loop thread, Redis's "main thread"
            text += "# CPU\r\nused_cpu_sys:\(process.system)\r\nused_cpu_user:\(process.user)\r\n"
            text += "used_cpu_sys_children:\(children.system)\r\nused_cpu_user_children:\(children.user)\r\n"
            text += "used_cpu_sys_main_thread:\(loop.system)\r\nused_cpu_user_main_thread:\(loop.user)\r\n\r\n"
        }
        if sections.wants("modules") { text += "# Modules\r\n\r\n" }
        if sections.wants("errorstats") { text += "# Errorstats\r\n\r\n" }
        if sections.wants("cluster") { text += "# Cluster\r\ncluster_enabled:\(topology == nil ? 0 : 1)\r\n\r\n" }
        return text
    }

    /// User and system CPU seconds, as Redis prints them (six decimals).
    private func resourceUsage(_ who: __rusage_who_t) -> (user: String, system: String) {
        var usage = rusage()
        guard getrusage(who, &usage) == 0 else { return ("0.000000", "0.000000") }
        func seconds(_ time: timeval) -> String {
            let micros = String(time.tv_usec)
            return "\(time.tv_sec).\(String(repeating: "0", count: max(0, 6 - micros.count)))\(micros)"
        }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    private var peakResidentSetBytes: Int {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        return usage.ru_maxrss * 1024
    }

    private var operatingSystem: String {
        var name = utsname()
        guard uname(&name) == 0 else { return "Linux" }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(text(name.sysname)) \(text(name.release)) \(text(name.machine))"
    }

    private var executablePath: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return "" }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
