/// SHA-1 (FIPS 180-4), used only to derive a cluster node's 40-hex-digit id from its configured
/// name (`ClusterTopology.Node.id(forName:)`). Not for security: any stable 160-bit hash would do,
/// and SHA-1 is one every operator can recompute with `sha1sum` to match an id to a node.
///
/// Written here because SpoolServer links no crypto library and the id is needed on every node
/// without coordination: each computes every member's id from the shared member list.
enum SHA1 {
    /// The 20-byte digest of `message`.
    static func digest(of message: some Collection<UInt8>) -> [UInt8] {
        var state: (UInt32, UInt32, UInt32, UInt32, UInt32) =
            (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)

        // Padding: a 1 bit, zeros up to 56 bytes modulo 64, then the bit length, big-endian.
        var padded = Array(message)
        let bitLength = UInt64(padded.count) &* 8
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            padded.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }

        var schedule = [UInt32](repeating: 0, count: 80)
        for blockStart in stride(from: 0, to: padded.count, by: 64) {
            for index in 0..<16 {
                let byteIndex = blockStart + index * 4
                schedule[index] =
                    UInt32(padded[byteIndex]) << 24 | UInt32(padded[byteIndex + 1]) << 16
                    | UInt32(padded[byteIndex + 2]) << 8 | UInt32(padded[byteIndex + 3])
            }
            for index in 16..<80 {
                schedule[index] = rotatedLeft(
                    schedule[index - 3] ^ schedule[index - 8] ^ schedule[index - 14]
                        ^ schedule[index - 16], by: 1)
            }
            var (a, b, c, d, e) = state
            for index in 0..<80 {
                let mixed: UInt32
                let constant: UInt32
                switch index {
                case 0..<20:
                    mixed = (b & c) | (~b & d)
                    constant = 0x5A82_7999
                case 20..<40:
                    mixed = b ^ c ^ d
                    constant = 0x6ED9_EBA1
                case 40..<60:
                    mixed = (b & c) | (b & d) | (c & d)
                    constant = 0x8F1B_BCDC
                default:
                    mixed = b ^ c ^ d
                    constant = 0xCA62_C1D6
                }
                let next = rotatedLeft(a, by: 5) &+ mixed &+ e &+ constant &+ schedule[index]
                e = d
                d = c
                c = rotatedLeft(b, by: 30)
                b = a
                a = next
            }
            state = (state.0 &+ a, state.1 &+ b, state.2 &+ c, state.3 &+ d, state.4 &+ e)
        }

        var digest: [UInt8] = []
        digest.reserveCapacity(20)
        for word in [state.0, state.1, state.2, state.3, state.4] {
            for shift in stride(from: 24, through: 0, by: -8) {
                digest.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
            }
        }
        return digest
    }

    /// The digest as 40 lower-case hexadecimal digits.
    static func hexDigest(of message: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(40)
        for byte in digest(of: message) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    @inline(__always)
    private static func rotatedLeft(_ word: UInt32, by count: UInt32) -> UInt32 {
        (word << count) | (word >> (32 - count))
    }
}
