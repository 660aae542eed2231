import Foundation
import SpoolClient

/// Times on the command line: milliseconds since the epoch ("1700000000000"), ISO 8601
/// ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.250+02:00", "2024-05-01"), "now", or an age
/// ("90s", "15m", "2h", "1d", "500ms": that long ago).
enum TimeParsing {
    static func milliseconds(_ text: String, now: Date = Date()) -> UInt64? {
        let nowMilliseconds = UInt64(now.timeIntervalSince1970 * 1000)
        if text == "now" { return nowMilliseconds }
        if let ms = UInt64(text) { return ms }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0 {
                let ago = UInt64(value * seconds * 1000)
                return nowMilliseconds > ago ? nowMilliseconds - ago : 0
            }
        }
        let formatter = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [
            [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime], [.withFullDate],
        ] {
            formatter.formatOptions = options
            if let date = formatter.date(from: text), date.timeIntervalSince1970 >= 0 {
                return UInt64((date.timeIntervalSince1970 * 1000).rounded())
            }
        }
        return nil
    }

    /// A start position: an entry id ("1700000000000-0"), "-"/"0" (the beginning), "$" (the
    /// end), or a time as above.
    static func position(_ text: String) -> StreamPosition? {
        switch text {
        case "-", "0": return .start
        case "$", "+": return .end
        default: break
        }
        if text.contains("-"), !text.hasPrefix("-"), let id = EntryID(text, missingSequence: .reject) { return .id(id) }
        if let ms = milliseconds(text) { return .time(milliseconds: ms) }
        return nil
    }
}
