extension RESPRequestDecoder {
    /// One libFuzzer iteration: decodes `data` until it errors or needs more bytes. Crashes only
    /// on a decoder bug, which is what a fuzzer should find: besides Swift's own traps it checks
    /// that feeding `data` whole and feeding it one byte at a time give the same commands and the
    /// same error, under the default limits and under tiny ones that put the limit paths within
    /// reach of short inputs.
    ///
    /// A fuzz target calls this from `LLVMFuzzerTestOneInput`.
    public static func fuzzOne(_ data: UnsafeRawBufferPointer) {
        let tinyLimits = RESPLimits(bulkLengthMax: 16, multibulkCountMax: 8, inlineLengthMax: 24)
        for limits in [RESPLimits(), tinyLimits] {
            let whole = decodeForFuzzing(data, limits: limits, chunkSize: max(data.count, 1))
            let dripped = decodeForFuzzing(data, limits: limits, chunkSize: 1)
            precondition(whole == dripped, "decoding depends on how the input was split")
        }
    }

    private struct FuzzOutcome: Equatable {
        var commands: [[[UInt8]]] = []
        var failure: RESPProtocolError?
        /// Compared only without a failure: after one, the drip feed stops appending.
        var bufferedByteCount = 0
    }

    private static func decodeForFuzzing(
        _ data: UnsafeRawBufferPointer, limits: RESPLimits, chunkSize: Int
    ) -> FuzzOutcome {
        var decoder = RESPRequestDecoder(limits: limits)
        var outcome = FuzzOutcome()
        var offset = 0
        feeding: while offset < data.count {
            let chunkEnd = min(offset + chunkSize, data.count)
            decoder.append(UnsafeRawBufferPointer(rebasing: data[offset..<chunkEnd]))
            offset = chunkEnd
            do {
                while let command = try decoder.next() {
                    precondition(!command.isEmpty, "empty commands are skipped, never returned")
                    outcome.commands.append(command.arrays)
                }
            } catch {
                outcome.failure = error
                do {
                    _ = try decoder.next()
                    preconditionFailure("a failed decoder must keep failing")
                } catch let repeated {
                    precondition(repeated == error, "a failed decoder repeats its error")
                }
                break feeding
            }
        }
        if outcome.failure == nil {
            outcome.bufferedByteCount = decoder.bufferedByteCount
            precondition(decoder.bufferedByteCount <= data.count, "buffered more than received")
        }
        return outcome
    }
}
