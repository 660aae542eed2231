import SpoolCore
/// IDMPAUTO's idempotent id: a 128-bit digest of an entry's field-value pairs that does not depend
/// on their order (Redis hashes each pair and combines them so), stable across restarts (it is
/// stored). Each pair is hashed with two differently seeded FNV-1a passes over length-prefixed
/// bytes and a final mix; the pairs' hashes are added.
enum FieldSetHash {
    static func digest(_ fields: some ByteStrings) -> [UInt8] {
        var low: UInt64 = 0
        var high: UInt64 = 0
        var index = fields.startIndex
        while index + 1 < fields.endIndex {
            let pair = (fields[index], fields[index + 1])
            low = low &+ hash(pair, seed: 0xcbf2_9ce4_8422_2325)
            high = high &+ hash(pair, seed: 0x9e37_79b9_7f4a_7c15)
            index += 2
        }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        withUnsafeBytes(of: low.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: high.bigEndian) { out.append(contentsOf: $0) }
        return out
    }

    private static func hash<Part: ByteString>(_ pair: (Part, Part), seed: UInt64) -> UInt64 {
        var value = seed
        func mix(_ byte: UInt8) {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01b3
        }
        for part in [pair.0, pair.1] {
            var length = UInt32(part.count).littleEndian
            withUnsafeBytes(of: &length) { for byte in $0 { mix(byte) } }
            for byte in part { mix(byte) }
        }
        // fmix64 (MurmurHash3): every input bit reaches every output bit.
        value ^= value >> 33
        value = value &* 0xff51_afd7_ed55_8ccd
        value ^= value >> 33
        value = value &* 0xc4ce_b9fe_1a85_ec53
        value ^= value >> 33
        return value
    }
}
