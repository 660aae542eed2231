import SpoolProtocol

/// One ACL user: whether it may log in, its password digests, and its selectors. A class: every
/// connection logged in as the user holds it, and sees ACL SETUSER's changes at its next command,
/// as in Redis. Loop thread only.
final class ACLUser {
    let name: String
    private(set) var isEnabled = false
    /// `nopass`: any password logs in.
    private(set) var noPass = false
    /// Redis's sanitize-payload flags, kept and shown for compatibility (Spool restores no
    /// payloads, so they change nothing).
    private(set) var skipSanitizePayload = false
    /// SHA-256 digests in lower-case hex, in the order they were added.
    private(set) var passwords: [String] = []
    private(set) var root = ACLSelector()
    /// Further selectors, `(…)` rules.
    private(set) var selectors: [ACLSelector] = []
    /// Cached: the user may run anything on any key, so no check is needed.
    private(set) var allowsEverything = false

    init(name: String) {
        self.name = name
    }

    /// A copy, so that a failed ACL SETUSER leaves the user as it was.
    func copy() -> ACLUser {
        let user = ACLUser(name: name)
        user.replace(with: self)
        return user
    }

    /// Takes every right of `other` (same name), for ACL SETUSER's all-or-nothing update.
    func replace(with other: ACLUser) {
        isEnabled = other.isEnabled
        noPass = other.noPass
        skipSanitizePayload = other.skipSanitizePayload
        passwords = other.passwords
        root = other.root
        selectors = other.selectors
        allowsEverything = other.allowsEverything
    }

    /// Applies one user rule (Redis's ACLSetUser): flags and passwords here, `(…)` a new
    /// selector, everything else the root selector's.
    func apply(_ rule: [UInt8]) -> Result<Void, ACLRuleError> {
        defer { allowsEverything = isEnabled && root.allowsEverything }
        // Redis: "Empty string is a no-operation."
        if rule.isEmpty { return .success(()) }
        let lower = String(decoding: rule, as: UTF8.self).lowercased()
        switch lower {
        case "on": isEnabled = true
        case "off": isEnabled = false
        case "skip-sanitize-payload": skipSanitizePayload = true
        case "sanitize-payload": skipSanitizePayload = false
        case "nopass":
            noPass = true
            passwords = []
        case "resetpass":
            noPass = false
            passwords = []
        case "clearselectors": selectors = []
        case "reset":
            // Redis's reset: resetpass resetkeys resetchannels off sanitize-payload clearselectors -@all.
            noPass = false
            passwords = []
            isEnabled = false
            skipSanitizePayload = false
            selectors = []
            root = ACLSelector()
        default:
            guard let first = rule.first else { return .failure(.syntax) }
            switch first {
            case UInt8(ascii: ">"):
                addPassword(PasswordHash.sha256Hex(rule.dropFirst()))
            case UInt8(ascii: "#"):
                let digest = rule.dropFirst()
                guard PasswordHash.isDigest(digest), !digest.contains(where: { (65...70).contains($0) }) else {
                    return .failure(.badHash)
                }
                addPassword(String(decoding: digest, as: UTF8.self))
            case UInt8(ascii: "<"):
                return removePassword(PasswordHash.sha256Hex(rule.dropFirst()))
            case UInt8(ascii: "!"):
                let digest = rule.dropFirst()
                guard PasswordHash.isDigest(digest), !digest.contains(where: { (65...70).contains($0) }) else {
                    return .failure(.badHash)
                }
                return removePassword(String(decoding: digest, as: UTF8.self))
            case UInt8(ascii: "("):
                guard rule.last == UInt8(ascii: ")"), rule.count >= 2 else { return .failure(.selectorUnbalanced) }
                var selector = ACLSelector()
                for part in rule.dropFirst().dropLast().split(separator: UInt8(ascii: " ")) {
                    if case .failure(let error) = selector.apply(Array(part)) { return .failure(error) }
                }
                selectors.append(selector)
            default:
                return root.apply(rule)
            }
        }
        return .success(())
    }

    private func addPassword(_ digest: String) {
        if !passwords.contains(digest) { passwords.append(digest) }
        noPass = false
    }

    private func removePassword(_ digest: String) -> Result<Void, ACLRuleError> {
        guard let index = passwords.firstIndex(of: digest) else { return .failure(.noSuchPassword) }
        passwords.remove(at: index)
        noPass = false
        return .success(())
    }

    /// Whether `password` logs this user in (Redis's ACLCheckUserCredentials).
    func accepts(password: [UInt8]) -> Bool {
        guard isEnabled else { return false }
        if noPass { return true }
        let digest = PasswordHash.sha256Hex(password)
        var found = false
        // Every digest is compared, in constant time each, so timing tells nothing.
        for stored in passwords where PasswordHash.equal(stored, digest) { found = true }
        return found
    }

    /// True when the root selector certainly allows the command line (`ACLSelector.quicklyAllows`);
    /// false when `check` must decide.
    @inline(__always)
    func quicklyAllows(_ spec: CommandSpec, _ args: RequestArguments) -> Bool {
        allowsEverything || root.quicklyAllows(spec, args)
    }

    /// Redis's ACLCheckAllUserCommandPerm: allowed when any selector allows the command and its
    /// keys; otherwise the most specific denial (a key over the command, the later key first).
    func check<Keys: RandomAccessCollection<RequestArgumentKey>>(
        _ spec: CommandSpec, firstArgument: RequestArgument?, keys: Keys
    ) -> ACLDenial? where Keys.Index == Int {
        if allowsEverything { return nil }
        guard let first = root.check(spec, firstArgument: firstArgument, keys: keys) else { return nil }
        var worst = first
        for selector in selectors {
            guard let denial = selector.check(spec, firstArgument: firstArgument, keys: keys) else { return nil }
            if denial.rank > worst.rank { worst = denial }
            if case .key(let a) = denial, case .key(let b) = worst, a > b { worst = denial }
        }
        return worst
    }

    /// The flags GETUSER lists, in Redis's order.
    var flags: [String] {
        var flags = [isEnabled ? "on" : "off"]
        if noPass { flags.append("nopass") }
        flags.append(skipSanitizePayload ? "skip-sanitize-payload" : "sanitize-payload")
        return flags
    }

    /// The line ACL LIST shows and the ACL file holds: `user NAME flags #digests selectors`.
    var description: String {
        var parts = ["user", name] + flags + passwords.map { "#" + $0 }
        parts.append(root.description)
        parts += selectors.map { "(" + $0.description + ")" }
        return parts.joined(separator: " ")
    }
}
