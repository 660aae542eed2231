import ArgumentParser
import Foundation
import SpoolClient

/// A failure that ends the command: the message goes to stderr, the code is the exit status.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var code: Int32

    static let serverError: Int32 = 1
    static let notFound: Int32 = 2
    static let connection: Int32 = 3
    static let authentication: Int32 = 4

    init(message: String, code: Int32) {
        self.message = message
        self.code = code
    }

    init(_ error: SpoolClientError) {
        message = error.description
        switch error {
        case .connectFailed, .connectionLost, .closed, .cancelled, .protocolViolation:
            code = Self.connection
        case .authenticationFailed:
            code = Self.authentication
        case .server(let serverError):
            if serverError.code == "NOAUTH" || serverError.code == "WRONGPASS" {
                code = Self.authentication
            } else {
                code = serverError.isNotFound ? Self.notFound : Self.serverError
            }
        case .invalidArgument:
            code = ExitCode.validationFailure.rawValue
        case .unexpectedReply:
            code = Self.serverError
        }
    }

    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning client errors into a message on stderr and the documented exit code.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CLIFailure {
            Output.standardError.writeLine("spool: \(failure.message)")
            throw ExitCode(failure.code)
        } catch let error as SpoolClientError {
            let failure = CLIFailure(error)
            Output.standardError.writeLine("spool: \(failure.message)")
            throw ExitCode(failure.code)
        }
    }

    /// Connects as `connection` says, runs `body` with the client and closes it, reporting
    /// failures as `reportingFailures` does.
    func withClient(_ connection: ConnectionOptions, _ body: (SpoolClient) async throws -> Void) async throws {
        try await reportingFailures {
            let client = try await connection.connect()
            defer { client.close() }
            try await body(client)
        }
    }
}
