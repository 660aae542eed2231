extension RESPWriter {
    /// Writes `value` with the same RESP2 downgrades as the typed methods; `.null` is written as
    /// `nullBulk()`.
    public mutating func write(_ value: RESPValue) {
        switch value {
        case .simpleString(let s): simpleString(s)
        case .error(let message): error(message)
        case .integer(let n): integer(n)
        case .bulkString(let b): bulk(b)
        case .null: nullBulk()
        case .array(let elements):
            arrayHeader(elements.count)
            for element in elements { write(element) }
        case .map(let pairs):
            mapHeader(pairs.count)
            for pair in pairs {
                write(pair.key)
                write(pair.value)
            }
        case .set(let elements):
            setHeader(elements.count)
            for element in elements { write(element) }
        case .double(let d): double(d)
        case .boolean(let b): boolean(b)
        case .verbatim(let format, let text): verbatim(text, format: format)
        case .bigNumber(let digits): bigNumber(digits)
        case .push(let elements):
            pushHeader(elements.count)
            for element in elements { write(element) }
        }
    }
}
