import SpoolCluster
import Testing

/// Every test that starts an etcd lives in a suite nested here, so they run one at a time: the
/// lease tests measure time in seconds, and two etcds plus several coordinators on two cores
/// would blur it. The pure tests run in parallel beside them.
@Suite(.serialized) struct EtcdBacked {}

/// Runs `body` with a client of `server` and shuts the client down however `body` ends
/// (AsyncHTTPClient traps on a client deinitialised without shutdown).
func withClient<Result>(
    _ server: EtcdServer, requestTimeout: Duration = .seconds(1), _ body: (EtcdClient) async throws -> Result
) async throws -> Result {
    let client = EtcdClient(configuration: .init(endpoints: [server.endpoint], requestTimeout: requestTimeout))
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// A configuration for node `nodeID` of cluster "t" on `server`.
func makeConfiguration(
    _ server: EtcdServer, nodeID: String, members: [String], shardCount: Int, leaseTTLSeconds: Int64 = 2,
    nonPreferredCampaignDelay: Duration? = nil
) -> ClusterConfiguration {
    ClusterConfiguration(
        endpoints: [server.endpoint], clusterName: "t", nodeID: nodeID, clientAddress: "\(nodeID).test:6379",
        busAddress: "\(nodeID).test:7379", version: "test", leaseTTLSeconds: leaseTTLSeconds,
        shardCount: shardCount, memberNodeIDs: members, nonPreferredCampaignDelay: nonPreferredCampaignDelay)
}

/// Starts a coordinator per configuration (each may campaign for every shard), runs `body`,
/// and stops them all however `body` ends.
func withCoordinators<Result>(
    _ configurations: [ClusterConfiguration], _ body: ([ClusterCoordinator]) async throws -> Result
) async throws -> Result {
    let coordinators = try configurations.map { configuration throws -> ClusterCoordinator in
        try ClusterCoordinator(configuration: configuration)
    }
    for coordinator in coordinators {
        coordinator.start(mayCampaign: { _ in true }, onChange: { _ in })
    }
    do {
        let result = try await body(coordinators)
        for coordinator in coordinators { await coordinator.stop() }
        return result
    } catch {
        for coordinator in coordinators { await coordinator.stop() }
        throw error
    }
}
