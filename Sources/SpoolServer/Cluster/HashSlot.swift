/// Redis Cluster's key → hash slot function (`keyHashSlot` in Redis's cluster.c), bit for bit.
///
/// Cluster clients (redis-py's RedisCluster, redis-cli -c, Lettuce, go-redis) compute the slot of
/// every key themselves and send the command straight to the node their slot map names, so Spool
/// must agree with them on every byte: a key Spool places in another slot than the client would be
/// MOVED back and forth forever.
///
/// The slot is the CRC16 (XMODEM: polynomial 0x1021, initial value 0, no reflection, no final XOR —
/// Redis's crc16.c) of the key, or of its hash tag, modulo 16384. The hash tag is the part between
/// the first `{` and the first `}` after it, when that part is not empty; it lets related keys
/// (`{user1000}.following`, `{user1000}.followers`) share a slot, and so a shard, so that
/// multi-key commands on them are not CROSSSLOT.
///
/// Works on any byte collection (an array, an `ArraySlice`, a view into a request's buffer)
/// without copying it.
enum HashSlot {
    /// Redis Cluster's slot count (`CLUSTER_SLOTS`). Fixed by the protocol: clients hard-code it.
    static let count = 16384

    /// The slot Redis assigns to `key`, in 0..<16384.
    static func slot(forKey key: some Collection<UInt8>) -> Int {
        // 16384 is a power of two, so the remainder is the low 14 bits, as Redis writes it.
        Int(crc16(hashedPart(of: key)) & 0x3FFF)
    }

    /// The bytes the slot is computed from: the hash tag if the key has a non-empty one, else the
    /// whole key. `foo{}{bar}` hashes whole (the first tag is empty; later braces do not count),
    /// `foo{{bar}}zap` hashes `{bar` (the tag runs from the first `{` to the first `}` after it).
    static func hashedPart<Key: Collection<UInt8>>(of key: Key) -> Key.SubSequence {
        guard let open = key.firstIndex(of: openingBrace) else { return key[...] }
        let tagStart = key.index(after: open)
        guard let close = key[tagStart...].firstIndex(of: closingBrace), close != tagStart else {
            return key[...]
        }
        return key[tagStart..<close]
    }

    /// CRC16/XMODEM, as Redis's `crc16()`: "123456789" gives 0x31C3.
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        if let crc = bytes.withContiguousStorageIfAvailable({ crc16(contiguous: $0) }) {
            return crc
        }
        var crc: UInt16 = 0
        for byte in bytes { crc = step(crc, byte) }
        return crc
    }

    private static func crc16(contiguous bytes: UnsafeBufferPointer<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes { crc = step(crc, byte) }
        return crc
    }

    @inline(__always)
    private static func step(_ crc: UInt16, _ byte: UInt8) -> UInt16 {
        (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
    }

    /// Redis's `crc16tab`, computed from the polynomial rather than copied, so that a typo in 256
    /// constants cannot hide; the tests compare entries with Redis's table.
    static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ polynomial : crc << 1
        }
        return crc
    }

    private static let polynomial: UInt16 = 0x1021
    private static let openingBrace = UInt8(ascii: "{")
    private static let closingBrace = UInt8(ascii: "}")
}
