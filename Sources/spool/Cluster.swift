import ArgumentParser
import SpoolClient

/// `spool cluster`: a cluster's nodes and shards (`show`, the default), and its membership changes.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A cluster's nodes and shards (show, the default); add and remove members.",
        subcommands: [ClusterShow.self, ClusterAdd.self, ClusterRemove.self, ClusterReplace.self], defaultSubcommand: ClusterShow.self)
}

/// CLUSTER MEET of the node at `address` (host:port). A node registers with etcd just after it
/// starts answering: while the server has not seen it yet, the MEET is retried for up to 10 s.
private func meet(_ client: SpoolClient, _ address: String) async throws {
    let colon = address.lastIndex(of: ":")!
    let command = RESPCommand("CLUSTER", "MEET", String(address[..<colon]), String(address[address.index(after: colon)...]))
    let deadline = ContinuousClock.now + .seconds(10)
    while true {
        do {
            _ = try await client.execute(command, isRead: false)
            return
        } catch {
            guard case .server(let reply) = error, reply.message.hasPrefix("ERR Invalid node address"), ContinuousClock.now < deadline
            else { throw error }
        }
        try await Task.sleep(for: .milliseconds(200))
    }
}

/// A node's client address: host:port.
private func validateAddress(_ address: String) throws {
    guard let colon = address.lastIndex(of: ":"), Int(address[address.index(after: colon)...]) != nil else {
        throw ValidationError("the address is host:port")
    }
}

/// `spool cluster replace NODE HOST:PORT`: CLUSTER MEET, then CLUSTER FORGET once it is allowed.
struct ClusterReplace: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replace",
        abstract: "Replace a member (a dead one, say) by the node at HOST:PORT: add it, then remove the old one.",
        discussion: """
            Two membership changes: the new node is added (CLUSTER MEET; start it first, as for \
            `add`), then the old member is removed (CLUSTER FORGET) as soon as every remaining member, \
            the new one included, holds every shard's committed log: until then the removal is \
            refused and retried. Run again after a failure: a node already added is not added twice.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The member to replace: its name or node id.") var node: String
    @Argument(help: "The new node's client address, as it registered it (host:port).") var address: String
    @Option(help: "Seconds to wait for the new node to catch up before giving up.") var timeout = 600

    func validate() throws { try validateAddress(address) }

    func run() async throws {
        let output = Output.standardOutput
        try await withClient(connection) { client in
            do {
                try await meet(client, address)
                output.writeLine("added \(address); removing \(node) once every member holds every shard's log")
            } catch {
                guard case .server(let reply)? = error as? SpoolClientError, reply.message.hasSuffix("is a member already") else { throw error }
                output.writeLine("\(address) is a member already; removing \(node)")
            }
            output.flush()
            let deadline = ContinuousClock.now + .seconds(timeout)
            while true {
                do {
                    _ = try await client.execute(RESPCommand("CLUSTER", "FORGET", node), isRead: false)
                    output.writeLine("removed \(node)")
                    output.flush()
                    return
                } catch {
                    guard case .server(let reply)? = error as? SpoolClientError, Self.isTransient(reply.message), ContinuousClock.now < deadline
                    else { throw error }
                }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Refusals that pass once the new node has caught up (or a leader is elected).
    static func isTransient(_ message: String) -> Bool {
        ["does not hold the shard's committed log", "has not answered", "has no leader", "another membership change", "CLUSTERDOWN"]
            .contains { message.contains($0) }
    }
}

/// `spool cluster add HOST:PORT`: CLUSTER MEET.
struct ClusterAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add the node listening at HOST:PORT to the cluster's members (CLUSTER MEET).",
        discussion: """
            Start the new node first, with the cluster's name and etcd, and a cluster-members list that \
            names every member and then itself (its position is its bus index: one no member ever had). \
            The change waits until every shard's leader has committed under the current configuration, \
            then each shard elects a leader under the new one; the new node joins every shard's log \
            (with a gap when it is far behind) and counts in quorums from then on. One member at a time.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The new node's client address, as it registered it (host:port).") var address: String

    func validate() throws { try validateAddress(address) }

    func run() async throws {
        try await withClient(connection) { client in
            try await meet(client, address)
            Output.standardOutput.writeLine("added \(address)")
            Output.standardOutput.flush()
        }
    }
}

/// `spool cluster remove NODE`: CLUSTER FORGET.
struct ClusterRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a member from the cluster (CLUSTER FORGET), by name or node id.",
        discussion: """
            Refused while a remaining member does not hold a shard's committed log (it is behind, or \
            still filling a gap): the removal would leave committed entries on fewer members than \
            the smaller cluster's majorities. A dead member may be removed; the others must be caught \
            up. After the change each shard elects a leader under the new configuration; stop the \
            removed node then. One member at a time.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The member's name (cluster-node-id) or its 40-character node id.") var node: String

    func run() async throws {
        try await withClient(connection) { client in
            _ = try await client.execute(RESPCommand("CLUSTER", "FORGET", node), isRead: false)
            Output.standardOutput.writeLine("removed \(node)")
            Output.standardOutput.flush()
        }
    }
}

/// `spool cluster show`: a cluster's nodes and shards as its members report them.
struct ClusterShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a cluster's nodes, and each shard's slots, leader, epoch and every node's lag and gap.",
        discussion: """
            Asks the node given with --host/--port for the members (CLUSTER NODES), then every member \
            for its replication state (INFO shards). LAG is how many committed records of the shard \
            a node has not applied yet (0: up to date; '-': the node does not answer); 'gap FIRST-LAST' \
            follows it while the node joined the shard at a commit point and is still filling the \
            records FIRST to LAST from its peers (it serves no reads of the shard and does not lead \
            it until then); 'learner' while a node that lost its state does not vote yet (until it \
            holds everything it may have acknowledged before). A node that does not answer is shown \
            as down; the command fails only if the first one does not.
            """)

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var format: FormatOptions

    struct Member {
        var id: String
        var address: String
        var flags: String
        /// INFO shards of the member, by shard: role, epoch, tail, synced, committed, applied…
        var shards: [Int: [String: String]]?
    }

    func run() async throws {
        try await withClient(connection) { client in
            guard let nodesText = try await client.execute(RESPCommand("CLUSTER", "NODES"), isRead: true).text else {
                throw CLIFailure(message: "CLUSTER NODES gave no text", code: CLIFailure.serverError)
            }
            var members: [Member] = []
            for line in nodesText.split(separator: "\n") {
                let fields = line.split(separator: " ")
                guard fields.count >= 3 else { continue }
                let address = fields[1].split(separator: "@").first.map(String.init) ?? String(fields[1])
                members.append(Member(id: String(fields[0]), address: address, flags: String(fields[2]), shards: nil))
            }
            members.sort { $0.address < $1.address }
            for index in members.indices {
                members[index].shards = await shardsOf(members[index].address)
            }
            // The configuration the node asked uses: its version and the members' names.
            var configuration: (version: Int, members: [String])?
            for section in try await client.info(["shards"]).sections {
                guard let version = section.fields.first(where: { $0.0 == "spool_cluster_configuration" }).flatMap({ Int($0.1) }) else {
                    continue
                }
                let names = section.fields.first { $0.0 == "spool_cluster_members" }?.1 ?? ""
                configuration = (version, names.split(separator: ",").map(String.init))
            }
            report(members, configuration: configuration)
        }
    }

    /// INFO shards of the node at `address`, nil when it does not answer (one attempt, no wait).
    private func shardsOf(_ address: String) async -> [Int: [String: String]]? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
        var configuration = connection.configuration
        configuration.host = String(address[..<colon])
        configuration.port = port
        configuration.reconnect = ReconnectPolicy(initialDelay: .milliseconds(100), maximumDelay: .milliseconds(100), attemptsMax: 1)
        guard let client = try? await SpoolClient.connect(configuration) else { return nil }
        defer { client.close() }
        guard let info = try? await client.info(["shards"]) else { return nil }
        var shards: [Int: [String: String]] = [:]
        for section in info.sections {
            for (key, value) in section.fields where key.hasPrefix("spool_cluster_shard") {
                guard let shard = Int(key.dropFirst("spool_cluster_shard".count)) else { continue }
                var fields: [String: String] = [:]
                for part in value.split(separator: ",") {
                    let pair = part.split(separator: "=", maxSplits: 1)
                    if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
                }
                shards[shard] = fields
            }
        }
        return shards
    }

    private func report(_ members: [Member], configuration: (version: Int, members: [String])?) {
        let shardCount = members.compactMap { $0.shards?.count }.max() ?? 0
        func leader(of shard: Int) -> (member: Member, fields: [String: String])? {
            for member in members {
                if let fields = member.shards?[shard], fields["role"] == "leader" { return (member, fields) }
            }
            return nil
        }
        func lag(_ member: Member, _ shard: Int) -> Int64? {
            guard let committed = leader(of: shard).flatMap({ Int64($0.fields["committed"] ?? "") }),
                let applied = member.shards?[shard]?["applied"].flatMap({ Int64($0) })
            else { return nil }
            return max(0, committed - applied)
        }
        func gap(_ member: Member, _ shard: Int) -> String? { member.shards?[shard]?["gap"] }
        func lagText(_ member: Member, _ shard: Int) -> String {
            var text = lag(member, shard).map { String($0) } ?? "-"
            if let gap = gap(member, shard) { text += " gap \(gap)" }
            if member.shards?[shard]?["learner"] != nil { text += " learner" }
            return text
        }
        func slots(_ shard: Int) -> String {
            "\(shard * 16384 / shardCount)-\((shard + 1) * 16384 / shardCount - 1)"
        }
        let output = Output.standardOutput
        if format.json {
            let nodes = members.map { member in
                JSON.object([
                    ("id", .string(member.id)), ("address", .string(member.address)), ("up", .bool(member.shards != nil)),
                    ("flags", .string(member.flags)),
                    ("leads", .int((0..<shardCount).filter { member.shards?[$0]?["role"] == "leader" }.count)),
                ])
            }
            let shards = (0..<shardCount).map { shard in
                let lead = leader(of: shard)
                return JSON.object([
                    ("shard", .int(shard)), ("slots", .string(slots(shard))), ("leader", .optional(lead?.member.address)),
                    ("epoch", .optional(lead?.fields["epoch"].flatMap { Int($0) })),
                    ("committed", .optional(lead?.fields["committed"].flatMap { Int($0) })),
                    ("lag", .object(members.map { ($0.address, lag($0, shard).map { JSON.int($0) } ?? .null) })),
                    ("gaps", .object(members.map { ($0.address, .optional(gap($0, shard))) })),
                    ("learners", .array(members.filter { $0.shards?[shard]?["learner"] != nil }.map { .string($0.address) })),
                ])
            }
            let config = configuration.map { JSON.object([("version", .int($0.version)), ("members", .array($0.members.map { .string($0) }))]) }
            output.writeLine(JSON.object([("configuration", config ?? .null), ("nodes", .array(nodes)), ("shards", .array(shards))]).text)
            output.flush()
            return
        }
        if let configuration {
            output.writeLine("configuration \(configuration.version): \(configuration.members.joined(separator: ", "))")
            output.writeLine("")
        }
        var nodes = Table("NODE", "ADDRESS", "STATE", "LEADS")
        for member in members {
            let leads = (0..<shardCount).filter { member.shards?[$0]?["role"] == "leader" }.count
            nodes.add([String(member.id.prefix(8)), member.address, member.shards == nil ? "down" : "up", String(leads)])
        }
        output.writeLine(nodes.text)
        var shards = Table(headers: ["SHARD", "SLOTS", "LEADER", "EPOCH", "COMMITTED"] + members.map { "LAG \($0.address)" })
        for shard in 0..<shardCount {
            let lead = leader(of: shard)
            shards.add(
                [String(shard), slots(shard), lead?.member.address ?? "(none)", lead?.fields["epoch"] ?? "-", lead?.fields["committed"] ?? "-"]
                    + members.map { lagText($0, shard) })
        }
        output.writeLine("")
        output.writeLine(shards.text)
        output.flush()
    }
}
