#if canImport(Glibc)
import Glibc
#endif

/// The process's open-file limit (RLIMIT_NOFILE).
public enum DescriptorLimit {
    /// RLIM_INFINITY (all bits set); Glibc's macro does not import.
    private static let infinity = rlim_t.max

    /// Raises the soft limit to the hard one (as far as the kernel's `nr_open` lets it) and returns
    /// the soft limit now in force.
    public static func raiseToHard() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max == infinity ? max(limit.rlim_cur, 1 << 20) : limit.rlim_max
            // With an infinite hard limit the kernel's nr_open still caps it: step down until accepted.
            while raised.rlim_cur > limit.rlim_cur && setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
                raised.rlim_cur = max(limit.rlim_cur, raised.rlim_cur / 2)
            }
        }
        return current
    }

    /// The soft limit in force.
    public static var current: Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        return limit.rlim_cur == infinity ? Int.max : Int(limit.rlim_cur)
    }
}
