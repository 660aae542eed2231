import Foundation

/// An HdrHistogram-style latency distribution as SVG: latency (µs) up the y axis against
/// percentile along a log axis of 1/(1-p), so the tail gets as much room as the median.
enum LatencyPlot {
    static func svg(title: String, series: [(String, LatencySummary)]) -> String {
        let width = 900.0
        let height = 520.0
        let left = 80.0
        let right = 30.0
        let top = 50.0
        let bottom = 70.0
        let plotWidth = width - left - right
        let plotHeight = height - top - bottom
        let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]

        // x: log10(1/(1-p)), from 0 (p=0) to 6 (p=99.9999%).
        let xMax = 6.0
        func x(_ percentile: Double) -> Double {
            let p = min(percentile / 100, 0.999999)
            return left + min(log10(1 / (1 - p)) / xMax, 1) * plotWidth
        }
        let yMaxRaw = series.flatMap { $0.1.distribution.map(\.1) }.max() ?? 1
        let yMax = niceCeiling(max(yMaxRaw, 1))
        func y(_ value: Double) -> Double { top + plotHeight - value / yMax * plotHeight }

        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="28" text-anchor="middle" font-size="16">\(escape(title))</text>

            """
        // Grid and axes.
        for (label, p) in [("0%", 0.0), ("90%", 90.0), ("99%", 99.0), ("99.9%", 99.9), ("99.99%", 99.99), ("99.999%", 99.999), ("99.9999%", 99.9999)] {
            let px = x(p)
            svg += "<line x1=\"\(px)\" y1=\"\(top)\" x2=\"\(px)\" y2=\"\(top + plotHeight)\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(px)\" y=\"\(top + plotHeight + 18)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        for step in 0...5 {
            let value = yMax * Double(step) / 5
            let py = y(value)
            svg += "<line x1=\"\(left)\" y1=\"\(py)\" x2=\"\(left + plotWidth)\" y2=\"\(py)\" stroke=\"#ddd\"/>\n"
            svg += "<text x=\"\(left - 8)\" y=\"\(py + 4)\" text-anchor=\"end\">\(value.fixed(value < 10 ? 1 : 0))</text>\n"
        }
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotWidth)\" height=\"\(plotHeight)\" fill=\"none\" stroke=\"#333\"/>\n"
        svg += "<text x=\"\(left + plotWidth / 2)\" y=\"\(height - 20)\" text-anchor=\"middle\">percentile</text>\n"
        svg += "<text transform=\"translate(22 \(top + plotHeight / 2)) rotate(-90)\" text-anchor=\"middle\">latency (µs)</text>\n"

        for (index, (name, summary)) in series.enumerated() {
            let color = colors[index % colors.count]
            let points = summary.distribution.map { "\(x($0.0).fixed(1)),\(y($0.1).fixed(1))" }.joined(separator: " ")
            if !points.isEmpty {
                svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points)\"/>\n"
            }
            let legendY = top + 18 + Double(index) * 18
            svg += "<line x1=\"\(left + 12)\" y1=\"\(legendY - 4)\" x2=\"\(left + 36)\" y2=\"\(legendY - 4)\" stroke=\"\(color)\" stroke-width=\"3\"/>\n"
            let label = "\(name): p50 \(summary.p50.fixed(0)) · p99 \(summary.p99.fixed(0)) · p99.9 \(summary.p999.fixed(0)) · max \(summary.max.fixed(0)) µs"
            svg += "<text x=\"\(left + 42)\" y=\"\(legendY)\">\(escape(label))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    private static func niceCeiling(_ value: Double) -> Double {
        var magnitude = 1.0
        while magnitude * 10 <= value { magnitude *= 10 }
        for step in [1.0, 2.0, 2.5, 5.0, 10.0] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
