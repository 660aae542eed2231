/// Counters INFO reports, with Redis's instantaneous-ops sampling: every 100 ms or more a sample
/// of commands per second goes into a ring of 16, and INFO reports their mean. Loop thread only.
struct ServerStatistics {
    var totalConnections: UInt64 = 0
    var totalCommands: UInt64 = 0
    var rejectedConnections: UInt64 = 0
    var protocolErrors: UInt64 = 0
    var outputLimitDisconnections: UInt64 = 0
    /// TLS handshakes refused (a missing or untrusted client certificate, a refused protocol) and
    /// connections ended by a bad TLS record.
    var tlsRefusals: UInt64 = 0
    var netInputBytes: UInt64 = 0
    var netOutputBytes: UInt64 = 0

    private var samples = [UInt64](repeating: 0, count: 16)
    private var sampleIndex = 0
    private var lastSampleTime: UInt64 = 0
    private var lastSampleCommands: UInt64 = 0

    /// Called often (each loop iteration); records a sample when 100 ms have passed.
    mutating func sample(nowNanoseconds now: UInt64) {
        if lastSampleTime == 0 {
            lastSampleTime = now
            lastSampleCommands = totalCommands
            return
        }
        let elapsed = now - lastSampleTime
        guard elapsed >= 100_000_000 else { return }
        samples[sampleIndex] = (totalCommands - lastSampleCommands) * 1_000_000_000 / elapsed
        sampleIndex = (sampleIndex + 1) % samples.count
        lastSampleTime = now
        lastSampleCommands = totalCommands
    }

    var instantaneousOpsPerSecond: UInt64 { samples.reduce(0, +) / UInt64(samples.count) }
}
