import SpoolCore
import SpoolProtocol

/// One request: a command name and its arguments, sent as a RESP array of bulk strings (the form
/// every Redis-compatible server accepts, whatever protocol version the connection speaks).
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible {
    public private(set) var arguments: [[UInt8]]

    public init(_ name: String, _ arguments: String...) {
        self.arguments = [Array(name.utf8)] + arguments.map { Array($0.utf8) }
    }

    public init(arguments: [[UInt8]]) {
        precondition(!arguments.isEmpty, "a command has at least its name")
        self.arguments = arguments
    }

    public mutating func append(_ argument: String) { arguments.append(Array(argument.utf8)) }
    public mutating func append(_ argument: [UInt8]) { arguments.append(argument) }
    public mutating func append(_ argument: Int) { arguments.append(Array(String(argument).utf8)) }
    public mutating func append(_ argument: UInt64) { arguments.append(Array(String(argument).utf8)) }
    public mutating func append(_ argument: EntryID) { arguments.append(argument.bytes) }

    /// The command name, upper-cased, for error messages.
    public var name: String { String(decoding: arguments[0], as: UTF8.self).uppercased() }

    public var description: String {
        arguments.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// The bytes on the wire.
    public var encoded: [UInt8] {
        var writer = RESPWriter(version: .resp2, reservingCapacity: 16 + arguments.reduce(0) { $0 + $1.count + 16 })
        encode(into: &writer)
        return writer.bytes
    }

    public func encode(into writer: inout RESPWriter) {
        writer.arrayHeader(arguments.count)
        for argument in arguments { writer.bulk(argument) }
    }
}
