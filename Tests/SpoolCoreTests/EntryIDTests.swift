import Testing
import SpoolCore

@Suite struct EntryIDTests {
    @Test(arguments: [
        ("0-1", EntryID(milliseconds: 0, sequence: 1)),
        ("1526919030474-55", EntryID(milliseconds: 1_526_919_030_474, sequence: 55)),
        ("18446744073709551615-18446744073709551615", EntryID.max),
    ])
    func parsesFullIds(text: String, expected: EntryID) {
        #expect(EntryID(text, missingSequence: .reject) == expected)
        #expect(expected.description == text)
    }

    @Test func fillsAMissingSequenceAsAsked() {
        #expect(EntryID("5", missingSequence: .zero) == EntryID(milliseconds: 5, sequence: 0))
        #expect(EntryID("5", missingSequence: .max) == EntryID(milliseconds: 5, sequence: .max))
        #expect(EntryID("5", missingSequence: .reject) == nil)
    }

    @Test(arguments: ["", "-", "-1", "1-", "a-1", "1-b", "1--2", "1-2-3", " 1-2", "18446744073709551616-0", "0-18446744073709551616", "+1-0"])
    func rejectsMalformedIds(text: String) {
        #expect(EntryID(text, missingSequence: .zero) == nil)
    }

    @Test func keyBytesSortLikeIds() {
        let ids = [
            EntryID(milliseconds: 0, sequence: 0), EntryID(milliseconds: 0, sequence: 255),
            EntryID(milliseconds: 0, sequence: 256), EntryID(milliseconds: 1, sequence: 0),
            EntryID(milliseconds: 255, sequence: .max), EntryID(milliseconds: 256, sequence: 0), .max,
        ]
        for (a, b) in zip(ids, ids.dropFirst()) {
            #expect(a < b)
            #expect(a.keyBytes.lexicographicallyPrecedes(b.keyBytes))
        }
        for id in ids {
            #expect(id.keyBytes.withUnsafeBytes { EntryID(keyBytes: $0) } == id)
        }
    }

    @Test func successorAndPredecessorCrossMillisecondBoundaries() {
        #expect(EntryID(milliseconds: 1, sequence: .max).successor == EntryID(milliseconds: 2, sequence: 0))
        #expect(EntryID(milliseconds: 2, sequence: 0).predecessor == EntryID(milliseconds: 1, sequence: .max))
        #expect(EntryID.max.successor == nil)
        #expect(EntryID.zero.predecessor == nil)
    }

    @Test func generatedIdsAlwaysIncreaseEvenWhenTheClockDoesNot() {
        let last = EntryID(milliseconds: 1000, sequence: 7)
        #expect(EntryID.generated(after: last, nowMilliseconds: 1001) == EntryID(milliseconds: 1001, sequence: 0))
        #expect(EntryID.generated(after: last, nowMilliseconds: 1000) == EntryID(milliseconds: 1000, sequence: 8))
        #expect(EntryID.generated(after: last, nowMilliseconds: 900) == EntryID(milliseconds: 1000, sequence: 8))
        #expect(EntryID.generated(after: .max, nowMilliseconds: 5) == nil)
    }

    @Test func explicitMillisecondsGetTheNextSequence() {
        let last = EntryID(milliseconds: 1000, sequence: 7)
        #expect(EntryID.generated(milliseconds: 1000, after: last) == EntryID(milliseconds: 1000, sequence: 8))
        #expect(EntryID.generated(milliseconds: 2000, after: last) == EntryID(milliseconds: 2000, sequence: 0))
        #expect(EntryID.generated(milliseconds: 999, after: last) == nil)
        #expect(EntryID.generated(milliseconds: 5, after: EntryID(milliseconds: 5, sequence: .max)) == nil)
    }
}
