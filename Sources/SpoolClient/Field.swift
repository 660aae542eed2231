/// One field-value pair of an entry to publish. Names and values are bytes; the `String`
/// initialiser takes UTF-8.
public struct Field: Sendable, Hashable {
    public var name: [UInt8]
    public var value: [UInt8]

    public init(_ name: String, _ value: String) {
        self.name = Array(name.utf8)
        self.value = Array(value.utf8)
    }

    public init(name: [UInt8], value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

extension Array where Element == Field {
    /// `[("name", "value"), …]` as fields.
    public init(_ pairs: KeyValuePairs<String, String>) {
        self = pairs.map { Field($0.key, $0.value) }
    }
}
