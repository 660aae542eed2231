import SpoolProtocol

/// One set of rights (Redis's selector): the commands it allows, the keys and channels they may
/// touch. A user has a root selector and any number of further ones (`(…)` rules); a command runs
/// when one selector allows it and every key it names.
struct ACLSelector: Sendable, Equatable {
    /// Allowed commands, one bit per `CommandSpec.id`.
    private(set) var allowed = CommandBits()
    /// Set by `+@all` (and `allcommands`), cleared only by `-@all`: the rules begin with +@all, so
    /// commands that do not exist yet would be allowed too (ACL LIST shows `+@all …`).
    private(set) var allowsAllCommands = false
    /// The command and category rules after the leading +@all/-@all, as given, each kept once
    /// at its latest position, so that ACL LIST reproduces the bits exactly.
    private(set) var commandRules: [String] = []
    /// Redis's deprecated first-argument rules (`+select|0`): a command whose bit is clear still
    /// runs with one of these (lower-case) first arguments.
    private(set) var firstArguments: [Int: [[UInt8]]] = [:]
    private(set) var allKeys = false
    private(set) var keyPatterns: [KeyPattern] = []
    private(set) var allChannels = false
    private(set) var channelPatterns: [[UInt8]] = []

    struct KeyPattern: Sendable, Equatable {
        let pattern: [UInt8]
        let access: ACLKeyAccess
        /// How it matches, decided once: most patterns are a name or a prefix and a `*`.
        private let shape: Shape

        enum Shape: Equatable {
            case exact
            /// Everything but the final `*`.
            case prefix(Int)
            case glob
        }

        init(pattern: [UInt8], access: ACLKeyAccess) {
            self.pattern = pattern
            self.access = access
            let special: Set<UInt8> = [UInt8(ascii: "*"), UInt8(ascii: "?"), UInt8(ascii: "["), UInt8(ascii: "\\")]
            if !pattern.contains(where: special.contains) {
                shape = .exact
            } else if pattern.last == UInt8(ascii: "*") && !pattern.dropLast().contains(where: special.contains) {
                shape = .prefix(pattern.count - 1)
            } else {
                shape = .glob
            }
        }

        /// `matches` on the key's bytes in place.
        @inline(__always)
        func matches(bytes key: UnsafeBufferPointer<UInt8>) -> Bool {
            switch shape {
            case .exact: return key.count == pattern.count && key.elementsEqual(pattern)
            case .prefix(let length):
                guard key.count >= length else { return false }
                return pattern.withUnsafeBufferPointer { prefix in
                    for index in 0..<length where prefix[index] != key[index] { return false }
                    return true
                }
            case .glob: return GlobPattern.matches(pattern, Array(key))
            }
        }

        /// Redis's stringmatchlen, without copying the key for the common shapes.
        @inline(__always)
        func matches(_ key: RequestArgument) -> Bool {
            switch shape {
            case .exact: return key.count == pattern.count && key.elementsEqual(pattern)
            case .prefix(let length):
                guard key.count >= length else { return false }
                for index in 0..<length where key[index] != pattern[index] { return false }
                return true
            case .glob: return GlobPattern.matches(pattern, key.bytes)
            }
        }

        /// `~p`, `%R~p`, `%W~p` (`%RW~p` is written `~p`).
        var text: String {
            let prefix = access == .readWrite ? "~" : (access == .read ? "%R~" : "%W~")
            return prefix + String(decoding: pattern, as: UTF8.self)
        }
    }

    /// Whether nothing is out of reach: every command, every key and every channel.
    var allowsEverything: Bool { allowsAllCommands && allowed.isFull && allKeys && allChannels }

    /// Applies one selector rule (Redis's ACLSetSelector). Nothing changes on failure.
    mutating func apply(_ rule: [UInt8]) -> Result<Void, ACLRuleError> {
        let text = String(decoding: rule, as: UTF8.self)
        let lower = text.lowercased()
        switch lower {
        case "allkeys", "~*":
            // Only these two set allkeys (Redis): `%RW~*` is a pattern like any other.
            allKeys = true
            keyPatterns = []
            return .success(())
        case "resetkeys":
            allKeys = false
            keyPatterns = []
            return .success(())
        case "allchannels", "&*":
            allChannels = true
            channelPatterns = []
            return .success(())
        case "resetchannels":
            allChannels = false
            channelPatterns = []
            return .success(())
        case "allcommands", "+@all":
            allowed = CommandBits.full
            allowsAllCommands = true
            commandRules = []
            firstArguments = [:]
            return .success(())
        case "nocommands", "-@all":
            allowed = CommandBits()
            allowsAllCommands = false
            commandRules = []
            firstArguments = [:]
            return .success(())
        default: break
        }
        guard let first = rule.first else { return .failure(.syntax) }
        switch first {
        case UInt8(ascii: "~"), UInt8(ascii: "%"): return addKeyPattern(rule)
        case UInt8(ascii: "&"):
            let pattern = Array(rule.dropFirst())
            if allChannels { return .failure(.patternAfterAllChannels) }
            if Self.hasSpaces(pattern) { return .failure(.syntax) }
            if !channelPatterns.contains(pattern) { channelPatterns.append(pattern) }
            return .success(())
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            return applyCommandRule(isAllow: first == UInt8(ascii: "+"), name: Array(rule.dropFirst()))
        default:
            return .failure(.syntax)
        }
    }

    private mutating func addKeyPattern(_ rule: [UInt8]) -> Result<Void, ACLRuleError> {
        if allKeys { return .failure(.patternAfterAllKeys) }
        var access = ACLKeyAccess.readWrite
        var offset = 1
        if rule.first == UInt8(ascii: "%") {
            // %R~, %W~, %RW~ (Redis's loop): R and W, each at most once, any case, then `~`.
            access = []
            while offset < rule.count {
                let letter = rule[offset] & ~0x20
                if letter == UInt8(ascii: "R") && !access.contains(.read) {
                    access.insert(.read)
                } else if letter == UInt8(ascii: "W") && !access.contains(.write) {
                    access.insert(.write)
                } else if rule[offset] == UInt8(ascii: "~") {
                    offset += 1
                    break
                } else {
                    return .failure(.syntax)
                }
                offset += 1
            }
            if access.isEmpty { return .failure(.syntax) }
        }
        let pattern = Array(rule[min(offset, rule.count)...])
        if Self.hasSpaces(pattern) { return .failure(.syntax) }
        if let index = keyPatterns.firstIndex(where: { $0.pattern == pattern }) {
            // Redis merges the rights of a pattern given twice.
            keyPatterns[index] = KeyPattern(pattern: pattern, access: keyPatterns[index].access.union(access))
        } else {
            keyPatterns.append(KeyPattern(pattern: pattern, access: access))
        }
        return .success(())
    }

    /// Redis's ACLStringHasSpaces: patterns may not hold white space (isspace) or NUL.
    private static func hasSpaces(_ bytes: [UInt8]) -> Bool {
        bytes.contains { $0 == 0 || $0 == 0x20 || (0x09...0x0D).contains($0) }
    }

    private mutating func applyCommandRule(isAllow: Bool, name: [UInt8]) -> Result<Void, ACLRuleError> {
        if name.first == UInt8(ascii: "@") {
            let categoryName = name.dropFirst()
            if CommandTable.equalsIgnoringCase(categoryName, lowercase: "all".utf8) {
                return apply(Array((isAllow ? "+@all" : "-@all").utf8))
            }
            guard let category = ACLCategory.named(categoryName) else { return .failure(.unknownCommandOrCategory) }
            // Redis's ACLSetSelectorCommandBitsForCategory: a container in the category brings
            // every subcommand along (containers are @slow), and a subcommand goes by its own.
            for top in CommandTable.all {
                if top.categories.contains(category) {
                    allowed.set(top.id, isAllow)
                    // Redis's ACLChangeSelectorPerm: `+select|0 -@connection` refuses SELECT 0 too.
                    firstArguments[top.id] = nil
                    for sub in top.subcommands { allowed.set(sub.id, isAllow) }
                }
                for sub in top.subcommands where sub.categories.contains(category) { allowed.set(sub.id, isAllow) }
            }
            updateRules("@" + category.name, isAllow: isAllow)
            return .success(())
        }
        let lowered = name.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
        if let spec = CommandTable.lookup(fullName: lowered), !(lowered.contains(UInt8(ascii: "|")) && !spec.name.contains("|")) {
            allowed.set(spec.id, isAllow)
            firstArguments[spec.id] = nil
            for sub in spec.subcommands {
                allowed.set(sub.id, isAllow)
                firstArguments[sub.id] = nil
            }
            updateRules(spec.name, isAllow: isAllow)
            return .success(())
        }
        // `+command|argument` on a command without subcommands: a first-argument rule, additive
        // only. Redis splits at the last `|`, so `+config|get|x` names a subcommand's argument.
        guard isAllow, let bar = lowered.lastIndex(of: UInt8(ascii: "|")),
            let spec = CommandTable.lookup(fullName: Array(lowered[..<bar]))
        else { return .failure(.unknownCommandOrCategory) }
        if spec.name.contains("|") { return .failure(.firstArgumentRule) }
        let argument = Array(lowered[(bar + 1)...])
        if argument.isEmpty { return .failure(.syntax) }
        // A container's `+name|word` where `word` is no subcommand of it.
        if !spec.subcommands.isEmpty { return .failure(.unknownCommandOrCategory) }
        if !allowed.contains(spec.id) {
            if !(firstArguments[spec.id] ?? []).contains(argument) { firstArguments[spec.id, default: []].append(argument) }
        }
        updateRules(spec.name + "|" + String(decoding: argument, as: UTF8.self), isAllow: true)
        return .success(())
    }

    /// Redis's ACLUpdateCommandRules: drop earlier rules for the same name (and, for a container,
    /// for its subcommands), then append this one.
    private mutating func updateRules(_ name: String, isAllow: Bool) {
        commandRules.removeAll { rule in
            let ruleName = rule.dropFirst()
            return ruleName == name || (!name.hasPrefix("@") && ruleName.hasPrefix(name + "|"))
        }
        commandRules.append((isAllow ? "+" : "-") + name)
    }

    /// Keys, channels and commands as ACL LIST and the ACL file write them.
    var description: String {
        var parts: [String] = []
        if allKeys {
            parts.append("~*")
        } else {
            parts += keyPatterns.map(\.text)
        }
        if allChannels {
            parts.append("&*")
        } else {
            parts.append("resetchannels")
            parts += channelPatterns.map { "&" + String(decoding: $0, as: UTF8.self) }
        }
        parts.append(commandsDescription)
        return parts.joined(separator: " ")
    }

    var commandsDescription: String {
        ([allowsAllCommands ? "+@all" : "-@all"] + commandRules).joined(separator: " ")
    }

    var keysDescription: String {
        allKeys ? "~*" : keyPatterns.map(\.text).joined(separator: " ")
    }

    var channelsDescription: String {
        allChannels ? "&*" : channelPatterns.map { "&" + String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
    }

    /// Whether this selector lets `spec` run with `keys` (and `firstArgument`, the argument after
    /// the command's name); the denial otherwise.
    @inline(__always)
    func check<Keys: RandomAccessCollection<RequestArgumentKey>>(
        _ spec: CommandSpec, firstArgument: RequestArgument?, keys: Keys
    ) -> ACLDenial? where Keys.Index == Int {
        if !spec.isNoAuth && !allowed.contains(spec.id) {
            guard let allowedArguments = firstArguments[spec.id], let firstArgument,
                allowedArguments.contains(where: { CommandTable.equalsIgnoringCase(firstArgument, lowercase: $0) })
            else { return .command }
        }
        if allKeys { return nil }
        for index in keys.indices where !permitsKey(keys[index].name, keys[index].access) {
            return .key(index - keys.startIndex)
        }
        return nil
    }

    /// The hot path's check: true when this selector certainly allows the command line (its bit,
    /// and every key matched in place by a pattern granting the access needed); false when
    /// `check` must decide (and say why). Reads the request without views or copies.
    @inline(__always)
    func quicklyAllows(_ spec: CommandSpec, _ args: RequestArguments) -> Bool {
        guard spec.isNoAuth || allowed.contains(spec.id) else { return false }
        if allKeys { return true }
        let access = spec.keyAccess
        let keys = spec.keyPositions(in: args)
        for index in 0..<keys.count where !permitsKey(at: keys.first + index * keys.step, of: args, access) {
            return false
        }
        return !spec.hasDeadLetterKey
    }

    @inline(__always)
    private func permitsKey(at position: Int, of args: RequestArguments, _ access: ACLKeyAccess) -> Bool {
        args.withBytes(ofArgument: position) { key in
            for index in keyPatterns.indices where keyPatterns[index].access.isSuperset(of: access) {
                if keyPatterns[index].matches(bytes: key) { return true }
            }
            return false
        }
    }

    /// Redis's ACLSelectorCheckKey: a pattern grants the access the command needs of the key.
    @inline(__always)
    private func permitsKey(_ key: RequestArgument, _ access: ACLKeyAccess) -> Bool {
        for pattern in keyPatterns where pattern.access.isSuperset(of: access) {
            if pattern.matches(key) { return true }
        }
        return false
    }
}

/// The access a command needs to a key, and that a key pattern grants.
struct ACLKeyAccess: OptionSet, Sendable, Hashable {
    let rawValue: UInt8
    static let read = ACLKeyAccess(rawValue: 1)
    static let write = ACLKeyAccess(rawValue: 2)
    static let readWrite: ACLKeyAccess = [.read, .write]
}

/// A key a command names and the access it needs to it.
struct RequestArgumentKey {
    let name: RequestArgument
    let access: ACLKeyAccess

    init(name: RequestArgument, access: ACLKeyAccess) {
        self.name = name
        self.access = access
    }

    init(name: [UInt8], access: ACLKeyAccess) {
        self.init(name: RequestArgument(name), access: access)
    }
}

extension CommandSpec {
    /// Where its key layout puts the keys of a command line: `count` arguments from `first`,
    /// `step` apart (XGROUP SETPOLICY's dead-letter stream is not in the layout). For XREAD and
    /// XREADGROUP, Redis's key spec: the first STREAMS at or after `searchFrom`, then the first
    /// half of what follows. Reads the request in place.
    @inline(__always)
    func keyPositions(in args: RequestArguments) -> (first: Int, step: Int, count: Int) {
        switch keyLayout {
        case .none: return (0, 1, 0)
        case .range(let first, let last, let step):
            guard args.count > first else { return (0, 1, 0) }
            let end = last < 0 ? args.count + last : Swift.min(last, args.count - 1)
            return (first, step, end >= first ? (end - first) / step + 1 : 0)
        case .streams(let searchFrom):
            var index = searchFrom
            while index < args.count
                && !args.withBytes(ofArgument: index, { CommandTable.equalsIgnoringCase($0, lowercase: "streams".utf8) })
            {
                index += 1
            }
            guard index < args.count else { return (0, 1, 0) }
            return (index + 1, 1, (args.count - index - 1) / 2)
        }
    }
}

/// The keys of one command line, as ACL checks see them: computed from the spec's key layout on
/// access, so the common commands (one key, or XREAD's STREAMS list) allocate nothing.
struct CommandKeys: RandomAccessCollection {
    private let args: RequestArguments
    private let first: Int
    private let step: Int
    let count: Int
    private let access: ACLKeyAccess
    /// Keys outside the layout (XGROUP SETPOLICY's dead-letter stream), after the others.
    private let extra: [RequestArgumentKey]

    init(_ spec: CommandSpec, _ args: RequestArguments) {
        self.args = args
        access = spec.keyAccess
        let (first, step, count) = spec.keyPositions(in: args)
        self.first = first
        self.step = step
        var extra: [RequestArgumentKey] = []
        if spec.hasDeadLetterKey {
            // The dead-letter stream is written to when an entry is given up on.
            for index in 4..<Swift.max(4, args.count - 1) where args[index].isKeyword("DEADLETTER") {
                extra.append(RequestArgumentKey(name: args[index + 1], access: .write))
            }
        }
        self.extra = extra
        self.count = count + extra.count
    }

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    @inline(__always)
    subscript(index: Int) -> RequestArgumentKey {
        let inLayout = count - extra.count
        if index < inLayout { return RequestArgumentKey(name: args[first + index * step], access: access) }
        return extra[index - inLayout]
    }
}

/// Why a selector refused a command: the command itself, or the key at this index of the keys.
enum ACLDenial: Equatable, Sendable {
    case command
    case key(Int)

    /// Redis ranks denials (ACL_DENIED_CMD < ACL_DENIED_KEY) and reports the highest.
    var rank: Int {
        switch self {
        case .command: return 1
        case .key: return 2
        }
    }
}

/// A rule ACL SETUSER (or the ACL file) could not take; `text` is Redis's wording.
enum ACLRuleError: Error, Equatable, Sendable {
    case syntax
    case unknownCommandOrCategory
    case patternAfterAllKeys
    case patternAfterAllChannels
    case noSuchPassword
    case badHash
    case firstArgumentRule
    case selectorUnbalanced

    var text: String {
        switch self {
        case .syntax: return "Syntax error"
        case .unknownCommandOrCategory: return "Unknown command or category name in ACL"
        case .patternAfterAllKeys:
            return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
        case .patternAfterAllChannels:
            return "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
        case .noSuchPassword: return "The password you are trying to remove from the user does not exist"
        case .badHash: return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
        case .firstArgumentRule: return "Allowing first-arg of a subcommand is not supported"
        case .selectorUnbalanced: return "Unmatched parenthesis in acl selector starting at '('."
        }
    }
}

/// One bit per command spec, held inline (four words: no allocation, nothing to retain when a
/// check reads it; Spool has about 150 specs).
struct CommandBits: Sendable, Equatable {
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private var w2: UInt64 = 0
    private var w3: UInt64 = 0

    init() { precondition(CommandTable.specCount <= Self.capacity, "more commands than CommandBits holds") }

    static let capacity = 256
    static let full: CommandBits = {
        var bits = CommandBits()
        for id in 0..<CommandTable.specCount { bits.set(id, true) }
        return bits
    }()

    var isFull: Bool { self == Self.full }

    @inline(__always)
    func contains(_ id: Int) -> Bool {
        let word: UInt64
        switch id &>> 6 {
        case 0: word = w0
        case 1: word = w1
        case 2: word = w2
        default: word = w3
        }
        return word & (1 &<< UInt64(id & 63)) != 0
    }

    mutating func set(_ id: Int, _ value: Bool) {
        let mask: UInt64 = 1 << UInt64(id & 63)
        switch id >> 6 {
        case 0: w0 = value ? w0 | mask : w0 & ~mask
        case 1: w1 = value ? w1 | mask : w1 & ~mask
        case 2: w2 = value ? w2 | mask : w2 & ~mask
        default: w3 = value ? w3 | mask : w3 & ~mask
        }
    }
}
