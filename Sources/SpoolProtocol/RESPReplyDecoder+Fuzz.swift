extension RESPReplyDecoder {
    /// One libFuzzer iteration over the reply decoder, the counterpart of
    /// `RESPRequestDecoder.fuzzOne(_:)`: crashes only on a decoder bug, including a difference
    /// between feeding `data` whole and feeding it one byte at a time.
    public static func fuzzOne(_ data: UnsafeRawBufferPointer) {
        let tinyLimits = RESPLimits(bulkLengthMax: 16, multibulkCountMax: 8, inlineLengthMax: 24)
        for (limits, depth) in [(RESPLimits(), 128), (tinyLimits, 3)] {
            let whole = decodeForFuzzing(data, limits: limits, depth: depth, chunkSize: data.count)
            let dripped = decodeForFuzzing(data, limits: limits, depth: depth, chunkSize: 1)
            precondition(whole == dripped, "decoding depends on how the input was split")
        }
    }

    private struct FuzzOutcome: Equatable {
        /// The replies re-encoded, because `RESPValue` equality fails on NaN.
        var encoded: [UInt8] = []
        var failure: RESPProtocolError?
    }

    private static func decodeForFuzzing(
        _ data: UnsafeRawBufferPointer, limits: RESPLimits, depth: Int, chunkSize: Int
    ) -> FuzzOutcome {
        var decoder = RESPReplyDecoder(limits: limits, nestingDepthMax: depth)
        var writer = RESPWriter(version: .resp3)
        var outcome = FuzzOutcome()
        var offset = 0
        feeding: while offset < data.count {
            let chunkEnd = min(offset + max(chunkSize, 1), data.count)
            decoder.append(UnsafeRawBufferPointer(rebasing: data[offset..<chunkEnd]))
            offset = chunkEnd
            do {
                while let value = try decoder.next() { writer.write(value) }
            } catch {
                outcome.failure = error
                break feeding
            }
        }
        outcome.encoded = writer.bytes
        return outcome
    }
}
