import SpoolProtocol

/// The HELP subcommand of a container command (CLIENT, COMMAND, CONFIG, XINFO).
enum CommandHelp {
    /// Redis's layout (addReplyHelp): a title line, the given lines, then HELP itself, each a
    /// simple string.
    static func write(_ args: [[UInt8]], _ lines: [String], into out: inout RESPWriter) {
        out.arrayHeader(lines.count + 3)
        out.simpleString("\(args[0].uppercasedASCII) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        for line in lines { out.simpleString(line) }
        out.simpleString("HELP")
        out.simpleString("    Prints this help.")
    }
}
