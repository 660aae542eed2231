import Foundation
import Testing

@testable import SpoolClient

@Suite struct ConnectionTests {
    @Test(arguments: RESPVersionChoice.allCases)
    func pingAnswersOverBothProtocolVersions(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start()
        let client = server.client(protocolVersion: version)
        defer { client.close() }
        #expect(try await client.ping() == "PONG")
        let info = try await client.info(["server"])
        #expect(info["redis_version"] != nil)
        #expect(info.isSpool == server.isSpool)
    }

    @Test func pipelinedRequestsGetTheirOwnRepliesInRequestOrder() async throws {
        let server = try await TestServer.start()
        let connection = try await RESPConnection.connect(host: "127.0.0.1", port: server.port)
        defer { connection.close() }
        let count = 5000
        let replies = try await connection.pipeline((0..<count).map { RESPCommand("ECHO", "message-\($0)") })
        #expect(replies.map(\.text) == (0..<count).map { "message-\($0)" })

        // The same with one task per request, all in flight at once.
        let results = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for index in 0..<1000 {
                group.addTask { (index, try await connection.request(RESPCommand("ECHO", "\(index)")).text) }
            }
            var results: [Int: String?] = [:]
            for try await (index, text) in group { results[index] = text }
            return results
        }
        #expect(results.count == 1000)
        #expect(results.allSatisfy { $0.value == String($0.key) })
    }

    @Test func aBacklogLargerThanTheSocketBuffersIsWrittenWholeAndInOrder() async throws {
        let server = try await TestServer.start()
        let connection = try await RESPConnection.connect(host: "127.0.0.1", port: server.port)
        defer { connection.close() }
        // 16 MiB of requests in one go: most of it waits in the connection's queue for the socket.
        let values = (0..<64).map { n in String(repeating: Character(Unicode.Scalar(UInt8(65 + n % 26))), count: 256 << 10) }
        let replies = try await connection.pipeline(values.map { RESPCommand("ECHO", $0) })
        #expect(replies.map(\.text) == values)
    }

    @Test func aLargeReplyArrivesWhole() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        let value = String(repeating: "x", count: 300_000)
        let id = try await client.publish(to: stream, ["big": value])
        let entries = try await client.range(stream)
        #expect(entries.map(\.id) == [id])
        #expect(entries.first?[field: "big"] == value)
    }

    @Test func connectingWhereNothingListensFailsWithConnectFailed() async throws {
        let server = try await TestServer.start()
        let port = server.port
        server.stop()
        let client = SpoolClient(SpoolClientConfiguration(port: port, reconnect: .never))
        await #expect(throws: SpoolClientError.self) { try await client.ping() }
        do {
            _ = try await client.ping()
        } catch {
            guard case .connectFailed(let endpoint, let reason) = error else {
                Issue.record("expected connectFailed, got \(error)")
                return
            }
            #expect(endpoint == "127.0.0.1:\(port)")
            #expect(reason.contains("refused"))
        }
    }

    @Test(arguments: RESPVersionChoice.allCases)
    func aWrongPasswordFailsWithAuthenticationFailed(_ version: RESPVersionChoice) async throws {
        let server = try await TestServer.start(["--requirepass", "secret"])
        let good = server.client(protocolVersion: version, password: "secret")
        defer { good.close() }
        #expect(try await good.ping() == "PONG")

        let bad = server.client(protocolVersion: version, password: "wrong")
        defer { bad.close() }
        do {
            _ = try await bad.ping()
            Issue.record("a wrong password was accepted")
        } catch {
            guard case .authenticationFailed(let message) = error else {
                Issue.record("expected authenticationFailed, got \(error)")
                return
            }
            #expect(message.hasPrefix("WRONGPASS"))
        }

        let none = server.client(protocolVersion: version)
        defer { none.close() }
        await #expect(throws: SpoolClientError.self) { try await none.length("s") }
    }

    @Test func errorRepliesAreThrownWithTheirCode() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.publish(to: stream, ["a": "1"], options: PublishOptions(id: "5-1"))
        do {
            try await client.publish(to: stream, ["a": "2"], options: PublishOptions(id: "5-0"))
            Issue.record("a smaller id was accepted")
        } catch {
            guard case .server(let serverError) = error else {
                Issue.record("expected a server error, got \(error)")
                return
            }
            #expect(serverError.code == "ERR")
            #expect(serverError.message.contains("equal or smaller than the target stream top item"))
        }
        do {
            _ = try await client.streamInfo(uniqueName("missing"))
            Issue.record("XINFO STREAM of a missing stream succeeded")
        } catch {
            guard case .server(let serverError) = error else {
                Issue.record("expected a server error, got \(error)")
                return
            }
            #expect(serverError.isNotFound)
        }
    }

    @Test func theSharedConnectionComesBackAfterAServerRestart() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        defer { client.close() }
        let stream = uniqueName()
        try await client.publish(to: stream, ["n": "1"])
        try await server.restart()
        // A read is retried on a new connection; the entry survived the restart.
        #expect(try await client.length(stream) == 1)
        try await client.publish(to: stream, ["n": "2"])
        #expect(try await client.length(stream) == 2)
    }

    @Test func aClosedClientRefusesCalls() async throws {
        let server = try await TestServer.start()
        let client = server.client()
        #expect(try await client.ping() == "PONG")
        client.close()
        await #expect(throws: SpoolClientError.closed) { try await client.ping() }
    }

    @Test func aConnectionBrokenUnderRequestsFailsThemWithConnectionLost() async throws {
        let server = try await TestServer.start()
        let connection = try await RESPConnection.connect(host: "127.0.0.1", port: server.port)
        let stream = uniqueName()
        // Blocks on the server until the connection breaks.
        async let blocked = connection.request(RESPCommand("XREAD", "BLOCK", "0", "STREAMS", stream, "$"))
        connection.breakForTesting()
        do {
            _ = try await blocked
            Issue.record("a request on a broken connection succeeded")
        } catch {
            #expect((error as? SpoolClientError)?.isTransient == true, "\(error)")
        }
        #expect(!connection.isOpen)
        #expect(throws: SpoolClientError.self) { try connection.send(RESPCommand("PING")) { _ in } }
    }
}
