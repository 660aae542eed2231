/// Error replies with Redis's exact wording, so clients that match on text keep working.
/// docs/protocol.md lists every code.
enum CommandError {
    static let syntax = "ERR syntax error"
    static let invalidStreamID = "ERR Invalid stream ID specified as stream command argument"
    static let notInteger = "ERR value is not an integer or out of range"
    static let noSuchKey = "ERR no such key"
    static let noAuth = "NOAUTH Authentication required."
    static let wrongPass = "WRONGPASS invalid username-password pair or user is disabled."
    static let xaddZeroID = "ERR The ID specified in XADD must be greater than 0-0"
    static let xaddTooSmall = "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    static let limitWithoutTilde = "ERR syntax error, LIMIT cannot be used without the special ~ option"

    static func arity(_ name: String) -> String {
        "ERR wrong number of arguments for '\(name.lowercased())' command"
    }

    /// Redis 7's unknown-command message, arguments quoted and cut like Redis cuts them.
    static func unknownCommand(_ args: [[UInt8]]) -> String {
        let name = String(decoding: args[0].prefix(128), as: UTF8.self)
        var text = "ERR unknown command '\(name)', with args beginning with: "
        for arg in args.dropFirst() {
            if text.count >= 128 { break }
            text += "'\(String(decoding: arg.prefix(128 - min(text.count, 128)), as: UTF8.self))' "
        }
        return text
    }
}

extension Array where Element == UInt8 {
    /// ASCII case-insensitive comparison with an upper-case keyword.
    @inline(__always)
    func isKeyword(_ upper: StaticString) -> Bool {
        guard count == upper.utf8CodeUnitCount else { return false }
        let pointer = upper.utf8Start
        for i in 0..<count {
            var byte = self[i]
            if byte >= 97 && byte <= 122 { byte -= 32 }
            if byte != pointer[i] { return false }
        }
        return true
    }

    var uppercasedASCII: String {
        String(decoding: map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }, as: UTF8.self)
    }

    var asString: String { String(decoding: self, as: UTF8.self) }

    /// A strict base-10 Int64 as Redis's string2ll reads it.
    var asInt64: Int64? {
        guard !isEmpty, count <= 20 else { return nil }
        var index = 0
        var negative = false
        if self[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
            guard count > 1 else { return nil }
        }
        if self[index] == UInt8(ascii: "0") && count > index + 1 { return nil }
        var value: Int64 = 0
        while index < count {
            let byte = self[index]
            guard byte >= 48 && byte <= 57 else { return nil }
            let digit = Int64(byte - 48)
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(digit) : m.addingReportingOverflow(digit)
            if o1 || o2 { return nil }
            value = a
            index += 1
        }
        return value
    }
}
