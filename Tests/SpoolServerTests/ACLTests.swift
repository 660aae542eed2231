import Testing
@testable import SpoolServer
import SpoolProtocol

/// ACL users, selectors, checks, the ACL file, ACL LOG and password digests, without sockets:
/// expectations are Redis 8's (src/acl.c and tests/unit/acl.tcl, acl-v2.tcl), with Spool's
/// commands in place of the Redis commands it does not have.
@Suite struct ACLTests {
    // MARK: Helpers

    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    private static func control(requirepass: String = "", logCapacity: Int = 128) -> AccessControl {
        AccessControl(requirepass: requirepass, aclFile: "", logCapacity: logCapacity)
    }

    /// ACL SETUSER's arguments: `rules` split at spaces, as a client would send them.
    private static func words(_ rules: String) -> [[UInt8]] {
        rules.split(separator: " ").map { Array($0.utf8) }
    }

    /// A user as ACL SETUSER makes it (new, `-@all`, then every rule).
    private static func makeUser(_ name: String = "bob", _ rules: String = "") throws -> ACLUser {
        try control().setUser(bytes(name), rules: words(rules)).get()
    }

    /// ACL SETUSER's error reply, nil when it succeeded.
    private static func setUserError(_ control: AccessControl, _ name: String, _ rules: [String]) -> String? {
        switch control.setUser(bytes(name), rules: rules.map { bytes($0) }) {
        case .success: return nil
        case .failure(let error): return error.text
        }
    }

    /// The error one rule gives, nil when it applied.
    private static func ruleError(_ user: ACLUser, _ rule: String) -> ACLRuleError? {
        if case .failure(let error) = user.apply(bytes(rule)) { return error }
        return nil
    }

    private static func apply(_ user: ACLUser, _ rules: String) {
        for rule in words(rules) {
            if case .failure(let error) = user.apply(rule) {
                Issue.record("rule \(String(decoding: rule, as: UTF8.self)) failed: \(error.text)")
            }
        }
    }

    private static func spec(_ name: String) throws -> CommandSpec {
        try #require(CommandTable.lookup(fullName: bytes(name)), "no command \(name)")
    }

    /// `user.check` of the command `name` (full name) with these keys (each needing the access
    /// the command declares) and first argument.
    private static func check(_ user: ACLUser, _ name: String, first: String? = nil, keys: [String] = []) throws -> ACLDenial? {
        let command = try Self.spec(name)
        return user.check(
            command, firstArgument: first.map { RequestArgument(bytes($0)) },
            keys: keys.map { RequestArgumentKey(name: bytes($0), access: command.keyAccess) })
    }

    private static let digestOfABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    private static let digestOfEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    // MARK: User flags and passwords

    @Test func aNewUserIsOffWithNoPasswordsKeysChannelsOrCommands() throws {
        let user = try Self.makeUser("bob")
        #expect(!user.isEnabled)
        #expect(!user.noPass)
        #expect(user.passwords.isEmpty)
        #expect(user.flags == ["off", "sanitize-payload"])
        #expect(user.root.keysDescription == "")
        #expect(user.root.channelsDescription == "")
        #expect(user.root.commandsDescription == "-@all")
        #expect(!user.accepts(password: Self.bytes("")))
    }

    @Test func onAndOffDecideWhetherTheUserMayLogIn() throws {
        let user = try Self.makeUser("bob", "nopass")
        #expect(!user.accepts(password: Self.bytes("anything")))
        Self.apply(user, "on")
        #expect(user.isEnabled)
        #expect(user.flags == ["on", "nopass", "sanitize-payload"])
        #expect(user.accepts(password: Self.bytes("anything")))
        Self.apply(user, "OFF")
        #expect(!user.isEnabled)
        #expect(!user.accepts(password: Self.bytes("anything")))
    }

    @Test func sanitizePayloadFlagsAreKeptAndShown() throws {
        let user = try Self.makeUser("bob", "skip-sanitize-payload")
        #expect(user.flags == ["off", "skip-sanitize-payload"])
        Self.apply(user, "sanitize-payload")
        #expect(user.flags == ["off", "sanitize-payload"])
    }

    @Test func nopassDropsThePasswordsAndResetpassDropsNopass() throws {
        let user = try Self.makeUser("bob", "on >secret")
        #expect(user.accepts(password: Self.bytes("secret")))
        #expect(!user.accepts(password: Self.bytes("other")))
        Self.apply(user, "nopass")
        #expect(user.noPass)
        #expect(user.passwords.isEmpty)
        #expect(user.accepts(password: Self.bytes("other")))
        Self.apply(user, "resetpass")
        #expect(!user.noPass)
        #expect(user.passwords.isEmpty)
        #expect(!user.accepts(password: Self.bytes("secret")))
        #expect(!user.accepts(password: Self.bytes("")))
    }

    @Test func aPasswordIsKeptOnceAsItsSha256Digest() throws {
        let user = try Self.makeUser("bob", "on nopass >abc >abc")
        #expect(!user.noPass, "a password clears nopass")
        #expect(user.passwords == [Self.digestOfABC])
        #expect(user.accepts(password: Self.bytes("abc")))
        #expect(!user.accepts(password: Self.bytes("abd")))
        Self.apply(user, ">")
        #expect(user.passwords == [Self.digestOfABC, Self.digestOfEmpty])
        #expect(user.accepts(password: Self.bytes("")))
    }

    @Test func aHashRuleTakesSixtyFourLowercaseHexDigitsOnly() throws {
        let user = try Self.makeUser("bob", "on")
        #expect(Self.ruleError(user, "#" + Self.digestOfABC) == nil)
        #expect(user.passwords == [Self.digestOfABC])
        #expect(user.accepts(password: Self.bytes("abc")))
        #expect(Self.ruleError(user, "#" + Self.digestOfABC.uppercased()) == .badHash)
        #expect(Self.ruleError(user, "#" + Self.digestOfABC.dropLast()) == .badHash)
        #expect(Self.ruleError(user, "#" + Self.digestOfABC + "0") == .badHash)
        #expect(Self.ruleError(user, "#" + Self.digestOfABC.dropLast() + "g") == .badHash)
        #expect(Self.ruleError(user, "!" + Self.digestOfABC.uppercased()) == .badHash)
        #expect(Self.ruleError(user, "#") == .badHash)
        #expect(user.passwords == [Self.digestOfABC])
    }

    @Test func removingAPasswordTheUserDoesNotHaveIsAnError() throws {
        let user = try Self.makeUser("bob", "on >abc >other")
        #expect(Self.ruleError(user, "<missing") == .noSuchPassword)
        #expect(Self.ruleError(user, "!" + Self.digestOfEmpty) == .noSuchPassword)
        #expect(Self.ruleError(user, "<abc") == nil)
        #expect(!user.accepts(password: Self.bytes("abc")))
        #expect(user.accepts(password: Self.bytes("other")))
        #expect(Self.ruleError(user, "<abc") == .noSuchPassword)
        #expect(Self.ruleError(user, "!" + PasswordHash.sha256Hex(Self.bytes("other"))) == nil)
        #expect(user.passwords.isEmpty)
    }

    @Test func passwordErrorsReadAsInRedis() {
        let control = Self.control()
        #expect(
            Self.setUserError(control, "bob", ["<nope"])
                == "ERR Error in ACL SETUSER modifier '<nope': The password you are trying to remove from the user does not exist")
        #expect(
            Self.setUserError(control, "bob", ["#abc"])
                == "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
    }

    @Test func anEmptyRuleDoesNothing() throws {
        let control = Self.control()
        #expect(Self.setUserError(control, "bob", ["on", "", "+xadd"]) == nil)
        let user = try #require(control.user(named: Self.bytes("bob")))
        #expect(user.description == "user bob on sanitize-payload resetchannels -@all +xadd")
    }

    @Test func usernamesWithWhiteSpaceOrNulAreRefused() {
        let control = Self.control()
        for name in ["a b", "a\tb", "a\nb", "a\rb", "a\u{0B}b", "a\u{0C}b", "a\u{0}b"] {
            #expect(
                Self.setUserError(control, name, ["on"]) == "ERR Usernames can't contain spaces or null characters",
                "name \(name.debugDescription)")
        }
        #expect(control.users.count == 1)
    }

    // MARK: Keys and channels

    @Test func keyPatternsCarryReadWriteOrBoth() throws {
        let user = try Self.makeUser("bob", "~foo %R~bar %W~baz %RW~qux %wr~quux")
        #expect(user.root.keysDescription == "~foo %R~bar %W~baz ~qux ~quux")
    }

    @Test func aPatternGivenTwiceJoinsItsRights() throws {
        // acl-v2.tcl "Test R+W is the same as all permissions".
        let user = try Self.makeUser("bob", "%R~foo %W~foo %RW~bar")
        #expect(user.root.keysDescription == "~foo ~bar")
        let again = try Self.makeUser("bob", "~foo ~foo %R~foo")
        #expect(again.root.keysDescription == "~foo")
    }

    @Test func malformedKeyPatternsAreSyntaxErrors() throws {
        let user = try Self.makeUser("bob")
        for rule in ["%~foo", "%X~foo", "%RR~foo", "%RWR~foo", "%R-~foo", "~foo bar", "%R~a\tb", "~a\u{0}b"] {
            #expect(Self.ruleError(user, rule) == .syntax, "rule \(rule.debugDescription)")
        }
        #expect(user.root.keysDescription == "")
    }

    @Test func allkeysAndResetkeys() throws {
        let user = try Self.makeUser("bob", "~foo allkeys")
        #expect(user.root.allKeys)
        #expect(user.root.keysDescription == "~*")
        Self.apply(user, "resetkeys")
        #expect(!user.root.allKeys)
        #expect(user.root.keysDescription == "")
        Self.apply(user, "~*")
        #expect(user.root.allKeys)
    }

    @Test func aPatternAfterAllKeysIsRefused() throws {
        let user = try Self.makeUser("bob", "allkeys")
        #expect(Self.ruleError(user, "~foo") == .patternAfterAllKeys)
        #expect(Self.ruleError(user, "%R~foo") == .patternAfterAllKeys)
        #expect(Self.ruleError(user, "%X~foo") == .patternAfterAllKeys, "Redis tests allkeys before the letters")
        #expect(
            Self.setUserError(Self.control(), "bob", ["~*", "~foo"])
                == "ERR Error in ACL SETUSER modifier '~foo': Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
    }

    @Test func allKeysGivenAgainIsNoError() throws {
        // Redis sets the flag again for `~*` and `allkeys`: ACL SETUSER default ~* works.
        let user = try Self.makeUser("bob", "allkeys")
        #expect(Self.ruleError(user, "~*") == nil)
        #expect(Self.ruleError(user, "ALLKEYS") == nil)
        #expect(user.root.keysDescription == "~*")
        let control = Self.control()
        #expect(Self.setUserError(control, "default", ["on", "nopass", "~*", "&*", "+@all"]) == nil)
        #expect(control.defaultUser.description == "user default on nopass sanitize-payload ~* &* +@all")
    }

    @Test func onlyTheLiteralStarPatternMeansAllKeys() throws {
        // %RW~* and %R~* are patterns; more patterns may follow them.
        let user = try Self.makeUser("bob", "%R~* %RW~* ~foo")
        #expect(!user.root.allKeys)
        #expect(user.root.keysDescription == "~* ~foo")
    }

    @Test func channelPatternsAllchannelsAndResetchannels() throws {
        let user = try Self.makeUser("bob", "&foo &bar &foo")
        #expect(user.root.channelsDescription == "&foo &bar")
        #expect(user.root.description == "resetchannels &foo &bar -@all")
        Self.apply(user, "allchannels")
        #expect(user.root.allChannels)
        #expect(user.root.channelsDescription == "&*")
        #expect(Self.ruleError(user, "&baz") == .patternAfterAllChannels)
        #expect(Self.ruleError(user, "&*") == nil)
        Self.apply(user, "resetchannels")
        #expect(user.root.channelsDescription == "")
        #expect(Self.ruleError(user, "&a b") == .syntax)
        #expect(ACLRuleError.patternAfterAllChannels.text
            == "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")
    }

    // MARK: Commands and categories

    @Test func plusAndMinusCommandAllowOrDenyIt() throws {
        let user = try Self.makeUser("bob", "on allkeys +xadd")
        #expect(try Self.check(user, "xadd", keys: ["s"]) == nil)
        #expect(try Self.check(user, "xrange", keys: ["s"]) == .command)
        Self.apply(user, "-XADD")
        #expect(try Self.check(user, "xadd", keys: ["s"]) == .command)
        #expect(user.root.commandsDescription == "-@all -xadd")
    }

    @Test func aContainerRuleCoversItsSubcommandsAndASubcommandRuleOnlyItself() throws {
        let user = try Self.makeUser("bob", "+client|list")
        #expect(try Self.check(user, "client|list") == nil)
        #expect(try Self.check(user, "client|id") == .command)
        Self.apply(user, "+client")
        #expect(try Self.check(user, "client|id") == nil)
        #expect(try Self.check(user, "client|setname") == nil)
        Self.apply(user, "-client|setname")
        #expect(try Self.check(user, "client|setname") == .command)
        #expect(try Self.check(user, "client|id") == nil)
        #expect(user.root.commandsDescription == "-@all +client -client|setname")
    }

    @Test func unknownCommandsAndCategoriesAreRefused() throws {
        let user = try Self.makeUser("bob")
        for rule in ["+nosuch", "-nosuch", "+client|nosuch", "-client|nosuch", "+@nosuch", "-@nosuch", "+", "-", "+@",
                     "-select|0", "+xadd|a|b", "-config|get|x"] {
            #expect(Self.ruleError(user, rule) == .unknownCommandOrCategory, "rule \(rule)")
        }
        for rule in ["foo", "*", "on+", ")", "@all"] {
            #expect(Self.ruleError(user, rule) == .syntax, "rule \(rule)")
        }
        #expect(user.root.commandsDescription == "-@all")
        let control = Self.control()
        #expect(
            Self.setUserError(control, "u", ["+nosuchcmd"])
                == "ERR Error in ACL SETUSER modifier '+nosuchcmd': Unknown command or category name in ACL")
        #expect(Self.setUserError(control, "u", ["+@nosuchcat"])
            == "ERR Error in ACL SETUSER modifier '+@nosuchcat': Unknown command or category name in ACL")
        #expect(Self.setUserError(control, "u", ["foo"]) == "ERR Error in ACL SETUSER modifier 'foo': Syntax error")
    }

    @Test func categoriesAllowOrDenyTheirCommands() throws {
        let user = try Self.makeUser("bob", "on allkeys +@stream -@write")
        #expect(try Self.check(user, "xrange", keys: ["s"]) == nil)
        #expect(try Self.check(user, "xinfo|stream", keys: ["s"]) == nil)
        #expect(try Self.check(user, "xadd", keys: ["s"]) == .command)
        #expect(try Self.check(user, "xgroup|create", keys: ["s"]) == .command)
        #expect(try Self.check(user, "ping") == .command)
        Self.apply(user, "+@ALL -@admin")
        #expect(try Self.check(user, "xadd", keys: ["s"]) == nil)
        #expect(try Self.check(user, "client|list") == .command)
        #expect(try Self.check(user, "client|id") == nil)
        #expect(try Self.check(user, "config|get") == .command)
        #expect(user.root.commandsDescription == "+@all -@admin")
    }

    @Test func firstArgumentRulesAllowOnlyThatArgument() throws {
        // Redis's deprecated `+select|0`.
        let user = try Self.makeUser("bob", "on +select|0")
        #expect(try Self.check(user, "select", first: "0") == nil)
        #expect(try Self.check(user, "select", first: "1") == .command)
        #expect(try Self.check(user, "select") == .command)
        #expect(user.root.commandsDescription == "-@all +select|0")
        Self.apply(user, "+ECHO|Hello")
        #expect(try Self.check(user, "echo", first: "hELLo") == nil)
        #expect(try Self.check(user, "echo", first: "bye") == .command)
        Self.apply(user, "+select")
        #expect(try Self.check(user, "select", first: "1") == nil)
        Self.apply(user, "-select")
        #expect(try Self.check(user, "select", first: "0") == .command, "-select drops the first arguments")
        #expect(user.root.commandsDescription == "-@all +echo|hello -select")
    }

    @Test func aCategoryRuleDropsTheFirstArgumentsOfItsCommands() throws {
        // Redis's ACLChangeSelectorPerm resets a command's first arguments, categories included.
        let user = try Self.makeUser("bob", "on +select|0 -@connection")
        #expect(try Self.check(user, "select", first: "0") == .command)
        #expect(user.root.commandsDescription == "-@all +select|0 -@connection")
    }

    @Test func firstArgumentRulesHaveRedisLimits() throws {
        let user = try Self.makeUser("bob")
        // acl.tcl "ACLs cannot include a subcommand with a specific arg".
        #expect(Self.ruleError(user, "+config|get|appendonly") == .firstArgumentRule)
        #expect(Self.ruleError(user, "+client|list|x") == .firstArgumentRule)
        #expect(Self.ruleError(user, "+select|") == .syntax)
        #expect(Self.ruleError(user, "+config|") == .syntax)
        #expect(Self.ruleError(user, "-select|0") == .unknownCommandOrCategory, "first arguments are additive only")
        #expect(user.root.commandsDescription == "-@all")
        #expect(ACLRuleError.firstArgumentRule.text == "Allowing first-arg of a subcommand is not supported")
    }

    // MARK: Selectors, reset, all-or-nothing

    @Test func aSelectorHasItsOwnRightsAndStartsWithNone() throws {
        let user = try Self.makeUser("bob", "on ~a* +xrange (~b* +xadd) ()")
        #expect(user.selectors.count == 2)
        #expect(user.selectors[0].description == "~b* resetchannels -@all +xadd")
        #expect(user.selectors[1].keysDescription == "")
        #expect(user.selectors[1].channelsDescription == "")
        #expect(user.selectors[1].commandsDescription == "-@all")
        #expect(user.description == "user bob on sanitize-payload ~a* resetchannels -@all +xrange (~b* resetchannels -@all +xadd) (resetchannels -@all)")
    }

    @Test func selectorErrorsNameTheWholeSelector() {
        let control = Self.control()
        #expect(Self.setUserError(control, "u", ["(this-is-invalid)"])
            == "ERR Error in ACL SETUSER modifier '(this-is-invalid)': Syntax error")
        #expect(Self.setUserError(control, "u", ["(&*", "&fail)"])?.hasPrefix(
            "ERR Error in ACL SETUSER modifier '(&* &fail)': Adding a pattern after the * pattern") == true)
        #expect(Self.setUserError(control, "u", [" () "]) == "ERR Error in ACL SETUSER modifier ' () ': Syntax error")
        #expect(Self.setUserError(control, "u", [")"]) == "ERR Error in ACL SETUSER modifier ')': Syntax error")
        #expect(Self.setUserError(control, "u", ["(on)"]) == "ERR Error in ACL SETUSER modifier '(on)': Syntax error")
        #expect(control.users.count == 1)
    }

    @Test func selectorArgumentsSplitAcrossArgumentsAreJoined() throws {
        let rules = ["on", "(~a*", "%R~b*", "+xadd)", "(+xlen)", "off"].map { Self.bytes($0) }
        let merged = try AccessControl.mergeSelectorArguments(rules).get()
        #expect(merged.map { String(decoding: $0, as: UTF8.self) } == ["on", "(~a* %R~b* +xadd)", "(+xlen)", "off"])
        let control = Self.control()
        let user = try control.setUser(Self.bytes("bob"), rules: Self.words("(~a* +xadd) (~b*   +xlen)")).get()
        #expect(user.selectors.map(\.description) == ["~a* resetchannels -@all +xadd", "~b* resetchannels -@all +xlen"])
    }

    @Test func anUnmatchedParenthesisNamesTheArgumentThatOpenedIt() throws {
        for rules in [["on", "(~x*", "+xadd"], ["("], ["(~x*", "+xadd", "(+xlen"]] {
            switch AccessControl.mergeSelectorArguments(rules.map { Self.bytes($0) }) {
            case .success(let merged): Issue.record("merged \(merged.count) rules")
            case .failure(let error):
                let opening = rules.first { $0.hasPrefix("(") }!
                #expect(String(decoding: error.rule, as: UTF8.self) == opening)
            }
        }
        let control = Self.control()
        #expect(Self.setUserError(control, "bob", ["reset", "(~x:*", "+xadd"])
            == "ERR Unmatched parenthesis in acl selector starting at '(~x:*'.")
        #expect(control.user(named: Self.bytes("bob")) == nil)
        // Applied directly, a `(` rule without its `)` is refused too.
        let user = try Self.makeUser("bob")
        #expect(Self.ruleError(user, "(~x*") == .selectorUnbalanced)
    }

    @Test func clearselectorsKeepsTheRootRights() throws {
        let user = try Self.makeUser("bob", "on ~a* +xrange (~b* +xadd) (+xlen)")
        Self.apply(user, "clearselectors")
        #expect(user.selectors.isEmpty)
        #expect(user.description == "user bob on sanitize-payload ~a* resetchannels -@all +xrange")
    }

    @Test func resetReturnsTheUserToItsStateWhenMade() throws {
        let user = try Self.makeUser(
            "bob", "on >abc skip-sanitize-payload allkeys allchannels +@all -xadd +select|0 (~b* +xadd)")
        Self.apply(user, "reset")
        #expect(user.description == "user bob off sanitize-payload resetchannels -@all")
        #expect(!user.allowsEverything)
        Self.apply(user, "on nopass reset")
        #expect(!user.noPass)
        #expect(!user.accepts(password: Self.bytes("")))
    }

    @Test func aFailedSetuserChangesNothing() throws {
        let control = Self.control()
        let bob = try control.setUser(Self.bytes("bob"), rules: Self.words("on >abc ~a* +xadd")).get()
        let before = bob.description
        #expect(Self.setUserError(control, "bob", ["off", "resetpass", "resetkeys", "-xadd", "(+xlen)", "+nosuch"]) != nil)
        #expect(bob.description == before)
        #expect(bob.isEnabled)
        #expect(bob.accepts(password: Self.bytes("abc")))
        #expect(control.user(named: Self.bytes("bob")) === bob)
    }

    @Test func aFailedSetuserOfANewUserCreatesNothing() {
        let control = Self.control()
        // acl-v2.tcl "Test selector syntax error for ACL SETUSER".
        #expect(Self.setUserError(control, "selector-syntax", ["on", "(this-is-invalid)"]) != nil)
        #expect(Self.setUserError(control, "ghost", ["on", ">pw", "~*", "bad"]) != nil)
        #expect(control.user(named: Self.bytes("selector-syntax")) == nil)
        #expect(control.user(named: Self.bytes("ghost")) == nil)
        #expect(control.users.keys.sorted() == ["default"])
    }

    @Test func aSuccessfulSetuserChangesTheSameUserObject() throws {
        let control = Self.control()
        let first = try control.setUser(Self.bytes("bob"), rules: Self.words("on")).get()
        let second = try control.setUser(Self.bytes("bob"), rules: Self.words("+xadd")).get()
        #expect(first === second)
        #expect(first.description == "user bob on sanitize-payload resetchannels -@all +xadd")
    }

    // MARK: Described rules (ACL GETUSER "commands", ACL LIST)

    /// acl.tcl "ACL GETUSER provides correct results", one user changed step by step, with
    /// Spool's commands: xrange/xadd for hget/hset, @stream for @hash, echo for debug.
    @Test func commandRulesAreKeptCompactedAsRedisKeepsThem() throws {
        let control = Self.control()
        let steps: [(String, String)] = [
            ("+@all -@stream -@slow +xrange", "+@all -@stream -@slow +xrange"),
            // Re-added categories move to the end.
            ("-@stream", "+@all -@slow +xrange -@stream"),
            // Inverting a category replaces it.
            ("+@stream", "+@all -@slow +xrange +@stream"),
            // -@all compacts everything.
            ("-@all", "-@all"),
            ("-@string -@slow +@all", "+@all"),
            // Categories and commands are case-insensitive.
            ("-@all +@STREAM +@stream +@StReAm", "-@all +@stream"),
            ("-@all +XRANGE +xrange +xRaNgE", "-@all +xrange"),
            ("-@all +@stream +@slow +@set +@set +@slow +@stream", "-@all +@set +@slow +@stream"),
            ("-@all +xrange -xadd +xadd -xrange", "-@all +xadd -xrange"),
            // Subcommands are compacted into their container.
            ("-@all +client|list +client|list +config|get +config +acl|list -acl", "-@all +client|list +config -acl"),
            // First-argument rules, and a whole command replacing them.
            ("-@all +select|0 +select|0 +echo|segfault +echo", "-@all +select|0 +echo"),
            // Categories with nothing left to deny are kept.
            ("-@all -@dangerous", "-@all -@dangerous"),
            ("-@all +config +config|get -config|set +config", "-@all +config"),
        ]
        for (rules, expected) in steps {
            let user = try control.setUser(Self.bytes("adv-test"), rules: Self.words(rules)).get()
            #expect(user.root.commandsDescription == expected, "after \(rules)")
        }
    }

    @Test func aSubcommandRuleOfANewUserAndThenItsContainer() throws {
        let control = Self.control()
        let user = try control.setUser(Self.bytes("newuser"), rules: Self.words("+client|list")).get()
        #expect(user.root.commandsDescription == "-@all +client|list")
        _ = try control.setUser(Self.bytes("newuser"), rules: Self.words("+client")).get()
        #expect(user.root.commandsDescription == "-@all +client")
        let other = try control.setUser(Self.bytes("other"), rules: Self.words("+@all -client|list")).get()
        #expect(other.root.commandsDescription == "+@all -client|list")
    }

    @Test func describedRulesRebuildTheSameRights() throws {
        let rules = "on +@all -@stream +xrange -client|list +select|0 -@admin +client|id ~a* %R~b* &c (+xadd %W~d*)"
        let user = try Self.makeUser("bob", rules)
        let line = user.description
        let words = line.split(separator: " ").dropFirst(2).map { Array($0.utf8) }
        let rebuilt = try Self.control().setUser(Self.bytes("bob"), rules: words).get()
        #expect(rebuilt.description == line)
        #expect(rebuilt.root == user.root)
        #expect(rebuilt.selectors == user.selectors)
    }

    @Test func aclListLinesForTheDefaultAndANewUser() throws {
        let control = Self.control()
        #expect(control.defaultUser.description == "user default on nopass sanitize-payload ~* &* +@all")
        #expect(control.defaultUser.allowsEverything)
        let bob = try control.setUser(Self.bytes("bob"), rules: []).get()
        #expect(bob.description == "user bob off sanitize-payload resetchannels -@all")
        // acl.tcl "Validate subset of channels is prefixed with resetchannels flag".
        let hp = try control.setUser(Self.bytes("hpuser"), rules: Self.words("on nopass resetchannels &foo +@all")).get()
        #expect(hp.description == "user hpuser on nopass sanitize-payload resetchannels &foo +@all")
        #expect(control.sortedUsers.map(\.name) == ["bob", "default", "hpuser"])
        #expect(control.fileText == [bob, control.defaultUser, hp].map { $0.description + "\n" }.joined())
    }

    @Test func aclListShowsDigestsAndSelectors() throws {
        let user = try Self.makeUser("alice", "on >abc ~cache:* %R~log:* &news +xadd (%W~out:* +xrange)")
        #expect(user.description == "user alice on sanitize-payload #\(Self.digestOfABC) ~cache:* %R~log:* resetchannels &news -@all +xadd (%W~out:* resetchannels -@all +xrange)")
        let withPassword = Self.control(requirepass: "abc")
        #expect(withPassword.defaultUser.description == "user default on sanitize-payload #\(Self.digestOfABC) ~* &* +@all")
    }

    @Test func getuserFieldsForKeysChannelsAndCommands() throws {
        // acl-v2.tcl "Test ACL GETUSER response information".
        let user = try Self.makeUser(
            "selector-info", "-@all +xrange resetchannels &channel1 %R~foo1 %W~bar1 ~baz1 (-@all +xadd resetchannels &channel2 %R~foo2 %W~bar2 ~baz2)")
        #expect(user.root.keysDescription == "%R~foo1 %W~bar1 ~baz1")
        #expect(user.root.channelsDescription == "&channel1")
        #expect(user.root.commandsDescription == "-@all +xrange")
        let selector = try #require(user.selectors.first)
        #expect(selector.keysDescription == "%R~foo2 %W~bar2 ~baz2")
        #expect(selector.channelsDescription == "&channel2")
        #expect(selector.commandsDescription == "-@all +xadd")
    }

    // MARK: Checks

    @Test func keyAccessFollowsRedisKeySpecs() throws {
        #expect(try Self.spec("xadd").keyAccess == .write)
        #expect(try Self.spec("xrange").keyAccess == .read)
        #expect(try Self.spec("xlen").keyAccess == [])
        #expect(try Self.spec("xread").keyAccess == .read)
        // XREADGROUP writes the pending list, yet its key spec is RO ACCESS.
        #expect(try Self.spec("xreadgroup").keyAccess == .read)
        #expect(try Self.spec("del").keyAccess == .write)
        #expect(try Self.spec("move").keyAccess == .readWrite)
        #expect(try Self.spec("xinfo|stream").keyAccess == .read)
    }

    /// acl-meta.md's ACL DRYRUN table on Redis 8.2.3: `ro` = +@all %R~s*, `wo` = +@all %W~s*,
    /// `any` = +@all ~s*.
    @Test func readAndWritePatternsGrantWhatEachCommandNeeds() throws {
        let ro = try Self.makeUser("ro", "on +@all %R~s*")
        let wo = try Self.makeUser("wo", "on +@all %W~s*")
        let any = try Self.makeUser("any", "on +@all ~s*")
        let cases: [(String, [String], ACLDenial?, ACLDenial?, ACLDenial?)] = [
            ("xreadgroup", ["s1"], nil, .key(0), nil),
            ("xread", ["s1", "s2"], nil, .key(0), nil),
            ("xread", ["s1", "other"], .key(1), .key(0), .key(1)),
            ("xadd", ["s1"], .key(0), nil, nil),
            ("xgroup|create", ["s1"], .key(0), nil, nil),
            ("xautoclaim", ["s1"], .key(0), nil, nil),
            ("del", ["s1"], .key(0), nil, nil),
            ("xrange", ["s1"], nil, .key(0), nil),
            ("xlen", ["s1"], nil, nil, nil),
            ("exists", ["s1"], nil, nil, nil),
            ("type", ["s1"], nil, nil, nil),
            ("watch", ["s1"], nil, nil, nil),
            ("xinfo|stream", ["s1"], nil, .key(0), nil),
            ("move", ["s1"], .key(0), .key(0), nil),
            // A name no pattern matches is refused whatever the command needs.
            ("xlen", ["t1"], .key(0), .key(0), .key(0)),
        ]
        for (command, keys, forRO, forWO, forAny) in cases {
            #expect(try Self.check(ro, command, keys: keys) == forRO, "ro \(command) \(keys)")
            #expect(try Self.check(wo, command, keys: keys) == forWO, "wo \(command) \(keys)")
            #expect(try Self.check(any, command, keys: keys) == forAny, "any \(command) \(keys)")
        }
    }

    @Test func allkeysSkipsTheKeyCheck() throws {
        let user = try Self.makeUser("bob", "on allkeys +xadd")
        #expect(try Self.check(user, "xadd", keys: ["anything"]) == nil)
        #expect(try Self.check(user, "xrange", keys: ["anything"]) == .command)
        let none = try Self.makeUser("bob", "on +xadd")
        #expect(try Self.check(none, "xadd", keys: ["anything"]) == .key(0))
        #expect(try Self.check(none, "xadd") == nil, "no keys, nothing to refuse")
    }

    @Test func aSelectorAllowsWhatTheRootDenies() throws {
        let user = try Self.makeUser("bob", "on ~a* +xrange (~b* +xadd)")
        #expect(try Self.check(user, "xrange", keys: ["a1"]) == nil)
        #expect(try Self.check(user, "xadd", keys: ["b1"]) == nil)
        // The root refuses the command, the selector the key: the key is reported.
        #expect(try Self.check(user, "xadd", keys: ["a1"]) == .key(0))
        #expect(try Self.check(user, "xrange", keys: ["b1"]) == .key(0))
        // Neither runs it at all.
        #expect(try Self.check(user, "xlen", keys: ["a1"]) == .command)
    }

    @Test func theDenialReportedIsTheKeyWithTheHighestIndex() throws {
        // acl.c: "Return the last key or channel that no selector could match."
        let user = try Self.makeUser("bob", "on +@all ~a* (+@all ~b*)")
        #expect(try Self.check(user, "del", keys: ["a1", "b1"]) == .key(1), "root fails at b1, the selector at a1")
        #expect(try Self.check(user, "del", keys: ["b1", "a1"]) == .key(1), "root fails at b1 (0), the selector at a1 (1)")
        #expect(try Self.check(user, "del", keys: ["c1", "a1", "b1"]) == .key(0))
        #expect(try Self.check(user, "del", keys: ["a1", "b2"]) == .key(1))
        #expect(try Self.check(user, "del", keys: ["a1", "a2"]) == nil)
        let three = try Self.makeUser("bob", "on +@all ~a* (+@all ~b*) (+@all ~c*)")
        // Each selector stops at its first refused key: root at b1 (1), the others at a1 (0).
        #expect(try Self.check(three, "del", keys: ["a1", "b1", "c1", "d1"]) == .key(1))
        // Root and ~b* stop at c1 (0), ~c* at b1 (2).
        #expect(try Self.check(three, "del", keys: ["c1", "c2", "b1", "a1"]) == .key(2))
    }

    @Test func noAuthCommandsAreAlwaysAllowed() throws {
        // acl-meta.md: a -@all user passes AUTH, HELLO and QUIT, not PING.
        let user = try Self.makeUser("bob", "on")
        #expect(try Self.check(user, "auth", first: "x") == nil)
        #expect(try Self.check(user, "hello") == nil)
        #expect(try Self.check(user, "quit") == nil)
        #expect(try Self.check(user, "ping") == .command)
        Self.apply(user, "+@all -auth -hello -quit")
        #expect(try Self.check(user, "auth") == nil)
        #expect(try Self.check(user, "hello") == nil)
        #expect(try Self.check(user, "quit") == nil)
    }

    @Test func commandsAreInRedisCategories() throws {
        func categories(_ name: String) throws -> ACLCategories { try Self.spec(name).categories }
        #expect(try categories("xadd") == ACLCategories([.write, .stream, .fast]))
        #expect(try categories("xread") == ACLCategories([.read, .stream, .slow, .blocking]))
        #expect(try categories("xreadgroup") == ACLCategories([.write, .stream, .slow, .blocking]))
        #expect(try categories("xrange") == ACLCategories([.read, .stream, .slow]))
        #expect(try categories("xlen") == ACLCategories([.read, .stream, .fast]))
        #expect(try categories("xgroup|help") == ACLCategories([.stream, .slow]))
        #expect(try categories("client") == ACLCategories([.slow]))
        #expect(try categories("xgroup") == ACLCategories([.slow]))
        #expect(try categories("acl") == ACLCategories([.slow]))
        #expect(try categories("client|list") == ACLCategories([.admin, .slow, .dangerous, .connection]))
        #expect(try categories("client|id") == ACLCategories([.slow, .connection]))
        #expect(try categories("config|get") == ACLCategories([.admin, .slow, .dangerous]))
        #expect(try categories("config|help") == ACLCategories([.slow]))
        #expect(try categories("acl|list") == ACLCategories([.admin, .slow, .dangerous]))
        #expect(try categories("acl|whoami") == ACLCategories([.slow]))
        #expect(try categories("ping") == ACLCategories([.fast, .connection]))
        #expect(try categories("auth") == ACLCategories([.fast, .connection]))
        #expect(try categories("info") == ACLCategories([.slow, .dangerous]))
        #expect(try categories("exec") == ACLCategories([.slow, .transaction]))
        #expect(try categories("del") == ACLCategories([.keyspace, .write, .slow]))
        #expect(try categories("dbsize") == ACLCategories([.keyspace, .read, .fast]))
        #expect(try categories("keys") == ACLCategories([.keyspace, .read, .slow, .dangerous]))
        #expect(try categories("flushall") == ACLCategories([.keyspace, .write, .slow, .dangerous]))
        #expect(try categories("shutdown") == ACLCategories([.admin, .slow, .dangerous]))
    }

    @Test func slowGrantsEverySubcommandOfAContainer() throws {
        // A container is @slow only; +@slow brings its subcommands along, even @fast ones would be.
        let user = try Self.makeUser("bob", "on +@slow")
        #expect(try Self.check(user, "client|list") == nil)
        #expect(try Self.check(user, "client|id") == nil)
        #expect(try Self.check(user, "config|set") == nil)
        #expect(try Self.check(user, "xadd", keys: []) == .command)
        #expect(try Self.check(user, "ping") == .command)
        Self.apply(user, "-@admin")
        #expect(try Self.check(user, "client|list") == .command)
        #expect(try Self.check(user, "client|id") == nil)
    }

    @Test func connectionGrantsClientSubcommandsThatAreAlsoAdmin() throws {
        // acl-meta.md: -@all +@connection passes CLIENT LIST, CLIENT NO-EVICT and CLIENT ID.
        let user = try Self.makeUser("bob", "on +@connection")
        #expect(try Self.check(user, "client|list") == nil)
        #expect(try Self.check(user, "client|no-evict") == nil)
        #expect(try Self.check(user, "client|id") == nil)
        #expect(try Self.check(user, "ping") == nil)
        #expect(try Self.check(user, "config|get") == .command)
        #expect(try Self.check(user, "client|help") == nil)
    }

    @Test func categoryNamesAreRedisOnesInAclCatOrder() {
        #expect(ACLCategory.allCases.map(\.name) == [
            "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
            "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction", "scripting",
        ])
        #expect(ACLCategory.named(Self.bytes("StReAm")) == .stream)
        #expect(ACLCategory.named(Self.bytes("all")) == nil)
        #expect(ACLCategory.named(Self.bytes("")) == nil)
    }

    @Test func aUserWithEveryRightNeedsNoCheck() throws {
        let user = try Self.makeUser("bob", "on allkeys allchannels +@all")
        #expect(user.allowsEverything)
        Self.apply(user, "-xadd")
        #expect(!user.allowsEverything)
        #expect(try Self.check(user, "xadd", keys: ["k"]) == .command)
        Self.apply(user, "+xadd")
        #expect(user.allowsEverything)
        Self.apply(user, "resetchannels")
        #expect(!user.allowsEverything)
    }

    // MARK: The ACL file

    private static func parseError(_ text: String, path: String = "users.acl") -> String? {
        switch AccessControl.parse(fileText: text, path: path) {
        case .success: return nil
        case .failure(let error): return error.text
        }
    }

    @Test func aLineMustStartWithUserAndAName() {
        #expect(Self.parseError("bob on\n") == "users.acl:1 should start with user keyword followed by the username. ")
        #expect(Self.parseError("user\n") == "users.acl:1 should start with user keyword followed by the username. ")
        #expect(Self.parseError("USER bob on\n") == "users.acl:1 should start with user keyword followed by the username. ")
        #expect(Self.parseError("user ok on\n\nbad line") == "users.acl:3 should start with user keyword followed by the username. ")
    }

    @Test func aCommentLineIsAnError() {
        // Redis: the file is rewritten by ACL SAVE, so a comment would be lost; it is refused.
        #expect(Self.parseError("# users\nuser bob on\n") == "users.acl:1 should start with user keyword followed by the username. ")
    }

    @Test func aUserDefinedTwiceIsAnError() {
        #expect(Self.parseError("user alice on\nuser bob on\nuser alice off\n") == "WARNING: Duplicate user 'alice' found on line 3. ")
        #expect(Self.parseError("user default on\nuser default off\n") == "WARNING: Duplicate user 'default' found on line 2. ")
        // The first line's own errors do not hide the duplicate.
        #expect(Self.parseError("user alice foo\nuser alice on\n") == "users.acl:1: Syntax error. WARNING: Duplicate user 'alice' found on line 2. ")
    }

    @Test func unknownCommandsAreEachReportedAsErrorsInApplyingOperations() {
        #expect(Self.parseError("user bob on +nosuch -alsonot +xadd\n", path: "/etc/spool/users.acl")
            == "/etc/spool/users.acl:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. /etc/spool/users.acl:1: Error in applying operation '-alsonot': Unknown command or category name in ACL. ")
        #expect(Self.parseError("user bob on +@nosuch\n")
            == "users.acl:1: Error in applying operation '+@nosuch': Unknown command or category name in ACL. ")
    }

    @Test func otherRuleErrorsAreReportedOnceALine() {
        #expect(Self.parseError("user bob on foo bar\n") == "users.acl:1: Syntax error. ")
        #expect(Self.parseError("user bob on foo allkeys ~x +nosuch\n")
            == "users.acl:1: Syntax error. users.acl:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. ")
        #expect(Self.parseError("user bob #abc\n")
            == "users.acl:1: The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters. ")
    }

    @Test func anUnmatchedParenthesisInTheFileIsAnError() {
        #expect(Self.parseError("user bob on (~a* +xadd\n") == "users.acl:1: Unmatched parenthesis in selector definition.")
        #expect(Self.parseError("user bob on (~a* +xadd)\n") == nil)
    }

    @Test func anInvalidUsernameInTheFileIsAnError() {
        #expect(Self.parseError("user a\tb on\n") == "'users.acl:1: username 'a\tb' contains invalid characters. ")
    }

    @Test func everyBadLineIsReportedInOrder() {
        let text = "user ok on\nnope\n\nuser ok off\nuser bad +nosuch\n"
        #expect(Self.parseError(text) == "users.acl:2 should start with user keyword followed by the username. WARNING: Duplicate user 'ok' found on line 4. users.acl:5: Error in applying operation '+nosuch': Unknown command or category name in ACL. ")
    }

    @Test func aFileWithoutDefaultGetsTheDefaultUser() throws {
        let users = try AccessControl.parse(fileText: "user alice on nopass ~* +@all\n", path: "users.acl").get()
        #expect(users.keys.sorted() == ["alice", "default"])
        #expect(users["default"]?.description == "user default on nopass sanitize-payload ~* &* +@all")
        #expect(users["alice"]?.description == "user alice on nopass sanitize-payload ~* resetchannels +@all")
        let empty = try AccessControl.parse(fileText: "", path: "users.acl").get()
        #expect(empty.keys.sorted() == ["default"])
    }

    @Test func aFileMayRestrictTheDefaultUser() throws {
        let users = try AccessControl.parse(fileText: "user default off\r\n  \n\tuser bob on +xadd  \n", path: "users.acl").get()
        #expect(users["default"]?.description == "user default off sanitize-payload resetchannels -@all")
        #expect(users["bob"]?.description == "user bob on sanitize-payload resetchannels -@all +xadd")
    }

    @Test func savedTextParsesBackToTheSameUsers() throws {
        let control = Self.control(requirepass: "pw")
        _ = try control.setUser(Self.bytes("alice"), rules: Self.words("on >abc ~a* %R~b* &c +@all -@admin +client|list (+xadd %W~w*)")).get()
        _ = try control.setUser(Self.bytes("bob"), rules: Self.words("+select|0 -@all +xrange")).get()
        let users = try AccessControl.parse(fileText: control.fileText, path: "users.acl").get()
        #expect(users.keys.sorted() == ["alice", "bob", "default"])
        for user in control.sortedUsers {
            #expect(users[user.name]?.description == user.description)
        }
    }

    @Test func installKeepsTheUsersThatStayAndReturnsThoseRemoved() throws {
        let control = Self.control()
        let defaultUser = control.defaultUser
        let alice = try control.setUser(Self.bytes("alice"), rules: Self.words("on nopass +@all")).get()
        let bob = try control.setUser(Self.bytes("bob"), rules: Self.words("on nopass")).get()
        let loaded = try AccessControl.parse(
            fileText: "user alice on >abc ~a* -@all +xadd\nuser carol on nopass\nuser default on >pw ~* &* +@all\n",
            path: "users.acl"
        ).get()
        let removed = control.install(loaded)
        #expect(removed.count == 1)
        #expect(removed.first === bob)
        #expect(control.users.keys.sorted() == ["alice", "carol", "default"])
        #expect(control.users["alice"] === alice)
        #expect(alice.description == "user alice on sanitize-payload #\(Self.digestOfABC) ~a* resetchannels -@all +xadd")
        #expect(control.users["carol"] === loaded["carol"])
        #expect(control.users["default"] === defaultUser)
        #expect(control.defaultUser === defaultUser)
        #expect(defaultUser.accepts(password: Self.bytes("pw")))
        #expect(!defaultUser.noPass)
    }

    // MARK: ACL LOG

    private static func record(
        _ log: inout ACLLog, _ object: String, user: String = "alice", reason: ACLLog.Reason = .command,
        context: ACLLog.Context = .toplevel, at now: Int64, client: String = "id=1"
    ) {
        log.record(reason: reason, context: context, object: object, username: user, clientInfo: client, now: now)
    }

    @Test func aLikeDenialWithinSixtySecondsIsCountedIntoItsEntry() {
        var log = ACLLog(capacity: 128)
        Self.record(&log, "xadd", at: 1_000, client: "id=1")
        Self.record(&log, "xrange", at: 2_000)
        Self.record(&log, "xadd", at: 61_000, client: "id=7")
        #expect(log.entries.count == 2)
        let head = log.entries[0]
        #expect(head.object == "xadd")
        #expect(head.count == 2)
        #expect(head.entryID == 0)
        #expect(head.createdAt == 1_000)
        #expect(head.updatedAt == 61_000)
        #expect(head.clientInfo == "id=7")
        #expect(log.entries[1].object == "xrange")
        #expect(log.entries[1].entryID == 1)
        // The window runs from the latest update.
        Self.record(&log, "xadd", at: 121_000)
        #expect(log.entries.count == 2)
        #expect(log.entries[0].count == 3)
        Self.record(&log, "xadd", at: 181_001)
        #expect(log.entries.count == 3)
        #expect(log.entries[0].count == 1)
        #expect(log.entries[0].entryID == 2)
    }

    @Test func denialsThatDifferAreNotGrouped() {
        var log = ACLLog(capacity: 128)
        Self.record(&log, "xadd", user: "user1", at: 0)
        Self.record(&log, "xadd", user: "user2", at: 1)
        Self.record(&log, "xadd", user: "user1", reason: .key, at: 2)
        Self.record(&log, "xadd", user: "user1", context: .multi, at: 3)
        Self.record(&log, "xrange", user: "user1", at: 4)
        #expect(log.entries.map(\.entryID) == [4, 3, 2, 1, 0])
        #expect(log.entries.allSatisfy { $0.count == 1 })
        Self.record(&log, "xadd", user: "user2", at: 5)
        #expect(log.entries.map(\.entryID) == [1, 4, 3, 2, 0])
        #expect(log.entries[0].count == 2)
    }

    @Test func onlyTheTenNewestEntriesAreGroupedInto() {
        var log = ACLLog(capacity: 128)
        Self.record(&log, "target", at: 0)
        for index in 0..<9 { Self.record(&log, "other\(index)", at: 1) }
        Self.record(&log, "target", at: 2)
        #expect(log.entries.count == 10)
        #expect(log.entries[0].object == "target")
        #expect(log.entries[0].count == 2)
        for index in 0..<10 { Self.record(&log, "more\(index)", at: 3) }
        Self.record(&log, "target", at: 4)
        #expect(log.entries.count == 21)
        #expect(log.entries[0].count == 1)
        #expect(log.entries[0].entryID == 20)
    }

    @Test func theLogKeepsItsCapacityNewestFirst() {
        var log = ACLLog(capacity: 3)
        for index in 0..<5 { Self.record(&log, "cmd\(index)", at: Int64(index)) }
        #expect(log.entries.map(\.object) == ["cmd4", "cmd3", "cmd2"])
        #expect(log.entries.map(\.entryID) == [4, 3, 2])
        log.reset()
        #expect(log.entries.isEmpty)
        Self.record(&log, "cmd0", at: 10)
        #expect(log.entries.map(\.entryID) == [5], "RESET keeps counting entry ids")
    }

    @Test func aLogOfCapacityZeroKeepsNothing() {
        var log = ACLLog(capacity: 5)
        Self.record(&log, "xadd", at: 0)
        Self.record(&log, "xrange", at: 1)
        log.capacity = 0
        #expect(log.entries.count == 2, "lowering the capacity trims nothing by itself")
        Self.record(&log, "xadd", at: 2)
        #expect(log.entries.isEmpty)
        Self.record(&log, "xlen", at: 3)
        #expect(log.entries.isEmpty)
        log.capacity = 5
        Self.record(&log, "xlen", at: 4)
        #expect(log.entries.map(\.entryID) == [2], "nothing logged used an entry id")
    }

    @Test func deniedCountsGrowWhetherLoggedOrNot() {
        let control = Self.control(logCapacity: 0)
        control.recordDenial(reason: .command, context: .toplevel, object: "xadd", username: "bob", clientInfo: "", now: 0)
        control.recordDenial(reason: .key, context: .toplevel, object: "k", username: "bob", clientInfo: "", now: 0)
        control.recordDenial(reason: .auth, context: .toplevel, object: "AUTH", username: "bob", clientInfo: "", now: 0)
        control.recordDenial(reason: .auth, context: .toplevel, object: "AUTH", username: "bob", clientInfo: "", now: 0)
        #expect(control.log.entries.isEmpty)
        #expect(control.deniedCounts.command == 1)
        #expect(control.deniedCounts.key == 1)
        #expect(control.deniedCounts.auth == 2)
        #expect(control.deniedCounts.channel == 0)
    }

    // MARK: Password digests

    @Test func sha256HexMatchesKnownVectors() {
        #expect(PasswordHash.sha256Hex(Self.bytes("")) == Self.digestOfEmpty)
        #expect(PasswordHash.sha256Hex(Self.bytes("abc")) == Self.digestOfABC)
        #expect(PasswordHash.sha256Hex(Self.bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func isDigestTakesSixtyFourHexDigitsOfEitherCase() {
        #expect(PasswordHash.isDigest(Self.bytes(Self.digestOfABC)))
        #expect(PasswordHash.isDigest(Self.bytes(Self.digestOfABC.uppercased())))
        #expect(!PasswordHash.isDigest(Self.bytes(String(Self.digestOfABC.dropLast()))))
        #expect(!PasswordHash.isDigest(Self.bytes(Self.digestOfABC + "a")))
        #expect(!PasswordHash.isDigest(Self.bytes(String(Self.digestOfABC.dropLast()) + "g")))
        #expect(!PasswordHash.isDigest(Self.bytes("")))
        #expect(PasswordHash.equal(Self.digestOfABC, PasswordHash.sha256Hex(Self.bytes("abc"))))
        #expect(!PasswordHash.equal(Self.digestOfABC, Self.digestOfEmpty))
        #expect(!PasswordHash.equal(Self.digestOfABC, "ba"))
    }

    // MARK: The hot path

    /// `quicklyAllows` never allows what `check` refuses, and allows everything `check` allows
    /// for a root-only user whose patterns are names or prefixes (the shapes it reads in place).
    @Test func theQuickCheckAgreesWithTheFullCheck() throws {
        let users = try [
            Self.makeUser("a", "on ~orders:* %R~audit:* -@all +@stream"),
            Self.makeUser("b", "on %W~inbox -@all +xadd +xread"),
            Self.makeUser("c", "on ~* -@all +@read"),
            Self.makeUser("d", "on ~exact -@all +@all -xdel"),
            Self.makeUser("e", "on ~a?c -@all +xadd"),
            Self.makeUser("f", "on ~x* +xadd (~y* +xrange)"),
        ]
        let lines: [[String]] = [
            ["XADD", "orders:1", "*", "f", "v"], ["XADD", "audit:1", "*", "f", "v"], ["XRANGE", "audit:1", "-", "+"],
            ["XADD", "inbox", "*", "f", "v"], ["XADD", "inbox2", "*", "f", "v"], ["XREAD", "STREAMS", "inbox", "0"],
            ["XREAD", "COUNT", "1", "STREAMS", "orders:1", "audit:2", "0", "0"], ["XREAD", "STREAMS", "orders:1", "other", "0", "0"],
            ["XREADGROUP", "GROUP", "g", "streams", "STREAMS", "audit:1", ">"], ["XLEN", "exact"], ["XDEL", "exact", "1-1"],
            ["XADD", "abc", "*", "f", "v"], ["XRANGE", "y1", "-", "+"], ["XADD", "x1", "*", "f", "v"], ["DEL", "orders:1", "orders:2"],
            ["XGROUP", "SETPOLICY", "orders:1", "g", "DEADLETTER", "elsewhere"], ["PING"], ["XADD", "orders:", "*", "f", "v"],
        ]
        for user in users {
            for line in lines {
                let args = RequestArguments(line.map { Self.bytes($0) })
                guard case .success(let found) = CommandTable.resolve(args) else { Issue.record("unresolved \(line)"); continue }
                let spec = found.command
                let full = user.check(spec, firstArgument: Server.aclFirstArgument(spec, args), keys: CommandKeys(spec, args))
                let quick = user.quicklyAllows(spec, args)
                if quick { #expect(full == nil, "\(user.name) \(line): quick allowed what check refuses") }
                if full == nil && user.selectors.isEmpty && user.name != "e" && spec.name != "xgroup|setpolicy" {
                    #expect(quick, "\(user.name) \(line): check allows, quick did not")
                }
            }
        }
    }
}
