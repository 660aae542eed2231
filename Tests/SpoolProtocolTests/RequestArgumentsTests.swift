import SpoolCore
import SpoolProtocol
import Testing

/// A request's arguments in one buffer: each argument reads as an array of its own would.
@Suite struct RequestArgumentsTests {
    @Test func argumentsAreTheirBytesIndexedFromZero() {
        let args = RequestArguments([bytes("XADD"), bytes(""), bytes("*"), bytes("field"), bytes("value")])
        #expect(args.count == 5)
        #expect(args.arrays == [bytes("XADD"), [], bytes("*"), bytes("field"), bytes("value")])
        let field = args[3]
        #expect(field.count == 5)
        #expect(field.startIndex == 0)
        #expect(field[0] == UInt8(ascii: "f") && field[4] == UInt8(ascii: "d"))
        #expect(field.bytes == bytes("field"))
        #expect(field == bytes("field"))
        #expect(args[1].isEmpty && args[1].bytes.isEmpty)
        #expect(args[2] == RequestArgument(bytes("*")))
        #expect(args[3] != args[4])
        #expect(args[3].description == "field")
    }

    @Test func aSliceOfArgumentsKeepsItsIndices() {
        let args = RequestArguments([bytes("XADD"), bytes("s"), bytes("*"), bytes("a"), bytes("1"), bytes("b"), bytes("2")])
        let fields = args[3...]
        #expect(fields.startIndex == 3 && fields.count == 4)
        #expect(fields.map(\.bytes) == [bytes("a"), bytes("1"), bytes("b"), bytes("2")])
    }

    @Test func equalArgumentsHashAlike() {
        let one = RequestArguments([bytes("a"), bytes("bc")])
        let other = RequestArguments([bytes("ab"), bytes("c")])
        #expect(one != other, "same bytes, different boundaries")
        #expect(one == [bytes("a"), bytes("bc")])
        #expect(Set([one[1], RequestArgument(bytes("bc"))]).count == 1)
    }

    @Test func decodedRequestsShareOneBuffer() throws {
        var decoder = RESPRequestDecoder()
        decoder.append(bytes("*3\r\n$4\r\nXADD\r\n$1\r\ns\r\n$0\r\n\r\n"))
        let args = try #require(try decoder.next())
        #expect(args.buffer == bytes("XADDs"))
        #expect(args.arrays == [bytes("XADD"), bytes("s"), []])
    }
}
