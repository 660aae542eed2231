import COpenSSL

/// Passwords are kept as SHA-256 digests in lower-case hex, as Redis keeps them (`#<hex>` in
/// ACL LIST and the ACL file): the clear text is never stored or shown.
enum PasswordHash {
    static let hexLength = 64

    static func sha256Hex(_ bytes: some Collection<UInt8>) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        let input = Array(bytes)
        input.withUnsafeBufferPointer { buffer in
            digest.withUnsafeMutableBufferPointer { out in
                // SHA256 cannot fail on memory it was given.
                _ = SHA256(buffer.baseAddress, buffer.count, out.baseAddress)
            }
        }
        return hex(digest)
    }

    /// Whether `text` is a digest as `#` rules take it: 64 hex digits, lower or upper case.
    static func isDigest(_ text: some Collection<UInt8>) -> Bool {
        text.count == hexLength && text.allSatisfy { isHexDigit($0) }
    }

    /// Compares two digests in time that depends only on their length.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return x.withUnsafeBytes { xb in y.withUnsafeBytes { yb in CRYPTO_memcmp(xb.baseAddress, yb.baseAddress, x.count) == 0 } }
    }

    /// `count` bytes from OpenSSL's generator (ACL GENPASS).
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "the system's random generator failed")
        return bytes
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (97...102).contains(byte) || (65...70).contains(byte)
    }
}
