/// A text table: a header row, aligned columns, numbers right-aligned.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    init(_ headers: String...) {
        self.headers = headers
    }

    init(headers: [String]) {
        self.headers = headers
    }

    mutating func add(_ cells: [String]) {
        rows.append(cells)
    }

    var text: String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count { widths[index] = max(widths[index], cell.count) }
        }
        let numeric = headers.indices.map { column in
            !rows.isEmpty && rows.allSatisfy { row in
                column < row.count && (Double(row[column].replacingOccurrences(of: ",", with: "")) != nil || row[column] == "-")
            }
        }
        func render(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                let pad = String(repeating: " ", count: max(0, widths[index] - cell.count))
                return numeric[index] ? pad + cell : (index == cells.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ")
        }
        var lines = [render(headers)]
        lines += rows.map(render)
        return lines.joined(separator: "\n")
    }
}

extension Int {
    /// 1234567 → "1,234,567".
    var grouped: String {
        let digits = String(self.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0 && (digits.count - index) % 3 == 0 { out += "," }
            out.append(character)
        }
        return (self < 0 ? "-" : "") + out
    }
}

extension Double {
    /// Fixed decimals without Foundation's format strings.
    func fixed(_ decimals: Int) -> String {
        guard isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (self * scale).rounded()
        let negative = scaled < 0
        let integer = Int(scaled.magnitude)
        let whole = integer / Int(scale)
        let fraction = integer % Int(scale)
        var text = String(whole)
        if decimals > 0 {
            let digits = String(fraction)
            text += "." + String(repeating: "0", count: decimals - digits.count) + digits
        }
        return negative ? "-" + text : text
    }
}
