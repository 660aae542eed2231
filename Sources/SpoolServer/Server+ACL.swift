import SpoolCore
import SpoolProtocol

/// ACL users as Redis has them: the check every command passes before it runs or is queued,
/// AUTH and HELLO's log in, and the ACL command.
extension Server {
    /// The users at start: the ACL file's, or the config file's `user` lines, and requirepass.
    static func makeAccessControl(config: ServerConfig, notes: inout [String]) throws -> AccessControl {
        let control = AccessControl(requirepass: config.requirepass, aclFile: config.aclFilePath, logCapacity: config.acllogMaxLen)
        if !config.users.isEmpty && !config.aclfile.isEmpty {
            throw ServerStartError(
                "Configuring Spool with users defined in the config file and at the same time an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in the config file, but not both.")
        }
        for line in config.users {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map { Array($0.utf8) }
            guard let name = words.first else { throw ServerStartError("user: a user line needs a name") }
            if case .failure(let error) = control.setUser(name, rules: Array(words.dropFirst())) {
                throw ServerStartError("user \(String(decoding: name, as: UTF8.self)): \(error.text)")
            }
        }
        guard !config.aclfile.isEmpty else { return control }
        switch AccessControl.load(control.aclFile) {
        case .failure(let error): throw ServerStartError("Aborting start-up because of ACL errors: \(error.text)")
        case .success(let users?): _ = control.install(users)
        case .success(nil): notes.append("no ACL file at \(control.aclFile) yet: only the default user; ACL SAVE writes it")
        }
        return control
    }

    /// The argument a first-argument rule (`+select|0`) looks at: the one after the command name.
    static func aclFirstArgument(_ spec: CommandSpec, _ args: RequestArguments) -> RequestArgument? {
        args.count >= 2 && !spec.isSubcommand ? args[1] : nil
    }

    /// The NOPERM reply for a command `connection`'s user may not run as given, logged in ACL LOG;
    /// nil when it may.
    func aclRefusal(_ spec: CommandSpec, _ args: RequestArguments, _ connection: Connection, context: ACLLog.Context) -> String? {
        guard let (denial, keys) = recordedDenial(spec, args, connection, context: context) else { return nil }
        return "NOPERM " + Self.denialText(denial, user: connection.user, spec: spec, keys: keys, verbose: false)
    }

    /// Why `connection`'s user may not run the command line, recorded in ACL LOG; nil when it may.
    private func recordedDenial(
        _ spec: CommandSpec, _ args: RequestArguments, _ connection: Connection, context: ACLLog.Context
    ) -> (ACLDenial, CommandKeys)? {
        let user = connection.user
        if user.quicklyAllows(spec, args) { return nil }
        let keys = CommandKeys(spec, args)
        guard let denial = user.check(spec, firstArgument: Self.aclFirstArgument(spec, args), keys: keys) else { return nil }
        let object: String
        let reason: ACLLog.Reason
        switch denial {
        case .command:
            object = spec.name
            reason = .command
        case .key(let index):
            object = String(decoding: keys[index].name, as: UTF8.self)
            reason = .key
        }
        accessControl.recordDenial(
            reason: reason, context: context, object: object, username: user.name,
            clientInfo: clientInfoLine(connection), now: Int64(SpoolCore.wallClockMilliseconds()))
        return (denial, keys)
    }

    /// EXEC checks each queued command again: rights may have changed since it was queued.
    func execRefusal(_ spec: CommandSpec, _ args: RequestArguments, _ connection: Connection) -> String? {
        guard let (denial, _) = recordedDenial(spec, args, connection, context: .multi) else { return nil }
        let reason: String
        switch denial {
        case .command: reason = "no permission to execute the command or subcommand"
        case .key: reason = "no permission to touch the specified keys"
        }
        return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: \(reason)"
    }

    /// Redis's getAclErrorMessage.
    static func denialText(_ denial: ACLDenial, user: ACLUser, spec: CommandSpec, keys: CommandKeys, verbose: Bool) -> String {
        switch denial {
        case .command: return "User \(user.name) has no permissions to run the '\(spec.name)' command"
        case .key(let index):
            return verbose
                ? "User \(user.name) has no permissions to access the '\(String(decoding: keys[index].name, as: UTF8.self))' key"
                : "No permissions to access a key"
        }
    }

    /// Whether the connection must log in before anything but AUTH, HELLO and QUIT (Redis's
    /// authRequired: the default user has a password or is off, and the connection has not
    /// logged in).
    func isAuthenticationRequired(_ connection: Connection) -> Bool {
        !connection.isAuthenticated && (!accessControl.defaultUser.noPass || !accessControl.defaultUser.isEnabled)
    }

    /// Logs the connection in as `name` (the default user without one); a failure is logged in
    /// ACL LOG.
    func logIn(_ connection: Connection, user name: [UInt8]?, password: [UInt8], command: [UInt8]) -> Bool {
        let username = name.map { String(decoding: $0, as: UTF8.self) } ?? AccessControl.defaultUserName
        guard let user = accessControl.users[username], user.accepts(password: password) else {
            accessControl.recordDenial(
                reason: .auth, context: connection.transaction != nil ? .multi : .toplevel,
                object: String(decoding: command, as: UTF8.self),
                username: username, clientInfo: clientInfoLine(connection), now: Int64(SpoolCore.wallClockMilliseconds()))
            return false
        }
        connection.user = user
        connection.isAuthenticated = true
        return true
    }

    /// After users changed: connections of removed users are closed (at once, or after this
    /// reply for the one asking), and blocked reads whose rights are gone are answered with
    /// NOPERM, as Redis re-checks a blocked command when it is woken.
    func usersChanged(removed: [ACLUser], asking: Connection) {
        for connection in Array(connections.values) where removed.contains(where: { $0 === connection.user }) {
            if connection === asking {
                connection.closeAfterWrite = true
            } else {
                close(connection)
            }
        }
        for connection in connections.values {
            guard connection.blockedSlot != nil, !connection.isUnblocking, let (spec, args) = connection.blockedRequest,
                let refusal = aclRefusal(spec, args, connection, context: .toplevel)
            else { continue }
            connection.isUnblocking = true
            submit(.unblock(connection: connection.id, answer: .error(refusal)))
        }
    }

    // MARK: ACL

    /// ACL: the dispatcher has checked the subcommand and its arity.
    func acl(_ args: [[UInt8]], _ connection: Connection, into out: inout RESPWriter) {
        let sub = args[1]
        if sub.isKeyword("WHOAMI") {
            out.bulk(connection.user.name)
        } else if sub.isKeyword("USERS") {
            let users = accessControl.sortedUsers
            out.arrayHeader(users.count)
            for user in users { out.bulk(user.name) }
        } else if sub.isKeyword("LIST") {
            let users = accessControl.sortedUsers
            out.arrayHeader(users.count)
            for user in users { out.bulk(user.description) }
        } else if sub.isKeyword("SETUSER") {
            switch accessControl.setUser(args[2], rules: Array(args[3...])) {
            case .failure(let error): out.error(error.text)
            case .success:
                usersChanged(removed: [], asking: connection)
                out.simpleString("OK")
            }
        } else if sub.isKeyword("GETUSER") {
            guard let user = accessControl.user(named: args[2]) else { return out.nullBulk() }
            writeUser(user, into: &out)
        } else if sub.isKeyword("DELUSER") {
            switch accessControl.deleteUsers(Array(args[2...])) {
            case .failure(let error): out.error(error.text)
            case .success(let removed):
                usersChanged(removed: removed, asking: connection)
                out.integer(Int64(removed.count))
            }
        } else if sub.isKeyword("CAT") {
            aclCategories(args, into: &out)
        } else if sub.isKeyword("GENPASS") {
            var bits = 256
            if args.count == 3 {
                guard let value = args[2].asInt64, value > 0, value <= 4096 else {
                    return out.error(
                        "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
                }
                bits = Int(value)
            }
            let characters = (bits + 3) / 4
            out.bulk(String(PasswordHash.hex(PasswordHash.randomBytes((characters + 1) / 2)).prefix(characters)))
        } else if sub.isKeyword("LOG") {
            aclLog(args, into: &out)
        } else if sub.isKeyword("DRYRUN") {
            aclDryRun(args, into: &out)
        } else if sub.isKeyword("SAVE") {
            guard !accessControl.aclFile.isEmpty else { return out.error(Self.noACLFile) }
            switch accessControl.save() {
            case .success: out.simpleString("OK")
            case .failure(let error): out.error("ERR There was an error trying to save the ACLs. Please check the server logs for more information (\(error.text))")
            }
        } else if sub.isKeyword("LOAD") {
            guard !accessControl.aclFile.isEmpty else { return out.error(Self.noACLFile) }
            let path = accessControl.aclFile
            switch AccessControl.load(path) {
            case .failure(let error): out.error("ERR " + error.text)
            case .success(nil): out.error("ERR Error loading ACLs, opening file '\(path)': No such file or directory")
            case .success(let users?):
                let replaced = accessControl.install(users)
                usersChanged(removed: replaced, asking: connection)
                out.simpleString("OK")
            }
        } else {
            CommandHelp.write(args, Self.aclHelp, into: &out)
        }
    }

    static let noACLFile =
        "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

    private func writeUser(_ user: ACLUser, into out: inout RESPWriter) {
        out.mapHeader(6)
        out.bulk("flags")
        out.setHeader(user.flags.count)
        for flag in user.flags { out.bulk(flag) }
        out.bulk("passwords")
        out.arrayHeader(user.passwords.count)
        for password in user.passwords { out.bulk(password) }
        writeSelector(user.root, into: &out, asMap: false)
        out.bulk("selectors")
        out.arrayHeader(user.selectors.count)
        for selector in user.selectors {
            writeSelector(selector, into: &out, asMap: true)
        }
    }

    private func writeSelector(_ selector: ACLSelector, into out: inout RESPWriter, asMap: Bool) {
        if asMap { out.mapHeader(3) }
        out.bulk("commands")
        out.bulk(selector.commandsDescription)
        out.bulk("keys")
        out.bulk(selector.keysDescription)
        out.bulk("channels")
        out.bulk(selector.channelsDescription)
    }

    private func aclCategories(_ args: [[UInt8]], into out: inout RESPWriter) {
        guard args.count == 3 else {
            out.arrayHeader(ACLCategory.allCases.count)
            for category in ACLCategory.allCases { out.bulk(category.name) }
            return
        }
        guard let category = ACLCategory.named(args[2]) else {
            return out.error("ERR Unknown category '\(String(decoding: args[2], as: UTF8.self))'")
        }
        let names = CommandTable.everySpec.filter { $0.categories.contains(category) }.map(\.name)
        out.arrayHeader(names.count)
        for name in names { out.bulk(name) }
    }

    private func aclLog(_ args: [[UInt8]], into out: inout RESPWriter) {
        var count = 10
        if args.count == 3 {
            if args[2].isKeyword("RESET") {
                accessControl.log.reset()
                return out.simpleString("OK")
            }
            guard let value = args[2].asInt64 else { return out.error(CommandError.notInteger) }
            count = Int(max(0, value))
        }
        let now = Int64(SpoolCore.wallClockMilliseconds())
        let entries = accessControl.log.entries.prefix(count)
        out.arrayHeader(entries.count)
        for entry in entries {
            out.mapHeader(10)
            out.bulk("count")
            out.integer(Int64(entry.count))
            out.bulk("reason")
            out.bulk(entry.reason.rawValue)
            out.bulk("context")
            out.bulk(entry.context.rawValue)
            out.bulk("object")
            out.bulk(entry.object)
            out.bulk("username")
            out.bulk(entry.username)
            out.bulk("age-seconds")
            out.double(Double(now - entry.updatedAt) / 1000)
            out.bulk("client-info")
            out.bulk(entry.clientInfo)
            out.bulk("entry-id")
            out.integer(entry.entryID)
            out.bulk("timestamp-created")
            out.integer(entry.createdAt)
            out.bulk("timestamp-last-updated")
            out.integer(entry.updatedAt)
        }
    }

    /// ACL DRYRUN user command [arg …]: whether the user could run it, without running it.
    private func aclDryRun(_ args: [[UInt8]], into out: inout RESPWriter) {
        guard let user = accessControl.user(named: args[2]) else {
            return out.error("ERR User '\(String(decoding: args[2], as: UTF8.self))' not found")
        }
        let command = RequestArguments(Array(args[3...]))
        let spec: CommandSpec
        switch CommandTable.resolve(command) {
        case .failure: return out.error("ERR Command '\(String(decoding: args[3], as: UTF8.self))' not found")
        case .success(let found): spec = found.command
        }
        guard spec.acceptsArgumentCount(command.count) else {
            return out.error("ERR wrong number of arguments for '\(spec.name)' command")
        }
        let keys = CommandKeys(spec, command)
        guard let denial = user.check(spec, firstArgument: Self.aclFirstArgument(spec, command), keys: keys) else { return out.simpleString("OK") }
        out.bulk(Self.denialText(denial, user: user, spec: spec, keys: keys, verbose: true))
    }

    static let aclHelp = [
        "CAT [<category>]",
        "    List all commands that belong to <category>, or all command categories",
        "    when no category is specified.",
        "DELUSER <username> [<username> ...]",
        "    Delete a list of users.",
        "DRYRUN <username> <command> [<arg> ...]",
        "    Returns whether the user can execute the given command without executing the command.",
        "GETUSER <username>",
        "    Get the user's details.",
        "GENPASS [<bits>]",
        "    Generate a secure 256-bit user password. The optional `bits` argument can",
        "    be used to specify a different size.",
        "LIST",
        "    Show users details in config file format.",
        "LOAD",
        "    Reload users from the ACL file.",
        "LOG [<count> | RESET]",
        "    Show the ACL log entries.",
        "SAVE",
        "    Save the current config to the ACL file.",
        "SETUSER <username> <attribute> [<attribute> ...]",
        "    Create or modify a user with the specified attributes.",
        "USERS",
        "    List all the registered usernames.",
        "WHOAMI",
        "    Return the current connection username.",
    ]
}
