/// One stream entry: its id and its field-value pairs, stored flat (field, value, field, value …).
public struct Entry: Hashable, Sendable {
    public var id: EntryID
    /// Field-value pairs flattened; always an even count.
    public var fields: [[UInt8]]

    public init(id: EntryID, fields: [[UInt8]]) {
        precondition(fields.count % 2 == 0, "an entry's fields come in field-value pairs")
        self.id = id
        self.fields = fields
    }

    public var pairCount: Int { fields.count / 2 }
}
