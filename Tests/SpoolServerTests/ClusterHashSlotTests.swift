import Testing
@testable import SpoolServer

/// Redis Cluster's key hash slot, checked against Redis: golden vectors from redis.io (CLUSTER
/// KEYSLOT's examples, the cluster specification's hash-tag rules) and from CLUSTER KEYSLOT on a
/// real redis-server 7.0.15 in cluster mode.
@Suite struct ClusterHashSlotTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let key: [UInt8]
        let slot: Int
        var testDescription: String { "\(String(decoding: key, as: UTF8.self)) → \(slot)" }

        init(_ key: String, _ slot: Int) {
            self.key = Array(key.utf8)
            self.slot = slot
        }

        init(bytes: [UInt8], _ slot: Int) {
            self.key = bytes
            self.slot = slot
        }
    }

    static let goldenVectors: [Vector] = [
        // redis.io, CLUSTER KEYSLOT.
        Vector("somekey", 11058),
        Vector("foo{hash_tag}", 2515),
        Vector("bar{hash_tag}", 2515),
        // redis-server 7.0.15, CLUSTER KEYSLOT.
        Vector("foo", 12182),
        Vector("bar", 5061),
        Vector("{user1000}.following", 3443),
        Vector("{user1000}.followers", 3443),
        Vector("user1000", 3443),
        Vector("foo{}{bar}", 8363),
        Vector("foo{{bar}}zap", 4015),
        Vector("{bar", 4015),
        Vector("foo{bar}{zap}", 5061),
        Vector("", 0),
        Vector("{", 4092),
        Vector("}", 12090),
        Vector("{}", 15257),
        Vector("{{}}", 4092),
        Vector("a{b}c", 3300),
        Vector("{a}{b}", 15495),
        Vector("}{a}", 15495),
        Vector("x{}y{z}", 15453),
        Vector(bytes: [0xC3], 10543),
        Vector("123456789", 12739),
        Vector("user:info{1}", 9842),
        Vector("{user1}.following", 8106),
        Vector("fyimk7v1CgnBo", 0),
        Vector("8HMdi", 1),
        Vector("IQhHSeAVHI", 2),
        // docs.rs redis-protocol, checked there against CLUSTER KEYSLOT.
        Vector("8xjx7vWrfPq54mKfFD3Y1CcjjofpnAcQ", 5458),
    ]

    @Test(arguments: goldenVectors)
    func slotMatchesRedisClusterKeyslot(_ vector: Vector) {
        #expect(HashSlot.slot(forKey: vector.key) == vector.slot)
    }

    @Test func crc16IsXmodemAsInRedisCrc16C() {
        // crc16.c's header: "Output for "123456789" : 31C3".
        #expect(HashSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(HashSlot.crc16([UInt8]()) == 0)
        // Rows of Redis's crc16tab.
        #expect(Array(HashSlot.table[0..<8]) == [0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7])
        #expect(Array(HashSlot.table[128..<136]) == [0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f])
        #expect(Array(HashSlot.table[248..<256]) == [0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0])
    }

    /// The cluster specification's examples under "Hash tags".
    @Test func hashTagIsBetweenFirstOpeningBraceAndNextClosingBraceWhenNotEmpty() {
        func hashed(_ key: String) -> String {
            String(decoding: HashSlot.hashedPart(of: Array(key.utf8)), as: UTF8.self)
        }
        #expect(hashed("{user1000}.following") == "user1000")
        #expect(hashed("{user1000}.followers") == "user1000")
        #expect(hashed("foo{}{bar}") == "foo{}{bar}")
        #expect(hashed("foo{{bar}}zap") == "{bar")
        #expect(hashed("foo{bar}{zap}") == "bar")
        #expect(hashed("no tag") == "no tag")
        #expect(hashed("unclosed{tag") == "unclosed{tag")
        #expect(hashed("}closed{first") == "}closed{first")
        #expect(HashSlot.slot(forKey: Array("{user1000}.following".utf8)) == HashSlot.slot(forKey: Array("{user1000}.followers".utf8)))
    }

    /// A key is often a view into a request's buffer: the slot must not depend on where the view
    /// starts, nor on whether the bytes are contiguous.
    @Test func slotOfAViewEqualsSlotOfACopy() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("ab{}xyz01".utf8)
        for _ in 0..<500 {
            let length = Int.random(in: 0...24, using: &generator)
            let key = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let buffer = [0x7B, 0x7D, 0x41] + key + [0x7D, 0x7B]
            let view = buffer[3..<(3 + key.count)]
            let nonContiguous = key.reversed().reversed()
            #expect(HashSlot.slot(forKey: view) == HashSlot.slot(forKey: key))
            #expect(HashSlot.slot(forKey: nonContiguous) == HashSlot.slot(forKey: key))
            #expect(HashSlot.crc16(nonContiguous) == HashSlot.crc16(key))
            #expect((0..<HashSlot.count).contains(HashSlot.slot(forKey: key)))
        }
    }
}
