import SpoolCore
import SpoolProtocol

/// Reading replies without caring whether they came as RESP2 or RESP3: maps may arrive as flat
/// arrays, doubles and big numbers as bulk strings, verbatim text as bulk strings.
extension RESPValue {
    /// Bulk, simple and verbatim strings as text (UTF-8, invalid bytes replaced).
    public var text: String? {
        switch self {
        case .bulkString(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .simpleString(let text): return text
        case .verbatim(_, let bytes): return String(decoding: bytes, as: UTF8.self)
        case .integer(let n): return String(n)
        case .double(let d): return String(d)
        case .bigNumber(let digits): return digits
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let bytes): return bytes
        case .simpleString(let text): return Array(text.utf8)
        case .verbatim(_, let bytes): return bytes
        default: return nil
        }
    }

    /// Integers, and integers sent as strings (RESP2 sends some numbers as bulk strings).
    public var integer: Int64? {
        switch self {
        case .integer(let n): return n
        case .bulkString, .simpleString, .bigNumber: return text.flatMap { Int64($0) }
        case .double(let d): return d.isFinite ? Int64(exactly: d.rounded()) : nil
        case .boolean(let b): return b ? 1 : 0
        default: return nil
        }
    }

    public var elements: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): return elements
        default: return nil
        }
    }

    /// A RESP3 map, or a RESP2 flat array of key, value, key, value …
    public var pairs: [Pair]? {
        switch self {
        case .map(let pairs):
            return pairs
        case .array(let flat):
            guard flat.count % 2 == 0 else { return nil }
            return stride(from: 0, to: flat.count, by: 2).map { Pair(flat[$0], flat[$0 + 1]) }
        default:
            return nil
        }
    }

    /// `pairs` keyed by their text; later duplicates win.
    public var fieldMap: [String: RESPValue]? {
        guard let pairs else { return nil }
        var map: [String: RESPValue] = [:]
        for pair in pairs {
            if let key = pair.key.text { map[key] = pair.value }
        }
        return map
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var entryID: EntryID? {
        bytes.flatMap { EntryID(parsing: $0, missingSequence: .reject) }
    }

    /// One stream entry, `[id, [field, value, …]]`. A nil field list (an id still pending
    /// whose entry was deleted) gives an entry with no fields.
    public var entry: Entry? {
        guard let parts = elements, parts.count == 2, let id = parts[0].entryID else { return nil }
        if parts[1].isNull { return Entry(id: id, fields: []) }
        guard let flat = parts[1].elements, flat.count % 2 == 0 else { return nil }
        var fields: [[UInt8]] = []
        fields.reserveCapacity(flat.count)
        for field in flat {
            guard let bytes = field.bytes else { return nil }
            fields.append(bytes)
        }
        return Entry(id: id, fields: fields)
    }

    /// An array of entries; nil reply (RESP2 `*-1`) is an empty list.
    public var entries: [Entry]? {
        if isNull { return [] }
        guard let elements else { return nil }
        var entries: [Entry] = []
        entries.reserveCapacity(elements.count)
        for element in elements {
            guard let entry = element.entry else { return nil }
            entries.append(entry)
        }
        return entries
    }

    /// An XREAD / XREADGROUP reply: per stream, its entries. A timed-out block is empty.
    public var streamEntries: [(stream: String, entries: [Entry])]? {
        if isNull { return [] }
        let items: [(RESPValue, RESPValue)]
        if case .map(let pairs) = self {
            items = pairs.map { ($0.key, $0.value) }
        } else if let elements {
            var list: [(RESPValue, RESPValue)] = []
            for element in elements {
                guard let parts = element.elements, parts.count == 2 else { return nil }
                list.append((parts[0], parts[1]))
            }
            items = list
        } else {
            return nil
        }
        var result: [(stream: String, entries: [Entry])] = []
        for (name, value) in items {
            guard let stream = name.text, let entries = value.entries else { return nil }
            result.append((stream, entries))
        }
        return result
    }

    /// A short rendering for error messages.
    public var summary: String {
        let rendered: String
        switch self {
        case .simpleString(let s): rendered = "+\(s)"
        case .error(let s): rendered = "-\(s)"
        case .integer(let n): rendered = ":\(n)"
        case .bulkString(let b): rendered = "\"\(String(decoding: b.prefix(64), as: UTF8.self))\""
        case .null: rendered = "(nil)"
        case .array(let a): rendered = "[" + a.prefix(8).map(\.summary).joined(separator: ", ") + (a.count > 8 ? ", …]" : "]")
        case .map(let p): rendered = "{" + p.prefix(8).map { "\($0.key.summary): \($0.value.summary)" }.joined(separator: ", ") + "}"
        case .set(let a): rendered = "~[" + a.prefix(8).map(\.summary).joined(separator: ", ") + "]"
        case .double(let d): rendered = "\(d)"
        case .boolean(let b): rendered = "\(b)"
        case .verbatim(_, let t): rendered = "\"\(String(decoding: t.prefix(64), as: UTF8.self))\""
        case .bigNumber(let s): rendered = "(\(s)"
        case .push(let a): rendered = ">[" + a.prefix(8).map(\.summary).joined(separator: ", ") + "]"
        }
        return rendered.count > 200 ? String(rendered.prefix(200)) + "…" : rendered
    }
}

extension Entry {
    /// The value of the first field called `name`, as text.
    public subscript(field name: String) -> String? {
        value(of: name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The value of the first field called `name`.
    public func value(of name: String) -> [UInt8]? {
        let key = Array(name.utf8)
        var index = 0
        while index + 1 < fields.count {
            if fields[index] == key { return fields[index + 1] }
            index += 2
        }
        return nil
    }

    /// Field-value pairs as text.
    public var textFields: [(name: String, value: String)] {
        stride(from: 0, to: fields.count - 1, by: 2).map {
            (String(decoding: fields[$0], as: UTF8.self), String(decoding: fields[$0 + 1], as: UTF8.self))
        }
    }
}
