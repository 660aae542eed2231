import CoreMetrics
import Prometheus
import SpoolStorage
import Synchronization

/// The Prometheus registry /metrics renders, and the metrics Spool feeds it: the storage
/// engine's commits, fsyncs and latencies as they happen (swift-metrics, through
/// `StorageMetrics`), the loop's connection and command counts each sampling tick, and per
/// stream, group and shard figures at each scrape. Names and units follow Prometheus's
/// conventions: base units (seconds), `_total` for counters.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let storage: StorageMetrics

    /// Set from the loop thread's statistics four times a second (a loop timer).
    let connectedClients: Prometheus.Gauge
    let connectionsReceived: Prometheus.Counter
    let commandsProcessed: Prometheus.Counter
    let tlsRefusals: Prometheus.Counter
    let aclDenials: Prometheus.Counter
    /// For the dashboard (GET /api/overview).
    let loopFigures = LoopFigures()

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Fsyncs take 50 µs to tens of ms here; a reply waits for one fsync and a batch.
        let latency: [Duration] = [
            .microseconds(50), .microseconds(100), .microseconds(200), .microseconds(500), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory.durationHistogramBuckets = [
            StorageMetrics.Name.fsyncDuration: latency, StorageMetrics.Name.appendToDurable: latency,
        ]
        factory.valueHistogramBuckets = [
            StorageMetrics.Name.entriesPerFsync: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384]
        ]
        storage = StorageMetrics(factory: factory)
        connectedClients = registry.makeGauge(descriptor: Self.descriptor("spool_connected_clients", "Client connections open now."))
        connectionsReceived = registry.makeCounter(descriptor: Self.descriptor("spool_connections_received_total", "Client connections accepted since start-up."))
        commandsProcessed = registry.makeCounter(descriptor: Self.descriptor("spool_commands_processed_total", "Commands received since start-up."))
        tlsRefusals = registry.makeCounter(descriptor: Self.descriptor("spool_tls_refusals_total", "TLS handshakes refused and connections ended by a bad record."))
        aclDenials = registry.makeCounter(descriptor: Self.descriptor("spool_acl_denials_total", "Commands, keys and logins ACL rules refused."))
    }

    /// A metric's full name (units already in it, as Prometheus's conventions have them) and help.
    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

/// What the loop thread last published for the admin thread (four times a second): figures
/// only the loop knows.
final class LoopFigures: Sendable {
    struct Snapshot: Sendable {
        var connectedClients = 0
        var opsPerSecond: UInt64 = 0
        var uptimeSeconds: UInt64 = 0
        /// Cluster mode: the members and who leads each shard.
        var topology: ClusterTopology?
    }

    private let state = Mutex(Snapshot())

    func publish(_ snapshot: Snapshot) {
        state.withLock { $0 = snapshot }
    }

    var current: Snapshot { state.withLock { $0 } }
}
