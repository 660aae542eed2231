import SpoolCore
import SpoolProtocol

/// XINFO STREAM, the fields every Redis 7 server reports.
public struct StreamInfo: Sendable, Equatable {
    public var length: Int
    public var lastGeneratedID: EntryID
    public var maxDeletedEntryID: EntryID?
    public var entriesAdded: Int?
    public var groups: Int
    public var firstEntry: Entry?
    public var lastEntry: Entry?

    /// Decodes the reply (RESP2 or RESP3) of the command this type describes.
    public init(_ reply: RESPValue) throws(SpoolClientError) {
        guard let map = reply.fieldMap, let length = map["length"]?.integer,
            let last = map["last-generated-id"]?.entryID
        else { throw .unexpectedReply(command: "XINFO STREAM", reply: reply.summary) }
        self.length = Int(length)
        lastGeneratedID = last
        maxDeletedEntryID = map["max-deleted-entry-id"]?.entryID
        entriesAdded = map["entries-added"]?.integer.map(Int.init)
        groups = Int(map["groups"]?.integer ?? 0)
        firstEntry = map["first-entry"]?.entry
        lastEntry = map["last-entry"]?.entry
    }
}

/// One consumer group as XINFO GROUPS reports it.
public struct GroupInfo: Sendable, Equatable {
    public var name: String
    public var consumers: Int
    public var pending: Int
    public var lastDeliveredID: EntryID
    /// Entries read by the group; nil when the server cannot tell (after XSETID without it).
    public var entriesRead: Int?
    /// Entries not yet delivered to the group; nil when the server cannot tell.
    public var lag: Int?

    /// Decodes the reply (RESP2 or RESP3) of the command this type describes.
    public init(_ reply: RESPValue) throws(SpoolClientError) {
        guard let map = reply.fieldMap, let name = map["name"]?.text,
            let last = map["last-delivered-id"]?.entryID
        else { throw .unexpectedReply(command: "XINFO GROUPS", reply: reply.summary) }
        self.name = name
        consumers = Int(map["consumers"]?.integer ?? 0)
        pending = Int(map["pending"]?.integer ?? 0)
        lastDeliveredID = last
        entriesRead = map["entries-read"]?.integer.map(Int.init)
        lag = map["lag"]?.integer.map(Int.init)
    }
}

/// One consumer of a group as XINFO CONSUMERS reports it.
public struct ConsumerInfo: Sendable, Equatable {
    public var name: String
    public var pending: Int
    /// Milliseconds since the consumer last read or claimed.
    public var idleMilliseconds: Int
    /// Milliseconds since the consumer's last successful read (Redis 7.2+); nil otherwise.
    public var inactiveMilliseconds: Int?

    /// Decodes the reply (RESP2 or RESP3) of the command this type describes.
    public init(_ reply: RESPValue) throws(SpoolClientError) {
        guard let map = reply.fieldMap, let name = map["name"]?.text else {
            throw .unexpectedReply(command: "XINFO CONSUMERS", reply: reply.summary)
        }
        self.name = name
        pending = Int(map["pending"]?.integer ?? 0)
        idleMilliseconds = Int(map["idle"]?.integer ?? 0)
        inactiveMilliseconds = map["inactive"]?.integer.map(Int.init)
    }
}

/// XPENDING's summary form.
public struct PendingSummary: Sendable, Equatable {
    public var count: Int
    public var lowestID: EntryID?
    public var highestID: EntryID?
    /// Pending entries per consumer.
    public var consumers: [String: Int]

    /// Decodes the reply (RESP2 or RESP3) of the command this type describes.
    public init(_ reply: RESPValue) throws(SpoolClientError) {
        guard let parts = reply.elements, parts.count == 4, let count = parts[0].integer else {
            throw .unexpectedReply(command: "XPENDING", reply: reply.summary)
        }
        self.count = Int(count)
        lowestID = parts[1].entryID
        highestID = parts[2].entryID
        var consumers: [String: Int] = [:]
        for item in parts[3].elements ?? [] {
            if let pair = item.elements, pair.count == 2, let name = pair[0].text, let n = pair[1].integer {
                consumers[name] = Int(n)
            }
        }
        self.consumers = consumers
    }
}

/// One entry of a pending-entries list: delivered, not yet acknowledged.
public struct PendingEntry: Sendable, Equatable {
    public var id: EntryID
    public var consumer: String
    /// Milliseconds since it was last delivered.
    public var idleMilliseconds: Int
    public var deliveryCount: Int

    /// Decodes the reply (RESP2 or RESP3) of the command this type describes.
    public init(_ reply: RESPValue) throws(SpoolClientError) {
        guard let parts = reply.elements, parts.count == 4, let id = parts[0].entryID, let consumer = parts[1].text,
            let idle = parts[2].integer, let count = parts[3].integer
        else { throw .unexpectedReply(command: "XPENDING", reply: reply.summary) }
        self.id = id
        self.consumer = consumer
        idleMilliseconds = Int(idle)
        deliveryCount = Int(count)
    }
}

/// XAUTOCLAIM's answer.
public struct AutoClaimResult: Sendable, Equatable {
    /// Where the next scan starts; 0-0 when the whole list was scanned.
    public var nextStart: EntryID
    public var entries: [Entry]
    /// Pending ids whose entries no longer exist; the server removed them from the list.
    public var deletedIDs: [EntryID]
}

/// INFO as sections of fields, in the order the server sent them.
public struct ServerInfo: Sendable, Equatable {
    public var sections: [(name: String, fields: [(key: String, value: String)])]

    public init(text: String) {
        var sections: [(name: String, fields: [(key: String, value: String)])] = []
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw[...]
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                sections.append((line.dropFirst().trimmingLeadingSpaces.lowercased(), []))
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            if sections.isEmpty { sections.append(("", [])) }
            sections[sections.count - 1].fields.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        self.sections = sections
    }

    /// The first field called `key` in any section.
    public subscript(key: String) -> String? {
        for section in sections {
            if let field = section.fields.first(where: { $0.key == key }) { return field.value }
        }
        return nil
    }

    public func integer(_ key: String) -> Int64? { self[key].flatMap { Int64($0) } }
    public func double(_ key: String) -> Double? { self[key].flatMap { Double($0) } }

    /// Spool reports `spool_version`; Redis does not.
    public var isSpool: Bool { self["spool_version"] != nil }

    public static func == (lhs: ServerInfo, rhs: ServerInfo) -> Bool {
        lhs.sections.count == rhs.sections.count
            && zip(lhs.sections, rhs.sections).allSatisfy { a, b in
                a.name == b.name && a.fields.count == b.fields.count
                    && zip(a.fields, b.fields).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            }
    }
}

extension Substring {
    fileprivate var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}

/// What a negative acknowledgement (XNACK) says about the delivery it gives back.
public enum NackMode: String, Sendable, CaseIterable {
    /// The delivery did not count (the consumer is shutting down).
    case silent = "SILENT"
    /// Processing failed: the delivery counts.
    case fail = "FAIL"
    /// The entry must not be delivered again (a group with a dead-letter policy dead-letters it).
    case fatal = "FATAL"
}
