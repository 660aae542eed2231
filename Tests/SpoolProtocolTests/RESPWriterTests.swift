import SpoolProtocol
import Testing

/// One writer call and the exact bytes it must produce for each protocol version.
struct WriterGoldenVector: Sendable, CustomTestStringConvertible {
    let name: String
    let write: @Sendable (inout RESPWriter) -> Void
    let resp2: String
    let resp3: String

    init(
        _ name: String, resp2: String, resp3: String,
        _ write: @escaping @Sendable (inout RESPWriter) -> Void
    ) {
        self.name = name
        self.write = write
        self.resp2 = resp2
        self.resp3 = resp3
    }

    init(_ name: String, both: String, _ write: @escaping @Sendable (inout RESPWriter) -> Void) {
        self.init(name, resp2: both, resp3: both, write)
    }

    var testDescription: String { name }
}

let writerGoldenVectors: [WriterGoldenVector] = [
    .init("simple string", both: "+OK\r\n") { $0.simpleString("OK") },
    .init("simple string with CR and LF", both: "+a b c\r\n") { $0.simpleString("a\rb\nc") },
    .init("empty simple string", both: "+\r\n") { $0.simpleString("") },
    .init("error", both: "-ERR unknown command\r\n") { $0.error("ERR unknown command") },
    .init("error with CRLF", both: "-ERR bad  input\r\n") { $0.error("ERR bad\r\ninput") },
    .init("protocol error", both: "-ERR Protocol error: expected '$', got ' '\r\n") {
        $0.error(RESPProtocolError(message: "Protocol error: expected '$', got '\r'"))
    },
    .init("integer zero", both: ":0\r\n") { $0.integer(0) },
    .init("integer", both: ":1234567890\r\n") { $0.integer(1_234_567_890) },
    .init("negative integer", both: ":-1\r\n") { $0.integer(-1) },
    .init("Int64.max", both: ":9223372036854775807\r\n") { $0.integer(.max) },
    .init("Int64.min", both: ":-9223372036854775808\r\n") { $0.integer(.min) },
    .init("bulk bytes", both: "$3\r\nfoo\r\n") { $0.bulk([0x66, 0x6F, 0x6F]) },
    .init("binary bulk", both: "$4\r\n\r\n\0\u{7F}\r\n") { $0.bulk([13, 10, 0, 0x7F]) },
    .init("empty bulk", both: "$0\r\n\r\n") { $0.bulk([UInt8]()) },
    .init("bulk string counts UTF-8 bytes", both: "$6\r\nhéllo\r\n") { $0.bulk("héllo") },
    .init("empty bulk string", both: "$0\r\n\r\n") { $0.bulk("") },
    .init("bulk raw buffer", both: "$5\r\nhello\r\n") { writer in
        Array("hello".utf8).withUnsafeBytes { writer.bulk($0) }
    },
    .init("null bulk", resp2: "$-1\r\n", resp3: "_\r\n") { $0.nullBulk() },
    .init("null array", resp2: "*-1\r\n", resp3: "_\r\n") { $0.nullArray() },
    .init("array header", both: "*3\r\n") { $0.arrayHeader(3) },
    .init("empty array header", both: "*0\r\n") { $0.arrayHeader(0) },
    .init("map header", resp2: "*4\r\n", resp3: "%2\r\n") { $0.mapHeader(2) },
    .init("empty map header", resp2: "*0\r\n", resp3: "%0\r\n") { $0.mapHeader(0) },
    .init("set header", resp2: "*5\r\n", resp3: "~5\r\n") { $0.setHeader(5) },
    .init("push header", resp2: "*3\r\n", resp3: ">3\r\n") { $0.pushHeader(3) },
    .init("double", resp2: "$3\r\n1.5\r\n", resp3: ",1.5\r\n") { $0.double(1.5) },
    .init("integral double", resp2: "$1\r\n3\r\n", resp3: ",3\r\n") { $0.double(3) },
    .init("negative zero", resp2: "$2\r\n-0\r\n", resp3: ",-0\r\n") { $0.double(-0.0) },
    .init("infinity", resp2: "$3\r\ninf\r\n", resp3: ",inf\r\n") { $0.double(.infinity) },
    .init("negative infinity", resp2: "$4\r\n-inf\r\n", resp3: ",-inf\r\n") {
        $0.double(-.infinity)
    },
    .init("nan", resp2: "$3\r\nnan\r\n", resp3: ",nan\r\n") { $0.double(.nan) },
    .init("true", resp2: ":1\r\n", resp3: "#t\r\n") { $0.boolean(true) },
    .init("false", resp2: ":0\r\n", resp3: "#f\r\n") { $0.boolean(false) },
    .init("verbatim", resp2: "$5\r\nhello\r\n", resp3: "=9\r\ntxt:hello\r\n") {
        $0.verbatim("hello")
    },
    .init("markdown verbatim", resp2: "$2\r\n# \r\n", resp3: "=6\r\nmkd:# \r\n") {
        $0.verbatim("# ", format: "mkd")
    },
    .init("verbatim bytes", resp2: "$2\r\n\r\n\r\n", resp3: "=6\r\ntxt:\r\n\r\n") {
        $0.verbatim([13, 10])
    },
    .init(
        "big number", resp2: "$43\r\n3492890328409238509324850943850943825024385\r\n",
        resp3: "(3492890328409238509324850943850943825024385\r\n"
    ) {
        $0.bigNumber("3492890328409238509324850943850943825024385")
    },
    .init("remove all", both: ":2\r\n") { writer in
        writer.integer(1)
        writer.removeAll(keepingCapacity: true)
        writer.integer(2)
    },
    .init("append contents", both: "+a\r\n+b\r\n") { writer in
        var other = RESPWriter(version: writer.version)
        other.simpleString("b")
        writer.simpleString("a")
        writer.append(contentsOf: other)
    },
]

@Suite struct RESPWriterTests {
    @Test(arguments: writerGoldenVectors)
    func writerProducesGoldenBytesForRESP2(_ vector: WriterGoldenVector) {
        #expect(written(.resp2, vector.write) == vector.resp2)
    }

    @Test(arguments: writerGoldenVectors)
    func writerProducesGoldenBytesForRESP3(_ vector: WriterGoldenVector) {
        #expect(written(.resp3, vector.write) == vector.resp3)
    }

    /// Redis 7.2's `d2string` output (`fpconv_dtoa` layout, integers without a fraction).
    @Test(
        arguments: [
            (1.5, "1.5"), (3.0, "3"), (-2.5, "-2.5"), (0.5, "0.5"), (0.1, "0.1"), (0, "0"),
            (123456.789, "123456.789"), (0.001, "0.001"), (0.000001, "0.000001"),
            (1e-5, "0.00001"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (1.234e-5, "1.234e-5"),
            (1e16, "10000000000000000"), (1e20, "1e+20"), (1.2345e21, "1.2345e+21"),
            (9_223_372_036_854_775_808.0, "9223372036854776000"),
            (1_000_000_000_000_000.5, "1000000000000000.5"), (1e300, "1e+300"),
            (-1e300, "-1e+300"), (.leastNonzeroMagnitude, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (4_611_686_018_427_387_903.0, "4611686018427387904"),
        ] as [(Double, String)])
    func writerSpellsDoublesLikeRedis(_ value: Double, _ spelling: String) {
        #expect(written(.resp3) { $0.double(value) } == ",\(spelling)\r\n")
    }

    @Test func writerWritesNestedValuesWithRESP2Downgrades() {
        let value = RESPValue.array([
            .map([.init(.simpleString("a"), .set([.integer(1), .boolean(true)]))]),
            .null,
            .push([.double(2.5), .verbatim(format: "txt", text: bytes("hi"))]),
            .error("ERR x"),
            .bigNumber("-12"),
        ])
        #expect(
            written(.resp2) { $0.write(value) }
                == "*5\r\n*2\r\n+a\r\n*2\r\n:1\r\n:1\r\n$-1\r\n*2\r\n$3\r\n2.5\r\n$2\r\nhi\r\n"
                + "-ERR x\r\n$3\r\n-12\r\n")
        #expect(
            written(.resp3) { $0.write(value) }
                == "*5\r\n%1\r\n+a\r\n~2\r\n:1\r\n#t\r\n_\r\n>2\r\n,2.5\r\n=6\r\ntxt:hi\r\n"
                + "-ERR x\r\n(-12\r\n")
    }

    @Test func writerFollowsVersionChangeMidStream() {
        var writer = RESPWriter(version: .resp2, reservingCapacity: 64)
        writer.nullBulk()
        writer.version = .resp3
        writer.nullBulk()
        #expect(String(decoding: writer.bytes, as: UTF8.self) == "$-1\r\n_\r\n")
    }

    @Test func writerKeepsCapacityWhenAsked() {
        var writer = RESPWriter(version: .resp3)
        writer.bulk(Array(repeating: 0x61, count: 4096))
        writer.removeAll(keepingCapacity: true)
        #expect(writer.bytes.isEmpty)
        #expect(writer.bytes.capacity >= 4096)
    }
}
