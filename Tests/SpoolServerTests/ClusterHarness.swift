import Foundation
import Synchronization
import SpoolCluster
import SpoolProtocol
import SpoolReplication
@testable import SpoolServer
@testable import SpoolStorage

/// Three (or more) cluster nodes in one process, each a real storage engine with its executor and
/// `ClusterReplicator` on a real WiredTiger store in its own directory, joined by an in-memory
/// network the test controls: frames wait in a queue until `pump` delivers them, and links can be
/// cut. Leaders are handed out by the test as etcd would (increasing epochs). The layer between
/// the pure simulator and the real processes: the replicator's real code, real logs and real
/// flushes, no sockets.
final class ClusterHarness: Sendable {
    let size: Int
    let shards: Int
    private let directories: [String]
    private let engines: Mutex<[StorageEngine<Executor>?]>
    private let network = Mutex<[(from: Int, to: Int, bytes: [UInt8])]>([])
    /// Links that drop what is sent over them (both directions are listed separately).
    let cut = Mutex<Set<[Int]>>([])
    let resigned = Mutex<[(node: Int, shard: Int, epoch: UInt64)]>([])
    /// etcd's history records: the nodes that held data once (`ClusterLink.registerHistory`).
    private let history = Mutex<Set<Int>>([])
    private let replies = Mutex<[UInt64: [UInt8]]>([:])
    private let nextSlot = Atomic<UInt64>(1)

    /// A leader that hears no majority for `quorumTimeoutMilliseconds` steps down, and nothing here
    /// elects another: tests that are not about it keep it long (a busy machine delays `pump`).
    let quorumTimeoutNanoseconds: UInt64

    init(size: Int = 3, shards: Int = 2, quorumTimeoutMilliseconds: UInt64 = 5_000) throws {
        self.size = size
        self.shards = shards
        quorumTimeoutNanoseconds = quorumTimeoutMilliseconds * 1_000_000
        let base = NSTemporaryDirectory() + "spool-cluster-test-" + UUID().uuidString
        directories = (0..<size).map { "\(base)-n\($0)" }
        engines = Mutex(Array(repeating: nil, count: size))
        for node in 0..<size { try start(node) }
    }

    /// Opens node `node`'s store (recovering it) and installs its replicator.
    func start(_ node: Int) throws {
        let settings = ClusterReplicator.Settings(
            cluster: "test", myIndex: node,
            seedMembers: MemberConfig(
                version: 0, members: (0..<size).map { MemberConfig.Member(name: "n\($0)", index: $0, addr: "", bus: "") }),
            shardCount: shards, heartbeatNanoseconds: 20_000_000,
            quorumTimeoutNanoseconds: quorumTimeoutNanoseconds, entriesPerMessageMax: 64)
        let engine = try StorageEngine<Executor>(
            options: StorageOptions(directory: directories[node]),
            makeContext: { Executor(store: $0, limits: Executor.Limits(readCountMax: 1_000_000)) },
            deliver: { [self] outcomes in deliver(outcomes, from: node) })
        let installed = Mutex<Bool?>(nil)
        engine.submit({ executor throws(WiredTigerError) in
            executor.cluster = try ClusterReplicator(settings: settings, executor: executor)
            installed.withLock { $0 = true }
            return .nothing
        }, onFailure: { _ in
            installed.withLock { $0 = false }
            return .nothing
        })
        while installed.withLock({ $0 }) == nil { usleep(1_000) }
        engines.withLock { $0[node] = engine }
        let existed = history.withLock { nodes in nodes.insert(node).inserted == false }
        engine.submit({ executor throws(WiredTigerError) in
            try executor.cluster?.formerLifeKnown(existed)
            return .nothing
        }, onFailure: { _ in .nothing })
    }

    /// kill -9 as far as the cluster can tell: the node stops taking part at once (nothing more
    /// is delivered to or from it), then its engine shuts down; what it had synced stays on disk.
    func stop(_ node: Int) {
        let engine = engines.withLock { engines -> StorageEngine<Executor>? in
            defer { engines[node] = nil }
            return engines[node]
        }
        network.withLock { $0.removeAll { $0.from == node || $0.to == node } }
        engine?.shutdown()
    }

    /// Stops the node and deletes its data directory (a disk replaced); `start` then opens an
    /// empty one.
    func wipe(_ node: Int) {
        stop(node)
        try? FileManager.default.removeItem(atPath: directories[node])
    }

    func shutdown() {
        for node in 0..<size { stop(node) }
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
    }

    private func engine(_ node: Int) -> StorageEngine<Executor>? { engines.withLock { $0[node] } }

    private func deliver(_ outcomes: [ServerOutcome], from node: Int) {
        for outcome in outcomes {
            switch outcome.kind {
            case .reply:
                replies.withLock { $0[outcome.slot] = outcome.bytes }
            case .cluster:
                switch outcome.action {
                case .send(let frames)?:
                    network.withLock { queue in
                        for frame in frames { queue.append((node, frame.peer, frame.bytes)) }
                    }
                case .synced(let shard, let seq, let truncations)?:
                    engine(node)?.submit({ executor throws(WiredTigerError) in
                        try executor.cluster?.synced(shard: shard, seq: seq, truncations: truncations)
                        return .nothing
                    }, onFailure: { _ in .nothing })
                case .resign(let shard, let epoch, _)?:
                    resigned.withLock { $0.append((node, shard, epoch)) }
                default: break
                }
            default: break
            }
        }
    }

    /// Delivers every queued frame (those on cut links are dropped); returns how many went.
    @discardableResult
    func pump() -> Int {
        let frames = network.withLock { queue in
            defer { queue = [] }
            return queue
        }
        let cut = self.cut.withLock { $0 }
        var delivered = 0
        for frame in frames where !cut.contains([frame.from, frame.to]) {
            guard let engine = engine(frame.to),
                case .message(let shard, let envelope)? = try? frame.bytes.withUnsafeBytes({ try ReplicationWire.decode($0) })
            else { continue }
            delivered += 1
            engine.submit({ executor throws(WiredTigerError) in
                try executor.cluster?.receive(shard: shard, envelope)
                return .nothing
            }, onFailure: { _ in .nothing })
        }
        return delivered
    }

    /// Tells every running node (or those in `nodes`) who leads which shard (node, epoch), as
    /// etcd's watch would.
    func setLeaders(_ leaders: [Int: (node: Int, epoch: UInt64)], nodes: [Int]? = nil) {
        for node in nodes ?? Array(0..<size) {
            engine(node)?.submit({ executor throws(WiredTigerError) in
                try executor.cluster?.leadersChanged(leaders.mapValues { ClusterReplicator.Elected(node: $0.node, epoch: $0.epoch) })
                return .nothing
            }, onFailure: { _ in .nothing })
        }
    }

    /// Runs `body` on node `node`'s storage thread and returns its result.
    func onStorage<T: Sendable>(_ node: Int, _ body: @escaping @Sendable (Executor) throws(WiredTigerError) -> T) -> T? {
        let result = Mutex<T?>(nil)
        let done = Atomic<Bool>(false)
        guard let engine = engine(node) else { return nil }
        engine.submit({ executor throws(WiredTigerError) in
            result.withLock { $0 = try? body(executor) }
            done.store(true, ordering: .releasing)
            return .nothing
        }, onFailure: { _ in
            done.store(true, ordering: .releasing)
            return .nothing
        })
        while !done.load(ordering: .acquiring) { usleep(500) }
        return result.withLock { $0 }
    }

    func isServing(_ node: Int, shard: Int) -> Bool {
        onStorage(node) { $0.cluster?.shards[shard].node.isServing ?? false } ?? false
    }

    /// Proposes a client command to node `node` for `shard`; returns the reply slot.
    func propose(_ node: Int, shard: Int, _ words: [String], version: RESPVersion = .resp2) -> UInt64 {
        let slot = nextSlot.add(1, ordering: .relaxed).oldValue
        let body = ReplicatedRecord.encodeBody(
            version: version, isTransaction: false, items: [.request(RequestArguments(words.map { Array($0.utf8) }))])
        let reply = PendingReply(connection: 1, slot: slot, version: version, replyCount: 1)
        engine(node)?.submit({ executor throws(WiredTigerError) in
            guard let cluster = executor.cluster else { return .nothing }
            return try cluster.propose(shard: shard, body: body, reply: reply)
        }, onFailure: Executor.failure(connection: 1, slot: slot, version: version))
        return slot
    }

    /// The reply in `slot`, if it came.
    func reply(_ slot: UInt64) -> RESPValue? {
        replies.withLock { $0[slot] }.flatMap { ExecutorHarness.decode($0).first }
    }

    /// Runs a read on node `node` directly (as a READONLY connection would) and returns its reply.
    func read(_ node: Int, _ words: [String]) -> RESPValue? {
        let command = ExecutorHarness.decode(command: words.map { Array($0.utf8) }, version: .resp2)
        let bytes: [UInt8]? = onStorage(node) { executor throws(WiredTigerError) in
            try executor.run(CommandGroup(connection: 0, slot: 0, version: .resp2, commands: [command])).bytes
        }
        return bytes.flatMap { ExecutorHarness.decode($0).first }
    }

    /// Pumps the network until `condition` holds (or `seconds` pass); true if it held.
    func pump(until condition: () -> Bool, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            if pump() == 0 { usleep(1_000) }
        }
        return condition()
    }
}
