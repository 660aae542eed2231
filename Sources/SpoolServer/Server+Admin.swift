import NIOCore
import NIOHTTP1
import Prometheus
import SpoolStorage
import Synchronization

/// The admin port's answers, and what the loop publishes for them.
extension Server {
    /// Starts the admin HTTP server (`admin-port`); nil when it is off.
    static func startAdmin(config: ServerConfig, engine: StorageEngine<Executor>, metrics: ServerMetrics) throws -> AdminServer {
        let scrapes = ScrapeState()
        let streamsMax = config.metricsStreamsMax
        do {
            return try AdminServer(host: config.adminBind, port: config.adminPort) { method, path, eventLoop in
                guard method == .GET || method == .HEAD else {
                    return eventLoop.makeSucceededFuture(.text("only GET\n", status: .methodNotAllowed))
                }
                switch path {
                case "/metrics":
                    return scrape(engine: engine, metrics: metrics, state: scrapes, streamsMax: streamsMax, on: eventLoop)
                case "/api/overview":
                    return snapshot(engine: engine, streamsMax: streamsMax, on: eventLoop).map { snapshot in
                        let overview = Overview(snapshot: snapshot, storage: engine.statisticsSnapshot, loop: metrics.loopFigures.current)
                        return AdminResponse(status: .ok, contentType: "application/json", body: overview.json)
                    }
                case "/":
                    return eventLoop.makeSucceededFuture(
                        AdminResponse(status: .ok, contentType: "text/html; charset=utf-8", body: Array(DashboardPage.html.utf8)))
                default:
                    return eventLoop.makeSucceededFuture(
                        .text("not found: GET / (dashboard), /metrics (Prometheus), /api/overview (JSON)\n", status: .notFound))
                }
            }
        } catch {
            throw ServerStartError("admin-port \(config.adminBind):\(config.adminPort): \(error)")
        }
    }

    /// Asks the storage thread for the streams' figures (a storage job, in turn with commands),
    /// sets the gauges, and renders the registry.
    private static func scrape(
        engine: StorageEngine<Executor>, metrics: ServerMetrics, state: ScrapeState, streamsMax: Int, on eventLoop: any EventLoop
    ) -> EventLoopFuture<AdminResponse> {
        snapshot(engine: engine, streamsMax: streamsMax, on: eventLoop).map { snapshot in
            state.apply(snapshot, to: metrics)
            return AdminResponse(
                status: .ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.registry.emitToBuffer())
        }
    }

    /// The storage thread's view of streams, groups and shards, taken as a storage job.
    private static func snapshot(engine: StorageEngine<Executor>, streamsMax: Int, on eventLoop: any EventLoop) -> EventLoopFuture<MetricsSnapshot> {
        let promise = eventLoop.makePromise(of: MetricsSnapshot.self)
        engine.submit(
            { executor throws(WiredTigerError) in
                do {
                    promise.succeed(try executor.metricsSnapshot(streamsMax: streamsMax))
                } catch {
                    promise.fail(error)
                }
                return .nothing
            },
            onFailure: { error in
                promise.fail(error)
                return .nothing
            })
        return promise.futureResult
    }

    /// The loop's figures into the registry (a 250 ms timer, when there is an admin port).
    func publishLoopMetrics(nowNanoseconds now: UInt64) {
        guard let metrics else { return }
        metrics.connectedClients.set(Int64(connections.count))
        let published = publishedStatistics
        metrics.connectionsReceived.increment(by: Int64(statistics.totalConnections - published.connections))
        metrics.commandsProcessed.increment(by: Int64(statistics.totalCommands - published.commands))
        metrics.tlsRefusals.increment(by: Int64(statistics.tlsRefusals - published.tlsRefusals))
        let denied = accessControl.deniedCounts
        let deniedTotal = denied.auth + denied.command + denied.key + denied.channel
        metrics.aclDenials.increment(by: Int64(deniedTotal - published.aclDenials))
        publishedStatistics = (statistics.totalConnections, statistics.totalCommands, statistics.tlsRefusals, deniedTotal)
        metrics.loopFigures.publish(
            LoopFigures.Snapshot(
                connectedClients: connections.count, opsPerSecond: statistics.instantaneousOpsPerSecond,
                uptimeSeconds: (now - startedAt) / 1_000_000_000, topology: topology))
    }
}

/// Per-scrape state: counters the storage thread keeps (published by their increase), and the
/// labelled gauges of the last scrape, so that those of a deleted stream or group go away.
private final class ScrapeState: Sendable {
    private struct State {
        var deadLettered: UInt64 = 0
        var producerParks: UInt64 = 0
        var gauges: [String: Prometheus.Gauge] = [:]
    }

    private let state = Mutex(State())

    static let help: [String: String] = [
        "spool_streams": "Streams in every database.",
        "spool_producer_appends_waiting": "Producer appends waiting for an earlier SEQ now.",
        "spool_stream_length_entries": "Entries in the stream.",
        "spool_stream_entries_added": "Entries ever added to the stream (XINFO STREAM entries-added).",
        "spool_stream_bytes": "Size of the stream's entries: ids, field and value strings and their framing, before compression.",
        "spool_stream_groups": "Consumer groups of the stream.",
        "spool_group_pending_entries": "Entries delivered to the group and not acknowledged.",
        "spool_group_consumers": "Consumers of the group.",
        "spool_group_lag_entries": "Entries not yet delivered to the group (XINFO GROUPS lag).",
        "spool_group_lag_seconds": "Age of the oldest entry not yet delivered to the group (0: none).",
        "spool_shard_epoch": "The epoch this node leads or follows the shard in.",
        "spool_shard_leader": "1 when this node leads the shard.",
        "spool_shard_committed_records": "Records of the shard's log committed on a majority, as this node knows.",
        "spool_shard_applied_records": "Records of the shard's log applied here.",
        "spool_shard_apply_lag_records": "Committed records not yet applied here (replication lag).",
    ]

    func apply(_ snapshot: MetricsSnapshot, to metrics: ServerMetrics) {
        let registry = metrics.registry
        state.withLock { state in
            var seen: [String: Prometheus.Gauge] = [:]
            func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
                let gauge = registry.makeGauge(descriptor: ServerMetrics.descriptor(name, Self.help[name] ?? ""), labels: labels)
                gauge.set(value)
                seen[name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")] = gauge
            }
            gauge("spool_streams", [], Double(snapshot.streamCount))
            gauge("spool_producer_appends_waiting", [], Double(snapshot.producerAppendsWaiting))
            for stream in snapshot.streams {
                let labels = [("db", String(stream.database)), ("stream", stream.name)]
                gauge("spool_stream_length_entries", labels, Double(stream.length))
                gauge("spool_stream_entries_added", labels, Double(stream.entriesAdded))
                gauge("spool_stream_bytes", labels, Double(stream.bytes))
                gauge("spool_stream_groups", labels, Double(stream.groups.count))
                for group in stream.groups {
                    let groupLabels = labels + [("group", group.name)]
                    gauge("spool_group_pending_entries", groupLabels, Double(group.pending))
                    gauge("spool_group_consumers", groupLabels, Double(group.consumers))
                    if let lag = group.lagEntries { gauge("spool_group_lag_entries", groupLabels, Double(lag)) }
                    gauge("spool_group_lag_seconds", groupLabels, Double(group.lagMilliseconds) / 1000)
                }
            }
            for shard in snapshot.shards {
                let labels = [("shard", String(shard.index))]
                gauge("spool_shard_epoch", labels, Double(shard.epoch))
                gauge("spool_shard_leader", labels, shard.role == "leader" ? 1 : 0)
                gauge("spool_shard_committed_records", labels, Double(shard.committed))
                gauge("spool_shard_applied_records", labels, Double(shard.applied))
                gauge("spool_shard_apply_lag_records", labels, Double(shard.committed &- min(shard.committed, shard.applied)))
            }
            for (key, old) in state.gauges where seen[key] == nil { registry.unregisterGauge(old) }
            state.gauges = seen
            // Totals the storage thread keeps, published by how much they grew since the last scrape.
            func counter(_ name: String, _ help: String, total: UInt64, published: inout UInt64) {
                let counter = registry.makeCounter(descriptor: ServerMetrics.descriptor(name, help))
                counter.increment(by: Int64(total &- min(total, published)))
                published = max(published, total)
            }
            counter(
                "spool_dead_lettered_entries_total", "Entries moved to dead-letter streams since start-up.",
                total: snapshot.deadLettered, published: &state.deadLettered)
            counter(
                "spool_producer_appends_parked_total", "Producer appends that waited for an earlier SEQ since start-up.",
                total: snapshot.producerAppendsParked, published: &state.producerParks)
        }
    }
}
