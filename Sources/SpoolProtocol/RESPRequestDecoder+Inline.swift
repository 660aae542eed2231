extension RESPRequestDecoder {
    /// Splits an inline command line into arguments exactly as Redis's `sdssplitargs` does:
    /// blanks separate arguments; "double quotes" take `\n \r \t \b \a \" \\` and `\xHH`
    /// escapes; 'single quotes' take only `\'`; a closing quote must be followed by a blank or
    /// the end of the line; a quote may open in the middle of an argument (`a"b c"` is `ab c`).
    ///
    /// The line must not contain NUL, which the C code would take for the end of the string.
    static func splitInlineArguments(
        _ line: [UInt8], from start: Int, to end: Int
    ) throws(RESPProtocolError) -> [[UInt8]] {
        // Reads past the end as NUL, which is how the C code sees its terminator; following its
        // structure keeps the edge cases (a quote closing at the very end, a trailing backslash)
        // identical.
        func byte(at index: Int) -> UInt8 {
            index < end ? line[index] : ASCII.nul
        }

        var arguments: [[UInt8]] = []
        var p = start
        while true {
            while p < end && ASCII.isSpace(line[p]) { p += 1 }
            if p >= end { return arguments }

            var current: [UInt8] = []
            var isInDoubleQuotes = false
            var isInSingleQuotes = false
            var isDone = false
            while !isDone {
                let c = byte(at: p)
                if isInDoubleQuotes {
                    if c == ASCII.backslash && byte(at: p + 1) == 0x78,  // 'x'
                        let high = ASCII.hexValue(byte(at: p + 2)),
                        let low = ASCII.hexValue(byte(at: p + 3))
                    {
                        current.append(high << 4 | low)
                        p += 3
                    } else if c == ASCII.backslash && byte(at: p + 1) != ASCII.nul {
                        p += 1
                        switch byte(at: p) {
                        case 0x6E: current.append(ASCII.lf)  // 'n'
                        case 0x72: current.append(ASCII.cr)  // 'r'
                        case 0x74: current.append(ASCII.tab)  // 't'
                        case 0x62: current.append(0x08)  // 'b'
                        case 0x61: current.append(0x07)  // 'a'
                        case let other: current.append(other)
                        }
                    } else if c == ASCII.doubleQuote {
                        let following = byte(at: p + 1)
                        if following != ASCII.nul && !ASCII.isSpace(following) {
                            throw .unbalancedQuotes
                        }
                        isDone = true
                    } else if c == ASCII.nul {
                        throw .unbalancedQuotes
                    } else {
                        current.append(c)
                    }
                } else if isInSingleQuotes {
                    if c == ASCII.backslash && byte(at: p + 1) == ASCII.singleQuote {
                        p += 1
                        current.append(ASCII.singleQuote)
                    } else if c == ASCII.singleQuote {
                        let following = byte(at: p + 1)
                        if following != ASCII.nul && !ASCII.isSpace(following) {
                            throw .unbalancedQuotes
                        }
                        isDone = true
                    } else if c == ASCII.nul {
                        throw .unbalancedQuotes
                    } else {
                        current.append(c)
                    }
                } else {
                    switch c {
                    case ASCII.space, ASCII.lf, ASCII.cr, ASCII.tab, ASCII.nul:
                        isDone = true
                    case ASCII.doubleQuote:
                        isInDoubleQuotes = true
                    case ASCII.singleQuote:
                        isInSingleQuotes = true
                    default:
                        current.append(c)
                    }
                }
                if p < end { p += 1 }
            }
            arguments.append(current)
        }
    }
}
