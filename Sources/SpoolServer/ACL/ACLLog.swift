/// ACL LOG: the latest denials and failed logins, newest first, at most `capacity` of them. A
/// denial like a recent one (same reason, context, object and user, within 60 s, among the ten
/// newest) is counted into it instead of taking a new entry, as Redis groups them. Loop thread only.
struct ACLLog {
    enum Reason: String { case command, key, channel, auth }
    enum Context: String { case toplevel, multi, lua, module }

    struct Entry {
        var count: Int
        let reason: Reason
        let context: Context
        let object: String
        let username: String
        /// Unix milliseconds.
        let createdAt: Int64
        var updatedAt: Int64
        var clientInfo: String
        let entryID: Int64
    }

    private(set) var entries: [Entry] = []
    private var nextEntryID: Int64 = 0
    var capacity: Int

    static let groupingWindowMilliseconds: Int64 = 60_000
    static let groupingLookback = 10

    init(capacity: Int) {
        self.capacity = capacity
    }

    mutating func record(
        reason: Reason, context: Context, object: String, username: String, clientInfo: String, now: Int64
    ) {
        // Redis: with acllog-max-len 0 nothing is logged (no entry id is used) and what was
        // kept is dropped.
        if capacity == 0 {
            trim()
            return
        }
        for index in entries.indices.prefix(Self.groupingLookback) {
            let entry = entries[index]
            guard entry.reason == reason, entry.context == context, entry.object == object,
                entry.username == username, now - entry.updatedAt <= Self.groupingWindowMilliseconds
            else { continue }
            var merged = entries.remove(at: index)
            merged.count += 1
            merged.updatedAt = now
            merged.clientInfo = clientInfo
            entries.insert(merged, at: 0)
            return
        }
        entries.insert(
            Entry(
                count: 1, reason: reason, context: context, object: object, username: username, createdAt: now,
                updatedAt: now, clientInfo: clientInfo, entryID: nextEntryID),
            at: 0)
        nextEntryID += 1
        trim()
    }

    mutating func trim() {
        if entries.count > capacity { entries.removeLast(entries.count - capacity) }
    }

    mutating func reset() {
        entries = []
    }
}
