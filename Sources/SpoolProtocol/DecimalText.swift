/// Hand-written number parsing and formatting: the decoders run these once per header line, and
/// going through `String` would allocate for every command.
enum DecimalText {
    /// Redis's `string2ll`: optional '-', no '+', no leading zeros, no "-0", fewer than 21 bytes.
    /// Being exactly as strict as Redis means a request Redis rejects is rejected here too.
    static func parseStrict(_ bytes: [UInt8], from start: Int, to end: Int) -> Int64? {
        let count = end - start
        guard count > 0, count < 21 else { return nil }
        if count == 1 && bytes[start] == ASCII.zero { return 0 }
        var index = start
        let isNegative = bytes[index] == ASCII.minus
        if isNegative {
            index += 1
            guard index < end else { return nil }
        }
        guard bytes[index] > ASCII.zero && bytes[index] <= ASCII.nine else { return nil }
        return accumulate(bytes, from: index, to: end, isNegative: isNegative)
    }

    /// The RESP3 grammar for reply integers: optional sign, then digits. Servers other than Redis
    /// may send "+5" or "007", and a client should take them.
    static func parseLenient(_ bytes: [UInt8], from start: Int, to end: Int) -> Int64? {
        var index = start
        guard index < end else { return nil }
        var isNegative = false
        if bytes[index] == ASCII.minus || bytes[index] == ASCII.plus {
            isNegative = bytes[index] == ASCII.minus
            index += 1
        }
        guard index < end else { return nil }
        return accumulate(bytes, from: index, to: end, isNegative: isNegative)
    }

    @inline(__always)
    private static func accumulate(
        _ bytes: [UInt8], from start: Int, to end: Int, isNegative: Bool
    ) -> Int64? {
        var magnitude: UInt64 = 0
        for index in start..<end {
            let digit = bytes[index] &- ASCII.zero
            guard digit <= 9 else { return nil }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            guard !overflow1 && !overflow2 else { return nil }
            magnitude = sum
        }
        if isNegative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    static func append(_ value: Int64, to bytes: inout [UInt8]) {
        if value >= 0 && value < 10 {
            bytes.append(ASCII.zero &+ UInt8(truncatingIfNeeded: value))
            return
        }
        if value < 0 { bytes.append(ASCII.minus) }
        append(value.magnitude, to: &bytes)
    }

    static func append(_ magnitude: UInt64, to bytes: inout [UInt8]) {
        var digitCount = 1
        var rest = magnitude
        while rest >= 10 {
            rest /= 10
            digitCount += 1
        }
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(ASCII.zero, count: digitCount))
        var remaining = magnitude
        var index = start + digitCount - 1
        while true {
            bytes[index] = ASCII.zero &+ UInt8(truncatingIfNeeded: remaining % 10)
            remaining /= 10
            if remaining == 0 { break }
            index -= 1
        }
    }

    static func append(_ value: Int, to bytes: inout [UInt8]) {
        append(Int64(value), to: &bytes)
    }

    /// Redis's `d2string` spelling: "nan", "inf", "-inf", "-0", integers without a fraction, and
    /// otherwise the shortest round-tripping digits laid out the way Redis's `fpconv_dtoa` does
    /// (plain notation for moderate exponents, "1.5e+300" with no exponent padding otherwise).
    /// Matching Redis byte for byte lets clients' tests against Redis pass against Spool.
    static func redisSpelling(of value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0" : "0" }
        // Redis's double2ll: integers within ±LLONG_MAX/2 print as integers.
        let integerBound = Double(Int64.max / 2)
        if value >= -integerBound && value <= integerBound, value == value.rounded(.towardZero) {
            return String(Int64(value))
        }
        let (isNegative, digits, exponent) = shortestDigits(of: value)
        return fpconvLayout(isNegative: isNegative, digits: digits, exponent: exponent)
    }

    /// Swift's `description` is shortest-round-trip, as fpconv's Grisu output is meant to be; take
    /// its digits and exponent apart so the layout can follow fpconv's rules instead of Swift's.
    /// Returns the value as `digits × 10^exponent` with no leading or trailing zeros in `digits`.
    private static func shortestDigits(of value: Double) -> (Bool, [UInt8], Int) {
        var text = Array(value.magnitude.description.utf8)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == 0x65 || $0 == 0x45 }) {
            let exponentText = String(decoding: text[(e + 1)...], as: UTF8.self)
            exponent = Int(exponentText) ?? 0
            text.removeSubrange(e...)
        }
        var digits: [UInt8] = []
        digits.reserveCapacity(text.count)
        var seenDot = false
        for byte in text {
            if byte == ASCII.dot {
                seenDot = true
            } else {
                digits.append(byte)
                if seenDot { exponent -= 1 }
            }
        }
        while digits.count > 1, digits.first == ASCII.zero { digits.removeFirst() }
        while digits.count > 1, digits.last == ASCII.zero {
            digits.removeLast()
            exponent += 1
        }
        return (value < 0, digits, exponent)
    }

    /// fpconv's `emit_digits`, where `exponent` is its K.
    private static func fpconvLayout(isNegative: Bool, digits: [UInt8], exponent k: Int) -> String {
        var out: [UInt8] = []
        if isNegative { out.append(ASCII.minus) }
        let digitCount = digits.count
        let scientificExponent = abs(k + digitCount - 1)
        if k >= 0 && scientificExponent < digitCount + 7 {
            out += digits
            out += repeatElement(ASCII.zero, count: k)
        } else if k < 0 && (k > -7 || scientificExponent < 4) {
            let offset = digitCount - (-k)
            if offset <= 0 {
                out += [ASCII.zero, ASCII.dot]
                out += repeatElement(ASCII.zero, count: -offset)
                out += digits
            } else {
                out += digits[..<offset]
                out.append(ASCII.dot)
                out += digits[offset...]
            }
        } else {
            out.append(digits[0])
            if digitCount > 1 {
                out.append(ASCII.dot)
                out += digits[1...]
            }
            out.append(0x65)  // 'e'
            out.append(k + digitCount - 1 < 0 ? ASCII.minus : ASCII.plus)
            out += Array(String(scientificExponent).utf8)
        }
        return String(decoding: out, as: UTF8.self)
    }
}
