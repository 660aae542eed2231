#if canImport(Glibc)
    import Glibc
#endif

/// The users of this node (ACL SETUSER …), its ACL LOG, and the ACL file. Users are the node's
/// own, as in Redis: a cluster's nodes do not share them. Loop thread only.
final class AccessControl {
    /// By name. `default` is always there.
    private(set) var users: [String: ACLUser]
    let defaultUser: ACLUser
    var log: ACLLog
    /// INFO's acl_access_denied_*: every denial, logged or not.
    private(set) var deniedCounts = DeniedCounts()

    struct DeniedCounts {
        var auth: UInt64 = 0
        var command: UInt64 = 0
        var key: UInt64 = 0
        var channel: UInt64 = 0
    }

    /// Counts a denial and logs it in ACL LOG.
    func recordDenial(
        reason: ACLLog.Reason, context: ACLLog.Context, object: String, username: String, clientInfo: String, now: Int64
    ) {
        switch reason {
        case .auth: deniedCounts.auth += 1
        case .command: deniedCounts.command += 1
        case .key: deniedCounts.key += 1
        case .channel: deniedCounts.channel += 1
        }
        log.record(reason: reason, context: context, object: object, username: username, clientInfo: clientInfo, now: now)
    }
    /// The file ACL SAVE writes and ACL LOAD reads ("" without one).
    let aclFile: String

    static let defaultUserName = "default"

    init(requirepass: String, aclFile: String, logCapacity: Int) {
        defaultUser = Self.makeDefaultUser()
        users = [Self.defaultUserName: defaultUser]
        log = ACLLog(capacity: logCapacity)
        self.aclFile = aclFile
        setDefaultPassword(requirepass)
    }

    /// Redis's default user: on, nopass, every key, channel and command.
    private static func makeDefaultUser() -> ACLUser {
        let user = ACLUser(name: defaultUserName)
        for rule in ["on", "nopass", "~*", "&*", "+@all"] { _ = user.apply(Array(rule.utf8)) }
        return user
    }

    /// `requirepass` is the default user's password, as in Redis: set, it replaces the
    /// passwords; empty, the default user needs none.
    func setDefaultPassword(_ password: String) {
        let rules = password.isEmpty ? ["nopass"] : ["resetpass", ">" + password]
        for rule in rules { _ = defaultUser.apply(Array(rule.utf8)) }
    }

    func user(named name: some Collection<UInt8>) -> ACLUser? {
        users[String(decoding: name, as: UTF8.self)]
    }

    /// Users in name order (ACL LIST, ACL USERS, the ACL file).
    var sortedUsers: [ACLUser] { users.values.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) } }

    /// ACL SETUSER: every rule applies, or none does. Returns the user changed (or made).
    func setUser(_ name: [UInt8], rules: [[UInt8]]) -> Result<ACLUser, CommandErrorText> {
        guard Self.isValidName(name) else { return .failure(CommandErrorText("ERR Usernames can't contain spaces or null characters")) }
        let merged: [[UInt8]]
        switch Self.mergeSelectorArguments(rules) {
        case .success(let value): merged = value
        case .failure(let error): return .failure(CommandErrorText("ERR Unmatched parenthesis in acl selector starting at '\(String(decoding: error.rule, as: UTF8.self))'."))
        }
        let existing = user(named: name)
        let draft = existing?.copy() ?? ACLUser(name: String(decoding: name, as: UTF8.self))
        if existing == nil { _ = draft.apply(Array("-@all".utf8)) }
        for rule in merged {
            if case .failure(let error) = draft.apply(rule) {
                return .failure(CommandErrorText("ERR Error in ACL SETUSER modifier '\(String(decoding: rule, as: UTF8.self))': \(error.text)"))
            }
        }
        if let existing {
            existing.replace(with: draft)
            return .success(existing)
        }
        users[draft.name] = draft
        return .success(draft)
    }

    /// Removes users; the default user cannot be removed. Returns the users removed.
    func deleteUsers(_ names: [[UInt8]]) -> Result<[ACLUser], CommandErrorText> {
        if names.contains(where: { String(decoding: $0, as: UTF8.self) == Self.defaultUserName }) {
            return .failure(CommandErrorText("ERR The 'default' user cannot be removed"))
        }
        var removed: [ACLUser] = []
        for name in names {
            if let user = users.removeValue(forKey: String(decoding: name, as: UTF8.self)) { removed.append(user) }
        }
        return .success(removed)
    }

    /// Redis's ACLMergeSelectorArguments: `(~key*` `+get)` given as separate arguments become one
    /// `(~key* +get)` rule. Fails with the argument an unclosed `(` began at (that argument
    /// alone, as Redis reports it).
    static func mergeSelectorArguments(_ rules: [[UInt8]]) -> Result<[[UInt8]], UnclosedSelector> {
        var merged: [[UInt8]] = []
        var open: [UInt8]?
        var opening: [UInt8] = []
        for rule in rules {
            if var current = open {
                current.append(UInt8(ascii: " "))
                current += rule
                if rule.last == UInt8(ascii: ")") {
                    merged.append(current)
                    open = nil
                } else {
                    open = current
                }
            } else if rule.first == UInt8(ascii: "(") && rule.last != UInt8(ascii: ")") {
                open = rule
                opening = rule
            } else {
                merged.append(rule)
            }
        }
        if open != nil { return .failure(UnclosedSelector(rule: opening)) }
        return .success(merged)
    }

    static func isValidName(_ name: some Collection<UInt8>) -> Bool {
        // Redis's ACLStringHasSpaces: isspace (\t \n \v \f \r and space) or NUL.
        !name.isEmpty && !name.contains(where: { $0 == 0 || $0 == UInt8(ascii: " ") || (0x09...0x0D).contains($0) })
    }

    // MARK: The ACL file

    /// The file's text: one `user …` line per user, in name order, as ACL LIST shows them.
    var fileText: String {
        sortedUsers.map { $0.description + "\n" }.joined()
    }

    /// Parses an ACL file's text into users (default included, as the file says or as it is
    /// made when missing). Every problem is reported with its line; any problem and nothing is
    /// taken.
    static func parse(fileText: String, path: String) -> Result<[String: ACLUser], CommandErrorText> {
        var parsed: [String: ACLUser] = [:]
        // Every name a line gave, taken or not: Redis reports a later line with it as a duplicate.
        var seen: Set<String> = []
        var errors: [String] = []
        // Split at \n bytes, as Redis does: a String splits "\r\n" as one Character, not at "\n".
        for (index, rawLine) in fileText.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            // As Redis reads it: blank lines are skipped, anything else (comments too: the file
            // is rewritten by ACL SAVE) must be a user line.
            let line = String(decoding: rawLine, as: UTF8.self).trimmingCharacters(in: " \t\r")
            if line.isEmpty { continue }
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map { Array($0.utf8) }
            guard words.count >= 2, words[0] == Array("user".utf8) else {
                errors.append("\(path):\(number) should start with user keyword followed by the username. ")
                continue
            }
            let name = String(decoding: words[1], as: UTF8.self)
            guard isValidName(words[1]) else {
                errors.append("'\(path):\(number): username '\(name)' contains invalid characters. ")
                continue
            }
            guard seen.insert(name).inserted else {
                errors.append("WARNING: Duplicate user '\(name)' found on line \(number). ")
                continue
            }
            guard case .success(let rules) = mergeSelectorArguments(Array(words[2...])) else {
                errors.append("\(path):\(number): Unmatched parenthesis in selector definition.")
                continue
            }
            let user = ACLUser(name: name)
            _ = user.apply(Array("-@all".utf8))
            var failed = false
            var reportedOther = false
            for rule in rules {
                guard case .failure(let error) = user.apply(rule) else { continue }
                failed = true
                if error == .unknownCommandOrCategory {
                    // Redis reports every unknown name of a line, and goes on.
                    errors.append("\(path):\(number): Error in applying operation '\(String(decoding: rule, as: UTF8.self))': \(error.text). ")
                } else if !reportedOther {
                    // Any other error only once a line (it may explain the later ones), and goes on.
                    reportedOther = true
                    errors.append("\(path):\(number): \(error.text). ")
                }
            }
            if !failed { parsed[name] = user }
        }
        guard errors.isEmpty else { return .failure(CommandErrorText(errors.joined())) }
        if parsed[defaultUserName] == nil { parsed[defaultUserName] = makeDefaultUser() }
        return .success(parsed)
    }

    /// Takes the users an ACL file held. A user that stays keeps its object, so its connections
    /// go on under the file's rights, as in Redis; returns the users that are gone, whose
    /// connections are closed.
    func install(_ loaded: [String: ACLUser]) -> [ACLUser] {
        var removed: [ACLUser] = []
        var installed: [String: ACLUser] = [:]
        for (name, user) in users {
            if let replacement = loaded[name] {
                user.replace(with: replacement)
                installed[name] = user
            } else {
                removed.append(user)
            }
        }
        for (name, user) in loaded where installed[name] == nil { installed[name] = user }
        users = installed
        return removed
    }

    /// The users an ACL file holds (`parse`), nil when there is no file yet.
    static func load(_ path: String) -> Result<[String: ACLUser]?, CommandErrorText> {
        readFile(path).flatMap { text in
            guard let text else { return .success(nil) }
            return parse(fileText: text, path: path).map { $0 }.mapError {
                CommandErrorText($0.text + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed")
            }
        }
    }

    /// Reads the ACL file. A missing file is no users yet (nil); anything else unreadable is an
    /// error.
    static func readFile(_ path: String) -> Result<String?, CommandErrorText> {
        guard let file = fopen(path, "r") else {
            if errno == ENOENT { return .success(nil) }
            return .failure(CommandErrorText("\(path): \(String(cString: strerror(errno)))"))
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes += buffer[0..<count] }
            if count < buffer.count {
                if ferror(file) != 0 { return .failure(CommandErrorText("\(path): read failed")) }
                break
            }
            guard bytes.count <= fileBytesMax else { return .failure(CommandErrorText("\(path): larger than \(fileBytesMax) bytes")) }
        }
        return .success(String(decoding: bytes, as: UTF8.self))
    }

    static let fileBytesMax = 64 << 20

    /// ACL SAVE: writes a temporary file beside the ACL file, syncs it, renames it over, and
    /// syncs the directory, so a crash leaves the old file or the new one, never half of one.
    func save() -> Result<Void, CommandErrorText> {
        let text = Array(fileText.utf8)
        let temporary = aclFile + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return .failure(CommandErrorText("opening \(temporary): \(String(cString: strerror(errno)))")) }
        var written = 0
        while written < text.count {
            let result = text[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                let error = String(cString: strerror(errno))
                close(fd)
                unlink(temporary)
                return .failure(CommandErrorText("writing \(temporary): \(error)"))
            }
            written += result
        }
        guard fsync(fd) == 0 else {
            let error = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            return .failure(CommandErrorText("syncing \(temporary): \(error)"))
        }
        close(fd)
        guard rename(temporary, aclFile) == 0 else {
            let error = String(cString: strerror(errno))
            unlink(temporary)
            return .failure(CommandErrorText("renaming \(temporary): \(error)"))
        }
        let directory = aclFile.contains("/") ? String(aclFile[..<aclFile.lastIndex(of: "/")!]) : "."
        let directoryFD = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            _ = fsync(directoryFD)
            close(directoryFD)
        }
        return .success(())
    }
}

/// A `(` selector that no argument closes.
struct UnclosedSelector: Error {
    let rule: [UInt8]
}
