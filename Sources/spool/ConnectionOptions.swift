import ArgumentParser
import Foundation
import SpoolClient

/// Where the server is; shared by every subcommand.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .long], help: "Server host.")
    var host = "127.0.0.1"

    @Option(name: .shortAndLong, help: "Server port (spoold's default is 7379, Redis's 6379).")
    var port = 7379

    @Option(
        name: [.customShort("a"), .long],
        help: ArgumentHelp("Password (AUTH). Also read from $SPOOL_PASSWORD.", valueName: "password"))
    var password: String?

    @Option(help: ArgumentHelp("ACL user to log in as (AUTH user password). Also read from $SPOOL_USER.", valueName: "name"))
    var user: String?

    @Flag(help: "Connect over TLS (to the server's tls-port), checking its certificate against --cacert.")
    var tls = false

    @Option(help: ArgumentHelp("CA certificate the server's certificate must chain to (with --tls).", valueName: "file"))
    var cacert: String?

    @Option(help: ArgumentHelp("Client certificate, when the server asks for one (with --tls).", valueName: "file"))
    var cert: String?

    @Option(help: ArgumentHelp("The client certificate's private key (with --tls).", valueName: "file"))
    var key: String?

    @Flag(help: "Speak RESP3 (HELLO 3) instead of RESP2.")
    var resp3 = false

    @Option(help: ArgumentHelp("Connection attempts before giving up (backoff between them).", valueName: "n"))
    var connectAttempts = 3

    var configuration: SpoolClientConfiguration {
        SpoolClientConfiguration(
            host: host, port: port, username: user ?? ProcessInfo.processInfo.environment["SPOOL_USER"],
            password: password ?? ProcessInfo.processInfo.environment["SPOOL_PASSWORD"],
            protocolVersion: resp3 ? .resp3 : .resp2, clientName: "spool-cli",
            reconnect: ReconnectPolicy(
                initialDelay: .milliseconds(100), maximumDelay: .seconds(1), attemptsMax: max(1, connectAttempts)),
            tls: tls ? SpoolClientConfiguration.TLSOptions(caCertificateFile: cacert ?? "", certificateFile: cert, keyFile: key) : nil)
    }

    /// A client that has connected (so a bad address fails here, with exit code 3).
    func connect() async throws -> SpoolClient {
        do {
            return try await SpoolClient.connect(configuration)
        } catch {
            throw CLIFailure(error)
        }
    }
}

/// `--json`.
struct FormatOptions: ParsableArguments {
    @Flag(help: "Print JSON instead of text (entries: one object per line).")
    var json = false

    /// Prints the count a command answered with: the bare number, or `{"<key>": n}`.
    func printCount(_ n: Int, as key: String) {
        Output.standardOutput.writeLine(json ? JSON.object([(key, .int(n))]).text : String(n))
        Output.standardOutput.flush()
    }
}
