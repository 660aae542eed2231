import SpoolStorage
import SpoolTLS

/// Every setting of spoold, with its default. Config/spoold.conf documents each key; the file is
/// read first, then `--key value` arguments override it.
public struct ServerConfig: Sendable, Equatable {
    public var bind = "127.0.0.1"
    public var port = 7379
    public var dir = "./data"
    public var requirepass = ""
    /// The ACL file ACL SAVE writes and ACL LOAD reads, and users come from at start ("": none).
    /// A relative path is relative to `dir`.
    public var aclfile = ""
    /// ACL LOG entries kept.
    public var acllogMaxLen = 128
    /// TLS (Redis's tls-* keys): a second port speaking TLS beside `port` (0: none).
    public var tlsPort = 0
    public var tlsCertFile = ""
    public var tlsKeyFile = ""
    public var tlsCaCertFile = ""
    public var tlsAuthClients = "yes"
    public var tlsProtocols = ""
    public var tlsCiphers = ""
    public var tlsCiphersuites = ""
    /// The cluster bus over TLS, with the same certificate, key and CA (Redis's tls-cluster).
    public var tlsCluster = false
    /// The certificate and key a node presents when it connects to a peer (Redis's
    /// tls-client-cert-file): "" uses tls-cert-file and tls-key-file, which must then allow
    /// client authentication too.
    public var tlsClientCertFile = ""
    public var tlsClientKeyFile = ""
    /// The admin HTTP port (GET /metrics), 0: off; on `admin-bind`.
    public var adminPort = 0
    public var adminBind = "127.0.0.1"
    /// Streams /metrics reports one by one at most (in catalog order; `spool_streams` counts all).
    public var metricsStreamsMax = 1000
    /// SLOWLOG: commands that ran at least this many microseconds (-1: none; 0: every one).
    public var slowlogLogSlowerThan = 10_000
    public var slowlogMaxLen = 128
    /// LATENCY: events of at least this many milliseconds are recorded (0: off).
    public var latencyMonitorThreshold = 0
    /// `user …` lines of the config file (Redis's in-config users); not with `aclfile`.
    public var users: [String] = []
    public var maxclients = 10_000
    /// Databases SELECT can choose, as Redis's `databases`.
    public var databases = 16
    public var protoMaxBulkLen = 512 << 20
    public var protoMaxMultibulkLen = 1 << 20
    public var clientQueryBufferLimit = 1 << 30
    public var clientOutputBufferLimit = 64 << 20
    public var wiredtigerCacheSize = 64 << 20
    public var checkpointInterval = 30
    /// Write commands after which a checkpoint starts before the interval is up (0: never).
    public var checkpointWrites = 300_000
    /// Commands one storage transaction holds at most (a bigger backlog becomes several).
    public var transactionCommandsMax = 512
    /// Replies a client may have outstanding before the server stops reading from it.
    public var clientPendingRepliesMax = 65_536
    /// Entries one XADD may carry as field-value pairs, and entries one read may return.
    public var streamReadCountMax = 1_000_000
    /// Producers (XADD … PRODUCER id SEQ n): see Config/spoold.conf.
    public var producerGapTimeout = 5_000
    public var producerQueueMax = 10_000
    public var producerQueueTotalMax = 1_000_000
    public var producerSeqWindow = 128
    public var producerReorderWait = 10
    public var streamProducersMax = 10_000
    public var producerIdleExpiry = 604_800
    /// Redis's stream radix-tree node limits, which approximate trimming (`~`) follows.
    public var streamNodeMaxEntries = 100
    public var streamNodeMaxBytes = 4096
    /// The IDMP settings new streams start with (XCFGSET changes a stream's).
    public var streamIdmpDuration = 100
    public var streamIdmpMaxsize = 100
    /// Streams the storage thread keeps in memory at most; the least recently used clean ones
    /// beyond it are let go (and loaded from the catalog when next named).
    public var streamCacheMax = 100_000
    /// Cluster mode (Config/spoold.conf, "Cluster"): off, this is a single node as always.
    public var clusterEnabled = false
    public var clusterName = "spool"
    /// This node's name; one of `clusterMembers`.
    public var clusterNodeID = ""
    /// Every member: `name=host:port[@busport]` (the client address, and the node-to-node port,
    /// by default the client port + 10000 as Redis's cluster bus), comma-separated, the same on
    /// every node.
    public var clusterMembers = ""
    public var clusterEtcdEndpoints = "http://127.0.0.1:2379"
    public var clusterLeaseTTL = 2
    public var clusterQuorumTimeout = 1_000
    /// A follower this many committed records behind joins at the leader's commit point with a
    /// gap and fills it in the background, instead of being sent every record before it counts.
    public var clusterGapThreshold = 10_000
    /// Megabytes a second of records a node fills a gap with at most (0: as fast as flushes go),
    /// so that live writes keep their latency while a joiner catches up.
    public var clusterBackfillRate = 16
    public var clusterShards = 16
    /// The config file read at start-up ("" without one); INFO's config_file. Not a key.
    public var configFile = ""

    public init() {}

    public struct Key: Sendable {
        public let name: String
        /// Whether CONFIG SET may change it while running.
        public let isMutable: Bool
        let get: @Sendable (ServerConfig) -> String
        let set: @Sendable (inout ServerConfig, String) -> Bool
    }

    public static let keys: [Key] = [
        Key(name: "bind", isMutable: false, get: { $0.bind }, set: { c, v in c.bind = v; return !v.isEmpty }),
        Key(name: "port", isMutable: false, get: { String($0.port) },
            set: { c, v in setInt(&c.port, v, 0...65535) }),
        Key(name: "dir", isMutable: false, get: { $0.dir }, set: { c, v in c.dir = v; return !v.isEmpty }),
        Key(name: "requirepass", isMutable: true, get: { $0.requirepass }, set: { c, v in c.requirepass = v; return true }),
        Key(name: "aclfile", isMutable: false, get: { $0.aclfile }, set: { c, v in c.aclfile = v; return true }),
        Key(name: "acllog-max-len", isMutable: true, get: { String($0.acllogMaxLen) },
            set: { c, v in setInt(&c.acllogMaxLen, v, 0...1_000_000) }),
        Key(name: "tls-port", isMutable: false, get: { String($0.tlsPort) }, set: { c, v in setInt(&c.tlsPort, v, 0...65535) }),
        Key(name: "tls-cert-file", isMutable: true, get: { $0.tlsCertFile }, set: { c, v in c.tlsCertFile = v; return true }),
        Key(name: "tls-key-file", isMutable: true, get: { $0.tlsKeyFile }, set: { c, v in c.tlsKeyFile = v; return true }),
        Key(name: "tls-ca-cert-file", isMutable: true, get: { $0.tlsCaCertFile }, set: { c, v in c.tlsCaCertFile = v; return true }),
        Key(name: "tls-auth-clients", isMutable: true, get: { $0.tlsAuthClients },
            set: { c, v in
                guard ["yes", "no", "optional"].contains(v.lowercased()) else { return false }
                c.tlsAuthClients = v.lowercased()
                return true
            }),
        Key(name: "tls-protocols", isMutable: true, get: { $0.tlsProtocols }, set: { c, v in c.tlsProtocols = v; return true }),
        Key(name: "tls-ciphers", isMutable: true, get: { $0.tlsCiphers }, set: { c, v in c.tlsCiphers = v; return true }),
        Key(name: "tls-ciphersuites", isMutable: true, get: { $0.tlsCiphersuites }, set: { c, v in c.tlsCiphersuites = v; return true }),
        Key(name: "tls-cluster", isMutable: false, get: { $0.tlsCluster ? "yes" : "no" },
            set: { c, v in setBool(&c.tlsCluster, v) }),
        Key(name: "tls-client-cert-file", isMutable: false, get: { $0.tlsClientCertFile }, set: { c, v in c.tlsClientCertFile = v; return true }),
        Key(name: "tls-client-key-file", isMutable: false, get: { $0.tlsClientKeyFile }, set: { c, v in c.tlsClientKeyFile = v; return true }),
        Key(name: "admin-port", isMutable: false, get: { String($0.adminPort) }, set: { c, v in setInt(&c.adminPort, v, 0...65535) }),
        Key(name: "admin-bind", isMutable: false, get: { $0.adminBind }, set: { c, v in c.adminBind = v; return !v.isEmpty }),
        Key(name: "metrics-streams-max", isMutable: false, get: { String($0.metricsStreamsMax) },
            set: { c, v in setInt(&c.metricsStreamsMax, v, 0...1_000_000) }),
        Key(name: "slowlog-log-slower-than", isMutable: true, get: { String($0.slowlogLogSlowerThan) },
            set: { c, v in setInt(&c.slowlogLogSlowerThan, v, -1...Int(Int32.max)) }),
        Key(name: "slowlog-max-len", isMutable: true, get: { String($0.slowlogMaxLen) },
            set: { c, v in setInt(&c.slowlogMaxLen, v, 0...1_000_000) }),
        Key(name: "latency-monitor-threshold", isMutable: true, get: { String($0.latencyMonitorThreshold) },
            set: { c, v in setInt(&c.latencyMonitorThreshold, v, 0...86_400_000) }),
        Key(name: "databases", isMutable: false, get: { String($0.databases) },
            set: { c, v in setInt(&c.databases, v, 1...LogStore.databasesMax) }),
        Key(name: "maxclients", isMutable: true, get: { String($0.maxclients) },
            set: { c, v in setInt(&c.maxclients, v, 1...1_000_000) }),
        Key(name: "proto-max-bulk-len", isMutable: true, get: { String($0.protoMaxBulkLen) },
            set: { c, v in setSize(&c.protoMaxBulkLen, v, 1024...(1 << 31)) }),
        Key(name: "proto-max-multibulk-len", isMutable: true, get: { String($0.protoMaxMultibulkLen) },
            set: { c, v in setInt(&c.protoMaxMultibulkLen, v, 1...(1 << 31)) }),
        Key(name: "client-query-buffer-limit", isMutable: true, get: { String($0.clientQueryBufferLimit) },
            set: { c, v in setSize(&c.clientQueryBufferLimit, v, 1024...(1 << 40)) }),
        Key(name: "client-output-buffer-limit", isMutable: true, get: { String($0.clientOutputBufferLimit) },
            set: { c, v in setSize(&c.clientOutputBufferLimit, v, 1024...(1 << 40)) }),
        Key(name: "wiredtiger-cache-size", isMutable: false, get: { String($0.wiredtigerCacheSize) },
            set: { c, v in setSize(&c.wiredtigerCacheSize, v, (1 << 20)...(1 << 40)) }),
        Key(name: "checkpoint-interval", isMutable: false, get: { String($0.checkpointInterval) },
            set: { c, v in setInt(&c.checkpointInterval, v, 1...86_400) }),
        Key(name: "checkpoint-writes", isMutable: false, get: { String($0.checkpointWrites) },
            set: { c, v in setInt(&c.checkpointWrites, v, 0...1_000_000_000) }),
        Key(name: "transaction-commands-max", isMutable: false, get: { String($0.transactionCommandsMax) },
            set: { c, v in setInt(&c.transactionCommandsMax, v, 1...1_000_000) }),
        Key(name: "client-pending-replies-max", isMutable: true, get: { String($0.clientPendingRepliesMax) },
            set: { c, v in setInt(&c.clientPendingRepliesMax, v, 16...(1 << 24)) }),
        Key(name: "producer-gap-timeout", isMutable: false, get: { String($0.producerGapTimeout) },
            set: { c, v in setInt(&c.producerGapTimeout, v, 1...3_600_000) }),
        Key(name: "producer-queue-max", isMutable: false, get: { String($0.producerQueueMax) },
            set: { c, v in setInt(&c.producerQueueMax, v, 1...1_000_000) }),
        Key(name: "producer-queue-total-max", isMutable: false, get: { String($0.producerQueueTotalMax) },
            set: { c, v in setInt(&c.producerQueueTotalMax, v, 1...100_000_000) }),
        Key(name: "producer-seq-window", isMutable: false, get: { String($0.producerSeqWindow) },
            set: { c, v in setInt(&c.producerSeqWindow, v, 1...100_000) }),
        Key(name: "producer-reorder-wait", isMutable: false, get: { String($0.producerReorderWait) },
            set: { c, v in setInt(&c.producerReorderWait, v, 0...10_000) }),
        Key(name: "stream-producers-max", isMutable: false, get: { String($0.streamProducersMax) },
            set: { c, v in setInt(&c.streamProducersMax, v, 1...10_000_000) }),
        Key(name: "producer-idle-expiry", isMutable: false, get: { String($0.producerIdleExpiry) },
            set: { c, v in setInt(&c.producerIdleExpiry, v, 1...(100 * 365 * 86_400)) }),
        Key(name: "stream-node-max-entries", isMutable: true, get: { String($0.streamNodeMaxEntries) },
            set: { c, v in setInt(&c.streamNodeMaxEntries, v, 0...Int(Int64.max)) }),
        Key(name: "stream-node-max-bytes", isMutable: true, get: { String($0.streamNodeMaxBytes) },
            set: { c, v in setSize(&c.streamNodeMaxBytes, v, 0...Int(Int64.max)) }),
        Key(name: "stream-idmp-duration", isMutable: true, get: { String($0.streamIdmpDuration) },
            set: { c, v in setInt(&c.streamIdmpDuration, v, 1...86_400) }),
        Key(name: "stream-idmp-maxsize", isMutable: true, get: { String($0.streamIdmpMaxsize) },
            set: { c, v in setInt(&c.streamIdmpMaxsize, v, 1...10_000) }),
        Key(name: "stream-cache-max", isMutable: true, get: { String($0.streamCacheMax) },
            set: { c, v in setInt(&c.streamCacheMax, v, 1...100_000_000) }),
        Key(name: "cluster-enabled", isMutable: false, get: { $0.clusterEnabled ? "yes" : "no" },
            set: { c, v in setBool(&c.clusterEnabled, v) }),
        Key(name: "cluster-name", isMutable: false, get: { $0.clusterName },
            set: { c, v in c.clusterName = v; return !v.isEmpty && v.utf8.count <= 200 && !v.contains("/") }),
        Key(name: "cluster-node-id", isMutable: false, get: { $0.clusterNodeID },
            set: { c, v in c.clusterNodeID = v; return v.utf8.count <= 200 && !v.contains("/") && !v.contains(",") && !v.contains("=") }),
        Key(name: "cluster-members", isMutable: false, get: { $0.clusterMembers },
            set: { c, v in c.clusterMembers = v; return ClusterMember.parse(v) != nil }),
        Key(name: "cluster-etcd-endpoints", isMutable: false, get: { $0.clusterEtcdEndpoints },
            set: { c, v in c.clusterEtcdEndpoints = v; return !v.isEmpty }),
        Key(name: "cluster-lease-ttl", isMutable: false, get: { String($0.clusterLeaseTTL) },
            set: { c, v in setInt(&c.clusterLeaseTTL, v, 1...60) }),
        Key(name: "cluster-quorum-timeout", isMutable: false, get: { String($0.clusterQuorumTimeout) },
            set: { c, v in setInt(&c.clusterQuorumTimeout, v, 100...60_000) }),
        Key(name: "cluster-gap-threshold", isMutable: false, get: { String($0.clusterGapThreshold) },
            set: { c, v in setInt(&c.clusterGapThreshold, v, 1...1_000_000_000) }),
        Key(name: "cluster-backfill-rate", isMutable: false, get: { String($0.clusterBackfillRate) },
            set: { c, v in setInt(&c.clusterBackfillRate, v, 0...100_000) }),
        Key(name: "cluster-shards", isMutable: false, get: { String($0.clusterShards) },
            set: { c, v in setInt(&c.clusterShards, v, 1...1024) }),
    ]

    static func setBool(_ target: inout Bool, _ text: String) -> Bool {
        switch text.lowercased() {
        case "yes": target = true
        case "no": target = false
        default: return false
        }
        return true
    }

    /// What the TLS context is built from.
    var tlsSettings: TLSSettings {
        TLSSettings(
            certificateFile: tlsCertFile, keyFile: tlsKeyFile, caCertificateFile: tlsCaCertFile, authClients: tlsAuthClients,
            protocols: tlsProtocols, ciphers: tlsCiphers, ciphersuites: tlsCiphersuites)
    }

    /// The ACL file's path: `aclfile` as given when absolute, else inside `dir`.
    public var aclFilePath: String {
        guard !aclfile.isEmpty, !aclfile.hasPrefix("/") else { return aclfile }
        return dir.hasSuffix("/") ? dir + aclfile : dir + "/" + aclfile
    }

    /// The IDMP settings the storage thread gives new streams.
    public var idempotencyDefaults: IdempotencyDefaults {
        IdempotencyDefaults(durationSeconds: Int64(streamIdmpDuration), maxSize: streamIdmpMaxsize)
    }

    /// The node limits the storage thread follows.
    public var streamNodeLimits: StreamNodeLimits {
        StreamNodeLimits(entriesMax: streamNodeMaxEntries, bytesMax: streamNodeMaxBytes)
    }

    public static func key(named name: String) -> Key? {
        let lower = name.lowercased()
        let canonical = lower == "data-dir" ? "dir" : lower
        return keys.first { $0.name == canonical }
    }

    public func value(of key: Key) -> String { key.get(self) }

    /// Applies one setting; returns an error message when the key or value is not accepted.
    public mutating func apply(_ name: String, _ value: String) -> String? {
        guard let key = Self.key(named: name) else { return "unknown configuration key '\(name)'" }
        guard key.set(&self, value) else { return "invalid value '\(value)' for '\(key.name)'" }
        return nil
    }

    /// Reads a redis.conf-style file: one `key value` per line, `#` comments, quotes allowed.
    public mutating func load(fileContents: String, path: String) -> String? {
        for (number, rawLine) in fileContents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            let parts = line.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count == 2 else { return "\(path):\(number + 1): expected 'key value'" }
            var value = String(parts[1]).trimmingCharacters(in: " \t")
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            if parts[0].lowercased() == "user" {
                users.append(String(parts[1]))
                continue
            }
            if let error = apply(String(parts[0]), value) { return "\(path):\(number + 1): \(error)" }
        }
        return nil
    }

    static func setInt(_ target: inout Int, _ text: String, _ range: ClosedRange<Int>) -> Bool {
        guard let value = Int(text), range.contains(value) else { return false }
        target = value
        return true
    }

    static func setSize(_ target: inout Int, _ text: String, _ range: ClosedRange<Int>) -> Bool {
        guard let value = parseSize(text), range.contains(value) else { return false }
        target = value
        return true
    }

    /// "512mb", "1gb", "64k", "1024": Redis's memory units (k=1000, kb=1024, …).
    public static func parseSize(_ text: String) -> Int? {
        let lower = text.lowercased()
        let units: [(String, Int)] = [
            ("kb", 1024), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000),
            ("b", 1),
        ]
        for (suffix, factor) in units where lower.hasSuffix(suffix) {
            guard let number = Int(lower.dropLast(suffix.count)), number >= 0 else { return nil }
            let (product, overflow) = number.multipliedReportingOverflow(by: factor)
            return overflow ? nil : product
        }
        guard let number = Int(lower), number >= 0 else { return nil }
        return number
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

/// One member of a cluster as `cluster-members` lists it: `name=host:port[@busport]`.
public struct ClusterMember: Sendable, Equatable {
    public let name: String
    public let host: String
    public let port: Int
    public let busPort: Int

    /// nil unless every comma-separated item is `name=host:port` with unique names; empty text
    /// is an empty list.
    public static func parse(_ text: String) -> [ClusterMember]? {
        var members: [ClusterMember] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.trimmingCharacters(in: " ").split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { return nil }
            let addressAndBus = parts[1].split(separator: "@", maxSplits: 1)
            guard let colon = addressAndBus[0].lastIndex(of: ":") else { return nil }
            let host = String(addressAndBus[0][..<colon])
            guard !host.isEmpty, !host.contains(" "), let port = Int(addressAndBus[0][addressAndBus[0].index(after: colon)...]),
                (1...65535).contains(port)
            else { return nil }
            let busPort = addressAndBus.count == 2 ? Int(addressAndBus[1]) : port + 10_000
            guard let busPort, (1...65535).contains(busPort) else { return nil }
            members.append(ClusterMember(name: String(parts[0]), host: host, port: port, busPort: busPort))
        }
        guard Set(members.map(\.name)).count == members.count, members.count <= 64 else { return nil }
        return members
    }
}
