import SpoolCore
import SpoolProtocol
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
    static let limitWithoutStrategy = "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"
    static let maxLengthAndMinimumID = "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
    static let xtrimWithoutStrategy = "ERR syntax error, XTRIM must be called with a trimming strategy"
    static let maxLengthNegative = "ERR The MAXLEN argument must be >= 0."
    static let limitNegative = "ERR The LIMIT argument must be >= 0."
    /// Redis 7.2–7.4's text (7.0 said `XREAD`; only Redis 8 mentions `+` here).
    static let xreadUnbalanced =
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
    static let notAllowedInTransaction = "ERR Command not allowed inside a transaction"

    /// `name` is Redis's full name: `xadd`, or `client|setname` for a subcommand.
    static func arity(_ name: String) -> String {
        "ERR wrong number of arguments for '\(name.lowercased())' command"
    }

    /// A container command (CLIENT, CONFIG, COMMAND, XINFO) with a subcommand it does not have.
    static func unknownSubcommand<Arguments: RandomAccessCollection>(_ args: Arguments) -> String
    where Arguments.Index == Int, Arguments.Element: ByteString {
        "ERR unknown subcommand '\(subcommandName(args))'. Try \(args[0].uppercasedASCII) HELP."
    }

    /// A known subcommand whose options do not parse (Redis's addReplySubcommandSyntaxError).
    static func subcommandSyntax<Arguments: RandomAccessCollection>(_ args: Arguments) -> String
    where Arguments.Index == Int, Arguments.Element: ByteString {
        "ERR unknown subcommand or wrong number of arguments for '\(subcommandName(args))'. Try \(args[0].uppercasedASCII) HELP."
    }

    /// The subcommand as the client wrote it, cut at 128 bytes as Redis cuts it.
    private static func subcommandName<Arguments: RandomAccessCollection>(_ args: Arguments) -> String
    where Arguments.Index == Int, Arguments.Element: ByteString {
        String(decoding: args[1].prefix(128), as: UTF8.self)
    }

    /// Redis 7's unknown-command message, arguments quoted and cut like Redis cuts them.
    static func unknownCommand<Arguments: RandomAccessCollection>(_ args: Arguments) -> String
    where Arguments.Index == Int, Arguments.Element: ByteString {
        let name = String(decoding: args[0].prefix(128), as: UTF8.self)
        var text = "ERR unknown command '\(name)', with args beginning with: "
        for arg in args.dropFirst() {
            if text.count >= 128 { break }
            text += "'\(String(decoding: arg.prefix(128 - min(text.count, 128)), as: UTF8.self))' "
        }
        return text
    }
}

extension ByteString {
    /// ASCII case-insensitive comparison with an upper-case keyword.
    @inline(__always)
    func isKeyword(_ upper: StaticString) -> Bool {
        guard count == upper.utf8CodeUnitCount else { return false }
        let pointer = upper.utf8Start
        for i in 0..<count {
            var byte = self[startIndex + i]
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
        var index = startIndex
        var negative = false
        if self[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
            guard count > 1 else { return nil }
        }
        if self[index] == UInt8(ascii: "0") && endIndex > index + 1 { return nil }
        var value: Int64 = 0
        while index < endIndex {
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

/// An error reply's text, as a value that can travel in a Result.
struct CommandErrorText: Error {
    let text: String
    init(_ text: String) { self.text = text }
}

extension Result where Failure == CommandErrorText {
    /// A failed parse whose reply is this error text.
    static func failure(_ text: String) -> Self { .failure(CommandErrorText(text)) }
}
