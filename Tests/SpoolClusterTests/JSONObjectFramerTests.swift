import Testing

@testable import SpoolCluster

/// The streaming-body framer: results must not depend on how the body is split into chunks.
@Suite struct JSONObjectFramerTests {
    static let body = Array(
        """
        {"result":{"header":{"revision":"3"},"created":true}}
        {"result":{"events":[{"kv":{"key":"L3cvYQ==","value":"e30="}},{"type":"DELETE","kv":{"key":"L3cvYQ=="}}]}}
        {"error":{"grpc_code":14,"message":"a } in a \\"string\\" {"}}

        """.utf8)

    static let expected: [String] = [
        #"{"result":{"header":{"revision":"3"},"created":true}}"#,
        #"{"result":{"events":[{"kv":{"key":"L3cvYQ==","value":"e30="}},{"type":"DELETE","kv":{"key":"L3cvYQ=="}}]}}"#,
        #"{"error":{"grpc_code":14,"message":"a } in a \"string\" {"}}"#,
    ]

    @Test func wholeBodySplitsIntoObjects() throws {
        var framer = JSONObjectFramer(objectBytesMax: 1 << 16)
        let objects = try framer.append(Self.body)
        #expect(objects.map { String(decoding: $0, as: UTF8.self) } == Self.expected)
        #expect(framer.isAtObjectBoundary)
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func dripFedBodyGivesTheSameObjects(chunkSize: Int) throws {
        var framer = JSONObjectFramer(objectBytesMax: 1 << 16)
        var objects: [[UInt8]] = []
        var offset = 0
        while offset < Self.body.count {
            let end = min(offset + chunkSize, Self.body.count)
            objects += try framer.append(Self.body[offset..<end])
            offset = end
        }
        #expect(objects.map { String(decoding: $0, as: UTF8.self) } == Self.expected)
    }

    @Test func aCutOffBodyIsNotAtABoundary() throws {
        var framer = JSONObjectFramer(objectBytesMax: 1 << 16)
        #expect(try framer.append(Self.body.prefix(20)).isEmpty)
        #expect(!framer.isAtObjectBoundary)
    }

    @Test func anObjectOverTheLimitIsRejected() {
        #expect(throws: JSONObjectFramer.FramingError.objectTooLarge(limit: 16)) {
            var framer = JSONObjectFramer(objectBytesMax: 16)
            return try framer.append(Array(#"{"key":"0123456789abcdef"}"#.utf8))
        }
    }

    @Test func bytesBetweenObjectsAreRejected() {
        #expect(throws: JSONObjectFramer.FramingError.unexpectedByte(UInt8(ascii: "x"))) {
            var framer = JSONObjectFramer(objectBytesMax: 64)
            return try framer.append(Array(#"{}x{}"#.utf8))
        }
    }
}
