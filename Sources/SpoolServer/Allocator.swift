import CJemalloc

/// The process's allocator (jemalloc, linked into spoold as into Redis), for INFO memory.
enum Allocator {
    /// `jemalloc-5.3.0`, as Redis's INFO writes it.
    static let name: String = {
        var version: UnsafePointer<CChar>?
        var length = MemoryLayout<UnsafePointer<CChar>?>.size
        guard mallctl("version", &version, &length, nil, 0) == 0, let version else { return "jemalloc" }
        let full = String(cString: version)  // "5.3.0-0-g54ea…"
        return "jemalloc-" + (full.split(separator: "-").first.map(String.init) ?? full)
    }()

    /// Bytes the process has allocated and not freed (jemalloc's `stats.allocated`, refreshed).
    static func allocatedBytes() -> Int? {
        // Writing "epoch" makes jemalloc refresh the statistics it reports.
        var epoch: UInt64 = 1
        guard mallctl("epoch", nil, nil, &epoch, MemoryLayout<UInt64>.size) == 0 else { return nil }
        var allocated = 0
        var length = MemoryLayout<Int>.size
        guard mallctl("stats.allocated", &allocated, &length, nil, 0) == 0 else { return nil }
        return allocated
    }
}
