import SpoolStorage

/// GET /api/overview: what the dashboard shows, as JSON. Built on the admin thread from one
/// storage snapshot, the storage engine's statistics and what the loop last published.
struct Overview {
    let snapshot: MetricsSnapshot
    let storage: StorageStatistics
    let loop: LoopFigures.Snapshot

    var json: [UInt8] {
        var out = JSONWriter()
        out.object {
            $0.field("version") { $0.string(spoolVersion) }
            $0.field("uptime_seconds") { $0.number(loop.uptimeSeconds) }
            $0.field("connected_clients") { $0.number(loop.connectedClients) }
            $0.field("ops_per_second") { $0.number(loop.opsPerSecond) }
            $0.field("healthy") { $0.bool(!storage.flushFailed) }
            $0.field("persistence") { writer in
                writer.object {
                    $0.field("appends") { $0.number(storage.appends) }
                    $0.field("fsyncs") { $0.number(storage.fsyncs) }
                    $0.field("commits") { $0.number(storage.commits) }
                    $0.field("entries_per_fsync_max") { $0.number(storage.entriesPerFsyncMax) }
                    $0.field("durable_p50_us") { $0.number(storage.durableLatencyMicrosecondsP50) }
                    $0.field("durable_p99_us") { $0.number(storage.durableLatencyMicrosecondsP99) }
                    $0.field("durable_p999_us") { $0.number(storage.durableLatencyMicrosecondsP999) }
                    $0.field("fsync_p50_us") { $0.number(storage.fsyncMicrosecondsP50) }
                    $0.field("fsync_p99_us") { $0.number(storage.fsyncMicrosecondsP99) }
                    $0.field("checkpoints") { $0.number(storage.checkpoints) }
                }
            }
            $0.field("stream_count") { $0.number(snapshot.streamCount) }
            $0.field("dead_lettered") { $0.number(snapshot.deadLettered) }
            $0.field("streams") { writer in
                writer.array(snapshot.streams) { writer, stream in
                    writer.object {
                        $0.field("db") { $0.number(stream.database) }
                        $0.field("name") { $0.string(stream.name) }
                        $0.field("length") { $0.number(stream.length) }
                        $0.field("entries_added") { $0.number(stream.entriesAdded) }
                        $0.field("bytes") { $0.number(stream.bytes) }
                        $0.field("groups") { writer in
                            writer.array(stream.groups) { writer, group in
                                writer.object {
                                    $0.field("name") { $0.string(group.name) }
                                    $0.field("consumers") { $0.number(group.consumers) }
                                    $0.field("pending") { $0.number(group.pending) }
                                    $0.field("lag_entries") { writer in
                                        if let lag = group.lagEntries { writer.number(lag) } else { writer.null() }
                                    }
                                    $0.field("lag_seconds") { $0.number(Double(group.lagMilliseconds) / 1000) }
                                }
                            }
                        }
                    }
                }
            }
            $0.field("cluster") { writer in
                guard let topology = loop.topology else { return writer.null() }
                writer.object {
                    $0.field("me") { $0.string(topology.myName) }
                    $0.field("nodes") { writer in
                        writer.array(topology.nodes) { writer, node in
                            writer.object {
                                $0.field("name") { $0.string(node.name) }
                                $0.field("address") { $0.string("\(node.host):\(node.clientPort)") }
                            }
                        }
                    }
                    $0.field("shards") { writer in
                        let local = Dictionary(uniqueKeysWithValues: snapshot.shards.map { ($0.index, $0) })
                        writer.array(Array(topology.shards.enumerated())) { writer, item in
                            let (index, shard) = item
                            writer.object {
                                $0.field("index") { $0.number(index) }
                                $0.field("leader") { writer in
                                    if let leader = shard.leader { writer.string(leader.node.name) } else { writer.null() }
                                }
                                $0.field("epoch") { $0.number(shard.leader?.epoch ?? 0) }
                                $0.field("role_here") { $0.string(local[index]?.role ?? "idle") }
                                $0.field("apply_lag") { writer in
                                    let here = local[index]
                                    writer.number((here?.committed ?? 0) &- min(here?.committed ?? 0, here?.applied ?? 0))
                                }
                            }
                        }
                    }
                }
            }
        }
        return out.bytes
    }
}

/// A small JSON writer: objects, arrays, strings (escaped), numbers, booleans, null.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = [false]

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
        body(&self)
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func array<Items: Sequence>(_ items: Items, _ element: (inout JSONWriter, Items.Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
        for item in items { element(&self, item) }
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func field(_ name: String, _ value: (inout JSONWriter) -> Void) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma[needsComma.count - 1] = false
        value(&self)
        needsComma[needsComma.count - 1] = true
    }

    mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    mutating func number(_ value: some BinaryInteger) {
        separate()
        bytes += Array(String(value).utf8)
    }

    mutating func number(_ value: Double) {
        separate()
        bytes += Array((value.isFinite ? String(value) : "0").utf8)
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes += Array((value ? "true" : "false").utf8)
    }

    mutating func null() {
        separate()
        bytes += Array("null".utf8)
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += Array("\\\"".utf8)
            case UInt8(ascii: "\\"): bytes += Array("\\\\".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += Array("\\u00".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 15)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
