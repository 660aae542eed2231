/// LATENCY: per event, the latest 160 samples of at least `latency-monitor-threshold`
/// milliseconds (one a second: a later sample in the same second keeps the larger), and the
/// largest ever, as Redis's latency monitor keeps them. Events: `command` and `fast-command`
/// (a command ran that long), `aof-fsync-always` (one fsync of the log, which every write
/// reply waits for, took that long). Loop thread only.
struct LatencyMonitor {
    struct Sample {
        /// Unix seconds.
        let time: Int64
        var milliseconds: Int64
    }

    struct Series {
        var samples: [Sample] = []
        var max: Int64 = 0
    }

    static let samplesMax = 160

    /// In the order events were first seen.
    private(set) var events: [(name: String, series: Series)] = []

    mutating func add(_ event: String, milliseconds: Int64, at time: Int64) {
        var index = events.firstIndex { $0.name == event }
        if index == nil {
            events.append((event, Series()))
            index = events.count - 1
        }
        var series = events[index!].series
        series.max = Swift.max(series.max, milliseconds)
        if let last = series.samples.last, last.time == time {
            series.samples[series.samples.count - 1].milliseconds = Swift.max(last.milliseconds, milliseconds)
        } else {
            series.samples.append(Sample(time: time, milliseconds: milliseconds))
            if series.samples.count > Self.samplesMax { series.samples.removeFirst(series.samples.count - Self.samplesMax) }
        }
        events[index!].series = series
    }

    func series(named name: some Collection<UInt8>) -> Series? {
        events.first { CommandTable.equalsIgnoringCase(name, lowercase: $0.name.utf8) }?.series
    }

    /// Removes the named events (all without names); returns how many were removed.
    mutating func reset(_ names: [[UInt8]]) -> Int {
        let before = events.count
        if names.isEmpty {
            events = []
        } else {
            events.removeAll { event in names.contains { CommandTable.equalsIgnoringCase($0, lowercase: event.name.utf8) } }
        }
        return before - events.count
    }
}
