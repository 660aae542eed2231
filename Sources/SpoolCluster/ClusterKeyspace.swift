#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The etcd keys of one cluster (REPLICATION.md 5.2) and the JSON values stored at them. Every
/// key of the cluster starts with `prefix`, so one range and one watch cover the whole view.
///
/// ```
/// /spool/v1/<cluster>/nodes/<nodeId>       {"addr","bus","version","index","tls"}   under the node's lease
/// /spool/v1/<cluster>/shards/<s>/leader    {"node","addr","bus","config","members"}  under the leader's lease
/// /spool/v1/<cluster>/bump                 empty                      raises the revision (floor check)
/// /spool/v1/<cluster>/history/<nodeId>     {}                         the node has held data (no lease)
/// /spool/v1/<cluster>/members              MemberConfig               the configuration (no lease)
/// /spool/v1/<cluster>/proposal             MemberProposal             a change under way, under the proposer's lease
/// /spool/v1/<cluster>/approvals/<s>        MemberApproval             shard s's leader's answer, under its lease
/// ```
struct ClusterKeyspace: Sendable {
    /// `/spool/v1/<cluster>/`.
    let prefix: String

    init(clusterName: String) {
        prefix = "/spool/v1/\(clusterName)/"
    }

    func nodeKey(_ nodeID: String) -> String { prefix + "nodes/" + nodeID }
    func leaderKey(shard: Int) -> String { prefix + "shards/\(shard)/leader" }
    var bumpKey: String { prefix + "bump" }
    func historyKey(_ nodeID: String) -> String { prefix + "history/" + nodeID }
    var membersKey: String { prefix + "members" }
    var proposalKey: String { prefix + "proposal" }
    func approvalKey(shard: Int) -> String { prefix + "approvals/\(shard)" }

    enum Entry: Equatable {
        case node(String)
        case leader(shard: Int)
        case members
        case proposal
        case approval(shard: Int)
        /// A key of the cluster the view does not hold (a shard's config, the bump key).
        case other
    }

    func classify(_ key: String) -> Entry {
        guard key.hasPrefix(prefix) else { return .other }
        let rest = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        if rest.count == 2, rest[0] == "nodes", !rest[1].isEmpty { return .node(String(rest[1])) }
        if rest.count == 1, rest[0] == "members" { return .members }
        if rest.count == 1, rest[0] == "proposal" { return .proposal }
        if rest.count == 2, rest[0] == "approvals", let shard = Int(rest[1]), shard >= 0, String(shard) == rest[1] {
            return .approval(shard: shard)
        }
        if rest.count == 3, rest[0] == "shards", rest[2] == "leader", let shard = Int(rest[1]), shard >= 0,
            String(shard) == rest[1]
        {
            return .leader(shard: shard)
        }
        return .other
    }
}

/// The value of a node key.
struct NodeRecord: Codable, Equatable {
    var addr: String
    var bus: String
    var version: String
    /// The bus index the node uses (its position in its cluster-members); nil from older versions.
    var index: Int?
    /// host:port of its TLS port (tls-port), if it has one: what TLS clients are sent to.
    var tls: String?
}

/// The value of a shard leader key. The epoch is not stored: it is the key's create_revision.
struct LeaderRecord: Codable, Equatable {
    var node: String
    var addr: String
    var bus: String
    /// The configuration the leader was elected under (its version and member indices): the
    /// campaign's transaction checked it was the current one.
    var config: Int?
    var members: [Int]?
}

extension ClusterKeyspace {
    static func encode(_ record: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        do {
            return [UInt8](try encoder.encode(record))
        } catch {
            preconditionFailure("encoding a cluster record failed: \(error)")
        }
    }

    /// nil when the value is not ours (another version's format, or garbage).
    static func decode<Record: Decodable>(_ type: Record.Type, from value: [UInt8]) -> Record? {
        try? JSONDecoder().decode(Record.self, from: Data(value))
    }
}
