// spoold: the Spool broker. Reads the config file (if given), applies `--key value` overrides
// (redis-server style), opens the data directory and serves until SIGTERM, SIGINT or SHUTDOWN.
import SpoolServer

#if canImport(Glibc)
    import Glibc
#endif

enum Spoold {
    /// The keys the usage text describes one by one; the others are listed by name.
    static let commonKeys: Set<String> = ["port", "bind", "dir", "requirepass", "maxclients"]

    static var usage: String {
        """
        usage: spoold [--config FILE] [--KEY VALUE ...]

        Starts the Spool broker. Settings come from FILE (redis.conf style, see Config/spoold.conf),
        then from --KEY VALUE pairs, which override it. Common ones:
          --port N             TCP port (default 7379; 0: none, TLS only with --tls-port)
          --bind ADDRESS       address to listen on (default 127.0.0.1)
          --data-dir DIR       data directory (default ./data); same as --dir
          --requirepass PW     require AUTH with this password
          --maxclients N       connection limit (default 10000)
        \(otherKeys)
          --help               show this text
          --version            print the version

        """
    }

    /// "Other keys: …" with every other configuration key, wrapped at 100 columns.
    static var otherKeys: String {
        let names = ServerConfig.keys.map(\.name).filter { !commonKeys.contains($0) }
        var lines = ["Other keys:"]
        for (index, name) in names.enumerated() {
            let word = name + (index == names.count - 1 ? "." : ",")
            if lines[lines.count - 1].count + 1 + word.count > 100 {
                lines.append(word)
            } else {
                lines[lines.count - 1] += " " + word
            }
        }
        return lines.joined(separator: "\n")
    }

    static func fail(_ message: String) -> Never {
        writeError("spoold: \(message)\n")
        exit(1)
    }

    static func writeError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage, terminator: "")
            exit(0)
        }
        if arguments.contains("--version") {
            print("spoold \(spoolVersion)")
            exit(0)
        }
        var config = ServerConfig()
        if let index = arguments.firstIndex(of: "--config") {
            guard index + 1 < arguments.count else { fail("--config needs a file") }
            let path = arguments[index + 1]
            arguments.removeSubrange(index...(index + 1))
            guard let contents = readFile(path) else { fail("cannot read config file \(path)") }
            if let error = config.load(fileContents: contents, path: path) { fail(error) }
            config.configFile = path
        }
        var index = 0
        while index < arguments.count {
            let flag = arguments[index]
            guard flag.hasPrefix("--"), index + 1 < arguments.count else {
                fail("unexpected argument '\(flag)'; try --help")
            }
            if let error = config.apply(String(flag.dropFirst(2)), arguments[index + 1]) { fail(error) }
            index += 2
        }
        // A closed client socket must not kill the server; write errors are handled per connection.
        signal(SIGPIPE, SIG_IGN)
        let server: Server
        do {
            server = try Server(config: config)
        } catch {
            fail("\(error)")
        }
        for note in server.startupNotes { writeError("spoold: \(note)\n") }
        let ports =
            server.boundPort == 0
            ? "\(config.bind):\(server.boundTLSPort) (TLS only)"
            : "\(config.bind):\(server.boundPort)" + (server.boundTLSPort > 0 ? " (TLS on \(config.bind):\(server.boundTLSPort))" : "")
        writeError("spoold \(spoolVersion) ready on \(ports), data in \(config.dir)\n")
        server.run()
        writeError("spoold stopped\n")
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

Spoold.main()
