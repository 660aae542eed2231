import Histogram
import Synchronization

/// A latency histogram in nanoseconds that several I/O threads record into.
final class LatencyRecorder: Sendable {
    private let histogram = Mutex(LatencyRecorder.makeHistogram())

    static func makeHistogram() -> Histogram<UInt64> {
        // 1 ns … 1 hour at 3 significant digits.
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: .three)
    }

    func record(nanoseconds: UInt64) {
        histogram.withLock { _ = $0.record(max(nanoseconds, 1)) }
    }

    var snapshot: Histogram<UInt64> { histogram.withLock { $0 } }
}

/// The percentiles a report shows, in microseconds.
struct LatencySummary {
    var count: UInt64
    var p50: Double
    var p90: Double
    var p99: Double
    var p999: Double
    var max: Double
    var mean: Double
    /// (percentile 0…100, value µs) points for a plot.
    var distribution: [(Double, Double)]

    init(_ histogram: Histogram<UInt64>) {
        func us(_ ns: UInt64) -> Double { Double(ns) / 1000 }
        count = histogram.totalCount
        p50 = us(histogram.valueAtPercentile(50))
        p90 = us(histogram.valueAtPercentile(90))
        p99 = us(histogram.valueAtPercentile(99))
        p999 = us(histogram.valueAtPercentile(99.9))
        max = us(histogram.max)
        mean = histogram.mean / 1000
        distribution =
            histogram.totalCount == 0
            ? [] : histogram.percentiles(ticksPerHalfDistance: 5).map { ($0.percentileLevelIteratedTo, us($0.value)) }
    }

    var json: JSON {
        .object([
            ("count", .int(Int64(count))), ("p50_us", .double(p50)), ("p90_us", .double(p90)), ("p99_us", .double(p99)),
            ("p999_us", .double(p999)), ("max_us", .double(max)), ("mean_us", .double(mean)),
        ])
    }
}
