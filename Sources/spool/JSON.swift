import SpoolClient

/// JSON built in order and written deterministically (keys in the order given).
indirect enum JSON {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null

    static func int(_ n: Int) -> JSON { .int(Int64(n)) }
    static func optional(_ n: Int?) -> JSON { n.map { .int(Int64($0)) } ?? .null }
    static func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }

    var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                JSON.string(key).write(to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out)
            }
            out += "]"
        case .string(let s):
            out += "\""
            for scalar in s.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                default:
                    if scalar.value < 0x20 {
                        let hex = String(scalar.value, radix: 16)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(scalar)
                    }
                }
            }
            out += "\""
        case .int(let n):
            out += String(n)
        case .double(let d):
            out += d.isFinite ? String(d) : "null"
        case .bool(let b):
            out += b ? "true" : "false"
        case .null:
            out += "null"
        }
    }
}

extension Entry {
    /// `{"id": "…", "fields": {"name": "value", …}}`; a repeated field name keeps its last value.
    func json(stream: String? = nil, extra: [(String, JSON)] = []) -> JSON {
        var members: [(String, JSON)] = []
        if let stream { members.append(("stream", .string(stream))) }
        members.append(("id", .string(id.description)))
        var seen: [String: Int] = [:]
        var fieldMembers: [(String, JSON)] = []
        for (name, value) in textFields {
            if let index = seen[name] {
                fieldMembers[index].1 = .string(value)
            } else {
                seen[name] = fieldMembers.count
                fieldMembers.append((name, .string(value)))
            }
        }
        members.append(("fields", .object(fieldMembers)))
        return .object(members + extra)
    }

    /// `1700000000000-0  name=value  name2=value2`.
    var line: String {
        ([id.description] + textFields.map { "\($0.name)=\($0.value)" }).joined(separator: "  ")
    }
}
