/// The cluster's configuration: which nodes are members (hold every shard's log, vote, lead) and
/// their bus indices. Stored at `/spool/v1/<cluster>/members`, created from the seed list at the
/// cluster's first start and changed one member at a time (`ClusterCoordinator.changeMembers`).
///
/// A member's `index` is its node id on the replication bus and in the logs' quorums. An index
/// is never given to another node: a removed member's goes to `retired`, so a node removed but
/// still running cannot pass for its successor.
public struct MemberConfig: Sendable, Equatable, Codable {
    public struct Member: Sendable, Equatable, Codable {
        public var name: String
        public var index: Int
        /// host:port for clients, and of the replication bus.
        public var addr: String
        public var bus: String

        public init(name: String, index: Int, addr: String, bus: String) {
            self.name = name
            self.index = index
            self.addr = addr
            self.bus = bus
        }
    }

    /// 1 for the seed configuration, one more for each change.
    public var version: Int
    /// Ordered by index.
    public var members: [Member]
    /// Indices of removed members.
    public var retired: [Int]

    public init(version: Int, members: [Member], retired: [Int] = []) {
        self.version = version
        self.members = members.sorted { $0.index < $1.index }
        self.retired = retired.sorted()
    }

    public var indices: [Int] { members.map(\.index) }
    public var names: [String] { members.map(\.name) }

    public func member(named name: String) -> Member? { members.first { $0.name == name } }
    public func member(at index: Int) -> Member? { members.first { $0.index == index } }

    /// Whether the stored value is one this version can use: at least one member, names and
    /// indices unique, no member's index retired.
    var isWellFormed: Bool {
        version >= 1 && !members.isEmpty && Set(names).count == members.count && Set(indices).count == members.count
            && members.allSatisfy { $0.index >= 0 && $0.index < MemberConfig.indexLimit && !$0.name.isEmpty }
            && Set(indices).isDisjoint(with: retired)
    }

    /// Bus indices run below this (the bus's hello and the logs' node ids).
    public static let indexLimit = 64
}

/// One membership change: a registered node added under the index it announces, or a member removed.
public enum MembershipChange: Sendable, Equatable, CustomStringConvertible {
    case add(name: String)
    case remove(name: String)

    public var description: String {
        switch self {
        case .add(let name): "add \(name)"
        case .remove(let name): "remove \(name)"
        }
    }
}

/// Why a membership change was not made. `description` is the text a client is shown.
public enum MembershipError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The change makes no sense against the current configuration (unknown node, already a
    /// member, the last member, an index in use).
    case invalid(String)
    /// Another change is under way, or the configuration changed meanwhile.
    case busy(String)
    /// A shard's leader did not agree in time: the reasons, by shard.
    case refused(String)
    /// etcd did not answer.
    case unavailable(String)

    public var description: String {
        switch self {
        case .invalid(let text), .busy(let text), .refused(let text), .unavailable(let text): text
        }
    }
}

/// A change under way (`/spool/v1/<cluster>/proposal`, under the proposer's lease): the
/// configuration it would make. Every shard's leader elected under `from` answers at
/// `approvals/<shard>`.
public struct MemberProposal: Sendable, Equatable, Codable {
    /// The version the change starts from; `next.version` is one more.
    public var from: Int
    public var next: MemberConfig
    /// The member being removed, if the change is a removal.
    public var removing: String?

    public init(from: Int, next: MemberConfig, removing: String?) {
        self.from = from
        self.next = next
        self.removing = removing
    }
}

/// A shard leader's answer to a proposal (`/spool/v1/<cluster>/approvals/<shard>`, under the
/// leader's lease): whether the change is safe for its shard now, in the epoch it leads.
public struct MemberApproval: Sendable, Equatable, Codable {
    /// The proposal's `next.version`.
    public var version: Int
    public var epoch: UInt64
    public var ok: Bool
    /// Why not, when `ok` is false.
    public var reason: String

    public init(version: Int, epoch: UInt64, ok: Bool, reason: String = "") {
        self.version = version
        self.epoch = epoch
        self.ok = ok
        self.reason = reason
    }
}

extension MemberConfig {
    /// The configuration `change` makes of this one, given the registered nodes and the index
    /// each announces, or why there is none.
    func applying(_ change: MembershipChange, registered: [String: ClusterView.Node]) -> Result<MemberConfig, MembershipError> {
        switch change {
        case .add(let name):
            guard member(named: name) == nil else { return .failure(.invalid("ERR \(name) is a member already")) }
            guard let node = registered[name] else {
                return .failure(.invalid("ERR no node named \(name) is registered: start it first (with this cluster's name and etcd)"))
            }
            guard let index = node.index, index >= 0, index < Self.indexLimit else {
                return .failure(.invalid("ERR node \(name) announces no bus index (a node of an older version)"))
            }
            if let holder = member(at: index) {
                return .failure(
                    .invalid("ERR node \(name) has bus index \(index), which member \(holder.name) holds: list it after every member in its cluster-members"))
            }
            guard !retired.contains(index) else {
                return .failure(
                    .invalid("ERR node \(name) has bus index \(index), which a removed member held: give it a position in cluster-members no member ever had"))
            }
            return .success(
                MemberConfig(
                    version: version + 1, members: members + [Member(name: name, index: index, addr: node.address, bus: node.busAddress)],
                    retired: retired))
        case .remove(let name):
            guard let removed = member(named: name) else { return .failure(.invalid("ERR \(name) is not a member")) }
            guard members.count > 1 else { return .failure(.invalid("ERR \(name) is the last member")) }
            return .success(
                MemberConfig(version: version + 1, members: members.filter { $0.name != name }, retired: retired + [removed.index]))
        }
    }
}
