/// Redis's glob matching (stringmatchlen): `*`, `?`, `[abc]`, `[^a-z]`, `\` escapes.
enum GlobPattern {
    static func matches(_ pattern: [UInt8], _ string: [UInt8], nocase: Bool = false) -> Bool {
        matches(pattern[...], string[...], nocase: nocase, depth: 0)
    }

    private static func lower(_ b: UInt8, _ nocase: Bool) -> UInt8 {
        nocase && b >= 65 && b <= 90 ? b + 32 : b
    }

    private static func matches(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>, nocase: Bool, depth: Int) -> Bool {
        // Bounded recursion, as Redis bounds it, so hostile patterns cannot exhaust the stack.
        if depth > 1000 { return false }
        var p = p
        var s = s
        while let pc = p.first {
            switch pc {
            case UInt8(ascii: "*"):
                while p.dropFirst().first == UInt8(ascii: "*") { p = p.dropFirst() }
                if p.count == 1 { return true }
                var rest = s
                while true {
                    if matches(p.dropFirst(), rest, nocase: nocase, depth: depth + 1) { return true }
                    if rest.isEmpty { return false }
                    rest = rest.dropFirst()
                }
            case UInt8(ascii: "?"):
                if s.isEmpty { return false }
                s = s.dropFirst()
                p = p.dropFirst()
            case UInt8(ascii: "["):
                guard let c = s.first else { return false }
                p = p.dropFirst()
                var negate = false
                if p.first == UInt8(ascii: "^") {
                    negate = true
                    p = p.dropFirst()
                }
                var matched = false
                while let q = p.first, q != UInt8(ascii: "]") {
                    if q == UInt8(ascii: "\\"), p.count >= 2 {
                        p = p.dropFirst()
                        if lower(p.first!, nocase) == lower(c, nocase) { matched = true }
                        p = p.dropFirst()
                    } else if p.count >= 3, p[p.startIndex + 1] == UInt8(ascii: "-") {
                        var a = lower(q, nocase)
                        var b = lower(p[p.startIndex + 2], nocase)
                        if a > b { swap(&a, &b) }
                        let x = lower(c, nocase)
                        if x >= a && x <= b { matched = true }
                        p = p.dropFirst(3)
                    } else {
                        if lower(q, nocase) == lower(c, nocase) { matched = true }
                        p = p.dropFirst()
                    }
                }
                if negate { matched.toggle() }
                if !matched { return false }
                s = s.dropFirst()
                p = p.dropFirst()  // the closing ]
            case UInt8(ascii: "\\") where p.count >= 2:
                p = p.dropFirst()
                fallthrough
            default:
                guard let c = s.first, lower(p.first!, nocase) == lower(c, nocase) else { return false }
                s = s.dropFirst()
                p = p.dropFirst()
            }
        }
        return s.isEmpty
    }
}
