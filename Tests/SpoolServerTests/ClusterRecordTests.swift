import Testing
import SpoolProtocol
@testable import SpoolServer

@Suite struct ClusterRecordTests {
    @Test func aRecordSurvivesEncoding() throws {
        var answered = RESPWriter(version: .resp3)
        answered.simpleString("PONG")
        let items: [ReplicatedRecord.Item] = [
            .request(RequestArguments([Array("XADD".utf8), Array("s".utf8), Array("*".utf8), [0, 255, 13, 10], []])),
            .answered(answered.bytes),
            .request(RequestArguments([Array("XACK".utf8), Array("s".utf8), Array("g".utf8), Array("1-1".utf8)])),
        ]
        let body = ReplicatedRecord.encodeBody(version: .resp3, isTransaction: true, items: items)
        let bytes = ReplicatedRecord.encode(nowMilliseconds: 1_796_336_192_734, body: body)
        let record = try #require(ReplicatedRecord.decode(bytes))
        #expect(record.nowMilliseconds == 1_796_336_192_734)
        #expect(record.version == .resp3)
        #expect(record.isTransaction)
        #expect(record.items == items)
    }

    @Test func damagedRecordsDoNotDecode() {
        let body = ReplicatedRecord.encodeBody(
            version: .resp2, isTransaction: false, items: [.request(RequestArguments([Array("XLEN".utf8), Array("s".utf8)]))])
        let bytes = ReplicatedRecord.encode(nowMilliseconds: 5, body: body)
        for cut in 0..<bytes.count { #expect(ReplicatedRecord.decode(Array(bytes[0..<cut])) == nil, "cut at \(cut)") }
        #expect(ReplicatedRecord.decode(bytes + [0]) == nil)
        var wrongVersion = bytes
        wrongVersion[0] = 2
        #expect(ReplicatedRecord.decode(wrongVersion) == nil)
    }

    @Test func membersParseAsConfigured() throws {
        let members = try #require(ClusterMember.parse("n1=127.0.0.2:7379, n2=127.0.0.3:7379@17400,n3=[::1]:7000"))
        #expect(members.map(\.name) == ["n1", "n2", "n3"])
        #expect(members[0].busPort == 17379)
        #expect(members[1].busPort == 17400)
        #expect(members[2].host == "[::1]" && members[2].port == 7000)
        #expect(ClusterMember.parse("") == [])
        for bad in ["n1", "n1=host", "n1=host:0", "n1=host:70000", "=h:1", "n1=h:1,n1=h:2", "n1=h:1@0", "n1=:5"] {
            #expect(ClusterMember.parse(bad) == nil, "\(bad)")
        }
    }
}
