import Foundation

/// A one-line progress bar on stderr, redrawn at most ten times a second; shown only when
/// stderr is a terminal (or when forced), so pipes and tests see clean output.
final class ProgressBar {
    private let label: String
    private let isEnabled: Bool
    private var lastDraw: UInt64 = 0
    private let started: UInt64
    private var drewSomething = false

    init(label: String, force: Bool? = nil) {
        self.label = label
        isEnabled = force ?? Output.standardError.isTerminal
        started = DispatchTime.now().uptimeNanoseconds
    }

    /// `fraction` in 0…1 when known; `count` things done so far.
    func update(fraction: Double?, count: Int, unit: String, force: Bool = false) {
        guard isEnabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard force || now - lastDraw >= 100_000_000 else { return }
        lastDraw = now
        let seconds = Double(now - started) / 1e9
        let rate = seconds > 0 ? Double(count) / seconds : 0
        var line = "\r\(label) "
        if let fraction {
            let width = 30
            let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            line += (min(max(fraction, 0), 1) * 100).fixed(0) + "% "
        }
        line += "\(count.grouped) \(unit), \(Int(rate).grouped)/s, \(seconds.fixed(1)) s"
        Output.standardError.write(line + "\u{1B}[K")
        Output.standardError.flush()
        drewSomething = true
    }

    /// Ends the bar's line.
    func finish() {
        guard isEnabled, drewSomething else { return }
        Output.standardError.write("\n")
        Output.standardError.flush()
    }
}
